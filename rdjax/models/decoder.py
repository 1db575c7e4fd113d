"""The reverse-distillation student decoder ("reverse ResNet", RD4AD's ``de_resnet``).

Three stride-2 upsampling stages take the OCBE embedding back to the teacher's
three scales. Stride-2 blocks replace their 3×3 conv with a 2×2 transposed conv
and their shortcut with ``ConvTranspose2x2 + BN``. Outputs are returned in the
teacher's order: [stride 4, stride 8, stride 16].
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from rdjax.models.layers import BLOCKS, ConvBN, ConvTranspose2x2, batch_norm, conv


class DeBasicBlock(nn.Module):
    planes: int
    stride: int = 1
    upsample: bool = False
    groups: int = 1
    base_width: int = 64
    final_relu: bool = True
    dtype: Any = jnp.float32
    expansion = 1

    @nn.compact
    def __call__(self, x, train: bool):
        identity = x
        if self.stride == 2:
            out = ConvTranspose2x2(self.planes, dtype=self.dtype, name="conv1")(x)
        else:
            out = conv(self.planes, 3, name="conv1", dtype=self.dtype)(x)
        out = nn.relu(batch_norm(train, name="bn1", dtype=self.dtype)(out))
        out = conv(self.planes, 3, name="conv2", dtype=self.dtype)(out)
        out = batch_norm(train, name="bn2", dtype=self.dtype)(out)
        if self.upsample:
            identity = ConvBN(self.planes, transpose=True, dtype=self.dtype, name="upsample")(x, train)
        out = out + identity
        return nn.relu(out) if self.final_relu else out


class DeBottleneck(nn.Module):
    planes: int
    stride: int = 1
    upsample: bool = False
    groups: int = 1
    base_width: int = 64
    final_relu: bool = True
    dtype: Any = jnp.float32
    expansion = 4

    @nn.compact
    def __call__(self, x, train: bool):
        width = int(self.planes * (self.base_width / 64.0)) * self.groups
        identity = x
        out = conv(width, 1, name="conv1", dtype=self.dtype)(x)
        out = nn.relu(batch_norm(train, name="bn1", dtype=self.dtype)(out))
        if self.stride == 2:
            out = ConvTranspose2x2(width, dtype=self.dtype, name="conv2")(out)
        else:
            out = conv(width, 3, groups=self.groups, name="conv2", dtype=self.dtype)(out)
        out = nn.relu(batch_norm(train, name="bn2", dtype=self.dtype)(out))
        out = conv(self.planes * 4, 1, name="conv3", dtype=self.dtype)(out)
        out = batch_norm(train, name="bn3", dtype=self.dtype)(out)
        if self.upsample:
            identity = ConvBN(self.planes * 4, transpose=True, dtype=self.dtype, name="upsample")(x, train)
        out = out + identity
        return nn.relu(out) if self.final_relu else out


DE_BLOCKS = {"basic": DeBasicBlock, "bottleneck": DeBottleneck}


class DeResLayer(nn.Module):
    """Decoder stage: the first block upsamples ×2, the rest keep resolution."""

    block: str
    planes: int
    blocks: int
    base_width: int = 64
    final_relu: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        block_cls = DE_BLOCKS[self.block]
        for i in range(self.blocks):
            stride = 2 if i == 0 else 1
            x = block_cls(self.planes, stride=stride, upsample=i == 0, base_width=self.base_width,
                          final_relu=self.final_relu or i < self.blocks - 1,
                          dtype=self.dtype, name=str(i))(x, train)
        return x


class Decoder(nn.Module):
    """``de_resnet``: stages ``layer1`` (→ c3 @ stride 16), ``layer2`` (→ c2), ``layer3`` (→ c1).

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
        expansion = BLOCKS[self.block].expansion
        outputs = []
        for i, channels in enumerate(reversed(tuple(self.feature_channels))):
            x = DeResLayer(self.block, channels // expansion, self.layers[i],
                           base_width=self.width_per_group, final_relu=self.final_relu,
                           dtype=self.dtype, name=f"layer{i + 1}")(x, train)
            outputs.append(x)
        return outputs[::-1]
