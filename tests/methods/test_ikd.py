"""IKD: hard-pixel mining, EMA margin, Gram (context) loss and anomaly map against numpy / PyTorch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rdjax.methods import ikd
from tests.tiny_config import with_small_teacher


def numpy_ikd_scale_loss(t, s, margin, beta=2.0, gamma=1.0, momentum=0.01):
    """IKD's ``calculate_loss`` for one scale, in numpy with boolean indexing (NHWC)."""
    t = t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-12)
    s = s / np.maximum(np.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
    dif = np.sum((t - s) ** 2, axis=-1)
    margin = momentum * margin + (1 - momentum) * (dif.mean() + beta * dif.std(ddof=1))
    hard = dif >= margin
    qt, qs = t[hard], s[hard]
    l_cs = np.mean((qt @ qt.T - qs @ qs.T) ** 2)
    return dif[hard].mean() + gamma * l_cs, margin, hard


def test_gram_loss_matches_numpy_on_selected_rows():
    rng = np.random.default_rng(0)
    qt, qs = rng.normal(size=(300, 24)), rng.normal(size=(300, 24))
    qt /= np.linalg.norm(qt, axis=1, keepdims=True)
    qs = qt + 0.2 * qs  # close to qt, as a trained student would be
    mask = rng.random(300) < 0.2
    want = np.mean((qt[mask] @ qt[mask].T - qs[mask] @ qs[mask].T) ** 2)
    got = ikd.gram_loss(jnp.asarray(qt, jnp.float32), jnp.asarray(qs, jnp.float32),
                        jnp.asarray(mask, jnp.float32))
    np.testing.assert_allclose(float(got), want, rtol=1e-4)
    assert float(ikd.gram_loss(jnp.asarray(qt), jnp.asarray(qs), jnp.zeros(300))) == 0.0


def test_gram_loss_gradient_matches_the_dense_gram():
    rng = np.random.default_rng(1)
    qt = jnp.asarray(rng.normal(size=(40, 8)), jnp.float32)
    qs = jnp.asarray(rng.normal(size=(40, 8)), jnp.float32)
    mask = jnp.asarray(rng.random(40) < 0.5, jnp.float32)

    def dense(q):  # the (P × P) Gram with the mask's outer product
        outer = mask[:, None] * mask[None, :]
        return jnp.sum(outer * (qt @ qt.T - q @ q.T) ** 2) / jnp.sum(mask) ** 2

    np.testing.assert_allclose(jax.grad(lambda q: ikd.gram_loss(qt, q, mask))(qs), jax.grad(dense)(qs),
                               rtol=1e-4, atol=1e-6)


def test_hard_pixels_and_margin_on_crafted_features():
    # Student equals teacher (e0) except at 3 of 2·8·8 pixels where it is e1, e2, e3: dif = 2 there.
    t = np.zeros((2, 8, 8, 4), np.float32)
    t[..., 0] = 1.0
    s = t.copy()
    hard_idx = [(0, 1, 2), (1, 5, 5), (1, 7, 0)]
    for c, (b, y, x) in enumerate(hard_idx):
        s[b, y, x] = np.eye(4)[c + 1]
    dif = np.zeros(128)
    dif[:3] = 2.0
    margin_want = 0.99 * (dif.mean() + 2 * dif.std(ddof=1))
    assert margin_want < 2.0
    loss, margin, hard = ikd.ikd_scale_loss(jnp.asarray(t), jnp.asarray(s), jnp.float32(0.0), 2.0, 1.0, 0.01)
    np.testing.assert_allclose(float(margin), margin_want, rtol=1e-6)
    want_hard = np.zeros((2, 8, 8))
    for b, y, x in hard_idx:
        want_hard[b, y, x] = 1
    np.testing.assert_array_equal(np.asarray(hard), want_hard)
    # l_ps = 2; Grams of the 3 hard rows: G_t = all ones, G_s = identity → l_cs = 6 / 9.
    np.testing.assert_allclose(float(loss), 2.0 + 6.0 / 9.0, rtol=1e-6)


def test_margin_is_an_ema_across_steps():
    rng = np.random.default_rng(2)
    difs = [rng.random((2, 6, 6)).astype(np.float32) for _ in range(3)]
    margin, want = jnp.float32(0.0), 0.0
    for d in difs:
        margin = ikd.update_margin(jnp.asarray(d), margin, 2.0, 0.01)
        want = 0.01 * want + 0.99 * (d.mean() + 2.0 * d.std(ddof=1))
        np.testing.assert_allclose(float(margin), want, rtol=1e-6)


@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_scale_loss_matches_numpy_reference(margin):
    rng = np.random.default_rng(3)
    t = rng.normal(size=(2, 6, 7, 5)).astype(np.float32)
    s = (t + 0.7 * rng.normal(size=t.shape)).astype(np.float32)
    want_loss, want_margin, want_hard = numpy_ikd_scale_loss(t, s, margin)
    loss, new_margin, hard = ikd.ikd_scale_loss(jnp.asarray(t), jnp.asarray(s), jnp.float32(margin),
                                                2.0, 1.0, 0.01)
    assert 0 < want_hard.sum() < want_hard.size
    np.testing.assert_array_equal(np.asarray(hard) > 0, want_hard)
    np.testing.assert_allclose(float(new_margin), want_margin, rtol=1e-5)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-4)


