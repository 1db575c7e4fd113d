"""Two-stage RKD's bottleneck: mutual-mapping fusion + coordinate attention + memory.

An interpretation of EMMFRKD (Tong, Li, Song, IEEE Trans. Big Data 2024); no
code was published (see docs/methods.md, "Two-stage RKD"):

1. Mutual mapping: every teacher scale i is mapped to every other scale j
   (finer → coarser: stride-2 3×3 conv + BN + ReLU per halving, as RD4AD's
   MFF; coarser → finer: 1×1 conv + BN + ReLU, then bilinear upsampling), and
   ``fused_j = f_j + Σ_{i≠j} softmax(α_j)_i · M_{i→j}(f_i)`` with learned
   per-target weights α_j (zeros at init = equal weights): scales are fused
   inhomogeneously, each target choosing how much of each source it takes.
2. Coordinate attention on each fused scale.
3. RD4AD's OCBE (MFF + one-class embedding stage) on the fused scales.
4. Optionally the single-category embedding memory on the embedding.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from rdjax.models.bottleneck import OCBE
from rdjax.models.coordinate_attention import CoordinateAttention
from rdjax.models.layers import batch_norm, conv
from rdjax.models.memory_bank import EmbeddingMemory


class ScaleMapping(nn.Module):
    """Maps a map ``steps`` scales coarser (> 0: stride-2 convs) or finer (< 0: upsampling)."""

    out_channels: int
    steps: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        if self.steps > 0:
            for k in range(self.steps):
                x = conv(self.out_channels, 3, 2, name=f"down{k}", dtype=self.dtype)(x)
                x = nn.relu(batch_norm(train, name=f"bn{k}", dtype=self.dtype)(x))
            return x
        x = conv(self.out_channels, 1, name="proj", dtype=self.dtype)(x)
        x = nn.relu(batch_norm(train, name="bn", dtype=self.dtype)(x))
        n, h, w, c = x.shape
        factor = 2 ** (-self.steps)
        return jax.image.resize(x, (n, h * factor, w * factor, c), "bilinear")


class MutualMappingFusion(nn.Module):
    feature_channels: Sequence[int]
    attention_reduction: int = 32
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, features, train: bool):
        fused = []
        for j, (f_j, c_j) in enumerate(zip(features, self.feature_channels)):
            sources = [i for i in range(len(features)) if i != j]
            logits = self.param(f"weights{j}", nn.initializers.zeros, (len(sources),))
            weights = nn.softmax(logits)
            out = f_j
            for w, i in zip(weights, sources):
                mapped = ScaleMapping(c_j, j - i, dtype=self.dtype, name=f"map{i}to{j}")(features[i], train)
                out = out + w.astype(mapped.dtype) * mapped
            fused.append(CoordinateAttention(self.attention_reduction, dtype=self.dtype,
                                             name=f"attention{j}")(out, train))
        return fused


class MutualFusionOCBE(nn.Module):
    """Drop-in for ``OCBE``: same call ``(features, train) -> embedding``."""

    feature_channels: Sequence[int]
    block: str = "bottleneck"
    blocks: int = 3
    width_per_group: int = 64
    attention_reduction: int = 32
    memory_slots: int = 50
    memory_temperature: float = 0.1
    memory_shrink: float = 0.0025
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, features, train: bool):
        fused = MutualMappingFusion(self.feature_channels, self.attention_reduction,
                                    dtype=self.dtype, name="fusion")(features, train)
        emb = OCBE(self.feature_channels, self.block, self.blocks, self.width_per_group,
                   dtype=self.dtype, name="ocbe")(fused, train)
        if self.memory_slots > 0:
            emb = EmbeddingMemory(self.memory_slots, self.memory_temperature, self.memory_shrink,
                                  dtype=self.dtype, name="memory")(emb)
        return emb
