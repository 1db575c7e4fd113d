"""Threshold choice against sklearn and numpy, the hold-out split, and calibration files."""

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import f1_score, precision_recall_curve, precision_score, recall_score

from configs import quickstart
from rdjax.data.decode import Split
from rdjax.eval import threshold


def _split(n, labels=None, size=8, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, np.int32) if labels is None else np.asarray(labels, np.int32)
    return Split(images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                 masks=np.zeros((n, size, size), np.uint8), labels=labels,
                 defect_types=["good" if y == 0 else "crack" for y in labels],
                 paths=[f"img{i:03d}.png" for i in range(n)])


@pytest.mark.parametrize("seed", range(6))
def test_f1_threshold_reaches_sklearn_best_f1(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.integers(0, 8, n).astype(float) if seed % 2 else rng.normal(size=n) + labels
    precision, recall, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        best = np.nanmax(2 * precision * recall / (precision + recall))
    cut, f1 = threshold.f1_threshold(labels, scores)
    assert f1 == pytest.approx(best, abs=1e-12)
    assert f1_score(labels, scores >= cut) == pytest.approx(best, abs=1e-12)
    assert not np.any(scores == cut)  # the cut lies strictly between two scores


def test_f1_threshold_prefers_the_highest_equal_cut_and_needs_both_classes():
    # Cuts at 0.9 and 0.5 both give F1 = 2/3; the higher one is taken, halfway to 0.7.
    cut, f1 = threshold.f1_threshold([1, 0, 0, 1, 0], [0.9, 0.7, 0.6, 0.5, 0.1])
    assert cut == pytest.approx(0.8) and f1 == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="both normal and defective"):
        threshold.f1_threshold([0, 0], [0.1, 0.2])


def test_quantile_threshold_and_decision_metrics():
    assert threshold.quantile_threshold(np.arange(1, 101), 0.99) == pytest.approx(99.01)
    with pytest.raises(ValueError, match="config.threshold.quantile"):
        threshold.quantile_threshold([1.0, 2.0], 1.5)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50)
    scores = rng.random(50)
    d = threshold.decision_metrics(labels, scores, 0.4)
    predicted = scores >= 0.4
    assert d["precision"] == pytest.approx(precision_score(labels, predicted))
    assert d["recall"] == pytest.approx(recall_score(labels, predicted))
    assert d["f1"] == pytest.approx(f1_score(labels, predicted))
    assert d["tp"] + d["fp"] + d["fn"] + d["tn"] == 50


def test_hold_out_normals_is_a_seeded_disjoint_split():
    config = quickstart.get_config()
    config.threshold.holdout_fraction = 0.1
    split = _split(80)
    train, held = threshold.hold_out_normals(split, config)
    assert len(train) == 72 and len(held) == 8
    assert sorted(train.paths + held.paths) == split.paths
    np.testing.assert_array_equal(held.images, split.images[[split.paths.index(p) for p in held.paths]])
    again = threshold.hold_out_normals(split, config)[1]
    assert again.paths == held.paths
    config.seed += 1
    assert threshold.hold_out_normals(split, config)[1].paths != held.paths
    config.threshold.holdout_fraction = 0.0
    assert threshold.hold_out_normals(split, config) == (split, None)
    config.threshold.holdout_fraction = 1.0
    with pytest.raises(ValueError, match="holdout_fraction"):
        threshold.hold_out_normals(split, config)


def _maps_of(images):
    """A stand-in model: each image's map is its mean grey value per pixel / 255."""
    return images.mean(axis=-1) / 255.0


def test_calibrate_quantile_writes_threshold_json(tmp_path):
    config = quickstart.get_config()
    holdout = _split(9, seed=1)
    record = threshold.calibrate(_maps_of, holdout, config, str(tmp_path))
    scores = _maps_of(holdout.images).max(axis=(1, 2))
    assert record["threshold"] == pytest.approx(np.quantile(scores, 0.99))
    assert record["mode"] == "quantile"
    assert record["display_min"] < record["threshold"] < record["display_max"]
    assert threshold.load(str(tmp_path)) == json.loads((tmp_path / "threshold.json").read_text())


def _write_mvtec_test_folder(root, rng):
    """A labelled <root>/cat/test split: 4 dark normal images, 3 with a bright square."""
    for kind, count in (("good", 4), ("spot", 3)):
        (root / "cat" / "test" / kind).mkdir(parents=True)
        for i in range(count):
            image = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            if kind == "spot":
                image[4:10, 4:10] = 250
                (root / "cat" / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
                mask = np.zeros((16, 16), np.uint8)
                mask[4:10, 4:10] = 255
                Image.fromarray(mask).save(root / "cat" / "ground_truth" / kind / f"{i:03d}_mask.png")
            Image.fromarray(image).save(root / "cat" / "test" / kind / f"{i:03d}.png")


def test_validation_set_is_prepared_by_the_dataset_builders(tmp_path):
    """``<root>/<category>/test`` goes through a TFDS builder like every dataset; without a
    category, ``<root>`` itself is the folder holding ``test``."""
    _write_mvtec_test_folder(tmp_path / "val", np.random.default_rng(0))
    config = quickstart.get_config()
    config.dataset.category, config.dataset.image_size = "cat", 16
    config.dataset.data_dir = str(tmp_path / "cache")
    config.threshold.validation_root = str(tmp_path / "val")
    split = threshold.validation_split(config)
    assert list((tmp_path / "cache" / "tfds").glob("val-*/rdjax_mvtec_test_split/cat"))
    assert sorted(split.defect_types) == ["good"] * 4 + ["spot"] * 3
    assert split.labels.sum() == 3 and split.masks[split.labels == 1].max() == 1

    config.dataset.category = ""
    config.threshold.validation_root = str(tmp_path / "val" / "cat")
    same = threshold.validation_split(config)
    assert same.paths == split.paths and (same.images == split.images).all()


def test_calibrate_auto_uses_f1_on_a_validation_set_and_else_quantile(tmp_path):
    _write_mvtec_test_folder(tmp_path / "val", np.random.default_rng(0))
    config = quickstart.get_config()
    config.dataset.category = "cat"
    config.dataset.image_size = 16
    config.dataset.data_dir = str(tmp_path / "cache")  # the validation set is prepared here
    config.threshold.validation_root = str(tmp_path / "val")
    record = threshold.calibrate(_maps_of, None, config, str(tmp_path))
    assert record["mode"] == "f1" and record["validation_f1"] == 1.0
    assert 60 / 255 < record["threshold"] < 250 / 255  # between the two classes' maxima

    config.threshold.validation_root = ""
    config.threshold.mode = "f1"
    with pytest.raises(ValueError, match="validation_root"):
        threshold.calibrate(_maps_of, None, config, str(tmp_path))
    config.threshold.mode = "quantile"
    with pytest.raises(ValueError, match="holdout_fraction"):
        threshold.calibrate(_maps_of, None, config, str(tmp_path))
    config.threshold.mode = "auto"  # nothing to calibrate on: no threshold, the stale file goes
    assert threshold.calibrate(_maps_of, None, config, str(tmp_path)) is None
    assert threshold.load(str(tmp_path)) is None
    config.threshold.mode = "median"
    with pytest.raises(ValueError, match="config.threshold.mode"):
        threshold.calibrate(_maps_of, None, config, str(tmp_path))
