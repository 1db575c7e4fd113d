"""Extra networks of MRKD, RD++ and two-stage RKD against independent computations."""

import jax
import jax.numpy as jnp
import numpy as np
import torch

from rdjax.models.coordinate_attention import CoordinateAttention
from rdjax.models.flm import GenerationHeads, spatial_keep_masks
from rdjax.models.memory_bank import EmbeddingMemory
from rdjax.models.projection import ProjectionLayer


def test_projection_layer_matches_pytorch_sequential():
    x = np.random.default_rng(0).normal(size=(2, 6, 5, 16)).astype(np.float32)
    layer = ProjectionLayer(16)
    params = jax.jit(layer.init)(jax.random.key(0), jnp.asarray(x))["params"]
    widths = [params[f"conv{i}"]["kernel"].shape[-1] for i in range(4)]
    assert widths == [8, 4, 8, 16]  # c -> c/2 -> c/4 -> c/2 -> c
    mods = []
    for i in range(4):
        k, b = np.asarray(params[f"conv{i}"]["kernel"]), np.asarray(params[f"conv{i}"]["bias"])
        conv = torch.nn.Conv2d(k.shape[2], k.shape[3], 3, padding=1)
        conv.weight.data = torch.from_numpy(k.transpose(3, 2, 0, 1).copy())
        conv.bias.data = torch.from_numpy(b.copy())
        mods += [conv, torch.nn.InstanceNorm2d(k.shape[3]), torch.nn.LeakyReLU()]
    expected = torch.nn.Sequential(*mods)(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy()
    got = np.asarray(jax.jit(layer.apply)({"params": params}, jnp.asarray(x)))
    np.testing.assert_allclose(got, expected.transpose(0, 2, 3, 1), atol=2e-5)


def test_flm_masks_zero_the_stated_fraction_of_positions_across_all_channels():
    feats = [jnp.ones((8, 64, 64, 3)), jnp.ones((8, 32, 32, 5))]
    masks = spatial_keep_masks(jax.random.key(0), feats, 0.2)
    assert masks[0].shape == (8, 64, 64, 1) and masks[1].shape == (8, 32, 32, 1)
    m = np.asarray(masks[0])
    assert set(np.unique(m)) == {0.0, 1.0}
    assert abs((m == 0).mean() - 0.2) < 0.01  # 32768 positions, sd 0.0022
    assert not np.array_equal(np.asarray(masks[1])[:, :32, :32], m[:, :32, :32])  # own draw per scale


def test_generation_heads_see_masked_features():
    f = [jax.random.normal(jax.random.key(1), (2, 8, 8, 4))]
    heads = GenerationHeads((4,))
    params = jax.jit(heads.init)(jax.random.key(2), f)
    apply = jax.jit(heads.apply)
    masks = spatial_keep_masks(jax.random.key(3), f, 0.5)
    masked_by_hand = apply(params, [f[0] * masks[0]])
    np.testing.assert_allclose(apply(params, f, masks)[0], masked_by_hand[0], atol=1e-6)
    assert not np.allclose(apply(params, f)[0], masked_by_hand[0])


def test_coordinate_attention_is_row_gate_times_column_gate():
    x = np.random.default_rng(1).normal(size=(2, 5, 7, 16)).astype(np.float32)
    ca = CoordinateAttention(reduction=4)
    v = jax.jit(lambda k, x: ca.init(k, x, train=False))(jax.random.key(0), jnp.asarray(x))
    p, s = v["params"], v["batch_stats"]

    def conv1x1(y, q):
        return y @ np.asarray(q["kernel"])[0, 0] + np.asarray(q["bias"])

    sig = lambda y: 1.0 / (1.0 + np.exp(-y))  # noqa: E731
    pooled = np.concatenate([x.mean(axis=2), x.mean(axis=1)], axis=1)  # (N, H+W, C)
    y = conv1x1(pooled, p["conv1"])
    y = (y - s["bn1"]["mean"]) / np.sqrt(s["bn1"]["var"] + 1e-5) * p["bn1"]["scale"] + p["bn1"]["bias"]
    y = y * np.clip(y + 3, 0, 6) / 6
    a_h, a_w = sig(conv1x1(y[:, :5], p["conv_h"])), sig(conv1x1(y[:, 5:], p["conv_w"]))
    expected = x * a_h[:, :, None, :] * a_w[:, None, :, :]
    got = jax.jit(lambda v, x: ca.apply(v, x, train=False))(v, jnp.asarray(x))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_memory_readout_matches_numpy_addressing_with_hard_shrinkage():
    z = np.random.default_rng(2).normal(size=(2, 3, 3, 6)).astype(np.float32)
    mem = EmbeddingMemory(slots=5, temperature=0.2, shrink=0.15)
    params = mem.init(jax.random.key(0), jnp.asarray(z))
    m = np.asarray(params["params"]["memory"], np.float64)
    assert m.shape == (5, 6) and np.abs(m).max() <= 1 / np.sqrt(6)
    zn = z / np.linalg.norm(z, axis=-1, keepdims=True)
    mn = m / np.linalg.norm(m, axis=-1, keepdims=True)
    logits = (zn @ mn.T) / 0.2
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    w = np.where(w > 0.15, w, 0.0)  # relu(w - λ) w / |w - λ| keeps w where w > λ
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(mem.apply(params, jnp.asarray(z)), w @ m, atol=1e-5)
