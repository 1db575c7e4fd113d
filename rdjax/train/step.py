"""The trainer's step function (no data or logging imports, so benchmarks can use it)."""

import jax

from rdjax.train.state import TrainState


def train_step(method, tx, state: TrainState, batch, base_rng):
    """One step of ``method``; the step's PRNG key is ``fold_in(base_rng, step)``."""
    return method.train_step(tx, state, batch, jax.random.fold_in(base_rng, state.step))