def test_upsample_features_is_align_corners_bilinear():
    x = np.random.default_rng(4).normal(size=(2, 5, 3, 6)).astype(np.float32)
    got = ikd.upsample_features(jnp.asarray(x), (16, 12))
    want = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=(16, 12), mode="bilinear",
                         align_corners=True).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


def tiny_config(combine="mul"):
    from configs.ikd import get_config

    config = with_small_teacher(get_config())
    config.eval.combine = combine
    return config


@pytest.fixture(scope="module")
def initialised():
    method = ikd.IKD(tiny_config())
    images = jnp.asarray(np.random.default_rng(5).integers(0, 256, (2, 64, 64, 3)), jnp.uint8)
    return method, images, jax.jit(method.init)(jax.random.key(0), images[:1])


@pytest.mark.parametrize("combine", ["mul", "add"])
def test_anomaly_map_matches_pytorch(initialised, combine):
    _, images, variables = initialised
    config = tiny_config(combine)
    method = ikd.IKD(config)
    got = np.asarray(jax.jit(method.anomaly_map)(variables, images))

    x = method.normalize(images)
    teacher = jax.jit(method.teacher_features)(variables.frozen["teacher"], x)
    student, _ = jax.jit(method.forward_features, static_argnums=3)(
        variables.params, variables.model_state, x, False)
    maps = []
    for k in config.ikd.scales:  # IKD's model.py + calculate_anomaly_map, in PyTorch
        t, s = (torch.from_numpy(np.array(f[k])).permute(0, 3, 1, 2) for f in (teacher, student))
        t = F.interpolate(t, size=(16, 16), mode="bilinear", align_corners=True)
        s = F.interpolate(s, size=(16, 16), mode="bilinear", align_corners=True)
        maps.append(torch.sum((F.normalize(t, dim=1) - F.normalize(s, dim=1)) ** 2, dim=1))
    if combine == "mul":
        total = maps[0] * maps[1]
    else:
        total = (1.0 * maps[0] + 2.0 * maps[1]) / 3.0
    want = F.interpolate(total[:, None], size=(64, 64), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-5)


def test_loss_carries_the_margin_in_model_state_and_trains_only_the_student(initialised):
    method, images, v = initialised
    assert set(v.params) == {"student"} and set(v.frozen) == {"teacher"}
    np.testing.assert_array_equal(v.model_state["margin"], np.zeros(2))
    (loss, (metrics, state)), grads = jax.jit(jax.value_and_grad(method.loss, has_aux=True))(
        v.params, v.model_state, v.frozen, {"image": images}, jax.random.key(1))
    assert np.isfinite(float(loss))
    margins = np.asarray(state["margin"])
    assert np.all(margins > 0)
    np.testing.assert_allclose(margins, [metrics["margin_1"], metrics["margin_2"]])
    assert all(0 < metrics[f"hard_fraction_{k}"] < 0.2 for k in (1, 2))
    assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree_util.tree_leaves(grads))


def test_bad_settings_name_the_option():
    config = tiny_config()
    config.ikd.scales = (1, 3)
    with pytest.raises(ValueError, match="config.ikd.scales"):
        ikd.IKD(config)
    config = tiny_config()
    config.ikd.scale_weights = (1.0,)
    with pytest.raises(ValueError, match="config.ikd.scale_weights"):
        ikd.IKD(config)
    config = tiny_config()
    config.ikd.student_arch = "wide_resnet50_2"
    with pytest.raises(ValueError, match="config.ikd.student_arch"):
        ikd.IKD(config)
