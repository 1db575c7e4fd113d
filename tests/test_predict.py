"""``python -m rdjax.predict``: outputs, decisions, skipped files, exported model, tiling."""

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from rdjax import export, predict
from rdjax.data import decode
from rdjax.eval import tiling


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory):
    """Images of several sizes and modes in nested folders, plus two unreadable files."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    (root / "a").mkdir()
    (root / "b" / "deep").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / "a" / "x.png")
    Image.fromarray(rng.integers(0, 256, (90, 150, 3), dtype=np.uint8)).save(root / "b" / "x.png")
    Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(root / "b" / "deep" / "grey.png")
    Image.fromarray(rng.integers(0, 256, (128, 100, 3), dtype=np.uint8)).save(root / "photo.JPG")
    (root / "broken.png").write_bytes(b"not a png")
    (root / "b" / "empty.bmp").write_bytes(b"")
    (root / "notes.txt").write_text("not an image, not listed")
    return root


@pytest.fixture(scope="module")
def trained(images_dir, make_untrained_workdir, tmp_path_factory):
    """(workdir, its model); the threshold is set between the scores of ``images_dir``'s images."""
    path = tmp_path_factory.mktemp("workdir")
    make_untrained_workdir(path)
    model = export.load_trained(str(path))
    images = [decode.decode_image(p, model.image_size)[0] for p in sorted(images_dir.rglob("*"))
              if p.name in ("x.png", "photo.JPG", "grey.png")]
    scores = np.sort(model.anomaly_maps(np.stack(images)).max(axis=(1, 2)))
    model.threshold["threshold"] = float(scores[1:3].mean())  # two above, two below
    with open(path / "threshold.json", "w") as f:
        json.dump(model.threshold, f)
    return str(path), model


@pytest.fixture(scope="module")
def workdir(trained):
    return trained[0]


@pytest.fixture(scope="module")
def model(trained):
    return trained[1]


def _run(args):
    assert predict.main(args + ["--no_progress"]) == 0


@pytest.fixture(scope="module")
def live_run(workdir, images_dir, tmp_path_factory):
    """The CLI on the whole images folder with the workdir's model; returns the output folder."""
    out = tmp_path_factory.mktemp("live")
    _run(["--workdir", workdir, str(images_dir), "--out", str(out)])
    return out


def test_predict_writes_overlays_masks_and_summaries(live_run, model):
    out = live_run
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["name"]: r for r in summary["images"]}
    assert sorted(rows) == ["a_x", "b_deep_grey", "b_x", "photo"]
    assert sorted(os.path.basename(s["path"]) for s in summary["skipped"]) == ["broken.png", "empty.bmp"]
    with open(out / "summary.csv") as f:
        assert [r["name"] for r in csv.DictReader(f)] == [r["name"] for r in summary["images"]]

    cut = model.threshold["threshold"]
    assert summary["threshold"] == cut and summary["threshold_source"] == "quantile"
    decoded = [decode.decode_image(row["path"], model.image_size) for row in summary["images"]]
    # The score is the training pipeline's: decode + square resize, map maximum.
    expected = model.anomaly_maps(np.stack([image for image, _ in decoded])).max(axis=(1, 2))
    for row, (_, (width, height)), score in zip(summary["images"], decoded, expected):
        assert row["score"] == pytest.approx(float(score), rel=1e-5)
        assert row["decision"] == ("defect" if row["score"] >= cut else "normal")
        mask = np.asarray(Image.open(out / row["mask"]))
        assert mask.shape == (height, width) == (row["height"], row["width"])
        assert set(np.unique(mask)) <= {0, 255}
        assert row["defect_fraction"] == pytest.approx((mask > 0).mean())
        strip = np.asarray(Image.open(out / row["overlay"]))
        assert strip.shape[0] == height and strip.shape[1] > 3 * width  # input | heat | outline
    assert summary["num_defect"] == sum(r["decision"] == "defect" for r in summary["images"])
    assert summary["num_defect"] == 2


def test_exported_model_gives_the_same_predictions(workdir, images_dir, live_run, tmp_path):
    exported = str(tmp_path / "model.rdjax")
    export.main(["--workdir", workdir, "--out", exported, "--platforms", "cpu"])
    _run(["--exported", exported, str(images_dir), "--out", str(tmp_path / "exported"),
          "--batch_size", "3"])
    live = json.loads((live_run / "summary.json").read_text())
    exp = json.loads((tmp_path / "exported" / "summary.json").read_text())
    assert [r["name"] for r in exp["images"]] == [r["name"] for r in live["images"]]
    for a, b in zip(live["images"], exp["images"]):
        assert b["score"] == pytest.approx(a["score"], rel=1e-5)
        assert a["decision"] == b["decision"]
    assert exp["threshold"] == live["threshold"] and exp["skipped"] == live["skipped"]


def test_tiled_prediction_keeps_the_native_resolution(workdir, model, tmp_path):
    rng = np.random.default_rng(5)
    big = rng.integers(0, 256, (200, 330, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    _run(["--workdir", workdir, str(tmp_path / "big.png"), "--out", str(tmp_path / "out"),
          "--tile_size", "64", "--tile_overlap", "0.25", "--threshold", "0.9"])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    row = summary["images"][0]
    assert summary["tile_overlap_px"] == 16
    # The same stitched map as tiling's own function (tested against a per-pixel loop).
    amap = tiling.tiled_anomaly_map(big, model.anomaly_maps, 64, 16, model.image_size)
    assert row["score"] == pytest.approx(float(amap.max()), rel=1e-5)
    mask = np.asarray(Image.open(tmp_path / "out" / row["mask"])) > 0
    assert mask.shape == (200, 330)
    assert np.mean(mask != (amap >= 0.9)) < 1e-3  # equal up to float ties at the cut


def test_clear_errors(workdir, tmp_path, capsys):
    def error_of(args):
        assert predict.main(args + ["--no_progress"]) == 2
        return capsys.readouterr().err

    assert "does-not-exist does not exist" in error_of(
        ["--workdir", workdir, str(tmp_path / "does-not-exist"), "--out", str(tmp_path / "o")])
    assert "must be a training workdir" in error_of(
        ["--workdir", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "o")])
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    assert "--tile_overlap" in error_of(["--workdir", workdir, str(tmp_path / "x.png"), "--out",
                                         str(tmp_path / "o"), "--tile_size", "32",
                                         "--tile_overlap", "1.5"])
    os.rename(os.path.join(workdir, "threshold.json"), str(tmp_path / "saved.json"))
    try:
        assert "pass --threshold" in error_of(
            ["--workdir", workdir, str(tmp_path / "x.png"), "--out", str(tmp_path / "o")])
    finally:
        os.rename(str(tmp_path / "saved.json"), os.path.join(workdir, "threshold.json"))
