"""The evaluation report: curves, histograms, per-defect-type metrics and worst cases.

``write_report`` writes into one folder (``<workdir>/report`` after training):

* ``roc.png``: image-level ROC (exact) and pixel-level ROC;
* ``pro.png``: the dataset-level PRO curve up to FPR 0.3 (the curve whose
  normalised area is ``aupro``);
* ``histogram.png``: image scores of normal vs defective images, with the
  decision threshold when there is one;
* ``per_type.png`` and a table: image AUROC, pixel AUROC and AU-PRO of each
  defect type against the normal images, and its detection rate at the threshold;
* ``worst/``: overlays (input | heat map | ground-truth contour) of the
  highest-scoring normal images (worst false positives) and the lowest-scoring
  defective images (worst false negatives);
* ``report.json`` (the numbers) and ``index.html``, one page linking everything.

Curves are numpy; figures use matplotlib's Agg backend (no display needed).
"""

import html
import json
import os
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rdjax.data.decode import NORMAL
from rdjax.eval import metrics as metrics_lib
from rdjax.eval import overlay
from rdjax.eval.threshold import counts_above, decision_metrics

PRO_FPR_LIMIT = 0.3
CURVE_POINTS = 512
FIGURES = ("roc.png", "pro.png", "histogram.png", "per_type.png")


# ---------------------------------------------------------------- curves


def roc_curve(labels, scores) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC: ``(fpr, tpr, thresholds)``, one point per distinct score (``score >= t``).

    Starts at (0, 0) with threshold ``inf``, like
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.
    """
    thresholds, tp, fp = counts_above(labels, scores)
    positives = int(np.sum(np.asarray(labels) > 0.5))
    pos, neg = max(positives, 1), max(np.size(labels) - positives, 1)
    return (np.concatenate([[0.0], fp / neg]), np.concatenate([[0.0], tp / pos]),
            np.concatenate([[np.inf], thresholds]))


def _fraction_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of ``sorted_values`` (ascending) that are ``>= t`` for each threshold."""
    n = sorted_values.size
    return (n - np.searchsorted(sorted_values, thresholds, side="left")) / max(n, 1)


def pixel_roc_curve(masks, maps, num_points: int = CURVE_POINTS) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel-level ROC ``(fpr, tpr)`` at ``num_points`` thresholds (quantiles of all pixels)."""
    masks = np.asarray(masks) > 0.5
    maps = np.asarray(maps)
    pos, neg = np.sort(maps[masks]), np.sort(maps[~masks])
    thresholds = np.unique(np.quantile(maps, np.linspace(0, 1, num_points)))[::-1]
    fpr = np.concatenate([[0.0], _fraction_at_least(neg, thresholds), [1.0]])
    tpr = np.concatenate([[0.0], _fraction_at_least(pos, thresholds), [1.0]])
    return fpr, tpr


def pro_curve(masks, maps, fpr_limit: float = PRO_FPR_LIMIT,
              num_points: int = CURVE_POINTS) -> Tuple[np.ndarray, np.ndarray]:
    """Dataset-level PRO curve ``(fpr, pro)`` for FPR up to just past ``fpr_limit``.

    FPR is over all normal pixels; PRO is the mean over all ground-truth
    connected components (8-connectivity) of their fraction ``>= t``, as in
    :func:`rdjax.eval.metrics.aupro`, sampled at thresholds spaced evenly in FPR.
    """
    masks = np.asarray(masks) > 0.5
    maps = np.asarray(maps)
    neg = np.sort(maps[~masks])
    components = [c for mask, amap in zip(masks, maps)
                  for c in metrics_lib.component_scores(mask, amap)]
    if not components or neg.size == 0:
        return np.zeros(1), np.zeros(1)
    targets = np.linspace(0.0, min(1.0, fpr_limit * 1.05), num_points)
    thresholds = np.unique(np.quantile(neg, 1.0 - targets))[::-1]
    # inf: (0, 0); just above the highest normal pixel: the most PRO at FPR 0.
    thresholds = np.concatenate([[np.inf, np.nextafter(neg[-1], np.inf)], thresholds])
    fpr = _fraction_at_least(neg, thresholds)
    pro = np.mean([_fraction_at_least(c, thresholds) for c in components], axis=0)
    return fpr, pro


def area_until(fpr: np.ndarray, y: np.ndarray, limit: float) -> float:
    """Trapezoid area under (fpr, y) for fpr in [0, limit], divided by ``limit``."""
    keep = fpr <= limit
    x, v = fpr[keep], y[keep]
    if keep.sum() < fpr.size:  # interpolate at the limit
        i = int(np.argmax(~keep))
        v_lim = y[i - 1] + (y[i] - y[i - 1]) * (limit - fpr[i - 1]) / (fpr[i] - fpr[i - 1])
        x, v = np.append(x, limit), np.append(v, v_lim)
    return float(np.sum(np.diff(x) * (v[1:] + v[:-1])) / 2 / limit)


# ---------------------------------------------------------------- tables


def per_type_metrics(defect_types: Sequence[str], labels, scores, masks, maps,
                     threshold: Optional[float] = None) -> List[Dict]:
    """One row per defect type: that type's images against all normal images.

    Keys: ``type``, ``images``, ``mean_score``, ``image_auroc``, ``pixel_auroc``,
    ``aupro`` and, given a threshold, ``flagged`` (the fraction of the type's
    images called defective: the detection rate, or for ``good`` the
    false-positive rate). The ``good`` row has only ``images``, ``mean_score``
    and ``flagged``.
    """
    types = np.asarray(defect_types)
    labels = np.asarray(labels)
    scores = np.asarray(scores, np.float64)
    normal = types == NORMAL
    rows = []
    for name in sorted(set(types.tolist()), key=lambda t: (t != NORMAL, t)):
        own = types == name
        row = {"type": name, "images": int(own.sum()), "mean_score": float(scores[own].mean())}
        if name != NORMAL:
            sel = own | normal
            row["image_auroc"] = metrics_lib.auroc(labels[sel], scores[sel])
            row["pixel_auroc"] = metrics_lib.pixel_auroc(masks[sel], maps[sel])
            row["aupro"] = metrics_lib.aupro(masks[sel], maps[sel])
        if threshold is not None:
            row["flagged"] = float(np.mean(scores[own] >= threshold))
        rows.append(row)
    return rows


def worst_cases(labels, scores, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` highest-scoring normal and ``k`` lowest-scoring defective images."""
    labels = np.asarray(labels).ravel() > 0.5
    scores = np.asarray(scores, np.float64).ravel()
    normal, defective = np.flatnonzero(~labels), np.flatnonzero(labels)
    worst_normal = normal[np.argsort(-scores[normal], kind="stable")[:k]]
    worst_defective = defective[np.argsort(scores[defective], kind="stable")[:k]]
    return worst_normal, worst_defective


