"""Metrics against sklearn and against literal, slow reference implementations."""

import math
from statistics import mean

import numpy as np
import pytest
from skimage import measure
from sklearn.metrics import auc as sk_auc
from sklearn.metrics import roc_auc_score

from rdjax.eval.metrics import (aupro, aupro_per_image, auroc, compute_metrics,
                                pixel_auroc)


# ---------------------------------------------------------------- AUROC


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.integers(0, 6, n).astype(np.float32)  # very many ties
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    scores = rng.normal(size=n)
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("labels,scores,expected", [
    ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], 1.0),
    ([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1], 0.0),
    ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 0.5),
    ([1, 0, 0, 0], [0.2, 0.1, 0.2, 0.3], 0.5),   # (1 above + 0.5 tie + 0 below) / 3
    ([0, 1], [1.0, 1.0], 0.5),
])
def test_auroc_edge_cases(labels, scores, expected):
    assert auroc(labels, scores) == pytest.approx(expected)
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_auroc_single_class_is_nan():
    assert math.isnan(auroc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(auroc([0, 0], [0.1, 0.2]))


def test_pixel_auroc_matches_sklearn():
    rng = np.random.default_rng(7)
    masks = np.zeros((4, 32, 32), np.uint8)
    masks[1, 5:15, 5:12] = 1
    masks[3, 20:30, 1:4] = 1
    maps = (rng.random(masks.shape) + 0.4 * masks).astype(np.float32)
    maps = np.round(maps, 2)  # ties
    expected = roc_auc_score(masks.ravel(), maps.ravel())
    assert pixel_auroc(masks, maps) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(pixel_auroc(np.zeros_like(masks), maps))


# ---------------------------------------------------------------- dataset-level AU-PRO


def _slow_aupro(masks, maps, fpr_limit=0.3):
    """Every distinct score as a threshold (score >= t), literal FPR / mean region overlap."""
    masks = masks.astype(bool)
    regions = []
    for n, mask in enumerate(masks):
        labelled = measure.label(mask)
        regions += [(n, labelled == r) for r in range(1, labelled.max() + 1)]
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        pred = maps >= t
        fpr = (pred & ~masks).sum() / (~masks).sum()
        pro = np.mean([pred[n][region].mean() for n, region in regions])
        points.append((fpr, pro))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        if x0 >= fpr_limit:
            break
        if x1 > fpr_limit:  # cut the segment at the limit
            y1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            x1 = fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


def _random_case(rng, n=3, h=12, w=10, levels=None):
    masks = np.zeros((n, h, w), np.uint8)
    for i in range(1, n):  # image 0 stays normal
        for _ in range(int(rng.integers(1, 3))):
            y, x = rng.integers(0, h - 2), rng.integers(0, w - 2)
            masks[i, y:y + rng.integers(1, 4), x:x + rng.integers(1, 4)] = 1
    maps = rng.random((n, h, w)) + 0.5 * masks * rng.random((n, h, w))
    if levels:
        maps = np.round(maps * levels) / levels
    return masks, maps.astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("levels", [None, 8])
def test_aupro_matches_slow_reference(seed, levels):
    masks, maps = _random_case(np.random.default_rng(seed), levels=levels)
    assert aupro(masks, maps) == pytest.approx(_slow_aupro(masks, maps), abs=1e-10)
    assert aupro(masks, maps, fpr_limit=0.05) == pytest.approx(
        _slow_aupro(masks, maps, 0.05), abs=1e-10)


def test_aupro_perfect_is_one():
    # 1×4×4, 2×2 defect scoring 1, the rest 0. Threshold 1: FPR 0, PRO 1; threshold 0:
    # FPR 1, PRO 1. Curve (0,0) → (0,1) → (1,1): area to 0.3 is 0.3, /0.3 = 1.0.
    masks = np.zeros((1, 4, 4), np.uint8)
    masks[0, :2, :2] = 1
    assert aupro(masks, masks.astype(np.float32)) == pytest.approx(1.0)


def test_aupro_half_with_8_connectivity():
    # Defect pixels (0,0) and (1,1) touch diagonally: one region of area 2 with
    # 8-connectivity. (3,3) is a second region. Scores: (0,0) and (3,3) = 1,
    # (1,1) = 0, normal pixels 0.5.
    # t=1:   FPR 0, PRO = (1/2 + 1) / 2 = 0.75
    # t=0.5: FPR 1, PRO 0.75;   t=0: FPR 1, PRO 1.
    # Area to 0.3 = 0.75 · 0.3 → 0.75. (4-connectivity would give (1+0+1)/3 = 2/3.)
    masks = np.zeros((1, 4, 4), np.uint8)
    masks[0, 0, 0] = masks[0, 1, 1] = masks[0, 3, 3] = 1
    maps = np.full((1, 4, 4), 0.5, np.float32)
    maps[0, 0, 0] = maps[0, 3, 3] = 1.0
    maps[0, 1, 1] = 0.0
    assert aupro(masks, maps) == pytest.approx(0.75)


def test_aupro_all_ties_and_normal_images():
    # Every pixel scores the same: one step (0,0) → (1,1); area to 0.3 = 0.3²/2,
    # /0.3 = 0.15. The all-normal second image only adds negatives.
    masks = np.zeros((2, 4, 4), np.uint8)
    masks[0, 1:3, 1:3] = 1
    assert aupro(masks, np.ones((2, 4, 4), np.float32)) == pytest.approx(0.15)


def test_aupro_interpolates_at_the_limit():
    # 10 normal pixels scoring 0.9, 0.8, ..., 0.0 and one defect pixel scoring 0.75.
    # Points: (0.1,0), (0.2,0), (0.2,1), (0.3,1) ...: area to 0.3 = 0.1 → 1/3.
    # With fpr_limit 0.25: area 0.05 → 0.2.
    masks = np.zeros((1, 1, 11), np.uint8)
    masks[0, 0, 10] = 1
    maps = np.array([[[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.75]]])
    assert aupro(masks, maps) == pytest.approx(1 / 3)
    assert aupro(masks, maps, fpr_limit=0.25) == pytest.approx(0.2)


def test_aupro_undefined_cases_are_nan():
    maps = np.random.default_rng(0).random((2, 4, 4))
    assert math.isnan(aupro(np.zeros((2, 4, 4)), maps))
    assert math.isnan(aupro(np.ones((2, 4, 4)), maps))


def test_aupro_at_dataset_scale_separated_regions_score_one():
    # 200 images at 256 px (the size of a real evaluation): every defect pixel scores above
    # every normal pixel, so all regions are fully found at FPR 0 and AU-PRO is exactly 1.
    rng = np.random.default_rng(0)
    masks = np.zeros((200, 256, 256), np.uint8)
    masks[100:, 100:140, 60:120] = 1
    maps = np.where(masks == 1, 1.0 + rng.random(masks.shape), rng.random(masks.shape)).astype(np.float32)
    assert aupro(masks, maps) == pytest.approx(1.0)


# ---------------------------------------------------------------- RD4AD per-image AU-PRO


def _rd4ad_compute_pro(masks, amaps, num_th=200):
    """RD4AD's ``compute_pro`` step by step, for one image ((1, H, W) mask and map)."""
    binary_amaps = np.zeros_like(amaps, dtype=bool)
    min_th, max_th = amaps.min(), amaps.max()
    delta = (max_th - min_th) / num_th
    rows = []
    for th in np.arange(min_th, max_th, delta):
        binary_amaps[amaps <= th] = 0
        binary_amaps[amaps > th] = 1
        pros = []
        for binary_amap, mask in zip(binary_amaps, masks):
            for region in measure.regionprops(measure.label(mask)):
                tp_pixels = binary_amap[region.coords[:, 0], region.coords[:, 1]].sum()
                pros.append(tp_pixels / region.area)
        inverse_masks = 1 - masks
        fp_pixels = np.logical_and(inverse_masks, binary_amaps).sum()
        rows.append((mean(pros), fp_pixels / inverse_masks.sum()))
    pro = np.array([r[0] for r in rows])
    fpr = np.array([r[1] for r in rows])
    keep = fpr < 0.3
    pro, fpr = pro[keep], fpr[keep]
    return sk_auc(fpr / fpr.max(), pro)


@pytest.mark.parametrize("seed", range(4))
def test_aupro_per_image_matches_rd4ad(seed):
    rng = np.random.default_rng(seed)
    masks, maps = _random_case(rng, n=4, h=24, w=20)
    maps = maps.astype(np.float64)
    expected = np.mean([_rd4ad_compute_pro(masks[i:i + 1].astype(int), maps[i:i + 1])
                        for i in range(len(masks)) if masks[i].any()])
    assert aupro_per_image(masks, maps) == pytest.approx(expected, abs=1e-12)


def test_aupro_per_image_hand_computed():
    # 1×1×9 row: defect A (score 1.0) | 7 normal pixels | defect B (score 0.623).
    # A and B are separate regions. min 0, max 1: thresholds th_k = k · 0.005, k < 200.
    # Normal scores 0, 0, 0.2, 0.5, 0.601, 0.652, 0.703, so FPR = #normal > th / 7:
    #   k <= 120 (th <= 0.6): >= 3/7, dropped (not < 0.3);
    #   k 121..130: 2/7;  k 131..140: 1/7;  k >= 141: 0.      Normalised: 1, 1/2, 0.
    # B is found while th < 0.623 (k <= 124): PRO 1 for k 121..124, then 1/2.
    # Trapezoid in threshold order: equal-FPR rows add nothing; 1 → 1/2 at PRO 1/2
    # adds 1/4, 1/2 → 0 at PRO 1/2 adds 1/4: total 1/2.
    normals = [0, 0, 0.2, 0.5, 0.601, 0.652, 0.703]
    masks = np.array([[[1] + [0] * 7 + [1]]])
    maps = np.array([[[1.0] + normals + [0.623]]])
    assert aupro_per_image(masks, maps) == pytest.approx(0.5)
    assert _rd4ad_compute_pro(masks, maps) == pytest.approx(0.5)
    # Without B, PRO is 1 on every kept row: area 1 (same FPR steps 1 → 1/2 → 0).
    assert aupro_per_image(masks[..., :8], maps[..., :8]) == pytest.approx(1.0)
    # Averaged over images: (1/2 + 1) / 2; an all-normal third image is ignored.
    masks3 = np.zeros((3, 1, 9), int)
    masks3[0], masks3[1, :, :8] = masks[0], masks[0, :, :8]
    maps3 = np.concatenate([maps, maps, maps])
    maps3[1, 0, 8] = 0.0
    assert aupro_per_image(masks3, maps3) == pytest.approx(0.75)


def test_aupro_per_image_degenerate_cases():
    masks = np.zeros((3, 4, 4), np.uint8)
    masks[:, 0, 0] = 1
    perfect = masks.astype(np.float64)            # all kept rows at FPR 0 → max PRO = 1
    assert aupro_per_image(masks[:1], perfect[:1]) == pytest.approx(1.0)
    constant = np.ones((1, 4, 4))                 # no threshold step → excluded → nan
    assert math.isnan(aupro_per_image(masks[:1], constant))
    assert math.isnan(aupro_per_image(np.ones((1, 4, 4)), perfect[:1]))  # no normal pixel
    assert math.isnan(aupro_per_image(np.zeros((1, 4, 4)), perfect[:1]))  # no defect
    # Constant image excluded from the mean, the perfect one kept.
    both = np.concatenate([perfect[:1], constant])
    assert aupro_per_image(masks[:2], both) == pytest.approx(1.0)


# ---------------------------------------------------------------- all together


def test_compute_metrics_keys_and_types():
    rng = np.random.default_rng(11)
    masks, maps = _random_case(rng, n=6, h=16, w=16)
    labels = masks.reshape(6, -1).max(1)
    scores = maps.reshape(6, -1).max(1)
    out = compute_metrics(labels, scores, masks, maps)
    assert set(out) == {"image_auroc", "pixel_auroc", "aupro", "aupro_per_image"}
    for value in out.values():
        assert type(value) is float and 0.0 <= value <= 1.0
    assert out["image_auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert out["pixel_auroc"] == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()))
