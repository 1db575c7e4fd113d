"""Every config builds into its method under every variant; the shared ``quick`` block, the
quickstart's tuned values and the data-only swap of configs/magnetic_tile.py are pinned."""

import importlib

import pytest

import configs
from configs import common, embedded, magnetic_tile, quickstart
from rdjax import recipes
from rdjax.methods import METHODS
from rdjax.train import validate


def flat(config, prefix=""):
    """``{'train.learning_rate': 0.005, ...}`` of a ConfigDict."""
    out = {}
    for key, value in config.items():
        if hasattr(value, "items"):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


@pytest.mark.parametrize("name", configs.names())
def test_config_builds_with_a_known_method(name):
    config = importlib.import_module(f"configs.{name}").get_config()
    assert config.method in METHODS
    assert config.train.batch_size > 0 and config.dataset.image_size > 0


def test_names_list_configs_not_the_helper():
    assert "common" not in configs.names() and "__init__" not in configs.names()
    assert set(configs.names()) == set(recipes.METHODS) | {"quickstart", "embedded",
                                                           "magnetic_tile"}


def test_the_registry_names_every_method():
    assert sorted(recipes.METHODS) == sorted(METHODS)


@pytest.mark.parametrize("variant", common.VARIANTS)
@pytest.mark.parametrize("method", recipes.METHODS)
def test_every_method_builds_under_every_variant(method, variant):
    config = importlib.import_module(f"configs.{method}").get_config(variant)
    assert config.method == method
    built = validate.check_config(config)  # what the trainer does before any work
    assert type(built) is METHODS[method]


@pytest.mark.parametrize("method", recipes.METHODS)
def test_the_default_variant_is_quick(method):
    module = importlib.import_module(f"configs.{method}")
    assert module.get_config() == module.get_config("quick")
    assert recipes.method_config(method) == module.get_config("quick")


def test_an_unknown_variant_names_the_file_and_the_variants():
    with pytest.raises(ValueError, match=r"configs/mrkd\.py:fast: .*quick, paper"):
        importlib.import_module("configs.mrkd").get_config("fast")
    with pytest.raises(ValueError, match=r"configs/rd4ad\.py:papers: .*quick, paper"):
        importlib.import_module("configs.rd4ad").get_config("papers")


@pytest.mark.parametrize("method", recipes.METHODS)
def test_quick_gives_every_method_the_same_scale(method):
    c = recipes.method_config(method, "quick")
    assert c.model.teacher == "efficientnet_lite0" and c.model.pretrained is True
    assert (c.dataset.name, c.dataset.category, c.dataset.image_size) == ("synthetic", "brick", 128)
    assert (c.train.batch_size, c.train.num_epochs, c.train.num_steps) == (16, 20, -1)
    assert c.train.partial_batches is True
    assert c.train.checkpoint_every == 50
    assert c.threshold.holdout_fraction == 0.0
    if method == "two_stage":
        assert c.two_stage.mask_patch == 8  # the 16 × 16 grid at 128 px


@pytest.mark.parametrize("method", recipes.METHODS)
def test_embedded_is_the_quick_variant(method):
    assert embedded.get_config(method) == recipes.method_config(method, "quick")


def test_embedded_rd4ad_keeps_the_papers_rate_and_sigma():
    config = embedded.get_config("rd4ad")
    assert (config.train.learning_rate, config.eval.sigma) == (0.005, 4.0)
    with pytest.raises(ValueError, match="embedded.py:rd5"):
        embedded.get_config("rd5")


# configs/quickstart.py resolved, as README's command 1 trains it (400 cosine steps since
# 2026-12-02, docs/quickstart_convergence.md).
QUICKSTART = {
    "method": "rd4ad", "seed": 111,
    "model.teacher": "efficientnet_lite0", "model.pretrained": True, "model.teacher_weights": "",
    "model.dtype": "float32",
    "dataset.name": "synthetic", "dataset.root": "", "dataset.category": "brick",
    "dataset.image_size": 128, "dataset.seed": 0, "dataset.num_workers": 2,
    "dataset.data_dir": "", "dataset.skip_bad_files": False,
    "train.batch_size": 16, "train.num_epochs": 80, "train.num_steps": -1,
    "train.partial_batches": False, "train.learning_rate": 0.002, "train.lr_schedule": "cosine",
    "train.b1": 0.5,
    "train.b2": 0.999, "train.loss": "flattened", "train.log_every": 10,
    "train.checkpoint_every": 100, "train.keep_checkpoints": 2,
    "train.cache_teacher_features": True, "train.teacher_cache_dtype": "",
    "train.teacher_cache_storage": "host",
    "eval.batch_size": 16, "eval.combine": "add", "eval.sigma": 2.0, "eval.num_overlays": 6,
    "threshold.mode": "auto", "threshold.holdout_fraction": 0.1, "threshold.quantile": 0.99,
    "threshold.validation_root": "",
}


def test_quickstart_values_are_pinned():
    got = flat(quickstart.get_config())
    assert {k: got.get(k, "<missing>") for k in QUICKSTART} == QUICKSTART


def test_quickstart_is_rd4ad_quick_plus_its_tuning():
    tuned = flat(quickstart.get_config())
    quick = flat(recipes.method_config("rd4ad", "quick"))
    assert {k for k in tuned if tuned.get(k) != quick.get(k)} == {
        "train.partial_batches", "train.num_epochs", "train.learning_rate", "train.lr_schedule",
        "train.checkpoint_every", "eval.sigma", "threshold.holdout_fraction"}


@pytest.mark.parametrize("method", recipes.METHODS)
def test_magnetic_tile_is_the_quick_variant_with_other_data(method):
    config = flat(magnetic_tile.get_config(method))
    quick = flat(recipes.method_config(method, "quick"))
    changed = {k for k in config if config[k] != quick[k]}
    allowed = {"dataset.name", "dataset.category", "dataset.root", "train.num_epochs",
               "train.log_every", "train.checkpoint_every", "eval.num_overlays"}
    if method == "mrkd":  # no MVTec category: the texture row of MRKD's patch-swap table
        allowed.add("mrkd.ilm_preset")
    assert changed <= allowed
    assert (config["dataset.name"], config["dataset.category"]) == ("magnetic_tile", "")
    assert config["dataset.image_size"] == 128 and config["train.num_epochs"] == 10


def test_magnetic_tile_mrkd_uses_the_texture_patch_table():
    assert magnetic_tile.get_config("mrkd").mrkd.ilm_preset == "texture"


def test_magnetic_tile_unknown_method_is_named():
    with pytest.raises(ValueError, match="magnetic_tile.py:rd5"):
        magnetic_tile.get_config("rd5")
