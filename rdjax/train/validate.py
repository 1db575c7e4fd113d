"""Every setting and every input file, checked before a run does any work.

* :func:`check_config` checks the whole config without reading data: each choice
  against its allowed values (listed in the message), each number against its range,
  the paths it names, the image size against the networks' total stride, and the
  method's own options (its constructor checks them).
* :func:`load_inputs` then reads both dataset splits, and the threshold's validation
  set when one is configured, through the loaders training uses
  (``rdjax/data/datasets.py``, ``rdjax/data/decode.py``): every image is decoded and
  every defect's mask must exist and match its image's size, before the first step.

Both raise :class:`ConfigError`, whose message is one line naming the setting or the
file; ``rdjax train`` prints it and exits with status 2 (``--verbose`` shows the
traceback).
"""

import contextlib
import dataclasses
import numbers
from pathlib import Path
from typing import Iterator, Optional

from rdjax.core import sharding
from rdjax.core.anomaly_map import COMBINE_MODES
from rdjax.data import datasets
from rdjax.data.decode import Split
from rdjax.eval import threshold as threshold_lib
from rdjax.methods import METHODS, Method, get_method
from rdjax.methods.losses import DISTILLATION_LOSSES
from rdjax.models.factory import TEACHERS
from rdjax.train import feature_cache
from rdjax.train import state as state_lib

# Every teacher gives features at strides 4, 8 and 16 (rdjax/models/factory.py), and the
# student's bottleneck halves the last of them once more before the decoder mirrors them
# back: an image side must be a multiple of 32 for the shapes to meet again.
TOTAL_STRIDE = 32


class ConfigError(ValueError):
    """A setting or an input file that cannot work; the message is one line naming it."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


@contextlib.contextmanager
def _reported(prefix: str = "") -> Iterator[None]:
    """Re-raises the errors of the checks and loaders run inside as one-line ConfigErrors."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, OSError, KeyError, AttributeError) as e:
        text = e.args[0] if isinstance(e, KeyError) and e.args else e
        raise ConfigError(f"{prefix}{text}") from e


def _setting(config, name: str):
    node = config
    for part in name.split("."):
        if part not in node:
            raise ConfigError(f"config.{name} is missing: start from a config in configs/ "
                              f"(rdjax/train/default_config.py lists every setting).")
        node = node[part]
    return node


def _choice(config, name: str, allowed) -> None:
    value = _setting(config, name)
    if value not in allowed:
        raise ConfigError(f"config.{name}={value!r} is unknown; choose one of {list(allowed)}.")


def _number(config, name: str, low=None, high=None, *, low_open=False, high_open=False,
            integer=False):
    """``config.<name>``, which must be a number (an int if ``integer``) within the bounds."""
    value = _setting(config, name)
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"config.{name}={value!r} must be {'an integer' if integer else 'a number'}.")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        if high is None:
            where = f"{'>' if low_open else '>='} {low}"
        elif low is None:
            where = f"{'<' if high_open else '<='} {high}"
        else:
            where = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ConfigError(f"config.{name}={value} must be {where}.")
    return value


def _flag(config, name: str) -> bool:
    value = _setting(config, name)
    if not isinstance(value, bool):
        raise ConfigError(f"config.{name}={value!r} must be True or False.")
    return value


def check_config(config) -> Method:
    """Checks every setting of ``config``; returns the method it names. Reads no data."""
    _number(config, "seed", integer=True)
    _choice(config, "method", sorted(METHODS))
    _check_model(config)
    _check_dataset(config)
    _check_train(config)
    _check_eval(config)
    _check_threshold(config)
    method_name = config.method
    if method_name != "rd4ad" and method_name not in config:
        raise ConfigError(f"config.{method_name} is missing (the options of method "
                          f"'{method_name}'): start from configs/{method_name}.py.")
    with _reported():
        return get_method(config)  # each method checks its own options


def _check_model(config) -> None:
    _choice(config, "model.teacher", sorted(TEACHERS))
    _choice(config, "model.dtype", feature_cache.DTYPES)
    if not _flag(config, "model.pretrained"):
        return
    weights = _setting(config, "model.teacher_weights")
    if weights and not Path(weights).expanduser().is_file():
        raise ConfigError(f"config.model.teacher_weights={weights!r}: no such file.")
    from rdjax.models import pretrained

    if not weights and config.model.teacher in pretrained.LITE_PACKAGES:
        with _reported():
            pretrained.teacher_weights_path(config.model)  # the installed package's file


