"""A single-category embedding memory (MemAE-style, Gong et al., ICCV 2019), NHWC.

``slots`` trainable prototypes ``m_k`` (C-dim) learn the normal embeddings of
the one category being trained. Each embedding vector ``z`` (every spatial
position) is re-expressed from the memory:

  w = softmax_k(cos(z, m_k) / temperature)
  ŵ = relu(w − λ) · w / (|w − λ| + 1e-12), ŵ /= max(Σ ŵ, 1e-12)   (hard shrinkage, λ = shrink)
  z' = Σ_k ŵ_k m_k

so an embedding that no normal prototype explains is pulled back to normal
ones before decoding. ``shrink = 0`` keeps the dense weights.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def _symmetric_uniform(bound: float):
    """U(±bound): MemAE's ``reset_parameters`` uses bound 1/√C."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def memory_weights(z, memory, temperature: float, shrink: float):
    """(..., C) queries × (K, C) memory → (..., K) addressing weights (shrunk, L1-normalised)."""
    zn = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    mn = memory / jnp.maximum(jnp.linalg.norm(memory, axis=-1, keepdims=True), 1e-12)
    w = nn.softmax((zn @ mn.T) / temperature, axis=-1)
    if shrink > 0:
        w = nn.relu(w - shrink) * w / (jnp.abs(w - shrink) + 1e-12)
        w = w / jnp.maximum(jnp.sum(w, axis=-1, keepdims=True), 1e-12)
    return w


class EmbeddingMemory(nn.Module):
    slots: int = 50
    temperature: float = 0.1
    shrink: float = 0.0025
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z):
        c = z.shape[-1]
        memory = self.param("memory", _symmetric_uniform(1.0 / c ** 0.5), (self.slots, c))
        w = memory_weights(z.astype(jnp.float32), memory, self.temperature, self.shrink)
        return (w @ memory).astype(self.dtype)
