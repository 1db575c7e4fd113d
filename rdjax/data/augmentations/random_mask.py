"""Random patch masking (two-stage RKD's self-supervised masking), on device.

The image is cut into a grid of ``patch × patch`` cells; each cell is masked
independently with probability ``ratio`` (MAE-style masking, the cells that
do not fit the grid at the bottom/right edge are never masked). Masked pixels
are set to ``fill`` (0 in normalised space = the dataset mean colour).
"""

from typing import Tuple

import jax
import jax.numpy as jnp


def random_patch_mask(key: jax.Array, n: int, height: int, width: int, patch: int,
                      ratio: float) -> jax.Array:
    """(n, height, width) bool, True where masked."""
    if patch < 1 or patch > min(height, width):
        raise ValueError(f"Mask patch size {patch} px does not fit {height}x{width} images.")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"Mask ratio {ratio} must lie in [0, 1].")
    gh, gw = height // patch, width // patch
    cells = jax.random.bernoulli(key, ratio, (n, gh, gw))
    mask = jnp.repeat(jnp.repeat(cells, patch, axis=1), patch, axis=2)
    return jnp.pad(mask, ((0, 0), (0, height - gh * patch), (0, width - gw * patch)))


def mask_patches(key: jax.Array, x: jax.Array, patch: int, ratio: float,
                 fill: float = 0.0) -> Tuple[jax.Array, jax.Array]:
    """(N, H, W, C) → (masked x, (N, H, W) bool mask)."""
    mask = random_patch_mask(key, x.shape[0], x.shape[1], x.shape[2], patch, ratio)
    return jnp.where(mask[..., None], jnp.asarray(fill, x.dtype), x), mask
