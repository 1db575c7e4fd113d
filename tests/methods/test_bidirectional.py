"""Bidirectional: the DWA weighting rule, its state, the loss and the fused anomaly map."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdjax.methods import bidirectional as bd
from rdjax.methods.base import Variables
from rdjax.methods.rd4ad import RD4AD
from tests.tiny_config import with_small_teacher


def reference_dwa(history, window, temperature):
    """DWA (Liu et al. 2019) per step from the full loss history: window means, ratio, softmax."""
    weights = []
    for step in range(len(history)):
        done = step // window  # complete windows before this step
        if done < 2:
            weights.append(np.ones(2))
            continue
        mean = lambda w: np.mean(history[w * window:(w + 1) * window], axis=0)  # noqa: E731
        r = mean(done - 1) / mean(done - 2)
        e = np.exp(r / temperature)
        weights.append(2 * e / e.sum())
    return np.array(weights)


def test_dwa_weights_follow_the_rule_on_a_crafted_history():
    rng = np.random.default_rng(0)
    # The forward loss stalls while the reverse loss keeps falling.
    steps = np.arange(17)
    history = np.stack([1.0 + 0.05 * rng.random(17), 2.0 * 0.8 ** steps], axis=1).astype(np.float32)
    want = reference_dwa(history, window=3, temperature=2.0)
    state, got = bd.dwa_init(), []
    for losses in history:
        got.append(np.asarray(bd.dwa_weights(state, 2.0)))
        state = bd.dwa_update(state, jnp.asarray(losses), 3)
    got = np.array(got)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 2.0, rtol=1e-6)
    assert np.all(got[6:, 0] > got[6:, 1])  # the slower-learning (forward) student gets more weight
    assert int(state["windows"]) == 5 and int(state["count"]) == 2


def test_dwa_update_is_jit_friendly_and_ignores_gradients():
    update = jax.jit(bd.dwa_update, static_argnums=2)
    state = update(bd.dwa_init(), jnp.asarray([1.0, 2.0]), 1)
    np.testing.assert_allclose(state["last"], [1.0, 2.0])
    grad = jax.grad(lambda x: jnp.sum(bd.dwa_update(bd.dwa_init(), x, 1)["last"]))(jnp.ones(2))
    np.testing.assert_array_equal(grad, 0.0)


def tiny_config(**options):
    from configs.bidirectional import get_config

    config = with_small_teacher(get_config())
    for k, v in options.items():
        config.bidirectional[k] = v
    return config


@pytest.fixture(scope="module")
def trained_variables():
    """Variables after a few steps, so both students differ from their init."""
    method = bd.Bidirectional(tiny_config(window_steps=1))
    images = jnp.asarray(np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3)), jnp.uint8)
    v = jax.jit(method.init)(jax.random.key(0), images[:1])
    from rdjax.train.state import TrainState

    tx = method.optimizer()
    state = TrainState.create(v, tx)
    step = jax.jit(lambda s, b, r: method.train_step(tx, s, b, r))
    history = []
    for i in range(3):
        state, metrics = step(state, {"image": images}, jax.random.key(i))
        history.append(metrics)
    return state.variables, images, history


@pytest.mark.slow
def test_training_applies_dwa_weights_and_updates_its_state(trained_variables):
    variables, _, history = trained_variables
    losses = np.array([[m["loss_forward"], m["loss_reverse"]] for m in history])
    np.testing.assert_allclose([history[0]["weight_forward"], history[1]["weight_forward"]], 1.0)
    r = losses[1] / losses[0]  # window = 1 step: weights of step 3 come from steps 1 and 2
    want = 2 * np.exp(r / 2) / np.exp(r / 2).sum()
    np.testing.assert_allclose([history[2]["weight_forward"], history[2]["weight_reverse"]], want, rtol=1e-5)
    np.testing.assert_allclose(history[2]["loss"], np.dot(want, losses[2]), rtol=1e-5)
    assert int(variables.model_state["dwa"]["windows"]) == 3


@pytest.mark.slow
def test_map_fusion_limits_and_linearity(trained_variables):
    variables, images, _ = trained_variables

    def fused(alpha, fusion="map"):
        return np.asarray(bd.Bidirectional(tiny_config(forward_weight=alpha, fusion=fusion))
                          .anomaly_map(variables, images))

    # α = 0 is the reverse student's RD4AD map, computed by RD4AD itself.
    rd = RD4AD(tiny_config())
    rd_vars = Variables({k: variables.params[k] for k in ("bottleneck", "decoder")},
                        {k: variables.model_state[k] for k in ("bottleneck", "decoder")},
                        variables.frozen)
    reverse = np.asarray(rd.anomaly_map(rd_vars, images))
    np.testing.assert_allclose(fused(0.0), reverse, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused(0.0, "feature"), reverse, rtol=1e-5, atol=1e-6)
    forward = fused(1.0)
    assert np.abs(forward - reverse).max() > 1e-3
    np.testing.assert_allclose(fused(0.3), 0.7 * reverse + 0.3 * forward, rtol=1e-5, atol=1e-6)


def test_bad_settings_name_the_option():
    for key, value in [("weighting", "gradnorm"), ("fusion", "concat"), ("forward_weight", 1.5),
                       ("window_steps", -1)]:
        with pytest.raises(ValueError, match=f"config.bidirectional.{key}"):
            bd.Bidirectional(tiny_config(**{key: value}))
