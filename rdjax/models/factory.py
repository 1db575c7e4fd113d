"""One table of teachers and the student (OCBE + decoder) that mirrors each.

``build_networks(config.model)`` is the only place that maps a teacher name to
modules, so a new backbone is one entry in ``TEACHERS``.
"""

import dataclasses
from typing import Any, Callable, Dict, Tuple

import flax.linen as nn
import jax.numpy as jnp

from rdjax.models.bottleneck import OCBE
from rdjax.models.decoder import Decoder
from rdjax.models.efficientnet_lite import (efficientnet_lite_encoder,
                                            efficientnet_lite_feature_channels)
from rdjax.models.resnet import RESNET_SPECS, resnet_encoder, resnet_feature_channels

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class TeacherSpec:
    """How to build a teacher and the student that mirrors it.

    ``mean``/``std`` normalise images in [0, 1]. ``signed_features`` is True when
    the teacher's outputs are not post-ReLU, so decoder stages must end without ReLU.
    """

    make_encoder: Callable[[Any], nn.Module]
    feature_channels: Tuple[int, int, int]
    student_block: str
    ocbe_blocks: int
    decoder_layers: Tuple[int, int, int]
    width_per_group: int
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    signed_features: bool = False


def _resnet(name: str, ocbe_blocks: int) -> TeacherSpec:
    """A ResNet teacher and RD4AD's student for it: the block type and width come from the
    teacher's table (``RESNET_SPECS``), the decoder's layer1–3 block counts are the teacher's
    layer1–3 counts (``de_<name>`` is built with the teacher's list)."""
    block, layers, width = RESNET_SPECS[name]
    return TeacherSpec(lambda dtype: resnet_encoder(name, dtype), resnet_feature_channels(name),
                       block, ocbe_blocks, tuple(layers[:3]), width)


# RD4AD (hq-deng/RD4AD, models/resnet.py): resnet18 pairs with BN_layer(AttnBasicBlock, 2),
# resnet34 with BN_layer(AttnBasicBlock, 3), the bottleneck ResNets with BN_layer(AttnBottleneck, 3)
# (the Attn* blocks are plain blocks: their attention is commented out). The decoders
# (models/de_resnet.py) are de_resnet18 [2,2,2], de_resnet34 / de_resnet50 / de_wide_resnet50_2
# [3,4,6], de_wide_resnet101_2 [3,4,23].
# resnet10 (no pretrained weights: tests and smoke runs) gets resnet18's student at one block a stage.
TEACHERS: Dict[str, TeacherSpec] = {
    "resnet10": _resnet("resnet10", ocbe_blocks=1),
    "resnet18": _resnet("resnet18", ocbe_blocks=2),
    "resnet34": _resnet("resnet34", ocbe_blocks=3),
    "resnet50": _resnet("resnet50", ocbe_blocks=3),
    "wide_resnet50_2": _resnet("wide_resnet50_2", ocbe_blocks=3),
    "wide_resnet101_2": _resnet("wide_resnet101_2", ocbe_blocks=3),
}


def _lite(name: str) -> TeacherSpec:
    """EfficientNet-Lite teacher (features at strides 4/8/16, e.g. 24/40/112 channels).

    The student mirrors it like RD4AD mirrors ResNet-18: BasicBlocks, OCBE with 2
    blocks, decoder stages of 2 blocks. The features are thin, so plain 3×3
    blocks at the teacher's widths already make a small student (Lite0: OCBE
    2.2 M + decoder 0.6 M parameters); a ResNet-style bottleneck would squeeze
    24 channels down to 6. Inputs are scaled as the TF-Lite weights expect,
    (255·x − 127) / 128, and the features are linear projections (signed), so
    decoder stages end without ReLU.
    """
    return TeacherSpec(lambda dtype: efficientnet_lite_encoder(name, dtype),
                       efficientnet_lite_feature_channels(name), "basic", 2, (2, 2, 2), 64,
                       mean=(127 / 255,) * 3, std=(128 / 255,) * 3, signed_features=True)


TEACHERS.update({name: _lite(name) for name in
                 ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")})


def teacher_spec(name: str) -> TeacherSpec:
    if name not in TEACHERS:
        raise ValueError(f"config.model.teacher='{name}' is not a known teacher; "
                         f"choose one of {sorted(TEACHERS)}.")
    return TEACHERS[name]


@dataclasses.dataclass(frozen=True)
class Networks:
    spec: TeacherSpec
    teacher: nn.Module
    bottleneck: nn.Module
    decoder: nn.Module


def build_networks(model_config) -> Networks:
    """Teacher, OCBE and decoder for ``model_config.teacher`` in ``model_config.dtype``."""
    spec = teacher_spec(model_config.teacher)
    dtype = jnp.dtype(model_config.get("dtype", "float32"))
    teacher = spec.make_encoder(dtype)
    bottleneck = OCBE(spec.feature_channels, spec.student_block, spec.ocbe_blocks,
                      spec.width_per_group, dtype=dtype)
    decoder = Decoder(spec.feature_channels, spec.student_block, spec.decoder_layers,
                      spec.width_per_group, final_relu=not spec.signed_features, dtype=dtype)
    return Networks(spec, teacher, bottleneck, decoder)
