"""Distillation losses shared by the RD family. Features are lists of NHWC arrays."""

from typing import Sequence

import jax
import jax.numpy as jnp

EPS = 1e-8


def _cosine(a: jax.Array, b: jax.Array, axis) -> jax.Array:
    """PyTorch ``F.cosine_similarity`` along ``axis`` (norms clamped at 1e-8), in float32 or
    wider (bfloat16 features are summed in float32; float64 stays float64)."""
    dtype = jnp.promote_types(jnp.promote_types(a.dtype, b.dtype), jnp.float32)
    a = a.astype(dtype)
    b = b.astype(dtype)
    dot = jnp.sum(a * b, axis=axis)
    na = jnp.maximum(jnp.sqrt(jnp.sum(a * a, axis=axis)), EPS)
    nb = jnp.maximum(jnp.sqrt(jnp.sum(b * b, axis=axis)), EPS)
    return dot / (na * nb)


def flattened_cosine_loss(teacher: Sequence[jax.Array], student: Sequence[jax.Array]) -> jax.Array:
    """RD4AD's released loss: Σ_scales mean_batch(1 − cos(flatten(T[b]), flatten(S[b])))."""
    total = 0.0
    for t, s in zip(teacher, student):
        total = total + jnp.mean(1.0 - _cosine(t, s, axis=(1, 2, 3)))
    return total


def per_pixel_cosine_loss(teacher: Sequence[jax.Array], student: Sequence[jax.Array]) -> jax.Array:
    """The paper's loss: Σ_scales mean over batch and pixels of (1 − channel cosine)."""
    total = 0.0
    for t, s in zip(teacher, student):
        total = total + jnp.mean(1.0 - _cosine(t, s, axis=-1))
    return total


DISTILLATION_LOSSES = {
    "flattened": flattened_cosine_loss,
    "per_pixel": per_pixel_cosine_loss,
}


def distillation_loss(kind: str):
    if kind not in DISTILLATION_LOSSES:
        raise ValueError(f"config.train.loss='{kind}' is unknown; choose one of "
                         f"{sorted(DISTILLATION_LOSSES)}.")
    return DISTILLATION_LOSSES[kind]
