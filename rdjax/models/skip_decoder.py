"""RD-E's student decoder: the RD decoder plus skip-fusion from the teacher's features.

The three decoder stages are the same ``decoder_stage`` stages as
:class:`rdjax.models.decoder.Decoder` (same names, ``layer1..3``), so the
parameter tree of the stages is the plain decoder's. Before stage 2 and stage 3
the current decoder feature ``d`` (at the resolution of teacher scale ``k``)
is fused with the teacher's features (RD-E, Liu et al. AAAI 2025):

* encoder fusion: ``f_enc = CBR3x3(T_k + CBR1x1(avgpool2x2(T_{k-1})))``
  (``nn.Upsample(scale_factor=0.5, mode='bilinear')`` of an even-sized map is a
  2×2 average);
* Guided Information Injection (``gated=True``, the paper): gate
  ``s = cos_channel(d, T_k)`` (no gradient), ``inj = CBR3x3(f_enc·s + d·(1 − s))``;
  ungated (``gated=False``, what the released code runs, see docs/methods.md):
  ``inj = f_enc``;
* skip fusion: the next stage's input is ``CBR3x3(concat[d, inj])`` (2c → c).

``CBR`` = bias-free conv, BatchNorm, ReLU. Outputs are in the teacher's order
(stride 4, 8, 16), like the plain decoder.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from rdjax.models.decoder import decoder_stage
from rdjax.models.layers import batch_norm, block_expansion, conv

EPS = 1e-8


def similarity_gate(decoder_feat: jax.Array, teacher_feat: jax.Array) -> jax.Array:
    """``s = cos_channel(d, T)`` as (N, h, w, 1), PyTorch ``cosine_similarity`` (eps 1e-8), no gradient."""
    d = jax.lax.stop_gradient(decoder_feat).astype(jnp.float32)
    t = jax.lax.stop_gradient(teacher_feat).astype(jnp.float32)
    dn = jnp.maximum(jnp.linalg.norm(d, axis=-1, keepdims=True), EPS)
    tn = jnp.maximum(jnp.linalg.norm(t, axis=-1, keepdims=True), EPS)
    return jnp.sum((d / dn) * (t / tn), axis=-1, keepdims=True)


def guided_mix(encoder_feat: jax.Array, decoder_feat: jax.Array, gate: jax.Array) -> jax.Array:
    """GII's blend before its 3×3 conv: ``f_enc·s + d·(1 − s)`` (s = 1 → f_enc, s = 0 → d)."""
    gate = gate.astype(decoder_feat.dtype)
    return encoder_feat * gate + decoder_feat * (1 - gate)


class ConvBNReLU(nn.Module):
    """Bias-free k×k conv (kernel ``0``), BatchNorm (``1``), ReLU, like ``Sequential(conv, bn, relu)``."""

    features: int
    kernel: int = 3
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        x = conv(self.features, self.kernel, name="0", dtype=self.dtype)(x)
        return nn.relu(batch_norm(train, name="1", dtype=self.dtype)(x))


class SkipFusionDecoder(nn.Module):
    """Decoder stages with RD-E's encoder fusion, (gated or plain) injection and skip fusion.

    Called as ``(embedding, teacher_feats, train)``; ``teacher_feats`` are the
    teacher's (stride 4, 8, 16) features the OCBE embedded.
    """

    feature_channels: Sequence[int]
    block: str = "bottleneck"
    layers: Sequence[int] = (3, 4, 6)
    width_per_group: int = 64
    final_relu: bool = True
    gated: bool = True
    dtype: Any = jnp.float32

    def _fuse(self, d, t_fine, t_same, k: int, train: bool):
        """Input of the next stage from decoder feature ``d`` at teacher scale ``k`` (1 or 2)."""
        c = self.feature_channels[k]
        down = nn.avg_pool(t_fine.astype(self.dtype), (2, 2), strides=(2, 2))
        down = ConvBNReLU(c, 1, dtype=self.dtype, name=f"downsample_dim{k}")(down, train)
        f_enc = ConvBNReLU(c, 3, dtype=self.dtype, name=f"fuse_encoder{k}")(t_same + down, train)
        if self.gated:
            mixed = guided_mix(f_enc, d, similarity_gate(d, t_same))
            injected = ConvBNReLU(c, 3, dtype=self.dtype, name=f"gii{k}")(mixed, train)
        else:
            injected = f_enc
        return ConvBNReLU(c, 3, dtype=self.dtype, name=f"fuse_skip{k}")(
            jnp.concatenate([d, injected.astype(d.dtype)], axis=-1), train)

    @nn.compact
    def __call__(self, embedding, teacher_feats, train: bool):
        t0, t1, t2 = teacher_feats
        expansion = block_expansion(self.block)
        channels = tuple(reversed(tuple(self.feature_channels)))

        def stage(i, x):
            return decoder_stage(self.block, channels[i] // expansion, self.layers[i],
                                 base_width=self.width_per_group, final_relu=self.final_relu,
                                 dtype=self.dtype, name=f"layer{i + 1}")(x, train)

        fa = stage(0, embedding)                       # c3 @ stride 16
        fb = stage(1, self._fuse(fa, t1, t2, 2, train))  # c2 @ stride 8
        fc = stage(2, self._fuse(fb, t0, t1, 1, train))  # c1 @ stride 4
        return [fc, fb, fa]
