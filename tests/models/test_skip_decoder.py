"""RD-E's skip-fusion decoder: the GII gate's limits, its stop-gradient, layout and wiring."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rdjax.models.decoder import Decoder
from rdjax.models.skip_decoder import SkipFusionDecoder, guided_mix, similarity_gate


def test_gate_limits_select_encoder_or_decoder_feature():
    rng = np.random.default_rng(0)
    t = jnp.asarray(rng.normal(size=(2, 4, 4, 8)), jnp.float32)
    f_enc = jnp.asarray(rng.normal(size=(2, 4, 4, 8)), jnp.float32)
    # s = 1: the decoder feature points like the teacher's → only the encoder feature goes through.
    d_same = 3.0 * t
    s = similarity_gate(d_same, t)
    np.testing.assert_allclose(s, 1.0, atol=1e-6)
    np.testing.assert_allclose(guided_mix(f_enc, d_same, s), f_enc, atol=1e-5)
    # s = 0: orthogonal to the teacher's → only the decoder feature goes through.
    t_np = np.asarray(t)
    d_orth = rng.normal(size=t_np.shape)
    d_orth -= np.sum(d_orth * t_np, -1, keepdims=True) / np.sum(t_np * t_np, -1, keepdims=True) * t_np
    d_orth = jnp.asarray(d_orth, jnp.float32)
    s = similarity_gate(d_orth, t)
    np.testing.assert_allclose(s, 0.0, atol=1e-6)
    np.testing.assert_allclose(guided_mix(f_enc, d_orth, s), d_orth, atol=1e-5)


def test_gate_is_channel_cosine_without_gradient():
    rng = np.random.default_rng(1)
    d = rng.normal(size=(2, 5, 3, 6)).astype(np.float32)
    t = rng.normal(size=(2, 5, 3, 6)).astype(np.float32)
    want = F.cosine_similarity(torch.from_numpy(d), torch.from_numpy(t), dim=-1).numpy()[..., None]
    np.testing.assert_allclose(similarity_gate(jnp.asarray(d), jnp.asarray(t)), want, atol=1e-6)
    f_enc = jnp.asarray(rng.normal(size=d.shape), jnp.float32)
    # d/d(d) of Σ mix = 1 − s: the gate is a constant for the gradient, as under torch.no_grad().
    mixed_sum = lambda x: jnp.sum(guided_mix(f_enc, x, similarity_gate(x, jnp.asarray(t))))  # noqa: E731
    grad = jax.grad(mixed_sum)(jnp.asarray(d))
    np.testing.assert_allclose(grad, np.broadcast_to(1.0 - want, d.shape), atol=1e-6)


def make(gated, layers=(2, 2, 2)):
    channels = (16, 32, 64)
    return SkipFusionDecoder(channels, "basic", layers, 64, gated=gated), channels


def test_stages_share_the_plain_decoder_layout_and_outputs_have_teacher_shapes():
    rng = np.random.default_rng(2)
    teacher = [jnp.asarray(rng.normal(size=(2, s, s, c)), jnp.float32)
               for s, c in ((16, 16), (8, 32), (4, 64))]
    emb = jnp.asarray(rng.normal(size=(2, 2, 2, 128)), jnp.float32)
    for gated in (True, False):
        module, channels = make(gated)
        variables = jax.eval_shape(lambda: module.init(jax.random.key(0), emb, teacher, train=False))
        out = jax.eval_shape(lambda v: module.apply(v, emb, teacher, train=False), variables)
        assert [o.shape for o in out] == [t.shape for t in teacher]
        plain = jax.eval_shape(lambda: Decoder(channels, "basic", (2, 2, 2), 64).init(
            jax.random.key(0), emb, train=False))
        for name in ("layer1", "layer2", "layer3"):
            assert (jax.tree_util.tree_map(jnp.shape, variables["params"][name])
                    == jax.tree_util.tree_map(jnp.shape, plain["params"][name]))
        extra = set(variables["params"]) - {"layer1", "layer2", "layer3"}
        want = {"downsample_dim1", "downsample_dim2", "fuse_encoder1", "fuse_encoder2",
                "fuse_skip1", "fuse_skip2"} | ({"gii1", "gii2"} if gated else set())
        assert extra == want


RECORDED = {"layer1", "layer2", "fuse_encoder1", "fuse_encoder2", "fuse_skip1", "fuse_skip2",
            "gii1", "gii2"}


@functools.partial(jax.jit, static_argnums=0)
def init_and_record(module, emb, teacher):
    """Initialises and applies ``module``, returning inputs/outputs of its named submodules."""
    variables = module.init(jax.random.key(0), emb, teacher, train=False)
    calls = {}

    def record(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and context.module.name in RECORDED:
            calls[context.module.name] = (args[0], out)
        return out

    with nn.intercept_methods(record):
        module.apply(variables, emb, teacher, train=False)
    return calls


@pytest.mark.slow
def test_injection_wiring_gated_and_plain():
    rng = np.random.default_rng(3)
    teacher = [jnp.asarray(np.abs(rng.normal(size=(1, s, s, c))), jnp.float32)
               for s, c in ((16, 16), (8, 32), (4, 64))]
    emb = jnp.asarray(rng.normal(size=(1, 2, 2, 128)), jnp.float32)
    for gated in (True, False):
        module, _ = make(gated, layers=(1, 1, 1))
        calls = init_and_record(module, emb, teacher)
        for k, stage in ((2, "layer1"), (1, "layer2")):  # decoder feature at teacher scale k
            d = calls[stage][1]
            f_enc = calls[f"fuse_encoder{k}"][1]
            skip_in = calls[f"fuse_skip{k}"][0]
            np.testing.assert_allclose(skip_in[..., :d.shape[-1]], d, atol=1e-6)
            if gated:
                want = guided_mix(f_enc, d, similarity_gate(d, teacher[k]))
                np.testing.assert_allclose(calls[f"gii{k}"][0], want, atol=1e-5)
                np.testing.assert_allclose(skip_in[..., d.shape[-1]:], calls[f"gii{k}"][1], atol=1e-6)
            else:
                np.testing.assert_allclose(skip_in[..., d.shape[-1]:], f_enc, atol=1e-6)
