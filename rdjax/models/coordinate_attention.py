"""Coordinate attention (Hou, Zhou, Feng, CVPR 2021), NHWC.

``x`` is average-pooled along W (→ one descriptor per row) and along H (→ one
per column); both go through a shared 1×1 conv (C → max(8, C // reduction)) +
BatchNorm + h-swish, are split again, and two 1×1 convs + sigmoid give a row
gate ``a_h`` (N, H, 1, C) and a column gate ``a_w`` (N, 1, W, C). Output
``x · a_h · a_w``: attention that keeps the position along each axis.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from rdjax.models.layers import batch_norm


def hard_swish(x):
    return x * nn.relu6(x + 3.0) / 6.0


class CoordinateAttention(nn.Module):
    reduction: int = 32
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        n, h, w, c = x.shape
        mid = max(8, c // self.reduction)
        rows = jnp.mean(x, axis=2)  # (N, H, C)
        cols = jnp.mean(x, axis=1)  # (N, W, C)
        y = jnp.concatenate([rows, cols], axis=1)[:, :, None, :]  # (N, H+W, 1, C)
        y = nn.Conv(mid, (1, 1), dtype=self.dtype, name="conv1")(y)
        y = hard_swish(batch_norm(train, name="bn1", dtype=self.dtype)(y))
        a_h = nn.sigmoid(nn.Conv(c, (1, 1), dtype=self.dtype, name="conv_h")(y[:, :h]))  # (N,H,1,C)
        a_w = nn.sigmoid(nn.Conv(c, (1, 1), dtype=self.dtype, name="conv_w")(y[:, h:]))  # (N,W,1,C)
        return x * a_h * a_w.transpose(0, 2, 1, 3)
