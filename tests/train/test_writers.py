"""The trainer's writers: TensorBoard event files read back by TensorBoard's own loader,
metrics.jsonl, and the progress line (steps/s, ETA)."""

import numpy as np
import pytest
from absl import logging

from rdjax.train import event_file, writers
from rdjax.train.jsonl_writer import read_jsonl


def test_crc32c_check_value():
    # The CRC-32C check value of RFC 3720 (iSCSI), appendix B.4, and its all-zero vector.
    assert event_file.crc32c(b"123456789") == 0xE3069283
    assert event_file.crc32c(bytes(32)) == 0x8A9136AA


def _accumulator(logdir):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_event_file_reads_back_with_tensorboard(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    writer = event_file.EventFileWriter(str(tmp_path))
    writer.write_scalars(10, {"train/loss": 0.5, "steps_per_sec": 3.25})
    writer.write_scalars(20, {"train/loss": -1.0e-3})
    writer.write_scalars(2**40, {"train/loss": 7.0})  # a step past int32
    writer.write_images(20, {"overlays/a": image})
    writer.close()

    acc = _accumulator(tmp_path)
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [10, 20, 2**40]
    assert [e.value for e in loss] == pytest.approx([0.5, -1.0e-3, 7.0], rel=1e-7)
    assert acc.Scalars("steps_per_sec")[0].value == 3.25
    [stored] = acc.Images("overlays/a")
    assert (stored.step, stored.height, stored.width) == (20, 12, 20)
    from PIL import Image
    import io

    assert np.array_equal(np.asarray(Image.open(io.BytesIO(stored.encoded_image_string))), image)


def test_event_file_rejects_a_corrupted_record(tmp_path):
    """TensorBoard's reader checks the CRCs this module writes: flipping a payload byte is seen."""
    writer = event_file.EventFileWriter(str(tmp_path))
    writer.write_scalars(1, {"x": 1.0})
    writer.close()
    data = bytearray(open(writer.path, "rb").read())
    data[-6] ^= 0xFF  # inside the last record's payload
    open(writer.path, "wb").write(bytes(data))
    acc = _accumulator(tmp_path)
    assert "x" not in acc.Tags()["scalars"]


def test_make_writer_fills_console_jsonl_and_tensorboard(tmp_path, monkeypatch):
    lines = []
    monkeypatch.setattr(logging, "info", lambda fmt, *a: lines.append(fmt % a))
    writer = writers.make_writer(str(tmp_path))
    writer.write_scalars(5, {"train/loss": 0.25})
    writer.write_images(5, writers.overlay_images(str(tmp_path)))  # no overlays yet: nothing
    writer.close()
    assert lines == ["[5] train/loss=0.25"]
    assert read_jsonl(str(tmp_path / "metrics.jsonl")) == [{"step": 5, "train/loss": 0.25}]
    assert [e.value for e in _accumulator(tmp_path).Scalars("train/loss")] == [0.25]


def test_overlay_images_reads_the_evaluation_pngs(tmp_path):
    from PIL import Image

    (tmp_path / "overlays").mkdir()
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    for name in ("b", "a", "c"):
        Image.fromarray(pixels).save(tmp_path / "overlays" / f"{name}.png")
    images = writers.overlay_images(str(tmp_path), limit=2)
    assert list(images) == ["overlays/a", "overlays/b"]
    assert np.array_equal(images["overlays/a"], pixels)


class _Recorder:
    def __init__(self):
        self.scalars = []

    def write_scalars(self, step, scalars):
        self.scalars.append((step, scalars))


def test_progress_reports_steps_per_second_and_eta(monkeypatch):
    clock = iter(np.arange(0.0, 200.0, 0.5))  # each call to the clock: +0.5 s
    monkeypatch.setattr(writers.time, "monotonic", lambda: next(clock))
    lines = []
    monkeypatch.setattr(logging, "info", lambda fmt, *a: lines.append(fmt % a))
    recorder = _Recorder()
    progress = writers.ProgressReporter(250, recorder, every_steps=100)
    for step in range(1, 251):  # step 1 (compilation) starts the clock at t = 0
        progress(step)
    # Steps 1 → 100 took 99 calls × 0.5 s; 100 → 200 and 200 → 250 likewise per step.
    assert [s for s, _ in recorder.scalars] == [100, 200, 250]
    assert [v["steps_per_sec"] for _, v in recorder.scalars] == pytest.approx([99 / 49.5, 2, 2])
    assert lines[0] == "2.0 steps/s, 40.0% (100/250), ETA: 1m 15s"
    assert lines[-1].endswith("100.0% (250/250), ETA: 0m 00s")
