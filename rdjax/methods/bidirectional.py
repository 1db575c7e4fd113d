"""Bidirectional distillation ("Beyond Single Distillation", Wang et al.): forward + reverse students.

One frozen teacher, two students trained together on normal images:

* the reverse student: RD4AD's OCBE + decoder, fed the teacher's features;
* the forward student: an encoder of the teacher's family trained from scratch
  on the image (``rdjax.models.forward_student``).

Both are distilled with the same loss (``config.train.loss``), and the two
losses are balanced by Dynamic Weight Average (DWA, Liu et al. CVPR 2019):
``w_i = 2·softmax_i(r_i / T)`` with ``r_i = L̄_i(t−1) / L̄_i(t−2)`` the ratio of
the student's mean loss over the last two completed windows of
``window_steps`` steps (0 = one epoch, derived from the data by the trainer);
``w = (1, 1)`` until two windows are complete. The
weights are constants for the gradient. The state (running window sum, the
two last window means, windows done) lives in ``model_state['dwa']``.

Anomaly map (``config.bidirectional.fusion``):

* ``'map'`` (default): each student's RD map (per-scale ``1 − cos`` with the
  teacher, upsampled, combined by ``config.eval.combine``) is blended as
  ``(1 − α)·M_reverse + α·M_forward``, then smoothed (``config.eval.sigma``);
* ``'feature'``: the students' features are blended per scale,
  ``(1 − α)·S_reverse + α·S_forward``, and compared with the teacher (what the
  released evaluation meant to do, without its list-concatenation bug).

``α = config.bidirectional.forward_weight`` (0.1 in the released evaluation).
Each student's map follows ``config.bidirectional.map_rule``: ``'cosine'``
(default, RD4AD's) or ``'repository'``, the rule of the repository's evaluation
(:func:`repository_map`: channel- and space-weighted ``|S − T|``, min-max per image).
docs/methods.md explains these choices.
"""

from typing import Dict

import jax
import jax.numpy as jnp

from rdjax.core.anomaly_map import anomaly_map as combine_maps
from rdjax.core.anomaly_map import gaussian_blur, resize_bilinear_align_corners
from rdjax.methods.base import Variables
from rdjax.methods.common import run_once
from rdjax.methods.losses import distillation_loss
from rdjax.methods.rd4ad import RD4AD
from rdjax.models.forward_student import build_forward_student

NUM_LOSSES = 2  # (forward, reverse)


def dwa_init() -> Dict[str, jax.Array]:
    """DWA state: running sum and count of the current window, the last two window means."""
    def zeros():  # distinct buffers: the trainer donates the state
        return jnp.zeros(NUM_LOSSES, jnp.float32)

    return {"sum": zeros(), "count": jnp.zeros((), jnp.int32), "last": zeros(),
            "before_last": zeros(), "windows": jnp.zeros((), jnp.int32)}


def dwa_weights(state, temperature: float) -> jax.Array:
    """``K·softmax(r / T)`` with ``r = last / before_last`` once two windows are done, else ones."""
    ratio = state["last"] / jnp.maximum(state["before_last"], 1e-12)
    weights = NUM_LOSSES * jax.nn.softmax(ratio / temperature)
    return jnp.where(state["windows"] >= 2, weights, jnp.ones(NUM_LOSSES, jnp.float32))


def dwa_update(state, losses: jax.Array, window_steps: int):
    """Adds this step's (K,) losses; closes the window every ``window_steps`` steps."""
    total = state["sum"] + jax.lax.stop_gradient(losses).astype(jnp.float32)
    count = state["count"] + 1
    full = count >= window_steps
    return {"sum": jnp.where(full, 0.0, total),
            "count": jnp.where(full, 0, count),
            "last": jnp.where(full, total / count, state["last"]),
            "before_last": jnp.where(full, state["last"], state["before_last"]),
            "windows": state["windows"] + full.astype(jnp.int32)}


MAP_RULES = ("cosine", "repository")


def repository_map(teacher, student, image_size: int) -> jax.Array:
    """The repository's map (``Cariaaaaaa/Anomaly-Detection`` test.py, unsmoothed), (N, H, W).

    Per scale: ``d = |S − T|``, channel weights ``w_c = mean_hw d``, map ``mean_c(d·w)``,
    upsampled (``align_corners=True``) and min-max normalised per image; the scales'
    maps are averaged. Every image's map then spans [0, 1].
    """
    maps = []
    for t, s in zip(teacher, student):
        d = jnp.abs(s.astype(jnp.float32) - t.astype(jnp.float32))
        weights = jnp.mean(d, axis=(1, 2), keepdims=True)
        m = resize_bilinear_align_corners(jnp.mean(d * weights, axis=-1), image_size)
        low = jnp.min(m, axis=(1, 2), keepdims=True)
        high = jnp.max(m, axis=(1, 2), keepdims=True)
        maps.append((m - low) / jnp.maximum(high - low, 1e-12))
    return sum(maps) / len(maps)


