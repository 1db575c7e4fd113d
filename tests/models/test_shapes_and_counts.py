"""Shapes of teacher/OCBE/decoder and the trainable parameter counts of RD4AD."""

import jax
import jax.numpy as jnp
import pytest

from rdjax.models.bottleneck import OCBE
from rdjax.models.decoder import Decoder
from rdjax.models.factory import teacher_spec
from rdjax.models.layers import count_params


def shapes(name, size):
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


@pytest.mark.parametrize("name,channels", [("resnet18", (64, 128, 256)), ("resnet34", (64, 128, 256)),
                                           ("resnet50", (256, 512, 1024)),
                                           ("wide_resnet101_2", (256, 512, 1024))])
def test_other_resnets_mirror_their_teacher(name, channels):
    feats, emb, out, *_ = shapes(name, 128)
    assert tuple(f.shape[-1] for f in feats) == channels
    assert emb.shape == (2, 4, 4, 2 * channels[-1])
    assert [o.shape for o in out] == [f.shape for f in feats]


def test_unknown_teacher_names_the_setting():
    with pytest.raises(ValueError, match="config.model.teacher"):
        teacher_spec("vgg16")
