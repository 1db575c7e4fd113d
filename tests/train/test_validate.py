"""Settings and data are checked before any work: one line naming the setting or the file,
raised before the workdir is touched or the model is built."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from configs import bidirectional, quickstart
from rdjax.data import datasets
from rdjax.methods import get_method
from rdjax.methods.rd4ad import RD4AD
from rdjax.train import trainer, validate
from rdjax.train.validate import ConfigError
from tests.data import fixtures
from tests.tiny_config import CATEGORY, tiny_mvtec_config, tiny_rd4ad_config, with_setting

@pytest.mark.parametrize("name,value,allowed", [
    ("method", "rd4da", "'rd4ad'"),
    ("model.teacher", "resnet19", "'wide_resnet50_2'"),
    ("model.dtype", "float8", "'bfloat16'"),
    ("dataset.name", "mvtech", "'mvtec'"),
    ("train.loss", "l2", "'per_pixel'"),
    ("train.teacher_cache_dtype", "int8", "'float16'"),
    ("train.teacher_cache_storage", "disk", "'device'"),
    ("eval.combine", "mull", "'mul'"),
    ("threshold.mode", "median", "'quantile'"),
])
def test_every_choice_lists_its_allowed_values(name, value, allowed):
    with pytest.raises(ConfigError) as e:
        validate.check_config(with_setting(tiny_rd4ad_config(), name, value))
    message = str(e.value)
    assert message.startswith(f"config.{name}={value!r} is unknown; choose one of [")
    assert allowed in message and "\n" not in message


@pytest.mark.parametrize("name,value,words", [
    ("threshold.quantile", 1.5, "must be in (0, 1]"),
    ("threshold.holdout_fraction", 1.0, "must be in [0, 1)"),
    ("eval.sigma", -1.0, "must be >= 0"),
    ("eval.batch_size", 0, "must be >= 1"),
    ("train.batch_size", 0, "must be >= 1"),
    ("train.learning_rate", 0.0, "must be > 0"),
    ("train.b2", 1.0, "must be in [0, 1)"),
    ("train.checkpoint_every", 0, "must be >= 1"),
    ("dataset.num_workers", 0, "must be >= 1"),
    ("train.num_epochs", 0, "leave nothing to train"),  # and num_steps = -1
    ("threshold.validation_root", "/no/such/folder", "does not exist"),
    ("train.keep_checkpoints", 0, "must be >= 1"),
])
def test_ranges_and_paths_name_the_setting(name, value, words):
    with pytest.raises(ConfigError, match=r"^config\." + name.replace(".", r"\.")) as e:
        validate.check_config(with_setting(tiny_rd4ad_config(), name, value))
    assert words in str(e.value)


def test_threshold_mode_needs_its_source():
    config = with_setting(tiny_rd4ad_config(), "threshold.mode", "f1")
    with pytest.raises(ConfigError, match=r"config.threshold.mode='f1' needs .* config.threshold.validation_root"):
        validate.check_config(config)
    config.threshold.mode, config.threshold.holdout_fraction = "quantile", 0.0
    with pytest.raises(ConfigError, match=r"'quantile' needs .* config.threshold.holdout_fraction > 0"):
        validate.check_config(config)


def test_teacher_weights_file_must_exist():
    config = tiny_rd4ad_config()
    config.model.pretrained, config.model.teacher_weights = True, "/no/such/resnet18.pth"
    with pytest.raises(ConfigError, match=r"config.model.teacher_weights='/no/such/resnet18.pth': no such file"):
        validate.check_config(config)


def test_method_options_are_checked_and_a_missing_section_named():
    config = bidirectional.get_config()
    config.bidirectional.weighting = "softmax"
    with pytest.raises(ConfigError, match=r"config.bidirectional.weighting='softmax' must be 'dwa' or 'fixed'"):
        validate.check_config(config)
    config = with_setting(quickstart.get_config(), "method", "ikd")  # no config.ikd section
    with pytest.raises(ConfigError, match=r"config.ikd is missing .* configs/ikd.py"):
        validate.check_config(config)


def test_image_size_must_fit_the_total_stride():
    with pytest.raises(ConfigError, match=r"config.dataset.image_size=100 must be a multiple of "
                                          r"32.*e.g. 96 or 128"):
        validate.check_config(with_setting(tiny_rd4ad_config(), "dataset.image_size", 100))
    # The rule is the networks': at a multiple of 32 the student's features meet the
    # teacher's in the anomaly map; 16 px more and they do not (shapes only, nothing runs).
    method = get_method(tiny_rd4ad_config())  # ResNet-10 (every teacher has strides 4, 8, 16)
    for size, fits in ((96, True), (80, False)):
        images = jax.ShapeDtypeStruct((1, size, size, 3), jnp.uint8)
        variables = jax.eval_shape(method.init, jax.random.key(0), images)
        if fits:
            assert jax.eval_shape(method.anomaly_map, variables, images).shape == (1, size, size)
        else:
            with pytest.raises(TypeError, match="incompatible shapes"):
                jax.eval_shape(method.anomaly_map, variables, images)


@pytest.fixture
def forbid_training(monkeypatch):
    """Building the model fails the test: errors must come before it."""
    def init(*args):
        raise AssertionError("the model was built before the inputs were checked")

    monkeypatch.setattr(RD4AD, "init", init)


def test_bad_setting_leaves_a_new_workdir_untouched(tmp_path, forbid_training):
    config = with_setting(tiny_rd4ad_config(), "eval.combine", "mull")
    with pytest.raises(ConfigError, match="config.eval.combine"):
        trainer.train_and_evaluate(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


TEST_SPLIT_FAULTS = {
    "defect image without mask": fixtures.BREAKAGES["defect image without mask"][::2],
    "mask of the wrong size": fixtures.BREAKAGES["mask of the wrong size"][::2],
    "truncated test image": (lambda c: fixtures.truncate(c / "test/crack/001.png"), "test/crack/001.png"),
}


@pytest.mark.parametrize("case", list(TEST_SPLIT_FAULTS))
def test_bad_test_file_stops_before_training(tmp_path, forbid_training, case):
    fixtures.write_mvtec(tmp_path / "src", CATEGORY)
    breakage, culprit = TEST_SPLIT_FAULTS[case]
    breakage(tmp_path / "src" / CATEGORY)
    workdir = tmp_path / "run"
    with pytest.raises(ConfigError) as e:
        trainer.train_and_evaluate(tiny_mvtec_config(tmp_path / "src", tmp_path / "cache"), str(workdir))
    message = str(e.value)
    assert message.startswith(str((tmp_path / "src" / CATEGORY / culprit).resolve()) + ": ")
    assert "skip_bad_files=True" in message and "\n" not in message
    assert not (workdir / "config.json").exists()


def test_validation_set_problems_name_the_setting(tmp_path, forbid_training):
    fixtures.write_mvtec(tmp_path / "src", CATEGORY)
    (tmp_path / "val" / "other").mkdir(parents=True)  # no <category>/test inside
    config = tiny_mvtec_config(tmp_path / "src", tmp_path / "cache")
    config.threshold.validation_root = str(tmp_path / "val")
    with pytest.raises(ConfigError, match=r"^config.threshold.validation_root='.*/val': category "
                                          r"'widget' not found"):
        trainer.train_and_evaluate(config, str(tmp_path / "run"))
    # A validation set without defects cannot place an F1 cut: also found before training.
    fixtures.write_mvtec(tmp_path / "val", CATEGORY)
    for kind in ("crack", "hole"):
        for p in (tmp_path / "val" / CATEGORY / "test" / kind).iterdir():
            p.unlink()
        (tmp_path / "val" / CATEGORY / "test" / kind).rmdir()
    with pytest.raises(ConfigError, match="needs both normal and defective images"):
        trainer.train_and_evaluate(config, str(tmp_path / "run"))


def test_inputs_hold_both_splits_decoded(tmp_path):
    """What the trainer gets after the checks: the same arrays the loaders give."""
    fixtures.write_mvtec(tmp_path / "src", CATEGORY)
    config = tiny_mvtec_config(tmp_path / "src", tmp_path / "cache")
    inputs = validate.load_inputs(config)
    test = datasets.load(config.dataset, "test")
    assert (len(inputs.train), len(inputs.holdout), len(inputs.test)) == (2, 1, 5)
    assert inputs.test.paths == test.paths and inputs.validation is None
    assert (inputs.test.images == test.images).all() and (inputs.test.masks == test.masks).all()


def run_train_cli(*args):
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "rdjax.train", "--config=configs/quickstart.py",
                           *args], capture_output=True, text=True, env=env, cwd=root, timeout=600)


@pytest.mark.parametrize("override,words", [
    ("--config.eval.combin=mul", '--config.eval.combin: no setting \'combin\' in the config. Did '
                                 'you mean "combine"'),
    ("--config.eval.combine=mull", "config.eval.combine='mull' is unknown; choose one of "
                                   "['add', 'mul']"),
])
def test_cli_error_is_one_line_with_exit_status_2(tmp_path, override, words):
    result = run_train_cli(f"--workdir={tmp_path / 'run'}", override)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith(f"rdjax train: error: {words}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_cli_verbose_shows_the_traceback(tmp_path):
    result = run_train_cli(f"--workdir={tmp_path / 'run'}", "--config.eval.combine=mull", "--verbose")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ConfigError: config.eval.combine='mull'" in result.stderr
