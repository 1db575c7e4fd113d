"""Where the trainer's metrics go: the console, ``metrics.jsonl`` and TensorBoard event files.

No TensorFlow (and no clu, whose writers import it): TensorBoard files come from
``rdjax/train/event_file.py``. A writer has ``write_scalars(step, {name: value})``,
``write_images(step, {name: uint8 array})``, ``flush()`` and ``close()``.
"""

import glob
import os
import time
from typing import Mapping, Sequence

import jax
import numpy as np
from absl import logging
from PIL import Image

from rdjax.train.event_file import EventFileWriter
from rdjax.train.jsonl_writer import JsonlWriter


class ConsoleWriter:
    """Scalars as one log line per write: ``[step] name=value, ...``; images are not shown."""

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        text = ", ".join(f"{k}={float(v):.6g}" for k, v in scalars.items())
        logging.info("[%d] %s", step, text)

    def write_images(self, step, images) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class MultiWriter:
    """Sends every call to each of ``writers``."""

    def __init__(self, writers: Sequence):
        self.writers = list(writers)

    def write_scalars(self, step, scalars) -> None:
        for w in self.writers:
            w.write_scalars(step, scalars)

    def write_images(self, step, images) -> None:
        for w in self.writers:
            w.write_images(step, images)

    def flush(self) -> None:
        for w in self.writers:
            w.flush()

    def close(self) -> None:
        for w in self.writers:
            w.close()


def make_writer(workdir: str) -> MultiWriter:
    """Console + TensorBoard + ``metrics.jsonl`` on process 0, console only elsewhere."""
    if jax.process_index() > 0:
        return MultiWriter([ConsoleWriter()])
    return MultiWriter([ConsoleWriter(), EventFileWriter(workdir),
                        JsonlWriter(os.path.join(workdir, "metrics.jsonl"))])


class ProgressReporter:
    """Every ``every_steps`` steps (and at the last), logs steps/s, percent done and the ETA,
    and writes ``steps_per_sec``. Timing starts at the first call, so a first step that
    compiles does not count."""

    def __init__(self, num_train_steps: int, writer, every_steps: int):
        self.num_train_steps = num_train_steps
        self.writer = writer
        self.every_steps = max(1, int(every_steps))
        self._last = None  # (step, time) of the previous report

    def __call__(self, step: int) -> None:
        now = time.monotonic()
        if self._last is None:
            self._last = (step, now)
            return
        if step % self.every_steps and step != self.num_train_steps:
            return
        last_step, last_time = self._last
        if step == last_step or now == last_time:
            return
        steps_per_sec = (step - last_step) / (now - last_time)
        eta = (self.num_train_steps - step) / steps_per_sec
        logging.info("%.1f steps/s, %.1f%% (%d/%d), ETA: %dm %02ds", steps_per_sec,
                     100.0 * step / self.num_train_steps, step, self.num_train_steps,
                     eta // 60, eta % 60)
        self.writer.write_scalars(step, {"steps_per_sec": steps_per_sec})
        self._last = (step, now)


def overlay_images(workdir: str, limit: int = 6) -> dict:
    """The evaluation's overlay PNGs (``<workdir>/overlays``) as ``{"overlays/<name>": array}``."""
    paths = sorted(glob.glob(os.path.join(workdir, "overlays", "*.png")))[:limit]
    images = {}
    for path in paths:
        with Image.open(path) as image:
            images["overlays/" + os.path.splitext(os.path.basename(path))[0]] = np.asarray(
                image.convert("RGB"))
    return images
