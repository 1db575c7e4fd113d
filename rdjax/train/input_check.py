"""Is training input-bound? Runs the real trainer and times how long each step waits for its batch.

  python -m rdjax.train.input_check --config configs/quickstart.py --workdir /tmp/input_check \
      [--steps 40] [--config.x=y ...]

Prints one JSON line: the mean and max time a step waited for the next batch (the first,
compiling step left out), the mean step time and their ratio (``wait_fraction``), plus the time
the batch producer alone needs per batch (gather from memory + put on the devices).
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "A config file with get_config().", lock_config=True)
flags.DEFINE_string("workdir", None, "A scratch workdir (checkpoints and results go here).")
flags.DEFINE_integer("steps", 40, "Training steps to time.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    import jax

    from rdjax.core import sharding
    from rdjax.data import datasets, pipeline
    from rdjax.train import trainer

    if FLAGS.steps < 3:
        raise app.UsageError("--steps must be at least 3")
    config = FLAGS.config
    config.train.num_steps = FLAGS.steps
    config.eval.num_overlays = 0
    waits = []

    def timed_batches(batches):
        while True:
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            waits.append(time.perf_counter() - start)
            yield batch

    results = trainer.train_and_evaluate(config, FLAGS.workdir, wrap_batches=timed_batches)
    steady = waits[1:]  # the first batch is awaited before compilation
    step_s = config.train.batch_size / results["train_images_per_sec"]

    images = datasets.load(config.dataset, "train").images
    mesh = sharding.make_mesh()
    start, n = time.perf_counter(), 200
    for batch in pipeline.train_batches({"image": images}, config.train.batch_size, 0, 0, n,
                                        to_device=lambda b: sharding.global_batch(b, mesh)):
        jax.block_until_ready(batch)
    print(json.dumps({
        "steps": len(waits), "batch_size": config.train.batch_size, "image_size": config.dataset.image_size,
        "mean_wait_ms": 1e3 * sum(steady) / len(steady), "max_wait_ms": 1e3 * max(steady),
        "mean_step_ms": 1e3 * step_s, "wait_fraction": sum(steady) / (step_s * len(steady)),
        "producer_only_ms_per_batch": 1e3 * (time.perf_counter() - start) / n,
    }))


if __name__ == "__main__":
    app.run(main)
