"""RD++'s pseudo-anomalies: rectangles of fractal 3-D OpenSimplex noise, on device.

RD++ (``dataset/dataset.py``) adds to every training image, in [0, 1] space
before normalisation and without clipping, one rectangle of
``0.2 · fractal_noise((3, h, w), octaves=6, persistence=0.6, frequency=32)``
with ``h, w ~ U{10 … size//8 − 1}`` and top-left corner ``~ U{1 … size − h − 1}``.
Channel ``c`` of the noise is the slice ``z = c`` of the 3-D noise; pixel
``(i, j)`` of the rectangle samples the noise at ``(x, y) = (j, i)`` (the
noise grid always starts at the origin, so a rectangle is the top-left
``h × w`` crop of one fixed noise block).

The original builds one ``Simplex_CLASS`` per dataset, so every image gets
the *same* noise pattern (one permutation table for the run) and only the
rectangle's size and place change; :func:`fractal_noise` with
:func:`permutation_from_seed` reproduces that, and a per-image permutation
(``jax.random.permutation``) is the other choice.

Noise: OpenSimplex (K. Spencer's 3-D algorithm, as in the ``opensimplex``
package that RD++ copied) evaluated by summing the kernel of every lattice
vertex within reach of the point — the 26 vertex offsets listed in
``_VERTEX_OFFSETS`` — instead of the original's branchy vertex selection. The
original skips a few vertices whose kernel barely reaches the point, so the
two differ by < 1e-4 at about 4 % of points (values are of order 1); the
tests check this against values of the ``opensimplex`` package.
"""

import itertools
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

STRETCH_3 = -1.0 / 6.0  # (1/sqrt(3+1) - 1)/3
SQUISH_3 = 1.0 / 3.0  # (sqrt(3+1) - 1)/3
NORM_3 = 103.0


def _gradients3() -> np.ndarray:
    """OpenSimplex's 24 gradients: for each sign pattern, (11,4,4), (4,11,4), (4,4,11)."""
    rows = []
    for sz in (1, -1):
        for sy in (1, -1):
            for sx in (-1, 1):
                s = np.array([sx, sy, sz])
                rows += [s * (11, 4, 4), s * (4, 11, 4), s * (4, 4, 11)]
    return np.array(rows, np.int32)


GRADIENTS3 = _gradients3()

# Lattice offsets (in skewed coordinates, from the floor of the skewed point)
# whose kernel 2 - |d|^2 can be positive: 0 <= sum <= 3 and spread <= 2.
_VERTEX_OFFSETS = np.array([o for o in itertools.product(range(-1, 3), repeat=3)
                            if 0 <= sum(o) <= 3 and max(o) - min(o) <= 2], np.int32)


def permutation_from_seed(seed: int) -> np.ndarray:
    """OpenSimplex's 256-entry permutation for an integer seed (its 64-bit LCG shuffle)."""
    mask = (1 << 64) - 1

    def step(s):  # s * 6364136223846793005 + 1442695040888963407, wrapped to int64
        s = (s * 6364136223846793005 + 1442695040888963407) & mask
        return s - (1 << 64) if s >= (1 << 63) else s

    s = int(seed)
    for _ in range(3):
        s = step(s)
    source = list(range(256))
    perm = np.zeros(256, np.int32)
    for i in range(255, -1, -1):
        s = step(s)
        r = (s + 31) % (i + 1)  # Python's % is already non-negative here
        perm[i] = source[r]
        source[r] = source[i]
    return perm


