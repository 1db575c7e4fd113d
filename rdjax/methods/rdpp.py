"""RD++, "Revisiting Reverse Distillation" (Tien et al., CVPR 2023).

Released code: tientrandinh/Revisiting-Reverse-Distillation.

Data flow: ``student(OCBE(proj(teacher(x))))`` is trained toward the
*unprojected* ``teacher(x)``; the per-scale projection layers
(``rdjax.models.projection``) are trained by the distillation loss and by

  L_proj = (L_ssot + 0.01 · L_recon + 0.1 · L_contrast) / 1.11

on a pseudo-anomalous copy ``x̃`` of each image (one OpenSimplex-noise
rectangle, ``rdjax.data.augmentations.simplex``), summed over the scales k:

* ``L_ssot``: debiased Sinkhorn divergence (``rdjax.methods.sinkhorn``) between
  the batch's ``softmax(flatten(proj(T(x))_k))`` rows and the same rows in a
  random order (as the original does with ``torch.randperm``);
* ``L_recon``: ``mean(1 − cos_channel(proj(T(x̃))_k, proj(T(x))_k))``;
* ``L_contrast``: PyTorch's ``CosineEmbeddingLoss(margin, target=−1)`` between
  flattened ``T(x̃)_k`` and ``proj(T(x))_k``: ``mean(max(0, cos − margin))``,
  margin −0.5 in the released code.

Loss ``L_distill + 0.2 · L_proj``. Optimisers (``optimizer()``): Adam 1e-3 on
the projection, Adam 5e-3 on OCBE + decoder (betas from ``config.train``),
wrapped in ``optax.MultiSteps``: gradients of ``grad_accumulation``
consecutive steps are averaged and both Adams step once. Anomaly map: RD4AD's
between ``teacher(x)`` and ``student(OCBE(proj(teacher(x))))``.
"""

import functools
from typing import Tuple

import jax
import jax.numpy as jnp
import optax

from rdjax.core.anomaly_map import cosine_distance
from rdjax.data.augmentations import simplex
from rdjax.methods.base import Variables
from rdjax.methods.losses import distillation_loss
from rdjax.methods.rd4ad import RD4AD
from rdjax.methods.sinkhorn import sinkhorn_divergence
from rdjax.models.projection import MultiProjection


def flat(f):
    return f.reshape(f.shape[0], -1).astype(jnp.float32)


def ssot_loss(projected, perm, blur=0.05, scaling=0.95, diameter=1e7) -> jax.Array:
    """Σ_k S_ε(softmax(flat P_k), softmax(flat P_k)[perm])."""
    total = 0.0
    for p in projected:
        s = jax.nn.softmax(flat(p), axis=-1)
        total = total + sinkhorn_divergence(s, s[perm], blur, scaling, diameter)
    return total


def reconstruction_loss(projected_noisy, projected) -> jax.Array:
    """Σ_k mean over batch and pixels of (1 − channel cosine)."""
    return sum(jnp.mean(cosine_distance(pn, p)) for pn, p in zip(projected_noisy, projected))


def contrast_loss(teacher_noisy, projected, margin: float) -> jax.Array:
    """Σ_k mean_b max(0, cos(flat T(x̃)_k, flat P_k) − margin)  (CosineEmbeddingLoss, target −1)."""
    total = 0.0
    for t, p in zip(teacher_noisy, projected):
        cos = 1.0 - cosine_distance(flat(t)[:, None, :], flat(p)[:, None, :])[:, 0]
        total = total + jnp.mean(jnp.maximum(0.0, cos - margin))
    return total


def parameter_groups(params):
    """'projection' for the projection layers, 'student' for everything else."""
    return {k: jax.tree_util.tree_map(lambda _: "projection" if k == "projection" else "student", v)
            for k, v in params.items()}


@functools.lru_cache(maxsize=4)
def noise_block(seed: int, shape: Tuple[int, int, int]) -> jax.Array:
    """The fractal simplex noise RD++ cuts its rectangles from. Computed once per process for
    each seed and shape (op by op it takes ~4 s on 2 cores; jitted, longer): a sweep or a
    test session builds RD++ many times."""
    return simplex.fractal_noise(simplex.permutation_from_seed(seed), shape)


