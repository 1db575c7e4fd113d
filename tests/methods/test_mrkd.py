"""MRKD: the data flow of the loss and the test-time masking switch."""

import jax
import numpy as np
import pytest

from rdjax.methods.losses import flattened_cosine_loss
from tests.methods.masked_family_helpers import images, method_and_variables, tiny_config

pytestmark = pytest.mark.slow  # each test compiles the networks (tens of seconds on 2 cores)


def loss_fn(method):
    return jax.jit(lambda v, b, r: method.loss(v.params, v.model_state, v.frozen, b, r)[0])


def test_without_masking_the_loss_is_rd_distillation_through_the_heads():
    config = tiny_config("mrkd")
    config.mrkd.ilm, config.mrkd.flm = False, False
    method, v = method_and_variables(config)
    x = images()

    @jax.jit
    def direct(v, x):
        teacher = method.teacher_features(v.frozen["teacher"], method.normalize(x))
        decoded, _ = method.student_features(v.params, v.model_state, teacher, train=True)
        heads = method.heads.apply({"params": v.params["flm"]}, decoded)
        return flattened_cosine_loss(teacher, heads)

    got = loss_fn(method)(v, {"image": x}, jax.random.key(0))
    assert float(got) == pytest.approx(float(direct(v, x)), rel=1e-6)


def test_masking_makes_the_loss_depend_on_the_step_key():
    method, v = method_and_variables(tiny_config("mrkd"))
    f = loss_fn(method)
    batch = {"image": images()}
    a, b, c = f(v, batch, jax.random.key(0)), f(v, batch, jax.random.key(0)), f(v, batch, jax.random.key(1))
    assert float(a) == float(b) and float(a) != float(c)


def test_test_time_masking_is_a_switch():
    config = tiny_config("mrkd")
    method, v = method_and_variables(config)
    x = images(seed=3)
    config.mrkd.mask_at_test = False
    plain = np.asarray(jax.jit(method.anomaly_map)(v, x))
    config.mrkd.mask_at_test = True  # the default, as the released decoder
    masked_map = jax.jit(method.anomaly_map)
    m1, m2 = np.asarray(masked_map(v, x)), np.asarray(masked_map(v, x))
    np.testing.assert_array_equal(m1, m2)  # the mask is a function of the seed and the batch
    assert not np.allclose(m1, plain)
    assert set(v.params) == {"bottleneck", "decoder", "flm"}
