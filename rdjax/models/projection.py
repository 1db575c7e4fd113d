"""RD++'s multi-scale projection layers (``MultiProjectionLayer``), NHWC.

One ``ProjectionLayer`` per teacher scale: four [3×3 conv (bias) →
InstanceNorm (no affine, eps 1e-5, instance statistics at train and test) →
LeakyReLU(0.01)] with channels c → c/2 → c/4 → c/2 → c (integer division).
Resolution is kept. Convs keep PyTorch's default init, as RD++ does.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from rdjax.models.torch_init import torch_bias_init, torch_conv_kernel_init


def instance_norm(x, eps: float = 1e-5):
    """``nn.InstanceNorm2d(affine=False)``: per sample and channel over H, W (biased variance)."""
    x32 = x.astype(jnp.float32)
    mean = jnp.mean(x32, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(x32 - mean), axis=(1, 2), keepdims=True)
    return ((x32 - mean) / jnp.sqrt(var + eps)).astype(x.dtype)


class ProjectionLayer(nn.Module):
    channels: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        c = self.channels
        for i, out in enumerate((c // 2, c // 4, c // 2, c)):
            fan_in = 9 * x.shape[-1]
            x = nn.Conv(out, (3, 3), padding=((1, 1), (1, 1)), use_bias=True,
                        kernel_init=torch_conv_kernel_init, bias_init=torch_bias_init(fan_in),
                        dtype=self.dtype, name=f"conv{i}")(x)
            x = nn.leaky_relu(instance_norm(x), negative_slope=0.01)
        return x


class MultiProjection(nn.Module):
    """One projection per scale; ``features`` is the teacher's list, same order."""

    feature_channels: Sequence[int]
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, features):
        return [ProjectionLayer(c, dtype=self.dtype, name=f"proj{i}")(f)
                for i, (c, f) in enumerate(zip(self.feature_channels, features))]
