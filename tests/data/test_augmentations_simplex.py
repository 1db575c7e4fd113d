"""OpenSimplex noise and RD++'s noise rectangles.

Reference values come from the ``opensimplex`` package (0.4.5.1, the code RD++
copied): ``opensimplex.internals._init(seed)`` and ``_noise3(x, y, z, ...)``,
computed once and pasted here (the package is not a dependency).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdjax.data.augmentations import simplex

PERM_111_HEAD = [196, 24, 12, 204, 45, 219, 1, 61, 246, 205, 3, 231, 113, 25, 123, 19]
PERM_HEADS = {-7: [246, 94, 170, 114, 222, 39, 3, 69], 2 ** 40 + 3: [145, 244, 140, 177, 149, 44, 20, 121]}
NOISE3_SEED_111 = [((30.25, 30.397, 15.766), -0.054013), ((4.29, -7.303, 9.168), -0.2665038),
                   ((10.424, -7.736, -7.562), -0.0741457), ((39.959, 22.618, 1.726), -0.2294882),
                   ((11.747, 38.709, 34.884), -0.3976768), ((32.212, 9.62, 14.651), -0.1408663),
                   ((23.834, -6.96, 17.78), 0.2062648), ((3.573, 33.983, -6.789), 0.0934626)]
# RD++'s rand_3d_octaves((3, 31, 31), 6, 0.6) with the seed-111 permutation, at [z, y, x].
FRACTAL_SEED_111 = {(1, 5, 7): 0.4875629, (2, 30, 30): -0.6732604, (0, 17, 3): -0.3222370,
                    (1, 29, 11): -0.5451172, (2, 8, 22): 0.1276038}


def test_permutation_matches_opensimplex_seeding():
    perm = simplex.permutation_from_seed(111)
    assert perm[:16].tolist() == PERM_111_HEAD
    assert sorted(perm.tolist()) == list(range(256))
    for seed, head in PERM_HEADS.items():
        assert simplex.permutation_from_seed(seed)[:8].tolist() == head


def test_gradient_table_is_opensimplex_order():
    g = simplex.GRADIENTS3
    assert g.shape == (24, 3)
    np.testing.assert_array_equal(g[:3], [[-11, 4, 4], [-4, 11, 4], [-4, 4, 11]])
    np.testing.assert_array_equal(g[21:], [[11, -4, -4], [4, -11, -4], [4, -4, -11]])


def test_noise3_matches_opensimplex_values():
    perm = simplex.permutation_from_seed(111)
    pts = np.array([p for p, _ in NOISE3_SEED_111])
    expected = np.array([v for _, v in NOISE3_SEED_111])
    got = np.asarray(simplex.open_simplex3(pts[:, 0], pts[:, 1], pts[:, 2], perm))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_fractal_noise_matches_rdpp_octaves():
    noise = np.asarray(simplex.fractal_noise(simplex.permutation_from_seed(111), (3, 31, 31)))
    for idx, value in FRACTAL_SEED_111.items():
        assert noise[idx] == pytest.approx(value, abs=1e-4)
    assert abs(noise[0, 0, 0]) < 1e-6  # the kernel sum vanishes at the lattice origin


def test_rectangles_change_only_their_region_by_scaled_noise():
    images = jax.random.uniform(jax.random.key(0), (64, 48, 40, 3))
    block = jax.random.normal(jax.random.key(1), (3, 12, 12))
    noisy, mask = simplex.noise_rectangles(jax.random.key(2), images, block, 4, 12, scale=0.2)
    noisy, mask, images, block = map(np.asarray, (noisy, mask, images, block))
    diff = noisy - images
    np.testing.assert_array_equal(diff[~mask], 0.0)
    for n in range(len(images)):
        rows, cols = np.nonzero(mask[n])
        top, left = rows.min(), cols.min()
        h, w = rows.max() - top + 1, cols.max() - left + 1
        assert mask[n].sum() == h * w  # one filled rectangle
        assert 4 <= h <= 11 and 4 <= w <= 11
        assert top >= 1 and left >= 1 and top + h < 48 and left + w < 40
        expected = 0.2 * np.moveaxis(block[:, :h, :w], 0, -1)  # the block's top-left crop
        np.testing.assert_allclose(diff[n, top:top + h, left:left + w], expected, atol=1e-6)


def test_rectangles_reject_sizes_that_do_not_fit():
    with pytest.raises(ValueError, match="do not fit"):
        simplex.noise_rectangles(jax.random.key(0), jnp.zeros((1, 16, 16, 3)),
                                 jnp.zeros((3, 32, 32)), 10, 32)
