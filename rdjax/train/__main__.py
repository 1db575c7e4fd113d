r"""Train a method from a config, then evaluate it on the test split.

  rdjax train --config=quickstart --workdir=runs/quickstart
  rdjax train --config=rd4ad --workdir=runs/bottle --config.dataset.category=bottle \
      --config.dataset.root=/data/mvtec_anomaly_detection

``--config`` is a get_config() file or a built-in config's name (rdjax/configs: quickstart,
rd4ad, mrkd, ...); ``--config.a.b=value`` overrides any field. Rerunning with the same
``--workdir`` resumes from its last checkpoint. (``python -m rdjax.train`` takes the same flags.)
"""

import logging as logging_std
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "A config file with get_config(), or a built-in "
                                "config's name (e.g. quickstart).", lock_config=True)
flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard logs, results.json and overlays go here.")
flags.DEFINE_bool("distributed", False,
                  "Multi-host: call jax.distributed.initialize() first; every process runs the "
                  "same command (docs/scaling.md). Without the three flags below the cluster is "
                  "detected (TPU pods, SLURM, Open MPI; JAX_COORDINATOR_ADDRESS).")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (with --distributed).")
flags.DEFINE_integer("num_processes", None, "Number of processes (with --distributed).")
flags.DEFINE_integer("process_id", None, "This process's index, 0 … n-1 (with --distributed).")
flags.mark_flags_as_required(["config", "workdir"])


def initialize_distributed(coordinator_address=None, num_processes=None, process_id=None):
    """``jax.distributed.initialize`` before any JAX computation; CPU collectives over gloo
    (the setting only concerns CPU devices, so it is harmless on GPU/TPU)."""
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


class _QuietLibraries(logging_std.Filter):
    """Drops INFO lines of orbax and tensorflow-datasets; rdjax's own progress stays."""

    def filter(self, record):
        noisy = any(lib in record.pathname for lib in ("/orbax/", "/tensorflow_datasets/"))
        return record.levelno >= logging_std.WARNING or not noisy


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.get_absl_handler().addFilter(_QuietLibraries())
    if FLAGS.distributed:
        initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    import jax

    from rdjax.train.trainer import train_and_evaluate

    logging.info("JAX %s, devices: %s", jax.__version__, jax.devices())
    results = train_and_evaluate(FLAGS.config, FLAGS.workdir)
    keys = ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image")
    print("\nResults (" + os.path.join(FLAGS.workdir, "results.json") + "):")
    for k in keys:
        print(f"  {k:16s} {results[k]:.4f}")


if __name__ == "__main__":
    from rdjax import configs

    app.run(main, argv=configs.resolve_argv(sys.argv))
