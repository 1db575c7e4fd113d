"""RD-E: objectives against PyTorch, the alternating half-steps, init and settings."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch.nn.functional as F

from rdjax.methods import rde
from rdjax.train.state import TrainState
from tests.tiny_config import with_small_teacher


def nchw(a):
    return torch.from_numpy(np.array(a)).permute(0, 3, 1, 2)


def torch_flat(s_list, t_list):
    return sum(torch.mean(1 - F.cosine_similarity(s.reshape(s.shape[0], -1), t.reshape(t.shape[0], -1)))
               for s, t in zip(s_list, t_list))


def torch_teacher_loss(t_n, t_a, e_n, e_a, mask):
    """RD-E's ``Teacher.loss`` (models/teacher.py) in PyTorch, NCHW."""
    pix = sum(torch.mean(1 - F.cosine_similarity(t, e)) for t, e in zip(t_n, e_n))
    to_mask, m = 0.0, mask[:, None]
    for t, e in zip(t_a, e_n):
        m = F.interpolate(m, size=t.shape[-1], mode="bilinear", align_corners=True)
        m = torch.where(m < 0.5, torch.zeros_like(m), torch.ones_like(m))
        to_mask = to_mask + F.l1_loss((1 - F.cosine_similarity(t, e))[:, None], m)
    return pix + to_mask + torch_flat(t_a, e_a)


def random_feats(rng, n=3, sizes=(16, 8, 4), channels=(6, 8, 10)):
    return [rng.normal(size=(n, s, s, c)).astype(np.float32) for s, c in zip(sizes, channels)]


def test_teacher_objective_matches_pytorch():
    rng = np.random.default_rng(0)
    t_n, t_a, e_n, e_a = (random_feats(rng) for _ in range(4))
    mask = (rng.random((3, 64, 64)) < 0.3).astype(np.float32)
    got = rde.teacher_objective(*[[jnp.asarray(f) for f in fs] for fs in (t_n, t_a, e_n, e_a)],
                                jnp.asarray(mask))
    want = torch_teacher_loss(*[[nchw(f) for f in fs] for fs in (t_n, t_a, e_n, e_a)],
                              torch.from_numpy(mask))
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)


def test_student_objective_matches_pytorch():
    rng = np.random.default_rng(1)
    s_n, s_a, t_n, e_n = (random_feats(rng) for _ in range(4))
    got = rde.student_objective(*[[jnp.asarray(f) for f in fs] for fs in (s_n, s_a, t_n, e_n)])
    s_n, s_a, t_n, e_n = ([nchw(f) for f in fs] for fs in (s_n, s_a, t_n, e_n))
    want = torch_flat(s_n, t_n) + torch_flat(s_a, t_n) + torch_flat(s_n, e_n) + torch_flat(s_a, e_n)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)


def test_xavier_init_redraws_convs_but_not_transposed_convs():
    params = {"a": {"kernel": jnp.zeros((3, 3, 64, 128))}, "up": {"kernel": jnp.zeros((2, 2, 8, 8))},
              "bn": {"scale": jnp.ones(5)}}
    out = rde.xavier_normal_convs(params, jax.random.key(0))
    np.testing.assert_allclose(np.std(np.asarray(out["a"]["kernel"])), np.sqrt(2 / (9 * (64 + 128))),
                               rtol=0.02)
    np.testing.assert_array_equal(out["up"]["kernel"], 0.0)
    np.testing.assert_array_equal(out["bn"]["scale"], 1.0)


def tiny_config(**options):
    from configs.rde import get_config

    config = with_small_teacher(get_config())
    config.rde.num_textures = 4
    for k, v in options.items():
        config.rde[k] = v
    return config


def changed(a, b):
    leaves = jax.tree_util.tree_leaves
    return [not np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b))]


