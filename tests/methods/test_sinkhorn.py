"""The debiased Sinkhorn divergence on cases with known answers (and geomloss when present)."""

import jax
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from rdjax.methods.sinkhorn import epsilon_schedule, sinkhorn_divergence


def cloud(seed, n, d, scale=1.0):
    return (np.random.default_rng(seed).normal(size=(n, d)) * scale).astype(np.float32)


def test_translation_costs_half_the_squared_shift():
    x = cloud(0, 10, 3)
    t = np.array([0.5, -1.0, 2.0], np.float32)
    assert float(sinkhorn_divergence(x, x + t)) == pytest.approx(0.5 * np.sum(t ** 2), rel=1e-5)


def test_identical_measures_give_zero_whatever_the_order():
    x = cloud(1, 16, 5)
    assert abs(float(sinkhorn_divergence(x, x[::-1]))) < 1e-6
    # RD++'s case: softmax rows of wide features against a shuffled copy.
    s = jax.nn.softmax(cloud(2, 16, 4096), axis=-1)
    assert abs(float(sinkhorn_divergence(s, s[np.random.default_rng(0).permutation(16)]))) < 1e-8


def test_single_points_cost_half_their_squared_distance():
    x, y = cloud(3, 1, 4), cloud(4, 1, 4)
    assert float(sinkhorn_divergence(x, y)) == pytest.approx(0.5 * np.sum((x - y) ** 2), rel=1e-5)


def test_small_blur_approaches_the_exact_assignment_cost():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(size=(12, 2)).astype(np.float32), rng.uniform(size=(12, 2)).astype(np.float32)
    cost = 0.5 * ((x[:, None] - y[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    exact = cost[rows, cols].mean()
    assert float(sinkhorn_divergence(x, y, blur=0.01)) == pytest.approx(exact, rel=0.03)


def test_gradient_matches_finite_differences():
    x, y = cloud(6, 6, 2), cloud(7, 6, 2) + 0.3
    grad = np.asarray(jax.grad(sinkhorn_divergence)(x, y))
    h = 1e-2
    for i, j in [(0, 0), (3, 1), (5, 0)]:
        e = np.zeros_like(x)
        e[i, j] = h
        fd = (float(sinkhorn_divergence(x + e, y)) - float(sinkhorn_divergence(x - e, y))) / (2 * h)
        assert grad[i, j] == pytest.approx(fd, abs=0.02 * float(np.abs(grad).max()))


def test_epsilon_schedule_runs_from_diameter_squared_to_blur_squared():
    eps = epsilon_schedule(0.05, 0.95, 1e7)
    assert eps[0] == 1e14 and eps[-1] == pytest.approx(0.0025)
    np.testing.assert_allclose(eps[2:-1] / eps[1:-2], 0.95 ** 2, rtol=1e-9)


def test_matches_geomloss_value_and_gradient_when_installed():
    geomloss = pytest.importorskip("geomloss")
    torch = pytest.importorskip("torch")
    loss = geomloss.SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.95, debias=True,
                                diameter=1e7, backend="tensorized")
    x, y = cloud(8, 16, 5), cloud(9, 12, 5) + 0.1
    xt = torch.tensor(x, requires_grad=True)
    ref = loss(xt, torch.tensor(y))
    ref.backward()
    value, grad = jax.value_and_grad(sinkhorn_divergence)(x, y)
    assert float(value) == pytest.approx(ref.item(), rel=1e-5)
    np.testing.assert_allclose(grad, xt.grad.numpy(), atol=1e-4)  # float32, gradients ~0.1
