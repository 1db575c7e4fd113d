r"""Train a method from a config, then evaluate it on the test split.

  rdjax train --config=quickstart --workdir=runs/quickstart
  rdjax train --config=rd4ad:paper --workdir=runs/bottle --config.dataset.category=bottle \
      --config.dataset.root=/data/mvtec_anomaly_detection

``--config`` is a get_config() file or a built-in config's name (rdjax/configs: quickstart,
rd4ad, mrkd, ...), with ``:quick`` (the default) or ``:paper`` after a method's
(configs/common.py); ``--config.a.b=value`` overrides any field. Rerunning with the same
``--workdir`` resumes from its last checkpoint, for the same model only (docs/faults.md).
Settings, data and workdir errors are one line with exit status 2 (``--verbose``: the
traceback). (``python -m rdjax.train`` takes the same flags.)
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
flags.DEFINE_bool("verbose", False, "Show the traceback of a setting, data or workdir error "
                  "(by default one line naming the setting or file, exit status 2).")
flags.mark_flags_as_required(["config", "workdir"])
PROG = "rdjax train"


def _fail(message: str) -> None:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


def parse_flags(argv):
    """absl's flag parsing, where a bad flag, a misspelt ``--config.`` override or a config
    file that does not load is one line and exit status 2 (not a traceback)."""
    try:
        rest = FLAGS(argv)
        if FLAGS["config"].present:
            FLAGS.config.keys()  # a config file that failed to load raises here
        return rest
    except flags.Error as e:
        text = str(e)
        if "Traceback" in text:  # the config file's get_config() raised: keep its last line
            text = f"--config: {text.strip().splitlines()[-1].strip()}"
        _fail(text)
    except (AttributeError, KeyError) as e:  # ml_collections: no such field
        inner = e.args[0] if e.args else e
        text = inner.args[0] if isinstance(inner, KeyError) and inner.args else str(inner)
        field = text.splitlines()[0].strip("'\"")
        given = [a.split("=")[0] for a in argv if a.startswith("--config.")
                 and field in a.split("=")[0].split(".")]
        hint = " ".join(text.splitlines()[1:])
        _fail(f"{given[0] if given else '--config'}: no setting '{field}' in the config. {hint}")
    except OSError as e:  # the config file could not be loaded
        _fail(f"--config: {str(e).strip().splitlines()[-1].strip()}")


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

    from rdjax.train.trainer import NonFiniteLossError, train_and_evaluate
    from rdjax.train.validate import ConfigError
    from rdjax.train.workdir import WorkdirError

    logging.info("JAX %s, devices: %s", jax.__version__, jax.devices())
    try:
        results = train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except (ConfigError, WorkdirError, NonFiniteLossError) as e:
        if FLAGS.verbose:
            raise
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1 if isinstance(e, NonFiniteLossError) else 2
    keys = ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image")
    print("\nResults (" + os.path.join(FLAGS.workdir, "results.json") + "):")
    for k in keys:
        print(f"  {k:16s} {results[k]:.4f}")


if __name__ == "__main__":
    from rdjax import configs

    app.run(main, argv=configs.resolve_argv(sys.argv), flags_parser=parse_flags)
