"""The train state: a method's variables, the optimiser state and the step."""

from typing import Any

import flax
import jax.numpy as jnp
import optax

from rdjax.methods.base import Variables


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
                   opt_state=tx.init(variables.params))

    @property
    def variables(self) -> Variables:
        return Variables(self.params, self.model_state, self.frozen)
