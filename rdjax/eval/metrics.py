"""Image/pixel AUROC and AU-PRO for anomaly maps (numpy, on the host).

* ``auroc``: exact area under the ROC curve with ties counted as half, equal to
  ``sklearn.metrics.roc_auc_score``.
* ``pixel_auroc``: ``auroc`` over every pixel of every image.
* ``aupro``: the dataset-level AU-PRO of MVTec AD / anomalib, computed exactly
  (every distinct score is a threshold), integrated up to ``fpr_limit`` and
  divided by it.
* ``aupro_per_image``: RD4AD's ``compute_pro`` (200 evenly spaced thresholds,
  FPR < 0.3 rows, FPR divided by its maximum, trapezoid) applied to each
  defective image separately and averaged, as RD4AD's ``test.py`` reports it.

Masks are (N, H, W) arrays binarised with ``> 0.5`` (as RD4AD does); maps are
(N, H, W) finite float scores. GT regions are connected components with full
(8-) connectivity, as ``skimage.measure.label`` gives by default.
"""

import math
from typing import Dict, List

import numpy as np
from skimage import measure


def _binary(masks) -> np.ndarray:
    return np.asarray(masks) > 0.5


def _check_maps(masks: np.ndarray, maps: np.ndarray) -> None:
    if masks.shape != maps.shape or maps.ndim != 3:
        raise ValueError(f"masks and maps must both be (N, H, W), got {masks.shape} and "
                         f"{maps.shape}")
    if not np.isfinite(maps).all():
        raise ValueError("anomaly maps contain NaN or inf")


def _auroc_split(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUROC = P(pos > neg) + P(pos == neg) / 2, counted exactly with integers.

    Sorts both score arrays in place (callers pass fresh copies) and locates
    the smaller class in the larger one with ``searchsorted``.
    """
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    pos.sort()
    neg.sort()
    if pos.size <= neg.size:
        left, right = np.searchsorted(neg, pos, "left"), np.searchsorted(neg, pos, "right")
        wins = int(left.sum())                  # normal scores under each anomalous one
    else:
        left, right = np.searchsorted(pos, neg, "left"), np.searchsorted(pos, neg, "right")
        wins = int((pos.size - right).sum())    # anomalous scores over each normal one
    equal = int((right - left).sum())
    return (2 * wins + equal) / (2 * pos.size * neg.size)


def auroc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 = anomalous).

    Equal to ``sklearn.metrics.roc_auc_score`` (tied scores count one half).
    Returns ``nan`` when only one class is present (sklearn raises instead).
    """
    labels = np.asarray(labels).ravel() > 0.5
    scores = np.asarray(scores).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.shape[0]} labels but {scores.shape[0]} scores")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    return _auroc_split(scores[labels], scores[~labels])


def pixel_auroc(masks, maps) -> float:
    """Pixel-level AUROC over all pixels of all (N, H, W) maps.

    Returns ``nan`` if there are no defective (or no normal) pixels. Memory:
    one copy of the scores (split by class and sorted in place) plus two
    integer arrays the size of the smaller class.
    """
    masks = _binary(masks)
    maps = np.asarray(maps)
    _check_maps(masks, maps)
    return _auroc_split(maps[masks], maps[~masks])


def _trapezoid_until(x: np.ndarray, y: np.ndarray, limit: float) -> float:
    """Trapezoid area under the polyline (x, y) for x in [x[0], limit].

    ``x`` must be non-decreasing; the curve is linearly interpolated at exactly
    ``limit`` when it crosses it.
    """
    n = int(np.searchsorted(x, limit, side="right"))
    xs, ys = x[:n], y[:n]
    if n < x.size and xs[-1] < limit:
        y_limit = ys[-1] + (y[n] - ys[-1]) * (limit - xs[-1]) / (x[n] - xs[-1])
        xs, ys = np.append(xs, limit), np.append(ys, y_limit)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1])) / 2)


