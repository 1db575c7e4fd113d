"""RD-E, "Unlocking the Potential of Reverse Distillation" (Liu et al., AAAI 2025).

Expert–teacher–student:

* expert E: the frozen pretrained teacher network (``frozen['expert']``);
* teacher T: a trainable copy of it (Adam, ``config.rde.teacher_learning_rate``),
  BatchNorm in training mode for its own update and in inference mode when it
  feeds the student and at test;
* student S: OCBE + decoder with skip fusion from T's features
  (``rdjax.models.skip_decoder``), plain as the released code runs it
  (``config.rde.gated=False``, the default) or gated by the paper's Guided
  Information Injection (``True``).

Every step makes Perlin-noise anomalies ``x_aug`` with masks ``M``
(``rdjax.data.augmentations.perlin``) and alternates two updates
(``train_step``), each with its own Adam on its own parameter group:

1. teacher: ``Σ_k mean(1 − cos_c(T(x), E(x)))`` + ``Σ_k mean|1 − cos_c(T(x_aug), E(x)) − M_k|``
   + ``Σ_k mean_b(1 − cos(flat T(x_aug), flat E(x_aug)))``; ``M_k`` is the mask
   resized (bilinear, align_corners) to scale k from the previous scale's
   binarised mask and binarised at 0.5, as the released code does;
2. student (with the updated teacher, inference mode, no gradient):
   ``D(S(T(x)), T(x)) + D(S(T(x_aug)), T(x)) + D(S(T(x)), E(x)) + D(S(T(x_aug)), E(x))``,
   D = RD4AD's flattened cosine loss.

The optimiser is ``optax.multi_transform`` of one Adam per group (state: one per
group); each half-step updates only its group's parameters and Adam moments
(``group_update``). RD-E has no single ``loss``: it overrides ``train_step``. Anomaly map:
RD4AD's (per-scale ``1 − cos(S, T)``, sum, Gaussian σ = 4) with the trained teacher.
"""

import math
import os
from typing import Dict

import jax
import jax.numpy as jnp
import optax

from rdjax.core.anomaly_map import cosine_distance, resize_bilinear_align_corners
from rdjax.data import categories
from rdjax.data.augmentations import perlin
from rdjax.methods.base import Method, Variables
from rdjax.methods.common import run_once
from rdjax.methods.losses import flattened_cosine_loss, per_pixel_cosine_loss
from rdjax.methods.rd4ad import RD4AD
from rdjax.models.skip_decoder import SkipFusionDecoder

GROUPS = ("teacher", "student")


def xavier_normal_convs(params, rng):
    """Re-draws conv kernels from PyTorch's ``xavier_normal_`` (RD-E's ``init_weight``).

    Touches leaves named ``kernel`` with a 4-D shape; the 2×2 transposed convs of
    the decoder (``ConvTranspose2x2``, the only 2×2 kernels) keep their init, as
    ``ConvTranspose2d`` is not an ``nn.Conv2d`` in PyTorch.
    """
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    keys = jax.random.split(rng, len(leaves))
    out = []
    for (path, leaf), key in zip(leaves, keys):
        name = getattr(path[-1], "key", None)
        if name == "kernel" and leaf.ndim == 4 and leaf.shape[:2] != (2, 2):
            kh, kw, cin, cout = leaf.shape
            std = math.sqrt(2.0 / (kh * kw * (cin + cout)))
            leaf = std * jax.random.normal(key, leaf.shape, leaf.dtype)
        out.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, out)


def multiscale_masks(mask: jax.Array, sizes):
    """RD-E's per-scale masks: each resized (align_corners) from the previous one, binarised at 0.5."""
    out, m = [], mask.astype(jnp.float32)
    for size in sizes:
        m = (resize_bilinear_align_corners(m, tuple(size)) >= 0.5).astype(jnp.float32)
        out.append(m)
    return out


def teacher_objective(t_normal, t_aug, e_normal, e_aug, mask) -> jax.Array:
    """RD-E's teacher loss from feature lists (normal / augmented input) and the (N, H, W) mask."""
    masks = multiscale_masks(mask, [f.shape[1:3] for f in t_aug])
    to_mask = sum(jnp.mean(jnp.abs(cosine_distance(t, e) - m)) for t, e, m in zip(t_aug, e_normal, masks))
    return (per_pixel_cosine_loss(e_normal, t_normal) + to_mask
            + flattened_cosine_loss(e_aug, t_aug))


