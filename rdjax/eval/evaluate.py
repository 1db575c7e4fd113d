"""Anomaly maps on device in fixed-size batches, metrics and pictures on the host."""

import functools
import os
import time
from typing import Dict, Optional

import jax
import numpy as np
from absl import logging

from rdjax.eval import metrics as metrics_lib
from rdjax.eval import overlay, report
from rdjax.core import batching, sharding


@functools.lru_cache(maxsize=4)
def _jitted_anomaly_map(method, mesh):
    """One compiled anomaly-map function per method and mesh: the threshold's calibration and
    the evaluation share it (same batch shape), so it compiles once per run."""
    return jax.jit(method.anomaly_map, out_shardings=sharding.replicated(mesh))


def predict_maps(method, variables, images: np.ndarray, batch_size: int, mesh) -> np.ndarray:
    """(N, H, W) float32 anomaly maps for uint8 ``images``; the last batch is padded.

    Every process passes all ``images`` and gets all maps back (the maps of each batch
    are gathered onto every device).
    """
    map_fn = _jitted_anomaly_map(method, mesh)
    n = len(images)
    out = []
    last_report = time.time()
    for chunk, real in batching.padded_batches(images, batch_size):
        batch = sharding.shard_whole_batch(chunk, mesh)
        maps = np.asarray(jax.device_get(map_fn(variables, batch)))
        out.append(maps[:real])
        if time.time() - last_report > 10:
            logging.info("Anomaly maps: %d / %d images", sum(map(len, out)), n)
            last_report = time.time()
    return np.concatenate(out)


def evaluate(method, variables, split, config, workdir: str, mesh,
             threshold_record: Optional[dict] = None) -> Dict[str, float]:
    """Metrics of ``split`` (dict of floats), overlay PNGs under ``<workdir>/overlays`` and the
    report (``rdjax/eval/report.py``, with the decision threshold ``threshold_record`` of
    ``rdjax/eval/threshold.py`` or None) under ``<workdir>/report``."""
    t0 = time.time()
    maps = predict_maps(method, variables, split.images, config.eval.batch_size, mesh)
    scores = maps.reshape(len(maps), -1).max(axis=1)
    results = metrics_lib.compute_metrics(split.labels, scores, split.masks, maps)
    results["eval_seconds"] = time.time() - t0
    logging.info("Evaluated %d test images in %.1f s.", len(maps), results["eval_seconds"])
    if jax.process_index() == 0 and config.eval.num_overlays > 0:
        picks = overlay.select_examples(split.labels, scores, config.eval.num_overlays)
        names = [f"{split.defect_types[i]}_{os.path.splitext(os.path.basename(split.paths[i]))[0]}"
                 for i in picks]
        overlay.save_overlays(os.path.join(workdir, "overlays"), split.images[picks], maps[picks],
                              split.masks[picks], names, vmin=float(maps.min()), vmax=float(maps.max()))
    if jax.process_index() == 0:
        page = report.write_report(os.path.join(workdir, "report"), split, maps, scores, results,
                                   threshold_record, config.eval.num_overlays)
        logging.info("Evaluation report: %s", page)
    return results
