"""EfficientNet-Lite0/1/2 (NHWC), laid out like the ``efficientnet-lite-pytorch`` model.

Lite differs from EfficientNet-B*: ReLU6 instead of swish, no squeeze-excitation,
and the stem (32 channels), the first and last stages' depth and the head (1280
channels) are not scaled. Convolutions use TensorFlow "SAME" padding (asymmetric
for stride 2 on even sizes), BatchNorm has eps 1e-3. Parameter names mirror the
PyTorch state dict (``_blocks.3._depthwise_conv.weight`` →
``_blocks/3/_depthwise_conv/kernel``), so converted weights load 1:1.
Inference only: drop-connect and dropout are not implemented.
"""

import math
from typing import Any, List, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from rdjax.models.layers import BatchNorm

# name -> (width multiplier, depth multiplier), from the TF Lite builder.
LITE_SPECS = {
    "efficientnet_lite0": (1.0, 1.0),
    "efficientnet_lite1": (1.0, 1.1),
    "efficientnet_lite2": (1.1, 1.2),
}
# Base stages: (repeats, kernel, stride, expand ratio, in channels, out channels).
_BASE_STAGES = (
    (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
FEATURE_STRIDES = (4, 8, 16)


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def block_configs(name: str) -> List[Tuple[int, int, int, int, int]]:
    """Per block: (kernel, stride, expand ratio, in channels, out channels)."""
    if name not in LITE_SPECS:
        raise ValueError(f"Unknown EfficientNet-Lite '{name}'; choose one of {sorted(LITE_SPECS)}.")
    width, depth = LITE_SPECS[name]
    blocks = []
    last = len(_BASE_STAGES) - 1
    for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(_BASE_STAGES):
        cin = STEM_CHANNELS if i == 0 else _round_filters(cin, width)
        cout = _round_filters(cout, width)
        repeats = repeats if i in (0, last) else int(math.ceil(depth * repeats))
        for r in range(repeats):
            blocks.append((kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout))
    return blocks


def feature_block_indices(name: str) -> Tuple[int, int, int]:
    """Indices of the last block at each of the strides 4, 8 and 16."""
    stride, last_at = 2, {}
    for i, (_, s, _, _, _) in enumerate(block_configs(name)):
        stride *= s
        last_at[stride] = i
    return tuple(last_at[s] for s in FEATURE_STRIDES)


def efficientnet_lite_feature_channels(name: str) -> Tuple[int, int, int]:
    """Channels of the stride-4/8/16 features, e.g. (24, 40, 112) for Lite0."""
    configs = block_configs(name)
    return tuple(configs[i][4] for i in feature_block_indices(name))


def _bn(train: bool, name: str, dtype: Any) -> BatchNorm:
    # PyTorch momentum 0.01 (TF 0.99), eps 1e-3.
    return BatchNorm(use_running_average=not train, momentum=0.99, epsilon=1e-3, dtype=dtype,
                     name=name)


def _conv(features: int, kernel: int, stride: int = 1, *, name: str, dtype: Any) -> nn.Conv:
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding="SAME",
                   use_bias=False, dtype=dtype, name=name)


def same_padding(size: int, kernel: int, stride: int) -> Tuple[Tuple[int, int], int]:
    """TensorFlow "SAME": ((pad before, pad after), output size) along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return (total // 2, total - total // 2), out


def depthwise_by_taps(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
    """Depthwise k×k "SAME" convolution as a sum of k² shifted, scaled copies of ``x``.

    XLA:CPU runs ``feature_group_count=C`` convolutions 10–30× slower than this
    element-wise form, which it fuses into one loop (measured here, 2026-11-30: a
    16×64×64×96 input, 3×3 stride 2: 44 ms as a grouped convolution, 3.8 ms as taps).
    """
    k = kernel.shape[0]
    (top, bottom), out_h = same_padding(x.shape[1], k, stride)
    (left, right), out_w = same_padding(x.shape[2], k, stride)
    padded = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = None
    for i in range(k):
        for j in range(k):
            window = padded[:, i:i + (out_h - 1) * stride + 1:stride,
                            j:j + (out_w - 1) * stride + 1:stride, :]
            term = window * kernel[i, j, 0]
            out = term if out is None else out + term
    return out


class DepthwiseConv(nn.Module):
    """k×k depthwise "SAME" convolution, parameters as ``nn.Conv(feature_group_count=C)``
    (``kernel`` of shape (k, k, 1, C)); on CPU computed by :func:`depthwise_by_taps`,
    elsewhere by XLA's grouped convolution (cuDNN on GPU)."""

    kernel_size: int
    stride: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (self.kernel_size, self.kernel_size, 1, channels), jnp.float32)
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        if jax.default_backend() == "cpu":
            return depthwise_by_taps(x, kernel, self.stride)
        return jax.lax.conv_general_dilated(
            x, kernel, (self.stride, self.stride), "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=channels)


class MBConvBlock(nn.Module):
    """Inverted residual: [1×1 expand] → k×k depthwise → 1×1 linear projection (+ skip)."""

    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        hidden = self.in_channels * self.expand
        h = x
        if self.expand != 1:
            h = _conv(hidden, 1, name="_expand_conv", dtype=self.dtype)(h)
            h = nn.relu6(_bn(train, "_bn0", self.dtype)(h))
        h = DepthwiseConv(self.kernel, self.stride, dtype=self.dtype, name="_depthwise_conv")(h)
        h = nn.relu6(_bn(train, "_bn1", self.dtype)(h))
        h = _conv(self.out_channels, 1, name="_project_conv", dtype=self.dtype)(h)
        h = _bn(train, "_bn2", self.dtype)(h)
        if self.stride == 1 and self.in_channels == self.out_channels:
            h = h + x
        return h


class _Blocks(nn.Module):
    """The MBConv blocks ``0 … n-1``; returns the last output and the stride-4/8/16 taps."""

    configs: Tuple[Tuple[int, int, int, int, int], ...]
    taps: Tuple[int, ...]
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        features = []
        for i, config in enumerate(self.configs):
            x = MBConvBlock(*config, dtype=self.dtype, name=str(i))(x, train)
            if i in self.taps:
                features.append(x)
        return x, features


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite. ``features_only=True``: the teacher encoder, returning the
    stride-4/8/16 features (blocks after the last of them are not built);
    otherwise the ImageNet classifier returning logits.
    """

    variant: str
    features_only: bool = False
    num_classes: int = 1000
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        configs = tuple(block_configs(self.variant))
        taps = feature_block_indices(self.variant)
        if self.features_only:
            configs = configs[:taps[-1] + 1]
        x = _conv(STEM_CHANNELS, 3, 2, name="_conv_stem", dtype=self.dtype)(x)
        x = nn.relu6(_bn(train, "_bn0", self.dtype)(x))
        x, features = _Blocks(configs, taps, dtype=self.dtype, name="_blocks")(x, train)
        if self.features_only:
            return features
        x = _conv(HEAD_CHANNELS, 1, name="_conv_head", dtype=self.dtype)(x)
        x = nn.relu6(_bn(train, "_bn1", self.dtype)(x))
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, dtype=self.dtype, name="_fc")(x)


def efficientnet_lite_encoder(name: str, dtype: Any = jnp.float32) -> EfficientNetLite:
    block_configs(name)  # validates the name
    return EfficientNetLite(name, features_only=True, dtype=dtype)