@pytest.mark.slow
def test_train_step_is_one_adam_per_group():
    """RD-E's step (optax.multi_transform, each half-step through its group's masked Adam)
    against the same two updates with a separate plain Adam per group, in float64: the teacher
    phase moves only the teacher's parameters, moments and BatchNorm statistics, the student
    phase (with the updated teacher) only the student's; the frozen expert stays as it was."""
    with jax.enable_x64(True):
        config = tiny_config()
        config.model.dtype = "float64"
        method = rde.RDE(config)
        images = jnp.asarray(np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3)), jnp.uint8)
        variables = jax.tree_util.tree_map(
            lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a,
            method.init(jax.random.key(0), images[:1]))
        state = TrainState.create(variables, method.optimizer())
        rng = jax.random.key(1)

        def reference(state):
            p, s = state.params, state.model_state
            inputs = method.synthesize(state.frozen, images, rng)
            adams = method.group_transforms()
            (_, t_stats), g_t = jax.value_and_grad(method.teacher_loss, has_aux=True)(
                p["teacher"], s["teacher"], inputs)
            up, adam_t = adams["teacher"].update(g_t, adams["teacher"].init(p["teacher"]))
            teacher = optax.apply_updates(p["teacher"], up)
            t_n = method.teacher_apply(teacher, t_stats, inputs["x"], train=False)[0]
            t_a = method.teacher_apply(teacher, t_stats, inputs["x_aug"], train=False)[0]
            g_s, s_stats = jax.grad(lambda q: method.student_loss(
                q, s["student"], t_n, t_a, inputs["e_normal"]), has_aux=True)(p["student"])
            up, adam_s = adams["student"].update(g_s, adams["student"].init(p["student"]))
            return ({"teacher": teacher, "student": optax.apply_updates(p["student"], up)},
                    {"teacher": adam_t[0], "student": adam_s[0]},
                    {"teacher": t_stats, "student": s_stats})

        want_params, want_adam, want_stats = jax.jit(reference)(state)
        got, _ = jax.jit(lambda st: method.train_step(None, st, {"image": images}, rng))(state)
    # Same float64 arithmetic, another summation order: Adam's first step g / (|g| + eps) makes
    # parameters with tiny gradients sensitive; measured here (2-core AVX-512 host, Dec 2026) at
    # most 3.1e-11 absolute (2.9e-7 relative). Every first Adam step moves a weight by about the
    # learning rate (>= 1e-4), so a wrong group or moment would differ by far more than 1e-8.
    close = functools.partial(np.testing.assert_allclose, rtol=0, atol=1e-8)
    jax.tree_util.tree_map(close, got.params, want_params)
    jax.tree_util.tree_map(close, got.model_state, want_stats)
    for group in rde.GROUPS:  # both phases ran: every weight and statistic of each group moved
        assert all(changed(state.params[group], got.params[group])), group
        assert any(changed(state.model_state[group], got.model_state[group])), group
    assert not any(changed(state.frozen, got.frozen))
    for group in rde.GROUPS:
        adam = got.opt_state.inner_states[group].inner_state[0]  # masked Adam: ScaleByAdamState
        assert int(adam.count) == int(want_adam[group].count) == 1
        for name in ("mu", "nu"):  # float64 gradients: equal to 1e-9 of each leaf's largest
            jax.tree_util.tree_map(
                lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * np.abs(b).max()),
                getattr(adam, name)[group], getattr(want_adam[group], name))


def test_init_layout_and_gated_switch():
    images = jnp.zeros((1, 64, 64, 3), jnp.uint8)
    gated = jax.eval_shape(rde.RDE(tiny_config(gated=True)).init, jax.random.key(0), images)
    plain = jax.eval_shape(rde.RDE(tiny_config(gated=False)).init, jax.random.key(0), images)
    assert set(gated.params) == {"teacher", "student"}
    assert set(gated.frozen) == {"expert", "textures"}
    assert gated.frozen["textures"].shape == (4, 64, 64, 3)
    # The teacher is a second copy of the expert network.
    assert (jax.tree_util.tree_structure(gated.params["teacher"])
            == jax.tree_util.tree_structure(gated.frozen["expert"]["params"]))
    g, p = gated.params["student"]["decoder"], plain.params["student"]["decoder"]
    assert {"gii1", "gii2"} <= set(g) and not {"gii1", "gii2"} & set(p)


def test_foreground_option():
    cfg = tiny_config()
    assert not rde.RDE(cfg).use_foreground  # the embedded dataset is textures
    cfg.dataset.name, cfg.dataset.category = "mvtec", "hazelnut"
    assert rde.RDE(cfg).use_foreground
    cfg.dataset.category = "transistor"
    assert not rde.RDE(cfg).use_foreground
    with pytest.raises(ValueError, match="config.rde.foreground"):
        rde.RDE(tiny_config(foreground="sometimes"))


def test_rde_has_no_loss_of_its_own():
    """RD-E overrides train_step; the default step's loss is not there to be called by mistake."""
    with pytest.raises(NotImplementedError, match="RDE defines no loss.*override train_step"):
        rde.RDE(tiny_config()).loss(None, None, None, {}, None)
