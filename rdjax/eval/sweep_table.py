"""The papers' results table from a sweep's runs, as Markdown and CSV.

A run is a dict ``{"method", "category", "seed", "results" (results.json), "wall_seconds"}``.
Per metric, one row per category and one column per method; each cell is the mean over
the seeds that ran, ± their standard deviation (n − 1) when there are several. Under
several categories: the texture and object means (MVTec AD) and the mean of all categories,
each computed per seed first (only from seeds with every category of the group) and
then summarised over seeds the same way. Numbers are percentages.
"""

import csv
import io
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

METRICS = (("image_auroc", "Image AUROC"), ("pixel_auroc", "Pixel AUROC"),
           ("aupro", "AU-PRO (FPR ≤ 0.3, over the dataset)"),
           ("aupro_per_image", "AU-PRO per anomalous image (RD4AD's compute_pro)"))
GROUPS = (("texture", "texture mean"), ("object", "object mean"), (None, "mean"))


def summarize(values: Sequence[float]) -> Tuple[float, Optional[float], int]:
    """``(mean, sample standard deviation or None for one value, n)``."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
    return mean, sd, n


def cell(values: Sequence[float]) -> str:
    if not values:
        return "–"
    mean, sd, _ = summarize(values)
    return f"{mean:.1f}" if sd is None else f"{mean:.1f} ± {sd:.1f}"


def _order(items: Sequence[str], first: Sequence[str]) -> List[str]:
    return sorted(set(items), key=lambda x: (first.index(x) if x in first else len(first), x))


class Table:
    """Per-seed values of each metric by method and row (category or group mean)."""

    def __init__(self, runs: Sequence[dict], group_of: Callable[[str], Optional[str]],
                 method_order: Sequence[str] = (), category_order: Sequence[str] = ()):
        self.runs = [r for r in runs if r.get("results")]
        self.methods = _order([r["method"] for r in self.runs], method_order)
        self.categories = _order([r["category"] for r in self.runs], category_order)
        self.group_of = group_of
        self.rows: List[Tuple[str, Optional[str]]] = [(c, None) for c in self.categories]
        present = {group_of(c) for c in self.categories}
        for group, label in GROUPS:  # means only under several categories
            if len(self.categories) > 1 and (group is None or group in present):
                self.rows.append((label, group or "all"))

    def values(self, method: str, row: Tuple[str, Optional[str]], metric: str) -> List[float]:
        """The row's values over seeds, as percentages."""
        name, group = row
        by_seed: Dict[int, Dict[str, float]] = {}
        for r in self.runs:
            if r["method"] == method and metric in r["results"]:
                by_seed.setdefault(r["seed"], {})[r["category"]] = 100.0 * r["results"][metric]
        if group is None:
            return [v[name] for _, v in sorted(by_seed.items()) if name in v]
        members = [c for c in self.categories if group == "all" or self.group_of(c) == group]
        return [sum(v[c] for c in members) / len(members) for _, v in sorted(by_seed.items())
                if all(c in v for c in members)]

    def markdown(self, title: str, notes: Sequence[str] = ()) -> str:
        out = [f"# {title}", ""] + [f"{n}  " for n in notes] + [""]
        for metric, label in METRICS:
            out += [f"## {label} (%)", "", "| category | " + " | ".join(self.methods) + " |",
                    "|---" * (len(self.methods) + 1) + "|"]
            for row in self.rows:
                name = row[0] or "(all)"
                cells = [cell(self.values(m, row, metric)) for m in self.methods]
                out.append(f"| {name if row[1] is None else f'**{name}**'} | " + " | ".join(cells) + " |")
            out.append("")
        out += ["## Runs", "", "| method | category | seed | " + " | ".join(l.split(" (")[0]
                for _, l in METRICS) + " | train steps | wall time | train images/s |",
                "|---" * (len(METRICS) + 6) + "|"]
        for r in sorted(self.runs, key=lambda r: (self.methods.index(r["method"]),
                                                   self.categories.index(r["category"]), r["seed"])):
            res = r["results"]
            metrics = [f"{100 * res[m]:.1f}" if m in res else "–" for m, _ in METRICS]
            out.append(f"| {r['method']} | {r['category'] or '(all)'} | {r['seed']} | "
                       + " | ".join(metrics) + f" | {res.get('train_steps', '–')} | "
                       f"{format_duration(r.get('wall_seconds'))} | "
                       f"{_number(res.get('train_images_per_sec'))} |")
        return "\n".join(out) + "\n"

    def csv(self) -> str:
        """Wide: one row per category / group mean, ``<method>:<metric>`` mean and sd columns."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        header = ["row"]
        for m in self.methods:
            for metric, _ in METRICS:
                header += [f"{m}:{metric}", f"{m}:{metric}:sd", f"{m}:{metric}:n"]
        writer.writerow(header)
        for row in self.rows:
            line = [row[0]]
            for m in self.methods:
                for metric, _ in METRICS:
                    values = self.values(m, row, metric)
                    if values:
                        mean, sd, n = summarize(values)
                        line += [f"{mean:.2f}", "" if sd is None else f"{sd:.2f}", n]
                    else:
                        line += ["", "", 0]
            writer.writerow(line)
        return buf.getvalue()

    def runs_csv(self) -> str:
        """Long: one row per run with its metrics, steps, wall time and images/s."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["method", "category", "seed"] + [m for m, _ in METRICS]
                        + ["train_steps", "wall_seconds", "train_images_per_sec"])
        for r in self.runs:
            res = r["results"]
            writer.writerow([r["method"], r["category"], r["seed"]]
                            + [f"{100 * res[m]:.2f}" if m in res else "" for m, _ in METRICS]
                            + [res.get("train_steps", ""), f"{r.get('wall_seconds') or 0:.0f}",
                               _number(res.get("train_images_per_sec"), 2, "")])
        return buf.getvalue()


def _number(value: Optional[float], digits: int = 1, missing: str = "–") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def format_duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h {rest // 60:02d}m" if h else f"{rest // 60}m {rest % 60:02d}s"