def _check_dataset(config) -> None:
    from rdjax.data import builders

    _choice(config, "dataset.name", sorted(builders.BUILDERS))
    size = _number(config, "dataset.image_size", 0, low_open=True, integer=True)
    if size % TOTAL_STRIDE:
        lower = max(TOTAL_STRIDE, size // TOTAL_STRIDE * TOTAL_STRIDE)
        raise ConfigError(
            f"config.dataset.image_size={size} must be a multiple of {TOTAL_STRIDE}, the total "
            f"stride of teacher '{config.model.teacher}' and the student's bottleneck; e.g. "
            f"{lower} or {lower + TOTAL_STRIDE}.")
    _number(config, "dataset.num_workers", 1, integer=True)
    _flag(config, "dataset.skip_bad_files")
    if config.dataset.name == "folder":
        _number(config, "dataset.folder.test_fraction", 0, 1, low_open=True, high_open=True)


def _check_train(config) -> None:
    for name in ("train.batch_size", "train.log_every", "train.checkpoint_every",
                 "train.keep_checkpoints"):
        _number(config, name, 1, integer=True)
    with _reported():
        sharding.check_batch_size(config.train.batch_size, "config.train.batch_size")
    steps = _number(config, "train.num_steps", integer=True)
    epochs = _number(config, "train.num_epochs")
    if steps <= 0 and epochs <= 0:
        raise ConfigError(f"config.train.num_epochs={epochs} and config.train.num_steps={steps} "
                          f"leave nothing to train: set num_epochs > 0 (or num_steps > 0).")
    _number(config, "train.learning_rate", 0, low_open=True)
    _number(config, "train.b1", 0, 1, high_open=True)
    _number(config, "train.b2", 0, 1, high_open=True)
    _choice(config, "train.loss", sorted(DISTILLATION_LOSSES))
    if "lr_schedule" in config.train:
        _choice(config, "train.lr_schedule", state_lib.LR_SCHEDULES)
        if config.train.lr_schedule != "constant" and config.method == "rde":
            raise ConfigError(f"config.train.lr_schedule='{config.train.lr_schedule}': RD-E's step "
                              f"updates each group with its own Adam, never the whole optimiser, "
                              f"so a schedule would not apply; use 'constant'.")
    _flag(config, "train.cache_teacher_features")
    _flag(config, "train.partial_batches")
    _choice(config, "train.teacher_cache_dtype", ("",) + feature_cache.DTYPES)
    _choice(config, "train.teacher_cache_storage", feature_cache.STORAGES)


def _check_eval(config) -> None:
    _number(config, "eval.batch_size", 1, integer=True)
    with _reported():
        sharding.check_batch_size(config.eval.batch_size, "config.eval.batch_size")
    _choice(config, "eval.combine", COMBINE_MODES)
    _number(config, "eval.sigma", 0)
    _number(config, "eval.num_overlays", 0, integer=True)


def _check_threshold(config) -> None:
    _choice(config, "threshold.mode", threshold_lib.MODES)
    holdout = _number(config, "threshold.holdout_fraction", 0, 1, high_open=True)
    _number(config, "threshold.quantile", 0, 1, low_open=True)
    root = _setting(config, "threshold.validation_root")
    mode = config.threshold.mode
    if mode == "quantile" and holdout == 0:
        raise ConfigError("config.threshold.mode='quantile' needs held-out normal images: set "
                          "config.threshold.holdout_fraction > 0.")
    if mode == "f1" and not root:
        raise ConfigError("config.threshold.mode='f1' needs a labelled validation set: set "
                          "config.threshold.validation_root to a folder in MVTec layout.")
    if root and not Path(root).expanduser().is_dir():
        raise ConfigError(f"config.threshold.validation_root={root!r} does not exist or is not "
                          f"a folder.")


@dataclasses.dataclass
class Inputs:
    """The decoded data of a run: ``train`` (without the held-out images), ``holdout``
    (normal images kept out to calibrate the threshold, or None), ``test`` and the
    threshold's ``validation`` set (or None)."""

    train: Split
    holdout: Optional[Split]
    test: Split
    validation: Optional[Split]


def load_inputs(config) -> Inputs:
    """Reads and checks both splits and the validation set; see the module docstring."""
    with _reported():
        train = datasets.load(config.dataset, "train")
        train, holdout = threshold_lib.hold_out_normals(train, config)
        test = datasets.load(config.dataset, "test")
    return Inputs(train, holdout, test, _validation_set(config))


def _validation_set(config) -> Optional[Split]:
    root = config.threshold.validation_root
    if not root or config.threshold.mode not in ("auto", "f1"):
        return None
    with _reported(f"config.threshold.validation_root={root!r}: "):
        split = threshold_lib.validation_split(config)
    if split.labels.min() == split.labels.max():
        raise ConfigError(f"config.threshold.validation_root={root!r}: the validation set needs "
                          f"both normal and defective images for an F1 threshold.")
    return split
