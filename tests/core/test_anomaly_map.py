"""Anomaly map pieces against hand-worked values, PyTorch and scipy."""

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn.functional as F

import jax
import jax.numpy as jnp

from rdjax.core.anomaly_map import (anomaly_map, cosine_distance, gaussian_blur,

                                    gaussian_kernel1d, image_scores,
                                    resize_bilinear_align_corners)

pytestmark = pytest.mark.numerics  # rerun under other CPUs' code paths: .ci/run


def _torch_resize(maps: np.ndarray, size) -> np.ndarray:
    out = F.interpolate(torch.from_numpy(maps)[:, None], size=size, mode="bilinear",
                        align_corners=True)
    return out[:, 0].numpy()


def test_resize_hand_worked_2x2_to_3x3():
    # Corners are kept; the middle of an edge is the mean of its two corners and
    # the centre is the mean of all four: (0+1+2+3)/4 = 1.5.
    x = np.array([[[0.0, 1.0], [2.0, 3.0]]], np.float32)
    expected = [[0.0, 0.5, 1.0],
                [1.0, 1.5, 2.0],
                [2.0, 2.5, 3.0]]
    np.testing.assert_allclose(resize_bilinear_align_corners(x, 3)[0], expected, atol=1e-7)


def test_resize_hand_worked_2x2_to_4x4():
    # Output pixel i samples source position i/3: weights (1, 0), (2/3, 1/3),
    # (1/3, 2/3), (0, 1). Along a row 0 → 1 gives 0, 1/3, 2/3, 1; a column step
    # adds 2/3 of the 0 → 2 step per output row.
    x = np.array([[[0.0, 1.0], [2.0, 3.0]]], np.float32)
    row = np.array([0.0, 1 / 3, 2 / 3, 1.0])
    expected = row[None, :] + 2 * row[:, None]
    np.testing.assert_allclose(resize_bilinear_align_corners(x, 4)[0], expected, atol=1e-6)


@pytest.mark.parametrize("in_hw,out_hw", [((8, 8), (64, 64)), ((7, 5), (33, 20)),
                                          ((16, 16), (256, 256)), ((1, 3), (4, 1)),
                                          ((5, 5), (5, 5))])
def test_resize_matches_torch(in_hw, out_hw):
    x = np.random.default_rng(0).normal(size=(2, *in_hw)).astype(np.float32)
    ours = np.asarray(resize_bilinear_align_corners(x, out_hw))
    np.testing.assert_allclose(ours, _torch_resize(x, out_hw), rtol=0, atol=2e-6)


def test_gaussian_kernel_is_scipy_33_taps():
    kernel = gaussian_kernel1d(4.0)
    assert kernel.shape == (33,)
    np.testing.assert_allclose(kernel.sum(), 1.0)
    impulse = np.zeros(65)
    impulse[32] = 1.0
    np.testing.assert_allclose(kernel, scipy.ndimage.gaussian_filter1d(impulse, 4.0)[16:49],
                               atol=1e-15)


@pytest.mark.parametrize("shape", [(2, 64, 64), (1, 40, 23), (1, 5, 9)])
def test_gaussian_blur_matches_scipy(shape):
    # (1, 5, 9): the 16-pixel radius exceeds the size, so reflection repeats.
    maps = np.random.default_rng(1).random(shape).astype(np.float32)
    ours = np.asarray(gaussian_blur(maps, sigma=4.0))
    ref = np.stack([scipy.ndimage.gaussian_filter(m.astype(np.float64), sigma=4, mode="reflect",
                                                  truncate=4.0) for m in maps])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_cosine_distance_matches_torch():
    rng = np.random.default_rng(2)
    t = rng.normal(size=(2, 6, 5, 32)).astype(np.float32)
    s = (t + rng.normal(scale=0.5, size=t.shape)).astype(np.float32)
    s[0, 0, 0] = 0.0            # zero vector: similarity 0
    t[0, 1, 0] *= 1e-9          # norm below eps: clamped
    ref = 1 - F.cosine_similarity(torch.from_numpy(t), torch.from_numpy(s), dim=-1, eps=1e-8)
    ours = np.asarray(cosine_distance(t, s))
    assert ours.shape == (2, 6, 5)
    np.testing.assert_allclose(ours, ref.numpy(), rtol=0, atol=1e-6)


def test_cosine_distance_bf16_is_computed_in_float32():
    rng = np.random.default_rng(3)
    t = jnp.asarray(rng.normal(size=(1, 3, 3, 64)), jnp.bfloat16)
    s = jnp.asarray(rng.normal(size=(1, 3, 3, 64)), jnp.bfloat16)
    ours = cosine_distance(t, s)
    assert ours.dtype == jnp.float32
    ref = cosine_distance(t.astype(jnp.float32), s.astype(jnp.float32))
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))


def _reference_map(teachers, students, size, combine, sigma):
    """numpy/torch/scipy composition of RD4AD's ``cal_anomaly_map``."""
    total = np.zeros((teachers[0].shape[0], size, size)) if combine == "add" else \
        np.ones((teachers[0].shape[0], size, size))
    for t, s in zip(teachers, students):
        cos = F.cosine_similarity(torch.from_numpy(t), torch.from_numpy(s), dim=-1)
        scale_map = _torch_resize((1 - cos).numpy(), (size, size)).astype(np.float64)
        total = total + scale_map if combine == "add" else total * scale_map
    if sigma:
        total = np.stack([scipy.ndimage.gaussian_filter(m, sigma=sigma) for m in total])
    return total


@pytest.mark.parametrize("combine,sigma", [("add", 4.0), ("mul", 4.0), ("add", 0), ("add", None)])
def test_anomaly_map_matches_reference(combine, sigma):
    rng = np.random.default_rng(4)
    shapes = [(2, 16, 16, 8), (2, 8, 8, 16), (2, 4, 4, 32)]
    teachers = [rng.normal(size=sh).astype(np.float32) for sh in shapes]
    students = [(t + rng.normal(scale=0.7, size=t.shape)).astype(np.float32) for t in teachers]
    ours = np.asarray(anomaly_map(teachers, students, 64, combine=combine, sigma=sigma))
    ref = _reference_map(teachers, students, 64, combine, sigma)
    assert ours.shape == (2, 64, 64) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=0, atol=5e-6)
    np.testing.assert_allclose(np.asarray(image_scores(ours)), ref.max(axis=(1, 2)), atol=5e-6)


def test_anomaly_map_jits_with_rectangular_size():
    feats = [jnp.ones((1, 4, 6, 3)), jnp.ones((1, 2, 3, 5))]
    out = jax.jit(lambda t, s: anomaly_map(t, s, (12, 18)))(feats, feats)
    assert out.shape == (1, 12, 18)
    np.testing.assert_allclose(np.asarray(out), 0.0, atol=1e-6)


def test_anomaly_map_rejects_unknown_combine():
    feats = [jnp.ones((1, 2, 2, 3))]
    with pytest.raises(ValueError):
        anomaly_map(feats, feats, 4, combine="max")
