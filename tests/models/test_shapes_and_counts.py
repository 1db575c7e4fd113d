"""Shapes of teacher/OCBE/decoder, and every teacher's parameter counts against the original's.

The originals' layouts are written down here from the released code, not taken from rdjax's
tables: hq-deng/RD4AD ``models/resnet.py`` (the teacher is torchvision's ResNet, the OCBE is
``BN_layer``) and ``models/de_resnet.py`` (the decoders). Their parameters are counted on the
PyTorch twin (``rdjax/benchmark/torch_twin.py``) built with those layouts on the ``meta``
device (no memory); the whole torchvision classifiers it builds match torchvision's published
counts, which ties the twin's layer arithmetic to the real networks.
"""

import functools

import jax
import jax.numpy as jnp
import pytest
import torch

from rdjax.benchmark import torch_twin as T
from rdjax.models.bottleneck import OCBE
from rdjax.models.decoder import Decoder
from rdjax.models.factory import TEACHERS, teacher_spec
from rdjax.models.layers import count_params

# name: (block, torchvision layers, width per group, BN_layer blocks, de_resnet layers 1–3).
# resnet34's OCBE is BN_layer(AttnBasicBlock, 3); de_wide_resnet101_2 is built with [3, 4, 23, 3].
RD4AD_ORIGINAL = {
    "resnet18": ("basic", (2, 2, 2, 2), 64, 2, (2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3), 64, 3, (3, 4, 6)),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 64, 3, (3, 4, 6)),
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), 128, 3, (3, 4, 6)),
    "wide_resnet101_2": ("bottleneck", (3, 4, 23, 3), 128, 3, (3, 4, 23)),
}
# torchvision's published parameter counts of the whole ImageNet classifiers.
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                      "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696}
# rdjax's own student for the EfficientNet-Lite teachers (rdjax/models/factory.py, _lite):
# BasicBlocks, an OCBE of 2 blocks, decoder stages of 2 blocks, width 64.
LITE_STUDENT = ("basic", 2, (2, 2, 2), 64)


@functools.lru_cache(maxsize=None)
def shapes(name, size):
    """Shapes (no computation) of the features, embedding, outputs and variables."""
    spec = teacher_spec(name)
    teacher = spec.make_encoder(jnp.float32)
    x = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
    t_vars = jax.eval_shape(lambda x: teacher.init(jax.random.key(0), x), x)
    feats = jax.eval_shape(lambda v, x: teacher.apply(v, x), t_vars, x)
    ocbe = OCBE(spec.feature_channels, spec.student_block, spec.ocbe_blocks, spec.width_per_group)
    b_vars = jax.eval_shape(lambda f: ocbe.init(jax.random.key(0), f, train=False), feats)
    emb = jax.eval_shape(lambda v, f: ocbe.apply(v, f, train=False), b_vars, feats)
    dec = Decoder(spec.feature_channels, spec.student_block, spec.decoder_layers, spec.width_per_group)
    d_vars = jax.eval_shape(lambda e: dec.init(jax.random.key(0), e, train=False), emb)
    out = jax.eval_shape(lambda v, e: dec.apply(v, e, train=False), d_vars, emb)
    return feats, emb, out, b_vars, d_vars, t_vars


def torch_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def original_counts(name: str):
    """``(teacher layer1–3, OCBE, decoder)`` parameters of the original, on the twin."""
    channels = teacher_spec(name).feature_channels
    with torch.device("meta"):
        if name in RD4AD_ORIGINAL:
            block, layers, width, ocbe_blocks, decoder_layers = RD4AD_ORIGINAL[name]
            classifier = T.ResNetEncoder(block, layers, width, classifier=True)
            assert torch_count(classifier) == TORCHVISION_PARAMS[name]
            teacher = T.ResNetEncoder(block, layers, width)
        else:
            block, ocbe_blocks, decoder_layers, width = LITE_STUDENT
            teacher = T.LiteEncoder(name, image_size=224)
        ocbe = T.OCBE(channels, block, ocbe_blocks, width)
        decoder = T.Decoder(channels, block, decoder_layers, width)
    return torch_count(teacher), torch_count(ocbe), torch_count(decoder)


@pytest.mark.parametrize("name", sorted(set(TEACHERS) - {"resnet10"}))  # resnet10: no original
def test_parameter_counts_match_the_original(name):
    """Teacher (conv1–layer3; the Lite teachers up to their stride-16 block), OCBE (without
    BN_layer's unused conv4/bn4) and decoder have the original's parameter counts."""
    *_, b_vars, d_vars, t_vars = shapes(name, 64)
    teacher, ocbe, decoder = original_counts(name)
    assert count_params(t_vars["params"]) == teacher
    assert count_params(b_vars["params"]) == ocbe
    assert count_params(d_vars["params"]) == decoder


def test_wide_resnet50_2_matches_rd4ad_counts_and_shapes():
    feats, emb, out, b_vars, d_vars, t_vars = shapes("wide_resnet50_2", 256)
    assert [f.shape for f in feats] == [(2, 64, 64, 256), (2, 32, 32, 512), (2, 16, 16, 1024)]
    assert emb.shape == (2, 8, 8, 2048)
    assert [o.shape for o in out] == [f.shape for f in feats]
    # Analytic counts of the original BN_layer (without unused conv4/bn4) and de_wide_resnet50_2.
    assert count_params(b_vars["params"]) == 58_885_120
    assert count_params(d_vars["params"]) == 24_917_504
    # torchvision wide_resnet50_2 conv1..layer3 (68.88 M total minus layer4 and fc).
    assert count_params(t_vars["params"]) == 24_862_528


def test_layer_tables_follow_the_teacher():
    """One source: the decoder's block counts are the teacher's layer1–3 counts (RD4AD builds
    ``de_<name>`` with the teacher's list), e.g. 23 blocks in wide_resnet101_2's third stage."""
    assert teacher_spec("wide_resnet101_2").decoder_layers == (3, 4, 23)
    assert teacher_spec("resnet34").ocbe_blocks == 3
    assert teacher_spec("resnet18").decoder_layers == (2, 2, 2)
    # The tests' small teacher: resnet18's student at one block a stage.
    small, resnet18 = teacher_spec("resnet10"), teacher_spec("resnet18")
    assert (small.decoder_layers, small.ocbe_blocks) == ((1, 1, 1), 1)
    assert (small.feature_channels, small.student_block) == (resnet18.feature_channels, "basic")


@pytest.mark.parametrize("name,channels", [("resnet18", (64, 128, 256)), ("resnet34", (64, 128, 256)),
                                           ("resnet50", (256, 512, 1024)),
                                           ("wide_resnet101_2", (256, 512, 1024))])
def test_other_resnets_mirror_their_teacher(name, channels):
    feats, emb, out, *_ = shapes(name, 64)
    assert tuple(f.shape[-1] for f in feats) == channels
    assert emb.shape == (2, 2, 2, 2 * channels[-1])
    assert [o.shape for o in out] == [f.shape for f in feats]


def test_unknown_teacher_names_the_setting():
    with pytest.raises(ValueError, match="config.model.teacher"):
        teacher_spec("vgg16")
