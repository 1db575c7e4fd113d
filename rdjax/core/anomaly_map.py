"""Anomaly maps from teacher/student feature pairs, as in RD4AD's ``test.py``.

Per scale the map is ``1 - cos(teacher, student)`` over channels, upsampled to
the image size with PyTorch's bilinear ``align_corners=True`` rule; the scales
are summed (or multiplied) and smoothed with ``scipy.ndimage.gaussian_filter``
(sigma 4, truncate 4, mode ``'reflect'``). The image score is the map's maximum.

Everything is NHWC, float32 and jit-able: interpolation indices/weights and the
Gaussian kernel depend only on static shapes and are built with numpy at trace
time, then applied as gathers plus elementwise arithmetic (no matmuls, so the
result does not depend on the accelerator's matmul precision).
"""

import functools
from typing import Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

Size = Union[int, Tuple[int, int]]
COMBINE_MODES = ("add", "mul")  # config.eval.combine: sum or product of the scales' maps


@jax.jit
def cosine_distance(teacher_feat: jax.Array, student_feat: jax.Array,
                    eps: float = 1e-8) -> jax.Array:
    """``1 - torch.nn.functional.cosine_similarity(t, s, dim=channel, eps)``.

    (N, h, w, C) × 2 → (N, h, w) float32. Like PyTorch, each vector is divided
    by its own L2 norm clamped from below at ``eps`` before the dot product
    (so a zero vector has similarity 0, distance 1). Inputs of any float dtype
    are computed in float32.
    """
    t = jnp.asarray(teacher_feat, jnp.float32)
    s = jnp.asarray(student_feat, jnp.float32)
    t_norm = jnp.maximum(jnp.linalg.norm(t, axis=-1, keepdims=True), eps)
    s_norm = jnp.maximum(jnp.linalg.norm(s, axis=-1, keepdims=True), eps)
    return 1.0 - jnp.sum((t / t_norm) * (s / s_norm), axis=-1)


def _align_corners_taps(in_size: int, out_size: int):
    """Source indices ``i0, i1`` and weight ``lam`` of ``i1`` for one axis.

    Mirrors PyTorch's float32 arithmetic: ``scale = (in-1)/(out-1)`` (0 when
    ``out == 1``), ``src = scale * i``, ``i0 = floor(src)``,
    ``i1 = min(i0 + 1, in - 1)``, ``lam = src - i0``.
    """
    scale = (np.float32(in_size - 1) / np.float32(out_size - 1) if out_size > 1
             else np.float32(0))
    src = scale * np.arange(out_size, dtype=np.float32)
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam = (src - i0.astype(np.float32)).astype(np.float32)
    return i0, i1, lam


def _as_hw(size: Size) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


@functools.partial(jax.jit, static_argnames=("size",))
def resize_bilinear_align_corners(maps: jax.Array, size: Size) -> jax.Array:
    """PyTorch ``F.interpolate(mode='bilinear', align_corners=True)`` of (N, h, w) maps.

    ``size`` is an int (square) or ``(H, W)``; returns (N, H, W) float32. Corner
    pixels of input and output coincide; every output pixel is the bilinear
    blend of its (at most) four nearest input pixels, width first then height
    as PyTorch does.
    """
    maps = jnp.asarray(maps, jnp.float32)
    out_h, out_w = _as_hw(size)
    i0, i1, lam = _align_corners_taps(maps.shape[2], out_w)
    maps = maps[:, :, i0] * (1.0 - lam) + maps[:, :, i1] * lam
    i0, i1, lam = _align_corners_taps(maps.shape[1], out_h)
    lam = lam[:, None]
    return maps[:, i0, :] * (1.0 - lam) + maps[:, i1, :] * lam


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """scipy's normalised 1-D Gaussian: ``radius = int(truncate * sigma + 0.5)`` taps each side."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (float(sigma) ** 2) * x ** 2)
    return phi / phi.sum()


def _reflect_indices(size: int, radius: int) -> np.ndarray:
    """Indices of ``arange(-radius, size + radius)`` under scipy's ``'reflect'`` mode.

    ``'reflect'`` is half-sample symmetric (``d c b a | a b c d | d c b a``) and
    repeats with period ``2 * size`` when the radius exceeds the size.
    """
    p = np.mod(np.arange(-radius, size + radius), 2 * size)
    return np.where(p >= size, 2 * size - 1 - p, p)


def _blur_axis(maps: jax.Array, kernel: np.ndarray, axis: int) -> jax.Array:
    """Correlate ``maps`` with ``kernel`` along ``axis`` (1 or 2) with reflect padding."""
    size = maps.shape[axis]
    radius = (len(kernel) - 1) // 2
    padded = jnp.take(maps, _reflect_indices(size, radius), axis=axis)
    out = jnp.zeros_like(maps)
    for k, weight in enumerate(kernel.astype(np.float32)):
        out = out + weight * jax.lax.slice_in_dim(padded, k, k + size, axis=axis)
    return out


@functools.partial(jax.jit, static_argnames=("sigma", "truncate"))
def gaussian_blur(maps: jax.Array, sigma: float = 4.0, truncate: float = 4.0) -> jax.Array:
    """``scipy.ndimage.gaussian_filter(m, sigma, mode='reflect', truncate=truncate)`` per map.

    (N, H, W) → (N, H, W) float32, separable (height then width, like scipy).
    Sigma 4 with truncate 4 is a 33-tap kernel. Costs O(taps · N·H·W).
    """
    kernel = gaussian_kernel1d(sigma, truncate)
    maps = jnp.asarray(maps, jnp.float32)
    return _blur_axis(_blur_axis(maps, kernel, axis=1), kernel, axis=2)


@functools.partial(jax.jit, static_argnames=("image_size", "combine", "sigma"))
def anomaly_map(teacher_feats: Sequence[jax.Array], student_feats: Sequence[jax.Array],
                image_size: Size, combine: str = "add",
                sigma: Optional[float] = 4.0) -> jax.Array:
    """RD4AD's anomaly map from per-scale (N, h_i, w_i, C_i) teacher/student features.

    Each scale's cosine distance is upsampled (align_corners) to ``image_size``
    (int or ``(H, W)``), then the scales are combined by ``'add'`` (sum, the
    RD4AD default) or ``'mul'`` (product), and smoothed with a Gaussian of
    ``sigma`` (``0`` or ``None``: no smoothing). Returns (N, H, W) float32.
    """
    if combine not in COMBINE_MODES:
        raise ValueError(f"combine must be 'add' or 'mul', got {combine!r}")
    if len(teacher_feats) != len(student_feats) or not teacher_feats:
        raise ValueError("need the same, non-zero number of teacher and student scales")
    total = None
    for t, s in zip(teacher_feats, student_feats):
        scale_map = resize_bilinear_align_corners(cosine_distance(t, s), image_size)
        if total is None:
            total = scale_map
        elif combine == "add":
            total = total + scale_map
        else:
            total = total * scale_map
    if sigma:
        total = gaussian_blur(total, sigma)
    return total


@jax.jit
def image_scores(maps: jax.Array) -> jax.Array:
    """Image-level anomaly score: the maximum of each (N, H, W) map → (N,)."""
    return jnp.max(maps, axis=(1, 2))
