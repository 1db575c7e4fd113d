"""The teacher-feature cache: when it is valid, what it feeds, and that RD4AD's loss uses it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdjax.core import sharding
from rdjax.data import pipeline
from rdjax.methods import METHODS
from rdjax.methods.rd4ad import RD4AD, cached_teacher_features, cached_teacher_features_keys
from rdjax.train import feature_cache
from rdjax.train.state import TrainState
from tests.tiny_config import tiny_rd4ad_config

pytestmark = pytest.mark.numerics  # rerun under other CPUs' code paths: .ci/run


def tiny_config(**train):
    return tiny_rd4ad_config(batch_size=4, **train)


@pytest.fixture(scope="module")
def setup():
    config = tiny_config()
    method = RD4AD(config)
    images = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    variables = method.init(jax.random.key(0), jnp.asarray(images[:1]))
    teacher = jax.jit(lambda v, x: method.teacher_features(v.frozen["teacher"],
                                                           method.normalize(x)))
    reference = [np.asarray(f) for f in teacher(variables, jnp.asarray(images))]
    return method, variables, images, reference


class Augmenting(RD4AD):
    caches_teacher_features = False  # e.g. its loss corrupts the input first

    def loss(self, params, model_state, frozen, batch, rng, step=None):
        return super().loss(params, model_state, frozen, batch, rng, step)


class OtherMap(RD4AD):
    def anomaly_map(self, variables, images):
        return super().anomaly_map(variables, images)


def test_only_methods_that_declare_it_may_cache():
    config = tiny_config()
    assert feature_cache.is_valid(RD4AD(config))
    assert feature_cache.is_valid(OtherMap(config))  # inherits RD4AD.loss and its declaration
    assert not feature_cache.is_valid(Augmenting(config))
    # Of the registered methods only RD4AD trains on clean images through a frozen teacher.
    assert [name for name, cls in METHODS.items() if cls.caches_teacher_features] == ["rd4ad"]
    assert feature_cache.enabled(RD4AD(config), config)
    off = tiny_config(cache_teacher_features=False)
    assert not feature_cache.enabled(RD4AD(off), off)
    assert not feature_cache.enabled(Augmenting(config), config)


def test_bad_settings_name_the_setting(setup):
    method, variables, images, _ = setup
    mesh = sharding.make_mesh()
    with pytest.raises(ValueError, match="teacher_cache_dtype='int8'"):
        feature_cache.train_inputs(method, variables, images,
                                   tiny_config(teacher_cache_dtype="int8"), mesh)
    with pytest.raises(ValueError, match="teacher_cache_storage='disk'"):
        feature_cache.train_inputs(method, variables, images,
                                   tiny_config(teacher_cache_storage="disk"), mesh)


@pytest.mark.parametrize("storage", ["host", "device"])
def test_batches_carry_each_images_teacher_features(setup, storage):
    method, variables, images, reference = setup
    config = tiny_config(teacher_cache_storage=storage)
    mesh = sharding.make_mesh()
    arrays, to_device = feature_cache.train_inputs(method, variables, images, config, mesh)
    batches = pipeline.train_batches(arrays, 4, seed=3, start_step=0, num_steps=3,
                                     to_device=to_device)
    for step, batch in enumerate(batches):
        index = pipeline.batch_indices(len(images), 4, step, seed=3)
        np.testing.assert_array_equal(batch["image"], images[index])
        cached = cached_teacher_features(batch)
        assert len(cached) == 3 and feature_cache.INDEX_KEY not in batch
        for ours, ref in zip(cached, reference):
            np.testing.assert_allclose(ours, ref[index], rtol=1e-6, atol=1e-6)


def test_disabled_cache_feeds_images_only(setup):
    method, variables, images, _ = setup
    arrays, _ = feature_cache.train_inputs(method, variables, images,
                                           tiny_config(cache_teacher_features=False),
                                           sharding.make_mesh())
    assert list(arrays) == ["image"]


def test_loss_uses_cached_features(setup):
    method, variables, images, reference = setup
    keys = cached_teacher_features_keys(3)
    loss = jax.jit(lambda batch: method.loss(variables.params, variables.model_state,
                                             variables.frozen, batch, None)[0])
    recomputed = loss({"image": jnp.asarray(images)})
    cached = loss({"image": jnp.asarray(images), **dict(zip(keys, reference))})
    np.testing.assert_allclose(cached, recomputed, rtol=1e-6)
    # The loss really reads them: mirrored "teacher" features give another loss.
    shuffled = loss({"image": jnp.asarray(images), **dict(zip(keys, [r[:, :, ::-1] for r in reference]))})
    assert abs(float(shuffled) - float(recomputed)) > 1e-3


@pytest.mark.slow  # trains (here or in its fixture)
def test_bfloat16_compute_keeps_float32_params_loss_and_maps(setup):
    _, _, images, _ = setup
    config = tiny_config(teacher_cache_dtype="bfloat16")
    config.model.dtype = "bfloat16"
    method = RD4AD(config)
    variables = method.init(jax.random.key(0), jnp.asarray(images[:1]))
    feats = feature_cache.compute_teacher_features(method, variables.frozen, images[:4], 4,
                                                   feature_cache.cache_dtype(config))
    assert all(f.dtype == jnp.bfloat16 for f in feats)
    tx = method.optimizer()
    batch = {"image": jnp.asarray(images[:4]), **dict(zip(cached_teacher_features_keys(3), feats))}
    state, metrics = jax.jit(lambda s, b: method.train_step(tx, s, b, None))(
        TrainState.create(variables, tx), batch)
    dtypes = {str(x.dtype) for x in jax.tree_util.tree_leaves((state.params, state.model_state,
                                                                state.opt_state))}
    assert dtypes <= {"float32", "int32"}, dtypes  # master weights and statistics stay float32
    assert metrics["loss"].dtype == jnp.float32 and np.isfinite(metrics["loss"])
    maps = jax.jit(method.anomaly_map)(state.variables, jnp.asarray(images[:2]))
    assert maps.dtype == jnp.float32 and np.all(np.isfinite(maps))
