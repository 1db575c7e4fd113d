"""The normal/defect decision threshold, chosen once after training.

An image is called defective when its score (the maximum of its anomaly map)
is ``>= threshold``; a pixel is in the defect mask when its map value is
``>= threshold`` (so an image is defective exactly when its mask is not empty).

Sources, set by ``config.threshold`` (see ``rdjax/train/default_config.py``):

* ``'quantile'``: a high quantile of the scores of normal training images
  that were held out of training (``holdout_fraction``);
* ``'f1'``: the F1-optimal cut on a labelled validation set with defects
  (``validation_root``, a folder in MVTec layout whose ``<category>/test`` is read);
* ``'auto'``: ``'f1'`` when a validation set is configured, else ``'quantile'``
  when images are held out, else no threshold (a warning; predict then needs
  ``--threshold``).

The result is written to ``<workdir>/threshold.json`` next to the checkpoints,
with the colour range that predict's heat maps use.
"""

import dataclasses
import json
import os
from typing import Callable, Optional, Tuple

import numpy as np
from absl import logging

from rdjax.data import datasets
from rdjax.data.decode import Split

FILENAME = "threshold.json"
MODES = ("auto", "quantile", "f1")


def hold_out_normals(split: Split, config) -> Tuple[Split, Optional[Split]]:
    """Splits ``config.threshold.holdout_fraction`` of the train images off for calibration.

    The held-out images are a seeded random choice (``config.seed``); returns
    ``(train, holdout)``, with ``holdout`` None when the fraction is 0.
    """
    fraction = float(config.threshold.holdout_fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"config.threshold.holdout_fraction={fraction} must be in [0, 1).")
    n = len(split)
    k = int(round(fraction * n))
    if fraction > 0 and k == 0:
        k = 1
    if k == 0:
        return split, None
    if k >= n:
        raise ValueError(f"config.threshold.holdout_fraction={fraction} leaves no training image "
                         f"out of {n}.")
    order = np.random.default_rng([int(config.seed), 7919]).permutation(n)
    held = np.sort(order[:k])
    kept = np.sort(order[k:])
    logging.info("Holding %d of %d train images out of training to calibrate the threshold.", k, n)
    return subset(split, kept), subset(split, held)


def subset(split: Split, indices) -> Split:
    """The samples of ``split`` at ``indices``, in that order."""
    idx = np.asarray(indices, np.int64)
    return dataclasses.replace(
        split, images=split.images[idx], masks=split.masks[idx], labels=split.labels[idx],
        defect_types=[split.defect_types[i] for i in idx], paths=[split.paths[i] for i in idx])


def quantile_threshold(normal_scores, quantile: float) -> float:
    """The ``quantile`` (linear interpolation, numpy's default) of normal image scores."""
    scores = np.asarray(normal_scores, np.float64).ravel()
    if scores.size == 0:
        raise ValueError("no normal scores to take a quantile of")
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"config.threshold.quantile={quantile} must be in (0, 1].")
    return float(np.quantile(scores, quantile))