def open_simplex3(x: jax.Array, y: jax.Array, z: jax.Array, perm: jax.Array) -> jax.Array:
    """3-D OpenSimplex noise at points ``(x, y, z)`` (broadcast arrays) for ``perm`` (256,)."""
    x, y, z = (jnp.asarray(v, jnp.float32) for v in (x, y, z))
    perm = jnp.asarray(perm, jnp.int32)
    grads = jnp.asarray(GRADIENTS3, jnp.float32)
    stretch = (x + y + z) * STRETCH_3
    base = [jnp.floor(v + stretch).astype(jnp.int32) for v in (x, y, z)]
    value = jnp.zeros(jnp.broadcast_shapes(x.shape, y.shape, z.shape), jnp.float32)
    for off in _VERTEX_OFFSETS:
        v = [b + int(o) for b, o in zip(base, off)]
        squish = (v[0] + v[1] + v[2]).astype(jnp.float32) * SQUISH_3
        d = [p - (vi.astype(jnp.float32) + squish) for p, vi in zip((x, y, z), v)]
        attn = 2.0 - (d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        h = perm[(perm[(perm[v[0] & 255] + v[1]) & 255] + v[2]) & 255]
        g = grads[h % 24]
        dot = g[..., 0] * d[0] + g[..., 1] * d[1] + g[..., 2] * d[2]
        attn = jnp.maximum(attn, 0.0)
        value = value + (attn * attn) * (attn * attn) * dot
    return value / NORM_3


def fractal_noise(perm: jax.Array, shape: Tuple[int, int, int], octaves: int = 6,
                  persistence: float = 0.6, frequency: float = 32.0) -> jax.Array:
    """RD++'s ``rand_3d_octaves``: Σ_k persistence^k · noise(coords / (frequency / 2^k)).

    ``shape = (depth, height, width)``; coordinates are ``arange`` along each
    axis; returns float32 of that shape.
    """
    d, h, w = shape
    z = jnp.arange(d, dtype=jnp.float32)[:, None, None]
    y = jnp.arange(h, dtype=jnp.float32)[None, :, None]
    x = jnp.arange(w, dtype=jnp.float32)[None, None, :]
    noise = jnp.zeros(shape, jnp.float32)
    amplitude = 1.0
    for _ in range(octaves):
        noise = noise + amplitude * open_simplex3(x / frequency, y / frequency, z / frequency, perm)
        frequency /= 2.0
        amplitude *= persistence
    return noise


def noise_rectangles(key: jax.Array, images: jax.Array, noise: jax.Array, min_size: int,
                     max_size: int, scale: float = 0.2) -> Tuple[jax.Array, jax.Array]:
    """Adds ``scale · noise`` inside one random rectangle per image.

    Args:
      images: (N, H, W, C) float images in [0, 1].
      noise: (C', S, S) noise blocks with S >= max_size - 1 and C' >= C, shared
        by all images, or (N, C', S, S) one block per image.
      min_size, max_size: rectangle side ~ U{min_size … max_size − 1} (per axis).
    Returns:
      ``(noisy images, (N, H, W) bool mask of the rectangles)``.
    """
    n, height, width, channels = images.shape
    if not 0 < min_size < max_size or max_size - 1 > min(height - 2, noise.shape[-1]):
        raise ValueError(f"Noise rectangle sides U{{{min_size}…{max_size - 1}}} do not fit "
                         f"{height}x{width} images / a {noise.shape[-1]} px noise block.")
    kh, kw, kt, kl = jax.random.split(key, 4)
    h = jax.random.randint(kh, (n,), min_size, max_size)
    w = jax.random.randint(kw, (n,), min_size, max_size)
    top = jax.random.randint(kt, (n,), 1, height - h)
    left = jax.random.randint(kl, (n,), 1, width - w)
    rows = jnp.arange(height)[None, :, None] - top[:, None, None]  # (N, H, 1)
    cols = jnp.arange(width)[None, None, :] - left[:, None, None]  # (N, 1, W)
    inside = (rows >= 0) & (rows < h[:, None, None]) & (cols >= 0) & (cols < w[:, None, None])
    size = noise.shape[-1]
    r = jnp.clip(rows, 0, size - 1)
    c = jnp.clip(cols, 0, size - 1)
    block = jnp.moveaxis(noise[..., :channels, :, :], -3, -1)  # (..., S, S, C)
    if block.ndim == 3:
        patch = block[r, c]  # (N, H, W, C)
    else:
        patch = jax.vmap(lambda b, rr, cc: b[rr, cc])(block, r, c)
    noisy = images + jnp.where(inside[..., None], scale * patch, 0.0).astype(images.dtype)
    return noisy, inside
