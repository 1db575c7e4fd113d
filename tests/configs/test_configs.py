"""Every config builds, names a registered method, and configs/magnetic_tile.py swaps only data."""

import importlib
import pathlib

import pytest

from configs import magnetic_tile
from rdjax import recipes
from rdjax.methods import METHODS

CONFIGS = sorted(p.stem for p in pathlib.Path(__file__).parents[2].joinpath("configs").glob("*.py")
                 if p.stem != "__init__")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_with_a_known_method(name):
    config = importlib.import_module(f"configs.{name}").get_config()
    assert config.method in METHODS
    assert config.train.batch_size > 0 and config.dataset.image_size > 0


def test_the_registry_names_every_method():
    assert sorted(recipes.METHODS) == sorted(METHODS)


@pytest.mark.parametrize("method", recipes.METHODS)
def test_magnetic_tile_keeps_the_methods_recipe_and_swaps_the_data(method):
    config = magnetic_tile.get_config(method)
    own = recipes.embedded_config(method)
    assert config.method == own.method == method
    assert (config.dataset.name, config.dataset.category) == ("magnetic_tile", "")
    assert config.model.teacher == own.model.teacher
    assert config.train.learning_rate == own.train.learning_rate


def test_magnetic_tile_mrkd_uses_the_texture_patch_table():
    assert magnetic_tile.get_config("mrkd").mrkd.ilm_preset == "texture"


def test_magnetic_tile_unknown_method_is_named():
    with pytest.raises(ValueError, match="magnetic_tile.py:rd5"):
        magnetic_tile.get_config("rd5")
