"""The train state: a method's variables, the optimiser state and the step."""

from typing import Any

import flax
import jax.numpy as jnp
import optax

from rdjax.methods.base import Variables
from rdjax.methods.common import run_once


LR_SCHEDULES = ("constant", "cosine")


def optimizer(method, config, total_steps: int = 1) -> optax.GradientTransformation:
    """``method.optimizer()`` with its step sizes scaled by ``config.train.lr_schedule``:
    'constant' (every paper recipe) or 'cosine' (decay to 0 over ``total_steps``; for Adam,
    scaling the update is exactly scaling the learning rate). The schedule keeps only a step
    count, so ``total_steps`` does not change the state's structure (restoring needs none).
    A resumed run of the same length follows the same curve; continuing a finished 'cosine' run
    to more steps stretches the curve, so the rate rises again from the restored step."""
    tx = method.optimizer()
    if config.train.get("lr_schedule", "constant") == "cosine":
        decay = optax.cosine_decay_schedule(1.0, max(int(total_steps), 1))
        tx = optax.chain(tx, optax.scale_by_schedule(decay))
    return tx


@flax.struct.dataclass
class TrainState:
    step: jnp.ndarray
    params: Any
    model_state: Any
    frozen: Any
    opt_state: Any

    @classmethod
    def create(cls, variables: Variables, tx: optax.GradientTransformation) -> "TrainState":
        return cls(step=jnp.zeros((), jnp.int32), params=variables.params,
                   model_state=variables.model_state, frozen=variables.frozen,
                   opt_state=run_once(tx.init, variables.params))  # one compile, not one per leaf

    @property
    def variables(self) -> Variables:
        return Variables(self.params, self.model_state, self.frozen)
