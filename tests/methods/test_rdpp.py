"""RD++: each loss term against PyTorch/numpy, the two optimisers and gradient accumulation."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn.functional as F

from rdjax.methods.rdpp import (RDPP, contrast_loss, parameter_groups, reconstruction_loss,
                                ssot_loss)
from rdjax.methods.sinkhorn import sinkhorn_divergence
from tests.methods.masked_family_helpers import images, method_and_variables, tiny_config


def features(seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(4, s, s, c)).astype(np.float32) for s, c in ((6, 4), (3, 6), (2, 8))]


def nchw(f):
    return torch.from_numpy(f.transpose(0, 3, 1, 2).copy())


def test_reconstruction_term_is_mean_channel_cosine_distance():
    a, b = features(0), features(1)
    expected = sum(torch.mean(1 - F.cosine_similarity(nchw(x), nchw(y))) for x, y in zip(a, b)).item()
    got = float(reconstruction_loss([jnp.asarray(x) for x in a], [jnp.asarray(y) for y in b]))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("margin", [0.5, -0.5, 0.1])
def test_contrast_term_is_cosine_embedding_loss_with_target_minus_one(margin):
    a, b = features(2), features(3)
    b = [y + 0.5 * x for x, y in zip(a, b)]  # some positive cosines
    loss = torch.nn.CosineEmbeddingLoss(margin=margin)
    target = -torch.ones(4)
    expected = sum(loss(nchw(x).reshape(4, -1), nchw(y).reshape(4, -1), target) for x, y in zip(a, b))
    got = float(contrast_loss([jnp.asarray(x) for x in a], [jnp.asarray(y) for y in b], margin))
    assert got == pytest.approx(expected.item(), rel=1e-5)


def test_ssot_term_is_sinkhorn_between_softmax_rows_and_their_shuffle():
    p = features(4)
    perm = np.array([2, 0, 3, 1])

    def softmax_rows(f):
        z = f.reshape(4, -1).astype(np.float64)
        e = np.exp(z - z.max(1, keepdims=True))
        return (e / e.sum(1, keepdims=True)).astype(np.float32)

    # Rows picked with repeats make a different measure, so the value is not trivially zero.
    picks = np.array([0, 0, 1, 3])
    expected = sum(float(sinkhorn_divergence(softmax_rows(f), softmax_rows(f)[picks])) for f in p)
    assert expected > 1e-6
    assert float(ssot_loss([jnp.asarray(f) for f in p], picks)) == pytest.approx(expected, rel=1e-3)
    # A permutation of the rows is the same measure: the term is zero, as in the original.
    assert abs(float(ssot_loss([jnp.asarray(f) for f in p], perm))) < 1e-7


@pytest.mark.slow
def test_total_loss_combines_the_terms_as_rdpp():
    method, variables = method_and_variables(tiny_config("rdpp"))
    loss_fn = jax.jit(lambda v, b, r: method.loss(v.params, v.model_state, v.frozen, b, r))
    loss, (m, _) = loss_fn(variables, {"image": images()}, jax.random.key(1))
    proj = (m["ssot"] + 0.01 * m["recon"] + 0.1 * m["contrast"]) / 1.11
    assert float(m["proj"]) == pytest.approx(float(proj), rel=1e-6)
    assert float(loss) == pytest.approx(float(m["distill"] + 0.2 * proj), rel=1e-6)
    assert set(variables.params) == {"bottleneck", "decoder", "projection"}


def rdpp_optimizer(accumulation):
    config = tiny_config("rdpp")
    config.rdpp.grad_accumulation = accumulation
    return RDPP(config).optimizer()


def toy_params():
    return {"projection": {"w": jnp.ones(3)}, "bottleneck": {"w": jnp.ones(2)},
            "decoder": {"w": jnp.ones(2)}}


def test_each_adam_updates_only_its_group_with_its_learning_rate():
    tx = rdpp_optimizer(1)
    params = toy_params()
    state = tx.init(params)
    only_projection = jax.tree_util.tree_map(jnp.zeros_like, params)
    only_projection["projection"]["w"] = jnp.array([1.0, -2.0, 3.0])
    updates, _ = tx.update(only_projection, state, params)
    # Adam's first step moves each parameter by lr * sign(gradient).
    np.testing.assert_allclose(updates["projection"]["w"], [-1e-3, 1e-3, -1e-3], rtol=1e-4)
    np.testing.assert_array_equal(updates["bottleneck"]["w"], 0.0)
    only_student = jax.tree_util.tree_map(lambda x: -jnp.ones_like(x), params)
    only_student["projection"]["w"] = jnp.zeros(3)
    updates, _ = tx.update(only_student, state, params)
    np.testing.assert_array_equal(updates["projection"]["w"], 0.0)
    np.testing.assert_allclose(updates["decoder"]["w"], [5e-3, 5e-3], rtol=1e-4)
    assert parameter_groups(params)["projection"]["w"] == "projection"


def test_gradient_accumulation_equals_one_step_on_the_doubled_batch():
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
    ys = jnp.asarray(rng.normal(size=(8,)), jnp.float32)

    def loss(params, x, y):  # a batch-mean loss touching both groups
        pred = x @ params["projection"]["w"] + jnp.sum(params["bottleneck"]["w"]) * x[:, 0] \
            + jnp.sum(params["decoder"]["w"] ** 2)
        return jnp.mean((pred - y) ** 2)

    def run(tx, batches, steps):
        params = toy_params()
        state = tx.init(params)
        for _ in range(steps):
            for x, y in batches:
                updates, state = tx.update(jax.grad(loss)(params, x, y), state, params)
                params = optax.apply_updates(params, updates)
        return params

    halves = [(xs[:4], ys[:4]), (xs[4:], ys[4:])]
    accumulated = run(rdpp_optimizer(2), halves, 3)
    doubled = run(rdpp_optimizer(1), [(xs, ys)], 3)
    for a, b in zip(jax.tree_util.tree_leaves(accumulated), jax.tree_util.tree_leaves(doubled)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    one_half = run(rdpp_optimizer(2), halves[:1], 1)  # a lone micro-step changes nothing
    for a, b in zip(jax.tree_util.tree_leaves(one_half), jax.tree_util.tree_leaves(toy_params())):
        np.testing.assert_array_equal(a, b)


def test_noise_settings_that_do_not_fit_raise():
    config = tiny_config("rdpp")
    config.rdpp.noise_min_size, config.rdpp.noise_max_size = 5, 0  # 0 = 32 // 8 = 4 < 5
    with pytest.raises(ValueError, match="noise_min_size"):
        RDPP(config)