# ---------------------------------------------------------------- figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return os.path.basename(path)


def _plot_roc(out_dir, labels, scores, masks, maps, results) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    fpr, tpr, _ = roc_curve(labels, scores)
    ax.plot(fpr, tpr, drawstyle="steps-post", label=f"image (AUROC {results['image_auroc']:.3f})")
    if masks.any():
        fpr, tpr = pixel_roc_curve(masks, maps)
        ax.plot(fpr, tpr, label=f"pixel (AUROC {results['pixel_auroc']:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC",
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return _save(fig, os.path.join(out_dir, "roc.png"))


def _plot_pro(out_dir, masks, maps, results) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    fpr, pro = pro_curve(masks, maps)
    ax.plot(fpr, pro, label=f"AU-PRO@{PRO_FPR_LIMIT} {results['aupro']:.3f}")
    ax.axvline(PRO_FPR_LIMIT, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="false-positive rate (normal pixels)", ylabel="per-region overlap",
           title="PRO curve", xlim=(0, PRO_FPR_LIMIT * 1.05), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return _save(fig, os.path.join(out_dir, "pro.png"))


def _plot_histogram(out_dir, labels, scores, threshold) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = np.asarray(labels) > 0.5
    bins = np.histogram_bin_edges(scores, bins=30)
    ax.hist(scores[~labels], bins=bins, alpha=0.6, label=f"normal ({(~labels).sum()})")
    ax.hist(scores[labels], bins=bins, alpha=0.6, label=f"defective ({labels.sum()})")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", label=f"threshold {threshold:.4g}")
    ax.set(xlabel="image score (max of the anomaly map)", ylabel="images",
           title="Image scores")
    ax.legend()
    return _save(fig, os.path.join(out_dir, "histogram.png"))


def _plot_per_type(out_dir, rows) -> str:
    plt = _pyplot()
    rows = [r for r in rows if r["type"] != NORMAL]
    keys = [k for k in ("image_auroc", "pixel_auroc", "aupro", "flagged") if k in rows[0]]
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(rows) + 2), 4))
    width = 0.8 / len(keys)
    x = np.arange(len(rows))
    for j, key in enumerate(keys):
        values = [r[key] for r in rows]
        ax.bar(x + (j - (len(keys) - 1) / 2) * width, np.nan_to_num(values), width, label=key)
    ax.set_xticks(x, [r["type"] for r in rows], rotation=20)
    ax.set(ylim=(0, 1.05), title="Per defect type (against all normal images)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, os.path.join(out_dir, "per_type.png"))


# ---------------------------------------------------------------- page


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if np.isnan(value) else f"{value:.4f}"
    return html.escape(str(value))


def _table(rows: List[Dict], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict(score: float, cut: Optional[float]) -> str:
    if cut is None:
        return ""
    return ", called defective" if score >= cut else ", called normal"


def _figure(src: str, caption: str) -> str:
    src = html.escape(src)
    return (f'<figure><a href="{src}"><img src="{src}" alt="{html.escape(caption)}"></a>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


_STYLE = """body{font-family:sans-serif;margin:24px;max-width:1400px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #bbb;padding:3px 8px;
text-align:right}th{background:#eee}td:first-child{text-align:left}
figure{display:inline-block;margin:6px;vertical-align:top}
figure img{max-width:640px;border:1px solid #ddd}
figcaption{font-size:12px;color:#444;max-width:640px}"""


def _draw_worst(out_dir, split, maps, scores, cut, tag, indices, vmin, vmax):
    """Overlays of ``indices`` into ``worst/``; returns (summary entries, HTML figures)."""
    names = [f"{tag}{rank + 1}_{split.defect_types[i]}_"
             f"{os.path.splitext(os.path.basename(split.paths[i]))[0]}"
             for rank, i in enumerate(indices)]
    paths = overlay.save_overlays(os.path.join(out_dir, "worst"), split.images[indices],
                                  maps[indices], split.masks[indices], names, vmin=vmin, vmax=vmax)
    entries, figures = [], []
    for i, path in zip(indices, paths):
        rel = os.path.relpath(path, out_dir).replace(os.sep, "/")
        entries.append({"path": split.paths[i], "score": float(scores[i]), "overlay": rel})
        figures.append(_figure(rel, f"{split.defect_types[i]} {os.path.basename(split.paths[i])}: "
                                    f"score {scores[i]:.4g}{_verdict(scores[i], cut)}"))
    return entries, "".join(figures)


def _remove_previous(out_dir: str) -> None:
    """Drops the figures and overlays an earlier report left in ``out_dir``."""
    shutil.rmtree(os.path.join(out_dir, "worst"), ignore_errors=True)
    for name in FIGURES:
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            os.remove(path)


def write_report(out_dir: str, split, maps: np.ndarray, scores: np.ndarray, results: Dict,
                 threshold: Optional[Dict] = None, num_examples: int = 6) -> str:
    """Writes the report of one evaluation into ``out_dir``; returns the HTML page's path.

    ``split`` is the evaluated ``decode.Split``; ``maps`` (N, H, W) and
    ``scores`` (N,) are its anomaly maps and image scores; ``results`` holds
    the metrics of ``compute_metrics``; ``threshold`` is the record of
    :mod:`rdjax.eval.threshold` or None; ``num_examples`` worst cases per side.
    """
    os.makedirs(out_dir, exist_ok=True)
    _remove_previous(out_dir)
    labels, masks = np.asarray(split.labels), np.asarray(split.masks)
    scores = np.asarray(scores, np.float64)
    cut = None if threshold is None else float(threshold["threshold"])
    rows = per_type_metrics(split.defect_types, labels, scores, masks, maps, cut)
    figures = []
    if labels.any() and not labels.all():
        figures.append((_plot_roc(out_dir, labels, scores, masks, maps, results),
                        f"ROC curves (image level exact, pixel level at {CURVE_POINTS} thresholds)"))
    if masks.any():
        figures.append((_plot_pro(out_dir, masks, maps, results),
                        f"PRO curve up to FPR {PRO_FPR_LIMIT}"))
    figures.append((_plot_histogram(out_dir, labels, scores, cut),
                    "Image scores, normal vs defective"))
    if len(rows) > 1:
        figures.append((_plot_per_type(out_dir, rows), "Metrics per defect type"))

    summary = {"metrics": {k: v for k, v in results.items() if isinstance(v, (int, float))},
               "per_type": rows, "threshold": threshold}
    if cut is not None:
        summary["decision"] = decision_metrics(labels, scores, cut)

    worst_html = ""
    if num_examples > 0:
        if threshold is not None:
            vmin, vmax = threshold["display_min"], threshold["display_max"]
        else:
            vmin, vmax = float(maps.min()), float(maps.max())
        sides = zip(("Highest-scoring normal images (worst false positives)",
                     "Lowest-scoring defective images (worst false negatives)"),
                    ("fp", "fn"), worst_cases(labels, scores, num_examples))
        for title, tag, indices in sides:
            summary[f"worst_{tag}"], figs = _draw_worst(out_dir, split, maps, scores, cut, tag,
                                                        indices, vmin, vmax)
            worst_html += f"<h2>{html.escape(title)}</h2>{figs or '<p>none</p>'}"

    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(summary, f, indent=2, default=float)

    metric_rows = [{"metric": k, "value": v} for k, v in summary["metrics"].items()]
    parts = [f"<h1>Evaluation report</h1><p>{len(labels)} images: {(labels == 0).sum()} normal, "
             f"{(labels == 1).sum()} defective.</p>", "<h2>Metrics</h2>",
             _table(metric_rows, ["metric", "value"])]
    if cut is not None:
        d = summary["decision"]
        parts.append(f"<h2>Decision at threshold {cut:.5g} ({html.escape(threshold['mode'])})</h2>"
                     + _table([d], ["precision", "recall", "f1", "false_positive_rate",
                                    "accuracy", "tp", "fp", "fn", "tn"]))
    columns = ["type", "images", "mean_score", "image_auroc", "pixel_auroc", "aupro"]
    parts += ["<h2>Per defect type</h2>",
              _table(rows, columns + (["flagged"] if cut is not None else [])),
              "<h2>Curves</h2>", "".join(_figure(src, cap) for src, cap in figures), worst_html]
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>rdjax evaluation report"
            f"</title><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")
    path = os.path.join(out_dir, "index.html")
    with open(path, "w") as f:
        f.write(page)
    return path
