"""Building blocks shared by encoders, the bottleneck and decoders.

One definition of each residual block serves both directions: the conv that changes the
resolution is injected (``resample``: :data:`DOWN` strided convs for encoders and the OCBE,
:data:`UP` 2×2 transposed convs for RD4AD's decoder). All modules are NHWC. Parameter names
follow torchvision and RD4AD (``conv1``, ``bn1``, ``downsample/0``, ``upsample/0`` ...) so that
a PyTorch state dict maps onto the Flax tree by splitting its keys at the dots.
"""

import dataclasses
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# torchvision's ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``.
kaiming_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def conv(features: int, kernel: int, stride: int = 1, *, groups: int = 1, name: str,
         dtype: Any = jnp.float32, kernel_init=kaiming_fan_out) -> nn.Conv:
    """A bias-free k×k convolution with PyTorch's symmetric ``k // 2`` padding."""
    pad = kernel // 2
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                   padding=((pad, pad), (pad, pad)), feature_group_count=groups,
                   use_bias=False, kernel_init=kernel_init, dtype=dtype, name=name)


class BatchNorm(nn.Module):
    """PyTorch's ``BatchNorm2d`` over the last (channel) axis.

    The variables are those of ``flax.linen.BatchNorm`` (params ``scale``/``bias``,
    batch_stats ``mean``/``var``, so checkpoints and weight conversion are unchanged) and so
    is the normalisation (statistics in at least float32, ``var = E[x²] − E[x]²``). The one
    difference is the running variance: PyTorch stores the *unbiased* batch variance
    (× n/(n−1), n = values per channel in the batch), Flax the biased one, so Flax's test-time
    statistics drift from PyTorch's (0.1 % per update at 256 px, far more for small maps or
    batches). ``momentum`` follows Flax: ``new = momentum·old + (1 − momentum)·batch``.
    On several devices the batch is the global one (jit reduces over the sharded axis).
    """

    use_running_average: bool
    momentum: float = 0.9
    epsilon: float = 1e-5
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, (channels,), jnp.float32)
        running_var = self.variable("batch_stats", "var", jnp.ones, (channels,), jnp.float32)
        scale = self.param("scale", nn.initializers.ones, (channels,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (channels,), jnp.float32)
        if self.use_running_average:
            mean, var = running_mean.value, running_var.value
        else:
            stats_dtype = jnp.promote_types(x.dtype, jnp.float32)
            xs = x.astype(stats_dtype)
            axes = tuple(range(x.ndim - 1))
            mean = xs.mean(axes)
            var = jnp.maximum(0.0, jnp.square(xs).mean(axes) - jnp.square(mean))
            if not self.is_initializing():
                n = x.size // channels
                unbiased = var * (n / max(n - 1, 1))
                m = self.momentum
                running_mean.value = m * running_mean.value + (1 - m) * mean
                running_var.value = m * running_var.value + (1 - m) * unbiased
        y = (x - mean) * (jax.lax.rsqrt(var + self.epsilon) * scale) + bias
        return y.astype(self.dtype)


def batch_norm(train: bool, *, name: str, dtype: Any = jnp.float32) -> BatchNorm:
    """BatchNorm with PyTorch's defaults (momentum 0.1 there is 0.9 here, eps 1e-5)."""
    return BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype,
                     name=name)


def _torch_deconv_init(key, shape, dtype=jnp.float32):
    """PyTorch's default ``ConvTranspose2d`` init: U(±1/sqrt(out_channels · kH · kW))."""
    kh, kw, _, cout = shape
    bound = 1.0 / jnp.sqrt(cout * kh * kw)
    return jax.random.uniform(key, shape, dtype, -bound, bound)


class ConvTranspose2x2(nn.Module):
    """``ConvTranspose2d(kernel_size=2, stride=2, bias=False)`` as one matmul + pixel shuffle.

    Each input pixel emits a disjoint 2×2 output block, so the transposed conv is
    exactly ``out[2i+a, 2j+b, o] = Σ_c x[i, j, c] · kernel[a, b, c, o]``. Written
    as a dense layer followed by a depth-to-space reshape it runs about 3× faster
    backward on CPU than ``nn.ConvTranspose`` and is a plain GEMM on GPU/TPU.
    PyTorch's weight ``W[c, o, a, b]`` converts as ``W.transpose(2, 3, 0, 1)``.
    """

    features: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        n, h, w, cin = x.shape
        kernel = self.param("kernel", _torch_deconv_init, (2, 2, cin, self.features))
        matrix = kernel.transpose(2, 0, 1, 3).reshape(cin, 4 * self.features)
        y = jnp.dot(x.astype(self.dtype), matrix.astype(self.dtype))
        y = y.reshape(n, h, w, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5)
        return y.reshape(n, 2 * h, 2 * w, self.features)


def transposed_conv(features: int, kernel: int, stride: int, *, groups: int = 1, name: str,
                    dtype: Any = jnp.float32) -> ConvTranspose2x2:
    """The decoder's mirror of a stride-2 conv of any ``kernel``: RD4AD's ``deconv2x2``, a 2×2
    stride-2 transposed conv (:class:`ConvTranspose2x2`)."""
    if stride != 2 or groups != 1:
        raise ValueError(f"a transposed conv mirrors stride 2 without groups, got stride {stride}, "
                         f"groups {groups}")
    return ConvTranspose2x2(features, dtype=dtype, name=name)