def student_objective(s_normal, s_aug, t_normal, e_normal) -> jax.Array:
    """RD-E's student loss: both student outputs against the teacher's and the expert's normal features."""
    return (flattened_cosine_loss(t_normal, s_normal) + flattened_cosine_loss(t_normal, s_aug)
            + flattened_cosine_loss(e_normal, s_normal) + flattened_cosine_loss(e_normal, s_aug))


class RDE(RD4AD):
    """Expert (frozen) → teacher (trained) → skip-fused student, alternating updates."""

    caches_teacher_features = False  # its own loss (rdjax/train/feature_cache.py)
    loss = Method.loss  # no single loss: train_step alternates two updates (not RD4AD's loss)

    def __init__(self, config):
        super().__init__(config)
        o = config.rde
        if o.foreground not in ("auto", "always", "never"):
            raise ValueError(f"config.rde.foreground='{o.foreground}' must be 'auto', 'always' or 'never'.")
        if o.get("texture_root") and not os.path.isdir(o.texture_root):
            raise ValueError(f"config.rde.texture_root={o.texture_root!r} is not a folder (a "
                             f"folder of texture images such as DTD's images/; '' = built-in).")
        spec = self.nets.spec
        self.skip_decoder = SkipFusionDecoder(
            spec.feature_channels, spec.student_block, spec.decoder_layers, spec.width_per_group,
            final_relu=not spec.signed_features, gated=bool(o.gated), dtype=self.dtype)
        d = config.dataset
        self.use_foreground = o.foreground == "always" or (
            o.foreground == "auto" and categories.rde_foreground(d.name, d.category))

    # ---- networks ---------------------------------------------------------------------
    def teacher_apply(self, params, stats, x, train: bool):
        """The trainable teacher: (features, new BatchNorm statistics)."""
        t_vars = {"params": params, "batch_stats": stats}
        if train:
            feats, upd = self.nets.teacher.apply(t_vars, x, train=True, mutable=["batch_stats"])
            return feats, upd["batch_stats"]
        return [jax.lax.stop_gradient(f) for f in self.nets.teacher.apply(t_vars, x, train=False)], stats

    def student_apply(self, params, stats, teacher_feats, train: bool):
        """OCBE + skip-fusion decoder: (features, new BatchNorm statistics)."""
        b_vars = {"params": params["bottleneck"], "batch_stats": stats["bottleneck"]}
        d_vars = {"params": params["decoder"], "batch_stats": stats["decoder"]}
        if not train:
            emb = self.nets.bottleneck.apply(b_vars, teacher_feats, train=False)
            return self.skip_decoder.apply(d_vars, emb, teacher_feats, train=False), stats
        emb, b_upd = self.nets.bottleneck.apply(b_vars, teacher_feats, train=True, mutable=["batch_stats"])
        out, d_upd = self.skip_decoder.apply(d_vars, emb, teacher_feats, train=True,
                                             mutable=["batch_stats"])
        return out, {"bottleneck": b_upd["batch_stats"], "decoder": d_upd["batch_stats"]}

    def group_transforms(self) -> Dict[str, optax.GradientTransformation]:
        t, o = self.config.train, self.config.rde
        return {"teacher": optax.adam(o.teacher_learning_rate, b1=t.b1, b2=t.b2),
                "student": optax.adam(t.learning_rate, b1=t.b1, b2=t.b2)}

    def optimizer(self) -> optax.GradientTransformation:
        """``optax.multi_transform`` of the two groups' Adams (state: one per group)."""
        return optax.multi_transform(self.group_transforms(), {g: g for g in GROUPS})

    def group_update(self, state, group: str, grads, stats):
        """``state`` after one step of ``group``'s own Adam (its part of the multi_transform
        state) with ``grads``, and its BatchNorm ``stats``; the other group's parameters,
        statistics and Adam moments stay as they are."""
        p, o = state.params, state.opt_state
        tx = optax.masked(self.group_transforms()[group], {g: g == group for g in GROUPS})
        # The other group's entries are masked out: the inner Adam never sees them.
        updates, inner = tx.update({**p, group: grads}, o.inner_states[group], p)
        return state.replace(params={**p, group: optax.apply_updates(p[group], updates[group])},
                             model_state={**state.model_state, group: stats},
                             opt_state=o._replace(inner_states={**o.inner_states, group: inner}))

    # ---- the two phases ---------------------------------------------------------------
    def synthesize(self, frozen, images, rng):
        """Normalised normal and augmented inputs, the masks and the expert's features of both."""
        augmented, masks = perlin.perlin_anomalies(rng, images, frozen["textures"], self.use_foreground)
        x, x_aug = self.normalize(images), self.normalize(augmented)
        e_normal = self.teacher_features(frozen["expert"], x)
        e_aug = self.teacher_features(frozen["expert"], x_aug)
        return {"x": x, "x_aug": x_aug, "mask": masks, "e_normal": e_normal, "e_aug": e_aug}

    def teacher_loss(self, teacher_params, teacher_stats, inputs):
        t_normal, stats = self.teacher_apply(teacher_params, teacher_stats, inputs["x"], train=True)
        t_aug, stats = self.teacher_apply(teacher_params, stats, inputs["x_aug"], train=True)
        loss = teacher_objective(t_normal, t_aug, inputs["e_normal"], inputs["e_aug"], inputs["mask"])
        return loss, stats

    def student_loss(self, student_params, student_stats, t_normal, t_aug, e_normal):
        s_normal, stats = self.student_apply(student_params, student_stats, t_normal, train=True)
        s_aug, stats = self.student_apply(student_params, stats, t_aug, train=True)
        return student_objective(s_normal, s_aug, t_normal, e_normal), stats

    def teacher_step(self, state, inputs):
        """Phase 1: one Adam step on the teacher's parameters only."""
        p, s = state.params, state.model_state
        (loss, stats), grads = jax.value_and_grad(self.teacher_loss, has_aux=True)(
            p["teacher"], s["teacher"], inputs)
        return self.group_update(state, "teacher", grads, stats), loss

    def student_step(self, state, inputs):
        """Phase 2: one Adam step on the student's parameters only, with the current teacher."""
        p, s = state.params, state.model_state
        t_normal, _ = self.teacher_apply(p["teacher"], s["teacher"], inputs["x"], train=False)
        t_aug, _ = self.teacher_apply(p["teacher"], s["teacher"], inputs["x_aug"], train=False)
        (loss, stats), grads = jax.value_and_grad(self.student_loss, has_aux=True)(
            p["student"], s["student"], t_normal, t_aug, inputs["e_normal"])
        return self.group_update(state, "student", grads, stats), loss

    # ---- the method interface ---------------------------------------------------------
    def init(self, rng, images) -> Variables:
        rt, *student_rngs = jax.random.split(rng, 4)
        x = self.normalize(images)
        expert = self.init_teacher(rt, x)
        student, student_state = run_once(self._init_rde_student, student_rngs, expert, x)
        textures = jnp.asarray(perlin.texture_source(self.config.rde, images.shape[1]))
        # The teacher starts as a copy of the expert (own buffers: the trainer donates the state).
        teacher = jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), expert)
        params = {"teacher": teacher["params"], "student": student}
        state = {"teacher": teacher["batch_stats"], "student": student_state}
        return Variables(params=params, model_state=state,
                         frozen={"expert": expert, "textures": textures})

    def _init_rde_student(self, rngs, expert, x):
        """(params, BatchNorm statistics) of the OCBE and the skip decoder on the expert's features."""
        rb, rd, rx = rngs
        feats = self.teacher_features(expert, x)
        b_vars = self.nets.bottleneck.init(rb, feats, train=False)
        emb = self.nets.bottleneck.apply(b_vars, feats, train=False)
        d_vars = self.skip_decoder.init(rd, emb, feats, train=False)
        student = {"bottleneck": b_vars["params"], "decoder": d_vars["params"]}
        if self.config.rde.xavier_init:
            student = xavier_normal_convs(student, rx)
        return student, {"bottleneck": b_vars["batch_stats"], "decoder": d_vars["batch_stats"]}

    def train_step(self, tx, state, batch: Dict[str, jax.Array], rng):
        """Teacher phase, then student phase, each with its group's Adam (``group_update``;
        ``tx`` is ``optimizer()``, whose state they share, and is not called as a whole)."""
        inputs = self.synthesize(state.frozen, batch["image"], rng)
        state, teacher_loss = self.teacher_step(state, inputs)
        state, student_loss = self.student_step(state, inputs)
        metrics = {"loss": teacher_loss + student_loss, "teacher_loss": teacher_loss,
                   "student_loss": student_loss, "mask_fraction": jnp.mean(inputs["mask"])}
        return state.replace(step=state.step + 1), metrics

    def anomaly_map(self, variables: Variables, images) -> jax.Array:
        x = self.normalize(images)
        p, s = variables.params, variables.model_state
        teacher, _ = self.teacher_apply(p["teacher"], s["teacher"], x, train=False)
        student, _ = self.student_apply(p["student"], s["student"], teacher, train=False)
        return self.combine(teacher, student, images.shape[1])
