"""The reverse-distillation student decoder ("reverse ResNet", RD4AD's ``de_resnet``).

Three stages take the OCBE embedding back to the teacher's three scales. Each stage is the
encoder's :class:`~rdjax.models.layers.ResLayer` with ``resample=UP``: its first block doubles
the resolution with 2×2 transposed convs in place of the stride-2 conv and shortcut. Outputs
are returned in the teacher's order: [stride 4, stride 8, stride 16].
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from rdjax.models.layers import UP, ResLayer, block_expansion


def decoder_stage(block: str, planes: int, blocks: int, *, base_width: int, final_relu: bool,
                  dtype: Any, name: str) -> ResLayer:
    """One ×2 upsampling stage of ``blocks`` blocks (``de_resnet``'s ``_make_layer``, stride 2)."""
    return ResLayer(block, planes, blocks, stride=2, base_width=base_width, final_relu=final_relu,
                    resample=UP, dtype=dtype, name=name)


class Decoder(nn.Module):
    """``de_resnet``: stages ``layer1`` (→ c3 @ stride 16), ``layer2`` (→ c2), ``layer3`` (→ c1),
    of ``layers[0..2]`` blocks.

    ``final_relu=False`` ends each stage without ReLU, needed when the teacher's
    features are signed (EfficientNet-Lite) rather than post-ReLU (ResNet).
    """

    feature_channels: Sequence[int]
    block: str = "bottleneck"
    layers: Sequence[int] = (3, 4, 6)
    width_per_group: int = 64
    final_relu: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        expansion = block_expansion(self.block)
        outputs = []
        for i, channels in enumerate(reversed(tuple(self.feature_channels))):
            x = decoder_stage(self.block, channels // expansion, self.layers[i],
                              base_width=self.width_per_group, final_relu=self.final_relu,
                              dtype=self.dtype, name=f"layer{i + 1}")(x, train)
            outputs.append(x)
        return outputs[::-1]
