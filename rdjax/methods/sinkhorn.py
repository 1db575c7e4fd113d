"""Debiased Sinkhorn divergence between point clouds, with geomloss's semantics.

What ``geomloss.SamplesLoss('sinkhorn', p=2, blur, scaling, diameter,
debias=True)`` computes for two (N, D) / (M, D) tensors (uniform weights,
its 'tensorized' backend), written in JAX:

* cost ``C(x, y) = ½‖x − y‖²`` (from ``‖x‖² − 2⟨x, y⟩ + ‖y‖²``), ε = blur²;
* ε-scaling: ε runs through ``[diameter², exp(arange(2·log diameter,
  2·log blur, 2·log scaling))…, blur²]``;
* per ε, symmetric log-domain Sinkhorn updates of the four potentials
  (a↔b, a↔a, b↔b), each new value averaged with the old one;
* a last, extrapolation step at the final ε through which gradients flow
  (the loop itself is under ``stop_gradient``, as geomloss runs it without
  autograd) and each cost matrix is differentiable in its left argument
  only (geomloss detaches the right one), so the gradient is the
  envelope-theorem one, as geomloss's;
* ``S(α, β) = ⟨α, f_ba − f_aa⟩ + ⟨β, g_ab − g_bb⟩``.

Known answers (tests): S(α, α) = 0; S(α, α + t) = ½‖t‖² for a translation t at
any ε (the cost's cross term is separable); one point each: ½‖x − y‖².
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np


def epsilon_schedule(blur: float, scaling: float, diameter: float, p: int = 2) -> np.ndarray:
    """geomloss's ``epsilon_schedule``: the temperatures of the annealed Sinkhorn loop."""
    middle = [math.exp(e) for e in np.arange(p * math.log(diameter), p * math.log(blur),
                                            p * math.log(scaling))]
    return np.asarray([diameter ** p] + middle + [blur ** p], np.float64)


def half_squared_distances(x: jax.Array, y: jax.Array) -> jax.Array:
    """(N, M) ``½‖x_i − y_j‖²`` in geomloss's expanded form."""
    xx = jnp.sum(x * x, axis=-1)[:, None]
    yy = jnp.sum(y * y, axis=-1)[None, :]
    return 0.5 * (xx - 2.0 * x @ y.T + yy)


def _softmin(eps, cost, h):
    """``f_i = −ε log Σ_j exp(h_j − C_ij / ε)``."""
    return -eps * jax.nn.logsumexp(h[None, :] - cost / eps, axis=1)


@functools.partial(jax.jit, static_argnames=("blur", "scaling", "diameter"))
def sinkhorn_divergence(x: jax.Array, y: jax.Array, blur: float = 0.05, scaling: float = 0.95,
                        diameter: float = 1e7) -> jax.Array:
    """Debiased Sinkhorn divergence S_ε(α, β) of the uniform measures on the rows of x and y."""
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    a_log = jnp.full((x.shape[0],), -math.log(x.shape[0]), jnp.float32)
    b_log = jnp.full((y.shape[0],), -math.log(y.shape[0]), jnp.float32)
    sg = jax.lax.stop_gradient
    # As geomloss: each cost matrix is differentiable in its left argument only.
    c_xy, c_yx = half_squared_distances(x, sg(y)), half_squared_distances(y, sg(x))
    c_xx, c_yy = half_squared_distances(x, sg(x)), half_squared_distances(y, sg(y))
    costs = [sg(c) for c in (c_xy, c_xx, c_yy)]
    eps_list = jnp.asarray(epsilon_schedule(blur, scaling, diameter), jnp.float32)

    def update(eps, pots, cxy, cxx, cyy):
        f_ba, g_ab, f_aa, g_bb = pots
        return (_softmin(eps, cxy, b_log + g_ab / eps), _softmin(eps, cxy.T, a_log + f_ba / eps),
                _softmin(eps, cxx, a_log + f_aa / eps), _softmin(eps, cyy, b_log + g_bb / eps))

    eps0 = eps_list[0]
    start = (_softmin(eps0, costs[0], b_log), _softmin(eps0, costs[0].T, a_log),
             _softmin(eps0, costs[1], a_log), _softmin(eps0, costs[2], b_log))

    def step(pots, eps):
        new = update(eps, pots, *costs)
        return tuple(0.5 * (o + n) for o, n in zip(pots, new)), None

    pots, _ = jax.lax.scan(step, start, eps_list)
    eps = eps_list[-1]
    f_ba, g_ab, f_aa, g_bb = pots
    # The last extrapolation: the potentials' inputs are detached, the costs differentiable.
    f_ba_new = _softmin(eps, c_xy, sg(b_log + g_ab / eps))
    g_ab_new = _softmin(eps, c_yx, sg(a_log + f_ba / eps))
    f_aa_new = _softmin(eps, c_xx, sg(a_log + f_aa / eps))
    g_bb_new = _softmin(eps, c_yy, sg(b_log + g_bb / eps))
    return jnp.mean(f_ba_new - f_aa_new) + jnp.mean(g_ab_new - g_bb_new)
