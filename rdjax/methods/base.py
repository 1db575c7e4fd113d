"""What every method gives the trainer, and the pieces most methods share.

A method differs from another in four places only: which networks are trained,
how the input is corrupted, what the loss is and how the anomaly map is formed.
The trainer (``rdjax/train/trainer.py``) talks to a method through this interface
and never branches on the method's name:

* ``init(rng, images) -> Variables``
* ``anomaly_map(variables, images) -> (N, H, W)`` float32 map at image size
* ``train_step(tx, state, batch, rng) -> (state, metrics)``: by default one
  ``loss`` and one optimiser step; override to alternate updates (RD-E), and then
  no ``loss`` is needed.
* ``loss(params, model_state, frozen, batch, rng, step) -> (loss, (metrics, new_model_state))``:
  the default step's objective; ``step`` is the training step (int32 scalar) for
  losses that change over training (two-stage's stages).
* ``optimizer() -> optax.GradientTransformation``
* ``caches_teacher_features``: a class attribute, True when ``loss`` trains on the
  un-augmented images through the frozen teacher and reads the teacher's features
  from the batch when present (``rdjax/train/feature_cache.py``); False by default.
* ``set_schedule(steps_per_epoch, total_steps)``: called by the trainer once the data
  are known, for settings a method derives from them (two-stage's stage length,
  bidirectional's DWA window); nothing by default.
"""

import abc
from typing import Any, Dict, Tuple

import flax
import jax
import jax.numpy as jnp
import optax

PyTree = Any


@flax.struct.dataclass
class Variables:
    """All of a method's variables, split by how the trainer treats them.

    params: trained by the optimiser. model_state: updated by the forward pass
    (BatchNorm statistics of trained nets). frozen: never updated (the teacher).
    """

    params: PyTree
    model_state: PyTree
    frozen: PyTree


def normalize_images(images: jax.Array, mean, std, dtype=jnp.float32) -> jax.Array:
    """uint8 NHWC images → ``(x/255 − mean) / std`` in ``dtype``."""
    x = images.astype(jnp.float32) / 255.0
    x = (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)
    return x.astype(dtype)


class Method(abc.ABC):
    """Base class: holds the config; subclasses implement the four hooks."""

    # The trainer may compute the frozen teacher's features once and put them in the batch.
    caches_teacher_features = False

    def __init__(self, config):
        self.config = config

    @abc.abstractmethod
    def init(self, rng: jax.Array, images: jax.Array) -> Variables:
        """Creates (and loads pretrained) variables from a small uint8 sample batch."""

    def loss(self, params, model_state, frozen, batch: Dict[str, jax.Array], rng: jax.Array,
             step=None) -> Tuple[jax.Array, Tuple[Dict[str, jax.Array], PyTree]]:
        """Pure, jit-able training loss of the default ``train_step``; ``batch['image']`` is
        uint8 NHWC, ``step`` the training step (None outside training)."""
        raise NotImplementedError(
            f"{type(self).__name__} defines no loss: a method must implement loss() for the "
            f"default train_step, or override train_step (rdjax/methods/base.py).")

    @abc.abstractmethod
    def anomaly_map(self, variables: Variables, images: jax.Array) -> jax.Array:
        """Anomaly maps (N, H, W) at the input resolution, higher = more anomalous."""

    def set_schedule(self, steps_per_epoch: int, total_steps: int) -> None:
        """Derives step counts from the run's length (see the module docstring)."""

    def optimizer(self) -> optax.GradientTransformation:
        """The paper recipe's Adam by default; methods with several groups override."""
        t = self.config.train
        return optax.adam(t.learning_rate, b1=t.b1, b2=t.b2)

    def train_step(self, tx: optax.GradientTransformation, state, batch: Dict[str, jax.Array],
                   rng: jax.Array):
        """One update of ``state`` (a ``TrainState``): one loss, one optimiser step.

        Methods that alternate updates (RD-E's teacher then student) override this.
        Returns ``(new_state, metrics)``.
        """

        def loss_fn(params):
            return self.loss(params, state.model_state, state.frozen, batch, rng, state.step)

        (_, (metrics, model_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        return state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                             model_state=model_state, opt_state=opt_state), metrics
