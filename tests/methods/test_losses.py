"""Distillation losses against PyTorch's cosine similarity (the original code's ops)."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rdjax.methods.losses import flattened_cosine_loss, per_pixel_cosine_loss

pytestmark = pytest.mark.numerics  # rerun under other CPUs' code paths: .ci/run


def features(seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, s, s, c)).astype(np.float32) for s, c in ((8, 4), (4, 6), (2, 8))]


def to_torch(f):
    return torch.from_numpy(f.transpose(0, 3, 1, 2).copy())


def test_flattened_loss_matches_rd4ad_loss_function():
    t, s = features(0), features(1)
    expected = sum(torch.mean(1 - F.cosine_similarity(to_torch(a).reshape(3, -1), to_torch(b).reshape(3, -1)))
                   for a, b in zip(t, s)).item()
    got = float(flattened_cosine_loss([jnp.asarray(a) for a in t], [jnp.asarray(b) for b in s]))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_per_pixel_loss_matches_channel_cosine():
    t, s = features(2), features(3)
    expected = sum(torch.mean(1 - F.cosine_similarity(to_torch(a), to_torch(b))) for a, b in zip(t, s)).item()
    got = float(per_pixel_cosine_loss([jnp.asarray(a) for a in t], [jnp.asarray(b) for b in s]))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_losses_vanish_for_identical_features_and_differ_otherwise():
    t = [jnp.asarray(a) for a in features(4)]
    assert abs(float(flattened_cosine_loss(t, t))) < 1e-6
    s = [jnp.asarray(a) for a in features(5)]
    assert float(flattened_cosine_loss(t, s)) != float(per_pixel_cosine_loss(t, s))