class Bidirectional(RD4AD):
    """Forward and reverse students against one teacher, DWA-weighted, fused maps."""

    caches_teacher_features = False  # its own loss (rdjax/train/feature_cache.py)

    def __init__(self, config):
        super().__init__(config)
        o = config.bidirectional
        if o.weighting not in ("dwa", "fixed"):
            raise ValueError(f"config.bidirectional.weighting='{o.weighting}' must be 'dwa' or 'fixed'.")
        if o.fusion not in ("map", "feature"):
            raise ValueError(f"config.bidirectional.fusion='{o.fusion}' must be 'map' or 'feature'.")
        if o.get("map_rule", "cosine") not in MAP_RULES:
            raise ValueError(f"config.bidirectional.map_rule='{o.map_rule}' must be one of "
                             f"{MAP_RULES}.")
        if not 0.0 <= o.forward_weight <= 1.0:
            raise ValueError(f"config.bidirectional.forward_weight={o.forward_weight} must be in [0, 1].")
        if o.window_steps < 0 or o.temperature <= 0:
            raise ValueError("config.bidirectional.window_steps must be >= 1 (or 0 = one epoch) "
                             "and config.bidirectional.temperature > 0.")
        self.window_steps = o.window_steps or None  # 0: one epoch, set by set_schedule
        if len(o.fixed_weights) != NUM_LOSSES:
            raise ValueError(f"config.bidirectional.fixed_weights={o.fixed_weights} needs 2 numbers "
                             f"(forward, reverse).")
        self.forward_student = build_forward_student(config.model, o.student_arch,
                                                     "config.bidirectional.student_arch")
        self.distill = distillation_loss(config.train.loss)

    def forward_features(self, params, model_state, x, train: bool):
        """The forward student's features and its new BatchNorm statistics."""
        f_vars = {"params": params["forward"], "batch_stats": model_state["forward"]}
        if train:
            feats, upd = self.forward_student.apply(f_vars, x, train=True, mutable=["batch_stats"])
            return feats, upd["batch_stats"]
        return self.forward_student.apply(f_vars, x, train=False), model_state["forward"]

    def set_schedule(self, steps_per_epoch: int, total_steps: int) -> None:
        """``window_steps=0``: a DWA window is one epoch, as in DWA."""
        if not self.config.bidirectional.window_steps:
            self.window_steps = steps_per_epoch

    def loss_weights(self, dwa_state) -> jax.Array:
        o = self.config.bidirectional
        if o.weighting == "fixed":
            return jnp.asarray(o.fixed_weights, jnp.float32)
        return dwa_weights(dwa_state, o.temperature)

    # ---- the method interface ---------------------------------------------------------
    def init(self, rng, images) -> Variables:
        rt, rs, rf = jax.random.split(rng, 3)
        x = self.normalize(images)
        teacher_vars = self.init_teacher(rt, x)
        params, state = self.init_student(rs, jax.jit(self.teacher_features)(teacher_vars, x))
        f_vars = run_once(lambda rng, x: self.forward_student.init(rng, x, train=False), rf, x)
        params["forward"] = f_vars["params"]
        state.update(forward=f_vars["batch_stats"], dwa=dwa_init())
        return Variables(params=params, model_state=state, frozen={"teacher": teacher_vars})

    def loss(self, params, model_state, frozen, batch: Dict[str, jax.Array], rng, step=None):
        x = self.normalize(batch["image"])
        teacher = self.teacher_features(frozen["teacher"], x)
        reverse, new_state = self.student_features(params, model_state, teacher, train=True)
        forward, forward_stats = self.forward_features(params, model_state, x, train=True)
        losses = jnp.stack([self.distill(teacher, forward), self.distill(teacher, reverse)])
        weights = jax.lax.stop_gradient(self.loss_weights(model_state["dwa"]))
        loss = jnp.sum(weights * losses)
        if self.window_steps is None:
            raise ValueError("config.bidirectional.window_steps=0 (one epoch) is derived by the "
                             "trainer (set_schedule); outside it set a number of steps.")
        dwa = dwa_update(model_state["dwa"], losses, self.window_steps)
        new_state = {**new_state, "forward": forward_stats, "dwa": dwa}
        metrics = {"loss": loss, "loss_forward": losses[0], "loss_reverse": losses[1],
                   "weight_forward": weights[0], "weight_reverse": weights[1]}
        return loss, (metrics, new_state)

    def anomaly_map(self, variables: Variables, images) -> jax.Array:
        o, e = self.config.bidirectional, self.config.eval
        x = self.normalize(images)
        teacher = self.teacher_features(variables.frozen["teacher"], x)
        reverse, _ = self.student_features(variables.params, variables.model_state, teacher, train=False)
        forward, _ = self.forward_features(variables.params, variables.model_state, x, train=False)
        a, size = o.forward_weight, images.shape[1]

        def student_map(student):
            if o.get("map_rule", "cosine") == "repository":
                return repository_map(teacher, student, size)
            return combine_maps(teacher, student, size, combine=e.combine, sigma=None)

        if o.fusion == "feature":
            total = student_map([(1 - a) * r.astype(jnp.float32) + a * f.astype(jnp.float32)
                                 for r, f in zip(reverse, forward)])
        else:
            total = (1 - a) * student_map(reverse) + a * student_map(forward)
        return gaussian_blur(total, e.sigma) if e.sigma else total