def counts_above(labels, scores) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(thresholds, tp, fp)``: each distinct score, highest first, with the numbers of
    positive (``labels`` 1) and negative images scoring ``>=`` it."""
    labels = np.asarray(labels).ravel() > 0.5
    scores = np.asarray(scores, np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.size} labels but {scores.size} scores")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    ends = np.append(np.flatnonzero(s[1:] != s[:-1]), s.size - 1)  # last index of each tie group
    tp = np.cumsum(y)[ends]
    return s[ends], tp, ends + 1 - tp


def f1_threshold(labels, scores) -> Tuple[float, float]:
    """``(threshold, f1)``: the cut with the best image F1 (1 = defective, ``score >= t``).

    Every distinct score is a candidate; of equally good cuts the highest is
    taken, and the threshold is placed halfway down to the next lower score, so
    that the labelled set is split the same way with a margin on both sides.
    """
    positives = int(np.sum(np.asarray(labels) > 0.5))
    if positives in (0, np.size(labels)):
        raise ValueError("the validation set needs both normal and defective images for an F1 threshold")
    cuts, tp, fp = counts_above(labels, scores)
    f1 = 2 * tp / (tp + fp + positives)
    best = int(np.argmax(f1))  # first maximum = highest threshold
    below = cuts[best + 1] if best + 1 < cuts.size else cuts[best] - max(abs(cuts[best]), 1.0) * 1e-3
    return float((cuts[best] + below) / 2), float(f1[best])


def decision_metrics(labels, scores, threshold: float) -> dict:
    """Image-level precision, recall, F1, false-positive rate and accuracy at ``threshold``."""
    labels = np.asarray(labels).ravel() > 0.5
    predicted = np.asarray(scores).ravel() >= threshold
    tp = int(np.sum(predicted & labels))
    fp = int(np.sum(predicted & ~labels))
    fn = int(np.sum(~predicted & labels))
    tn = int(np.sum(~predicted & ~labels))

    def ratio(a, b):
        return float(a / b) if b else float("nan")

    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn), "false_positive_rate": ratio(fp, fp + tn),
            "accuracy": ratio(tp + tn, labels.size), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def display_range(normal_maps: np.ndarray, threshold: float) -> Tuple[float, float]:
    """Heat-map colour range: the median normal pixel (blue) to as far above the threshold
    (red), so the threshold sits mid-scale."""
    low = float(np.median(normal_maps))
    low = min(low, threshold - 1e-6)
    return low, float(2 * threshold - low)


def validation_split(config) -> Optional[Split]:
    """The labelled validation set of ``config.threshold.validation_root``, or None."""
    root = config.threshold.validation_root
    if not root:
        return None
    return datasets.load_validation(config.dataset, root)


def calibrate(maps_of: Callable[[np.ndarray], np.ndarray], holdout: Optional[Split],
              config, workdir: str, write: bool = True,
              validation: Optional[Split] = None) -> Optional[dict]:
    """Chooses the threshold as ``config.threshold`` says and writes ``threshold.json``.

    ``maps_of`` turns uint8 images (N, S, S, 3) into anomaly maps (N, S, S).
    Returns the saved record, or None when ``'auto'`` finds nothing to calibrate
    on (a stale ``threshold.json`` is then removed). ``write`` = False only
    computes (for processes other than the first, or to write the record later).
    ``validation``: the validation set when already read (else read here if configured).
    """
    t = config.threshold
    if t.mode not in MODES:
        raise ValueError(f"config.threshold.mode='{t.mode}' is unknown; choose one of {MODES}.")
    if validation is None and t.mode in ("auto", "f1"):
        validation = validation_split(config)
    mode = t.mode
    if mode == "auto":
        mode = "f1" if validation is not None else "quantile" if holdout is not None else None
    path = os.path.join(workdir, FILENAME)
    if mode is None:
        logging.warning("No threshold: config.threshold.holdout_fraction is 0 and no "
                        "config.threshold.validation_root is set; predict will need --threshold.")
        if write and os.path.exists(path):
            os.remove(path)
        return None

    if mode == "quantile":
        if holdout is None:
            raise ValueError("config.threshold.mode='quantile' needs held-out normal images: set "
                             "config.threshold.holdout_fraction > 0.")
        normal_maps = maps_of(holdout.images)
        value = quantile_threshold(normal_maps.max(axis=(1, 2)), t.quantile)
        record = {"mode": "quantile", "quantile": float(t.quantile),
                  "num_normal_images": len(holdout)}
    else:
        if validation is None:
            raise ValueError("config.threshold.mode='f1' needs a labelled validation set: set "
                             "config.threshold.validation_root to a folder in MVTec layout.")
        maps = maps_of(validation.images)
        value, best_f1 = f1_threshold(validation.labels, maps.max(axis=(1, 2)))
        normal_maps = maps[validation.labels == 0]
        record = {"mode": "f1", "validation_f1": best_f1, "validation_root": t.validation_root,
                  "num_validation_images": len(validation)}
    low, high = display_range(normal_maps, value)
    record = {"threshold": value, **record, "display_min": low, "display_max": high,
              "score": "max of the anomaly map"}
    logging.info("Decision threshold %.5f (%s).", value, record["mode"])
    if write:
        with open(path, "w") as f:
            json.dump(record, f, indent=2)
    return record


def load(workdir: str) -> Optional[dict]:
    """The record saved by :func:`calibrate`, or None when the workdir has none."""
    path = os.path.join(workdir, FILENAME)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)
