"""config.train.lr_schedule: 'cosine' scales the method's Adam exactly as optax's own
cosine learning-rate schedule would; 'constant' leaves the optimiser alone."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rdjax.methods import get_method
from rdjax.train import state as state_lib
from rdjax.train import validate
from tests.tiny_config import tiny_rd4ad_config


def _updates(tx, steps=5):
    """The updates ``tx`` makes over ``steps`` steps of a small fixed problem."""
    params = {"w": jnp.linspace(-1.0, 1.0, 6, dtype=jnp.float32)}
    opt_state = tx.init(params)
    out = []
    for i in range(steps):
        grads = {"w": params["w"] * (i + 1.0) - 0.3}
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        out.append(np.asarray(updates["w"]))
    return np.stack(out)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_schedule_matches_optax_adam_with_that_learning_rate(schedule):
    config = tiny_rd4ad_config()
    config.train.lr_schedule = schedule
    t = config.train
    total = 4
    lr = t.learning_rate if schedule == "constant" else optax.cosine_decay_schedule(t.learning_rate, total)
    reference = optax.adam(lr, b1=t.b1, b2=t.b2)
    ours = state_lib.optimizer(get_method(config), config, total_steps=total)
    np.testing.assert_allclose(_updates(ours), _updates(reference), rtol=1e-6, atol=1e-9)


def test_cosine_reaches_zero_at_the_last_step():
    config = tiny_rd4ad_config()
    config.train.lr_schedule = "cosine"
    updates = _updates(state_lib.optimizer(get_method(config), config, total_steps=4), steps=5)
    assert np.abs(updates[0]).max() > 0 and np.abs(updates[4]).max() == 0.0


def test_unknown_schedule_and_rde_are_refused():
    config = tiny_rd4ad_config()
    config.train.lr_schedule = "linear"
    with pytest.raises(validate.ConfigError, match="train.lr_schedule"):
        validate.check_config(config)
    from rdjax import recipes

    rde = recipes.method_config("rde")
    rde.train.lr_schedule = "cosine"
    with pytest.raises(validate.ConfigError, match="RD-E"):
        validate.check_config(rde)
