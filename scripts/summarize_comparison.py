"""Markdown table of method comparison runs: ``python scripts/summarize_comparison.py OUT [OUT ...]``.

Each OUT holds ``<method>/results.json`` (``scripts/compare_methods.sh``). With several OUTs (e.g.
one per seed) each cell is the mean, with the lowest and highest value in brackets; images/s is
the mean over runs.
"""

import json
import os
import sys

from rdjax.recipes import METHODS as ORDER
METRICS = ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image", "train_images_per_sec")
HEADER = ("| method | runs | image AUROC | pixel AUROC | AU-PRO (0.3) | AU-PRO per image | "
          "train images/s |\n|---|---|---|---|---|---|---|")


def load(outs):
    """{method: [results, ...]}, methods in ``ORDER`` (others after, by name)."""
    runs = {}
    for out in outs:
        if not os.path.isdir(out):
            raise SystemExit(f"{out}: no such folder")
        for method in sorted(os.listdir(out)):
            path = os.path.join(out, method, "results.json")
            if os.path.exists(path):
                with open(path) as f:
                    runs.setdefault(method, []).append(json.load(f))
    rank = lambda m: (ORDER.index(m) if m in ORDER else len(ORDER), m)  # noqa: E731
    return {m: runs[m] for m in sorted(runs, key=rank)}


def cell(values, key):
    mean = sum(values) / len(values)
    if key == "train_images_per_sec":
        return f"{mean:.1f}"
    if len(values) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} ({min(values):.3f}–{max(values):.3f})"


def table(runs) -> str:
    lines = [HEADER]
    for method, results in runs.items():
        cells = [cell([r[k] for r in results if k in r], k) for k in METRICS]
        lines.append(f"| {method} | {len(results)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print(table(load(sys.argv[1:])))
