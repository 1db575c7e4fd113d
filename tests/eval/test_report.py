"""The evaluation report: curves against sklearn and the metrics module, files, HTML links."""

import json
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score, roc_curve as sk_roc_curve

from rdjax.data.decode import Split
from rdjax.eval import metrics, report


def _fake_evaluation(seed=0, n_good=6, types=("crack", "spot"), per_type=4, size=32):
    """A split whose defects are bright squares and maps that see them (plus noise)."""
    rng = np.random.default_rng(seed)
    n = n_good + per_type * len(types)
    images = rng.integers(0, 120, (n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    defect_types = ["good"] * n_good + [t for t in types for _ in range(per_type)]
    for i in range(n_good, n):
        y, x = rng.integers(0, size - 8, 2)
        h, w = rng.integers(3, 8, 2)
        masks[i, y:y + h, x:x + w] = 1
        images[i][masks[i] > 0] = 240
    maps = rng.random((n, size, size)).astype(np.float32) + masks * rng.uniform(0.2, 1.2, (n, 1, 1))
    split = Split(images=images, masks=masks,
                  labels=np.array([int(t != "good") for t in defect_types]),
                  defect_types=defect_types,
                  paths=[f"/data/{t}/{i:03d}.png" for i, t in enumerate(defect_types)])
    return split, maps.astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_roc_curve_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    labels[:2] = [0, 1]
    scores = rng.integers(0, 10, 60).astype(float) if seed % 2 else rng.normal(size=60)
    fpr, tpr, thresholds = report.roc_curve(labels, scores)
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds[1:], sk_thr[1:])


def test_pixel_roc_and_pro_curves_agree_with_the_exact_metrics():
    split, maps = _fake_evaluation(seed=1)
    fpr, tpr = report.pixel_roc_curve(split.masks, maps, num_points=2000)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)
    assert area == pytest.approx(roc_auc_score(split.masks.ravel(), maps.ravel()), abs=2e-3)
    fpr, pro = report.pro_curve(split.masks, maps, num_points=2000)
    assert fpr[0] == 0 and np.all(np.diff(fpr) >= 0) and np.all(np.diff(pro) >= -1e-12)
    assert report.area_until(fpr, pro, 0.3) == pytest.approx(metrics.aupro(split.masks, maps), abs=2e-3)


def test_pro_curve_of_a_perfect_map_reaches_one_at_zero_fpr():
    masks = np.zeros((2, 10, 10), np.uint8)
    masks[1, 2:5, 2:5] = 1
    masks[1, 7:9, 6:9] = 1
    maps = masks * 2.0 + np.linspace(0, 1, 100).reshape(10, 10)[None] * 0.5
    fpr, pro = report.pro_curve(masks, maps)
    assert pro[fpr == 0].max() == 1.0
    assert report.area_until(fpr, pro, 0.3) == pytest.approx(1.0, abs=1e-2)


def test_per_type_metrics_and_worst_cases():
    split, maps = _fake_evaluation(seed=2)
    scores = maps.max(axis=(1, 2))
    rows = report.per_type_metrics(split.defect_types, split.labels, scores, split.masks, maps,
                                   threshold=1.0)
    assert [r["type"] for r in rows] == ["good", "crack", "spot"]
    good = np.array(split.defect_types) == "good"
    for row in rows[1:]:
        sel = good | (np.array(split.defect_types) == row["type"])
        assert row["image_auroc"] == pytest.approx(roc_auc_score(split.labels[sel], scores[sel]))
        assert row["pixel_auroc"] == pytest.approx(roc_auc_score(split.masks[sel].ravel(),
                                                                 maps[sel].ravel()))
        own = np.array(split.defect_types) == row["type"]
        assert row["flagged"] == pytest.approx(np.mean(scores[own] >= 1.0))
    assert rows[0]["flagged"] == pytest.approx(np.mean(scores[good] >= 1.0))
    worst_normal, worst_defective = report.worst_cases(split.labels, scores, 2)
    assert list(worst_normal) == list(np.flatnonzero(good)[np.argsort(-scores[good])[:2]])
    assert list(worst_defective) == list(np.flatnonzero(~good)[np.argsort(scores[~good])[:2]])


def _write(tmp_path, threshold=None):
    split, maps = _fake_evaluation(seed=3)
    scores = maps.max(axis=(1, 2))
    results = metrics.compute_metrics(split.labels, scores, split.masks, maps)
    page = report.write_report(str(tmp_path), split, maps, scores, results, threshold, num_examples=3)
    return page, split, scores


def test_write_report_links_every_image_it_writes(tmp_path):
    threshold = {"threshold": 1.1, "mode": "quantile", "display_min": 0.5, "display_max": 1.7}
    page, split, scores = _write(tmp_path, threshold)
    text = open(page).read()
    sources = re.findall(r'<img src="([^"]+)"', text)
    links = re.findall(r'<a href="([^"]+)"', text)
    assert sources == links and len(sources) == 4 + 6  # roc, pro, histogram, per-type; 3 + 3 cases
    for src in sources:
        Image.open(tmp_path / src).verify()
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")}
    assert written == set(sources)
    summary = json.loads((tmp_path / "report.json").read_text())
    assert summary["decision"]["tp"] == int(np.sum(scores[split.labels == 1] >= 1.1))
    assert [r["type"] for r in summary["per_type"]] == ["good", "crack", "spot"]
    assert len(summary["worst_fp"]) == len(summary["worst_fn"]) == 3
    assert "Decision at threshold 1.1" in text


def test_write_report_without_threshold_or_examples_replaces_the_previous_one(tmp_path):
    _write(tmp_path, None)
    assert (tmp_path / "worst").is_dir()
    split, maps = _fake_evaluation(seed=4)
    scores = maps.max(axis=(1, 2))
    results = metrics.compute_metrics(split.labels, scores, split.masks, maps)
    page = report.write_report(str(tmp_path), split, maps, scores, results, None, num_examples=0)
    assert "Decision at" not in open(page).read()
    assert not (tmp_path / "worst").exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(tmp_path):
    page, _, _ = _write(tmp_path / "report", {"threshold": 1.1, "mode": "f1",
                                              "display_min": 0.5, "display_max": 1.7})
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={tempfile.mkdtemp()}",
                    f"--screenshot={shot}", "--window-size=1200,2400", f"file://{page}"],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (2400, 1200, 3)
    # The plots and overlays are drawn: many distinct colours, not a blank or text-only page.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000