@dataclasses.dataclass(frozen=True)
class Resample:
    """How a residual block changes resolution: ``conv`` builds its strided convs (same
    arguments as :func:`conv`) and ``shortcut`` names its projection shortcut."""

    conv: Callable[..., nn.Module]
    shortcut: str

    def conv_for(self, stride: int) -> Callable[..., nn.Module]:
        """The conv for a layer of ``stride``: the resampling one, or a plain conv at stride 1."""
        return self.conv if stride != 1 else conv


DOWN = Resample(conv, "downsample")  # torchvision's encoder blocks
UP = Resample(transposed_conv, "upsample")  # RD4AD's decoder (de_resnet) blocks


class Shortcut(nn.Module):
    """The projection shortcut ``Sequential(conv 1×1, BatchNorm)``, named ``0`` and ``1`` like
    torchvision's ``downsample`` (a 2×2 transposed conv in RD4AD's ``upsample``)."""

    features: int
    stride: int = 1
    resample: Resample = DOWN
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        x = self.resample.conv_for(self.stride)(self.features, 1, self.stride, name="0",
                                                dtype=self.dtype)(x)
        return batch_norm(train, name="1", dtype=self.dtype)(x)


class BasicBlock(nn.Module):
    """torchvision ``BasicBlock`` (expansion 1); with ``resample=UP`` RD4AD's decoder block,
    whose stride-2 convs are 2×2 transposed convs that double the resolution."""

    planes: int
    stride: int = 1
    shortcut: bool = False
    groups: int = 1
    base_width: int = 64
    final_relu: bool = True
    resample: Resample = DOWN
    dtype: Any = jnp.float32
    expansion = 1

    @nn.compact
    def __call__(self, x, train: bool):
        identity = x
        scale_conv = self.resample.conv_for(self.stride)
        out = scale_conv(self.planes, 3, self.stride, name="conv1", dtype=self.dtype)(x)
        out = nn.relu(batch_norm(train, name="bn1", dtype=self.dtype)(out))
        out = conv(self.planes, 3, name="conv2", dtype=self.dtype)(out)
        out = batch_norm(train, name="bn2", dtype=self.dtype)(out)
        if self.shortcut:
            identity = Shortcut(self.planes, self.stride, self.resample, dtype=self.dtype,
                                name=self.resample.shortcut)(x, train)
        out = out + identity
        return nn.relu(out) if self.final_relu else out


class Bottleneck(nn.Module):
    """torchvision ``Bottleneck`` (v1.5: stride on the 3×3 conv, expansion 4); with
    ``resample=UP`` RD4AD's decoder block (a 2×2 transposed conv in place of the 3×3)."""

    planes: int
    stride: int = 1
    shortcut: bool = False
    groups: int = 1
    base_width: int = 64
    final_relu: bool = True
    resample: Resample = DOWN
    dtype: Any = jnp.float32
    expansion = 4

    @nn.compact
    def __call__(self, x, train: bool):
        width = int(self.planes * (self.base_width / 64.0)) * self.groups
        identity = x
        out = conv(width, 1, name="conv1", dtype=self.dtype)(x)
        out = nn.relu(batch_norm(train, name="bn1", dtype=self.dtype)(out))
        scale_conv = self.resample.conv_for(self.stride)
        out = scale_conv(width, 3, self.stride, groups=self.groups, name="conv2", dtype=self.dtype)(out)
        out = nn.relu(batch_norm(train, name="bn2", dtype=self.dtype)(out))
        out = conv(self.planes * 4, 1, name="conv3", dtype=self.dtype)(out)
        out = batch_norm(train, name="bn3", dtype=self.dtype)(out)
        if self.shortcut:
            identity = Shortcut(self.planes * 4, self.stride, self.resample, dtype=self.dtype,
                                name=self.resample.shortcut)(x, train)
        out = out + identity
        return nn.relu(out) if self.final_relu else out


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResLayer(nn.Module):
    """torchvision's ``_make_layer``: ``blocks`` residual blocks named ``0 … n-1``, the first
    with ``stride`` and a projection shortcut where the shape changes.

    ``resample=UP`` makes it a decoder stage (RD4AD's ``de_resnet`` ``_make_layer``: stride 2
    doubles the resolution). ``final_relu=False`` drops the ReLU at the end of the last block
    (decoders whose target features are signed).
    """

    block: str
    planes: int
    blocks: int
    stride: int = 1
    groups: int = 1
    base_width: int = 64
    final_relu: bool = True
    resample: Resample = DOWN
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        block_cls = BLOCKS[self.block]
        out_channels = self.planes * block_cls.expansion
        for i in range(self.blocks):
            stride = self.stride if i == 0 else 1
            shortcut = i == 0 and (stride != 1 or x.shape[-1] != out_channels)
            x = block_cls(self.planes, stride=stride, shortcut=shortcut, groups=self.groups,
                          base_width=self.base_width,
                          final_relu=self.final_relu or i < self.blocks - 1,
                          resample=self.resample, dtype=self.dtype, name=str(i))(x, train)
        return x


def block_expansion(block: str) -> int:
    return BLOCKS[block].expansion


def count_params(tree: Optional[Any]) -> int:
    """Number of scalars in a parameter pytree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(tree)))


def as_tuple(x: Sequence[int]) -> tuple:
    return tuple(int(v) for v in x)
