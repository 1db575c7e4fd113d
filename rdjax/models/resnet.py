"""ResNet-family encoders in torchvision's layout, returning layer1–layer3 features.

The parameter tree mirrors torchvision's state-dict keys (``layer1/0/conv1/kernel``
for ``layer1.0.conv1.weight``), so converted torchvision checkpoints load 1:1.
layer4 is never built: the RD family only uses layers 1–3.
"""

from typing import Any, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from rdjax.models.layers import ResLayer, batch_norm, block_expansion, conv

# name -> (block, blocks per layer, width_per_group)
RESNET_SPECS = {
    # Not a torchvision model and without ImageNet weights: ResNet-18 with one block per layer,
    # the smallest network each method builds and trains (tests and smoke runs compile it fast).
    "resnet10": ("basic", (1, 1, 1, 1), 64),
    "resnet18": ("basic", (2, 2, 2, 2), 64),
    "resnet34": ("basic", (3, 4, 6, 3), 64),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 64),
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), 128),
    "wide_resnet101_2": ("bottleneck", (3, 4, 23, 3), 128),
}


class ResNetEncoder(nn.Module):
    """conv1 → bn1 → relu → maxpool → layer1 → layer2 → layer3.

    Returns the three layer outputs at strides 4, 8 and 16.
    """

    block: str
    layers: Sequence[int]
    width_per_group: int = 64
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = conv(64, 7, 2, name="conv1", dtype=self.dtype)(x)
        x = nn.relu(batch_norm(train, name="bn1", dtype=self.dtype)(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        features = []
        for i, (planes, stride) in enumerate(zip((64, 128, 256), (1, 2, 2))):
            x = ResLayer(self.block, planes, self.layers[i], stride=stride,
                         base_width=self.width_per_group, dtype=self.dtype,
                         name=f"layer{i + 1}")(x, train)
            features.append(x)
        return features


def resnet_encoder(name: str, dtype: Any = jnp.float32) -> ResNetEncoder:
    if name not in RESNET_SPECS:
        raise ValueError(f"Unknown ResNet '{name}'; choose one of {sorted(RESNET_SPECS)}.")
    block, layers, width = RESNET_SPECS[name]
    return ResNetEncoder(block, layers, width, dtype=dtype)


def resnet_feature_channels(name: str) -> Tuple[int, int, int]:
    """Channels of layer1–3 for a ResNet: (64, 128, 256) × block expansion."""
    expansion = block_expansion(RESNET_SPECS[name][0])
    return (64 * expansion, 128 * expansion, 256 * expansion)