def aupro(masks, maps, fpr_limit: float = 0.3) -> float:
    """Dataset-level area under the PRO curve up to ``fpr_limit``, normalised to [0, 1].

    For a threshold ``t`` (pixels with score >= t are predicted anomalous):
    FPR = predicted normal pixels / all normal pixels of all images, PRO = mean
    over all GT connected components of the dataset of their predicted
    fraction. The curve starts at (0, 0), has a point at every distinct score,
    is integrated with the trapezoid rule up to FPR = ``fpr_limit``
    (interpolated there) and divided by ``fpr_limit`` (MVTec AD's definition).

    Exact and O(n log n): only pixels scoring at least the score at which the
    FPR reaches ``fpr_limit`` are sorted; each defective pixel carries the weight
    ``1 / (area of its component · number of components)`` so that the PRO is a
    cumulative sum. Returns ``nan`` without GT components or normal pixels.
    """
    if not 0 < fpr_limit <= 1:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    masks = _binary(masks)
    maps = np.asarray(maps)
    _check_maps(masks, maps)

    pos_scores, pos_regions, offset = [], [], 0
    for mask, amap in zip(masks, maps):
        regions, count = measure.label(mask, return_num=True)
        pos_scores.append(amap[mask])
        pos_regions.append(regions[mask] - 1 + offset)
        offset += count
    num_regions = offset
    neg_scores = maps[~masks]
    num_neg = neg_scores.size
    if num_regions == 0 or num_neg == 0:
        return float("nan")
    pos_scores = np.concatenate(pos_scores)
    pos_regions = np.concatenate(pos_regions)
    pos_weights = 1.0 / (np.bincount(pos_regions)[pos_regions] * float(num_regions))

    # Score at which at least fpr_limit of the normal pixels are predicted anomalous;
    # the curve below it lies beyond the integration limit.
    k = min(num_neg, math.ceil(fpr_limit * num_neg))
    neg_scores.partition(num_neg - k)
    cutoff = neg_scores[num_neg - k]
    keep_pos = pos_scores >= cutoff
    neg_top = neg_scores[neg_scores >= cutoff]
    scores = np.concatenate([pos_scores[keep_pos], neg_top])
    is_neg = np.concatenate([np.zeros(keep_pos.sum(), bool), np.ones(neg_top.size, bool)])
    weights = np.concatenate([pos_weights[keep_pos], np.zeros(neg_top.size)])

    order = np.argsort(scores)[::-1]
    scores = scores[order]
    fpr = np.cumsum(is_neg[order]) / num_neg
    pro = np.cumsum(weights[order])
    # Last pixel of each group of tied scores: one curve point per distinct threshold.
    ends = np.append(np.flatnonzero(scores[1:] != scores[:-1]), scores.size - 1)
    fpr = np.concatenate([[0.0], fpr[ends]])
    pro = np.concatenate([[0.0], pro[ends]])
    return _trapezoid_until(fpr, pro, fpr_limit) / fpr_limit


def component_scores(mask: np.ndarray, amap: np.ndarray) -> List[np.ndarray]:
    """The sorted map values of each GT connected component (8-connectivity) of ``mask``."""
    regions, count = measure.label(mask, return_num=True)
    return [np.sort(amap[regions == region]) for region in range(1, count + 1)]


def _pro_single_image(mask: np.ndarray, amap: np.ndarray, num_thresholds: int,
                      fpr_limit: float) -> float:
    """RD4AD's ``compute_pro`` for one image (``mask`` boolean with >= 1 GT pixel).

    Thresholds ``np.arange(min, max, (max - min) / num_thresholds)`` of the
    float64 map; at each, pixels ``> th`` are predicted anomalous, PRO is the
    mean over the image's GT components of their predicted fraction and FPR the
    predicted fraction of its normal pixels. Rows with FPR < ``fpr_limit`` are
    kept, their FPR divided by its maximum and the PRO integrated over it with
    the trapezoid rule (sklearn's ``auc``; FPR falls as the threshold rises).

    Cases where RD4AD's code raises or returns NaN:
    * no normal pixels, or a constant map (zero threshold step): ``nan``;
    * no kept row, or a single kept row with FPR > 0: ``0.0`` (the trapezoid
      area of fewer than two points);
    * all kept rows at FPR 0 (0/0 normalisation): the largest kept PRO, so a map
      that separates the defect perfectly scores 1.0.
    """
    amap = amap.astype(np.float64)
    neg = np.sort(amap[~mask])
    lo, hi = amap.min(), amap.max()
    if neg.size == 0 or hi == lo:
        return float("nan")
    thresholds = np.arange(lo, hi, (hi - lo) / num_thresholds)

    fpr = (neg.size - np.searchsorted(neg, thresholds, side="right")) / neg.size
    components = component_scores(mask, amap)
    overlap = np.zeros_like(thresholds)
    for scores in components:
        overlap += (scores.size - np.searchsorted(scores, thresholds, side="right")) / scores.size
    pro = overlap / len(components)

    keep = fpr < fpr_limit
    fpr, pro = fpr[keep], pro[keep]
    if fpr.size == 0:
        return 0.0
    if fpr.max() == 0:
        return float(pro.max())
    fpr = (fpr / fpr.max())[::-1]
    pro = pro[::-1]
    return float(np.sum(np.diff(fpr) * (pro[1:] + pro[:-1])) / 2)


def aupro_per_image(masks, maps, num_thresholds: int = 200, fpr_limit: float = 0.3) -> float:
    """RD4AD's AU-PRO: ``compute_pro`` on each defective image, averaged.

    Images whose mask is empty are skipped (RD4AD evaluates only images with a
    non-zero label, which in MVTec AD are exactly those with a non-empty mask).
    See ``_pro_single_image`` for the per-image procedure and its degenerate
    cases; images scoring ``nan`` there are left out of the mean. Returns
    ``nan`` if no image is left.
    """
    masks = _binary(masks)
    maps = np.asarray(maps)
    _check_maps(masks, maps)
    values = [_pro_single_image(mask, amap, num_thresholds, fpr_limit)
              for mask, amap in zip(masks, maps) if mask.any()]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def compute_metrics(labels, image_scores, masks, maps) -> Dict[str, float]:
    """All metrics at once: ``image_auroc``, ``pixel_auroc``, ``aupro``, ``aupro_per_image``.

    ``labels``/``image_scores`` are (N,); ``masks``/``maps`` (N, H, W). Values are
    Python floats in [0, 1]; a metric is ``nan`` when it is undefined (one image
    class only; no defective pixels for the pixel metrics).
    """
    return {
        "image_auroc": auroc(labels, image_scores),
        "pixel_auroc": pixel_auroc(masks, maps),
        "aupro": aupro(masks, maps),
        "aupro_per_image": aupro_per_image(masks, maps),
    }