class RDPP(RD4AD):
    """RD4AD with projection layers, simplex-noise pseudo-anomalies and the multi-task loss."""

    caches_teacher_features = False  # its own loss (rdjax/train/feature_cache.py)

    def __init__(self, config):
        if "rdpp" not in config:
            raise ValueError("config.rdpp is missing: start from configs/rdpp.py.")
        super().__init__(config)
        o = config.rdpp
        size = config.dataset.image_size
        self.noise_sizes = (o.noise_min_size, o.noise_max_size if o.noise_max_size > 0 else size // 8)
        if not 0 < self.noise_sizes[0] < self.noise_sizes[1] <= size - 2:
            raise ValueError(f"config.rdpp.noise_min_size/noise_max_size give sides "
                             f"U{{{self.noise_sizes[0]}…{self.noise_sizes[1] - 1}}}, which do not fit "
                             f"{size} px images (noise_max_size=0 means image_size // 8).")
        if o.grad_accumulation < 1:
            raise ValueError(f"config.rdpp.grad_accumulation={o.grad_accumulation} must be >= 1.")
        self.projection = MultiProjection(self.nets.spec.feature_channels, dtype=self.dtype)
        block = (3, self.noise_sizes[1], self.noise_sizes[1])
        # One noise pattern for the run, as the original (one Simplex_CLASS per dataset).
        self.noise_block = noise_block(o.noise_seed, block)

    def normalize_unit(self, x01):
        """[0, 1] float images → the teacher's input normalisation."""
        spec = self.nets.spec
        x = (x01 - jnp.asarray(spec.mean, jnp.float32)) / jnp.asarray(spec.std, jnp.float32)
        return x.astype(self.dtype)

    def project(self, params, feats):
        return self.projection.apply({"params": params["projection"]}, feats)

    def init(self, rng, images) -> Variables:
        r_base, r_proj = jax.random.split(rng)
        variables = super().init(r_base, images)
        proj = self.init_on_teacher_features(self.projection, r_proj, variables.frozen["teacher"],
                                             images)
        return variables.replace(params={**variables.params, "projection": proj})

    def loss(self, params, model_state, frozen, batch, rng, step=None):
        o = self.config.rdpp
        k_noise, k_perm = jax.random.split(rng)
        x01 = batch["image"].astype(jnp.float32) / 255.0
        noisy01, _ = simplex.noise_rectangles(k_noise, x01, self.noise_block, *self.noise_sizes,
                                              scale=o.noise_scale)
        teacher = self.teacher_features(frozen["teacher"], self.normalize_unit(x01))
        teacher_noisy = self.teacher_features(frozen["teacher"], self.normalize_unit(noisy01))
        projected = self.project(params, teacher)
        projected_noisy = self.project(params, teacher_noisy)
        student, new_state = self.student_features(params, model_state, projected, train=True)
        distill = distillation_loss(self.config.train.loss)(teacher, student)
        perm = jax.random.permutation(k_perm, x01.shape[0])
        ssot = ssot_loss(projected, perm, o.sinkhorn_blur, o.sinkhorn_scaling, o.sinkhorn_diameter)
        recon = reconstruction_loss(projected_noisy, projected)
        contrast = contrast_loss(teacher_noisy, projected, o.contrast_margin)
        proj = (ssot + 0.01 * recon + 0.1 * contrast) / 1.11
        loss = distill + o.proj_weight * proj
        metrics = {"loss": loss, "distill": distill, "proj": proj, "ssot": ssot, "recon": recon,
                   "contrast": contrast}
        return loss, (metrics, new_state)

    def anomaly_map(self, variables: Variables, images) -> jax.Array:
        teacher = self.teacher_features(variables.frozen["teacher"], self.normalize(images))
        projected = self.project(variables.params, teacher)
        student, _ = self.student_features(variables.params, variables.model_state, projected,
                                           train=False)
        return self.combine(teacher, student, images.shape[1])

    def optimizer(self) -> optax.GradientTransformation:
        t, o = self.config.train, self.config.rdpp
        groups = optax.multi_transform(
            {"projection": optax.adam(o.projection_learning_rate, b1=t.b1, b2=t.b2),
             "student": optax.adam(t.learning_rate, b1=t.b1, b2=t.b2)},
            parameter_groups)
        if o.grad_accumulation == 1:
            return groups
        return optax.MultiSteps(groups, every_k_schedule=o.grad_accumulation).gradient_transformation()
