"""RD4AD (Deng & Li, CVPR 2022): frozen teacher → OCBE → reverse decoder student.

Training: the student reproduces the teacher's layer1–3 features of normal images
(flattened cosine loss by default, as in the released code). Test: per scale
``1 − cos``, upsampled (align_corners) to image size, summed, Gaussian σ = 4.
Later methods subclass this and override a hook or two.

The training input is never augmented, so the trainer may precompute the teacher's
features of the training set once (``rdjax/train/feature_cache.py``) and hand them in
the batch under ``teacher_features/0`` … (see :func:`cached_teacher_features`); ``loss``
then skips the teacher. Subclasses that override ``loss`` declare
``caches_teacher_features = False`` and never get them.
"""

import functools
from typing import Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp

from rdjax.core.anomaly_map import anomaly_map as combine_maps
from rdjax.methods.base import Method, Variables, normalize_images
from rdjax.methods.common import check_same_structure, run_once
from rdjax.methods.losses import distillation_loss
from rdjax.models.factory import build_networks


CACHED_TEACHER_FEATURES = "teacher_features"


def cached_teacher_features_keys(num_scales: int) -> List[str]:
    """Batch keys of the cached teacher features, one per scale."""
    return [f"{CACHED_TEACHER_FEATURES}/{i}" for i in range(num_scales)]


def cached_teacher_features(batch: Dict[str, jax.Array]) -> Optional[List[jax.Array]]:
    """The teacher features the trainer put in ``batch`` (stride 4, 8, 16), or None."""
    keys = sorted((k for k in batch if k.startswith(CACHED_TEACHER_FEATURES + "/")),
                  key=lambda k: int(k.rsplit("/", 1)[1]))
    return [batch[k] for k in keys] or None


class RD4AD(Method):
    """The base reverse-distillation method."""

    # Its loss sees only clean images through the frozen teacher; subclasses whose loss
    # corrupts the input or trains the teacher set this to False.
    caches_teacher_features = True

    def __init__(self, config):
        super().__init__(config)
        self.nets = build_networks(config.model)
        self.dtype = jnp.dtype(config.model.get("dtype", "float32"))

    # ---- shared pieces, reused by subclasses -------------------------------------------
    def normalize(self, images: jax.Array) -> jax.Array:
        return normalize_images(images, self.nets.spec.mean, self.nets.spec.std, self.dtype)

    def init_teacher(self, rng, x):
        init = functools.partial(self.nets.teacher.init, train=False)
        if not self.config.model.get("pretrained", False):
            return run_once(init, rng, x)
        from rdjax.models.pretrained import load_teacher_variables
        loaded = load_teacher_variables(self.config.model)
        check_same_structure(jax.eval_shape(init, rng, x), loaded,
                             f"Weights for teacher '{self.config.model.teacher}'")
        return jax.device_put(loaded)  # jnp.asarray would compile once per leaf shape

    def teacher_features(self, teacher_vars, x) -> List[jax.Array]:
        feats = self.nets.teacher.apply(teacher_vars, x, train=False)
        return [jax.lax.stop_gradient(f) for f in feats]

    def student_features(self, params, model_state, teacher_feats: Sequence[jax.Array], train: bool):
        """OCBE + decoder; returns (features, new_model_state)."""
        mutable = ["batch_stats"] if train else False
        b_vars = {"params": params["bottleneck"], "batch_stats": model_state["bottleneck"]}
        d_vars = {"params": params["decoder"], "batch_stats": model_state["decoder"]}
        if train:
            emb, b_upd = self.nets.bottleneck.apply(b_vars, teacher_feats, train=True, mutable=mutable)
            out, d_upd = self.nets.decoder.apply(d_vars, emb, train=True, mutable=mutable)
            new_state = {"bottleneck": b_upd["batch_stats"], "decoder": d_upd["batch_stats"]}
            return out, new_state
        emb = self.nets.bottleneck.apply(b_vars, teacher_feats, train=False)
        return self.nets.decoder.apply(d_vars, emb, train=False), model_state

    def init_student(self, rng, teacher_feats):
        return run_once(self._init_student, rng, teacher_feats)

    def _init_student(self, rng, teacher_feats):
        rb, rd = jax.random.split(rng)
        b_vars = self.nets.bottleneck.init(rb, teacher_feats, train=False)
        emb = self.nets.bottleneck.apply(b_vars, teacher_feats, train=False)
        d_vars = self.nets.decoder.init(rd, emb, train=False)
        params = {"bottleneck": b_vars["params"], "decoder": d_vars["params"]}
        state = {"bottleneck": b_vars["batch_stats"], "decoder": d_vars["batch_stats"]}
        return params, state

    def init_on_teacher_features(self, module, rng, teacher_vars, images):
        """``module``'s params, initialised on the teacher's features of ``images`` as one
        compiled program (the heads MRKD and RD++ add to RD4AD)."""
        return run_once(lambda rng, teacher, x: module.init(
            rng, self.teacher_features(teacher, x))["params"],
            rng, teacher_vars, self.normalize(images))

    def combine(self, teacher_feats, student_feats, image_size: int) -> jax.Array:
        e = self.config.eval
        return combine_maps(teacher_feats, student_feats, image_size,
                            combine=e.combine, sigma=e.sigma)

    # ---- the method interface ---------------------------------------------------------
    def init(self, rng, images) -> Variables:
        rt, rs = jax.random.split(rng)
        x = self.normalize(images)
        teacher_vars = self.init_teacher(rt, x)
        feats = jax.jit(self.teacher_features)(teacher_vars, x)
        params, state = self.init_student(rs, feats)
        return Variables(params=params, model_state=state, frozen={"teacher": teacher_vars})

    def loss(self, params, model_state, frozen, batch: Dict[str, jax.Array], rng, step=None):
        teacher = cached_teacher_features(batch)
        if teacher is None:
            teacher = self.teacher_features(frozen["teacher"], self.normalize(batch["image"]))
        else:  # stored possibly in a narrower dtype; constants, like the teacher's output
            teacher = [jax.lax.stop_gradient(t.astype(self.dtype)) for t in teacher]
        student, new_state = self.student_features(params, model_state, teacher, train=True)
        loss = distillation_loss(self.config.train.loss)(teacher, student)
        return loss, ({"loss": loss}, new_state)

    def anomaly_map(self, variables: Variables, images) -> jax.Array:
        x = self.normalize(images)
        teacher = self.teacher_features(variables.frozen["teacher"], x)
        student, _ = self.student_features(variables.params, variables.model_state, teacher, train=False)
        return self.combine(teacher, student, images.shape[1])
