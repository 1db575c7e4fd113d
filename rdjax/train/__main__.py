"""``python -m rdjax.train --config configs/<x>.py --workdir DIR [--config.a.b=value ...]``."""

import logging as logging_std
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow is only clu's TensorBoard writer

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "A config file with get_config().", lock_config=True)
flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard logs, results.json and overlays go here.")
flags.mark_flags_as_required(["config", "workdir"])


class _QuietLibraries(logging_std.Filter):
    """Drops INFO lines of orbax and TensorFlow; rdjax's own progress stays."""

    def filter(self, record):
        noisy = ("/orbax/" in record.pathname or "/tensorflow/" in record.pathname)
        return record.levelno >= logging_std.WARNING or not noisy


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.get_absl_handler().addFilter(_QuietLibraries())
    import jax
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")  # keep TensorFlow off the accelerators
    from rdjax.train.trainer import train_and_evaluate

    logging.info("JAX %s, devices: %s", jax.__version__, jax.devices())
    results = train_and_evaluate(FLAGS.config, FLAGS.workdir)
    keys = ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image")
    print("\nResults (" + os.path.join(FLAGS.workdir, "results.json") + "):")
    for k in keys:
        print(f"  {k:16s} {results[k]:.4f}")


if __name__ == "__main__":
    app.run(main)
