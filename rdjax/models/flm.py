"""MRKD's feature-level masking (FLM): spatial masks and the generation heads.

After each decoder stage MRKD zeroes a random 20 % of the spatial positions
(``where(rand(N,1,H,W) > 1 − ratio, 0, 1)``: one mask for all channels) and
passes the result through a generation head ``conv3×3 → ReLU → conv3×3``
(bias, same channels); the head's output is what is compared with the
teacher. The next decoder stage still receives the unmasked stage output.
Kernels: kaiming-normal (fan_out, relu) as MRKD's init loop draws them;
biases: PyTorch's default.
"""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from rdjax.models.layers import kaiming_fan_out
from rdjax.models.torch_init import torch_bias_init


def spatial_keep_masks(key: jax.Array, features: Sequence[jax.Array], ratio: float):
    """One (N, H, W, 1) float mask per feature map: 0 at a random ``ratio`` of positions."""
    masks = []
    for k, f in zip(jax.random.split(key, len(features)), features):
        n, h, w, _ = f.shape
        drop = jax.random.uniform(k, (n, h, w, 1)) > 1.0 - ratio
        masks.append(jnp.where(drop, 0.0, 1.0).astype(f.dtype))
    return masks


class GenerationHead(nn.Module):
    channels: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        for i in range(2):
            x = nn.Conv(self.channels, (3, 3), padding=((1, 1), (1, 1)), use_bias=True,
                        kernel_init=kaiming_fan_out, bias_init=torch_bias_init(9 * x.shape[-1]),
                        dtype=self.dtype, name=f"conv{i}")(x)
            if i == 0:
                x = nn.relu(x)
        return x


class GenerationHeads(nn.Module):
    """One head per scale; ``masks`` (from :func:`spatial_keep_masks`) or None = no masking."""

    feature_channels: Sequence[int]
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, features, masks: Optional[Sequence[jax.Array]] = None):
        if masks is not None:
            features = [f * m for f, m in zip(features, masks)]
        return [GenerationHead(c, dtype=self.dtype, name=f"head{i}")(f)
                for i, (c, f) in enumerate(zip(self.feature_channels, features))]
