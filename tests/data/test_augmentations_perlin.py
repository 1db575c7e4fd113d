"""Perlin anomalies: noise against a numpy DRAEM-style reference, masks, blend, foreground, textures."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdjax.data.augmentations import perlin


def numpy_perlin(angles: np.ndarray, shape, res) -> np.ndarray:
    """DRAEM's ``rand_perlin_2d_np`` with given lattice angles: per-cell tiles of gradients."""
    delta = (res[0] / shape[0], res[1] / shape[1])
    d = (shape[0] // res[0], shape[1] // res[1])
    grid = np.mgrid[0:res[0]:delta[0], 0:res[1]:delta[1]].transpose(1, 2, 0) % 1
    a = angles[:res[0] + 1, :res[1] + 1]
    grads = np.stack((np.cos(a), np.sin(a)), axis=-1)

    def tile(r, c):
        return np.repeat(np.repeat(grads[r, c], d[0], axis=0), d[1], axis=1)

    def dot(g, shift):
        return ((grid[..., 0] + shift[0]) * g[..., 0] + (grid[..., 1] + shift[1]) * g[..., 1])

    n00 = dot(tile(slice(0, -1), slice(0, -1)), (0, 0))
    n10 = dot(tile(slice(1, None), slice(0, -1)), (-1, 0))
    n01 = dot(tile(slice(0, -1), slice(1, None)), (0, -1))
    n11 = dot(tile(slice(1, None), slice(1, None)), (-1, -1))
    t = 6 * grid ** 5 - 15 * grid ** 4 + 10 * grid ** 3
    n0 = n00 + t[..., 0] * (n10 - n00)
    n1 = n01 + t[..., 0] * (n11 - n01)
    return math.sqrt(2) * (n0 + t[..., 1] * (n1 - n0))


anomalies = jax.jit(perlin.perlin_anomalies, static_argnums=3)
ANGLES = 2 * np.pi * np.random.default_rng(0).random((33, 33))


@pytest.mark.parametrize("shape,res", [((64, 64), (1, 1)), ((64, 64), (2, 8)),
                                       ((128, 128), (32, 4)), ((96, 64), (4, 16))])
def test_unrotated_noise_matches_draem_numpy(shape, res):
    got = perlin.rotated_perlin_noise(jnp.asarray(ANGLES, jnp.float32), jnp.asarray(res),
                                      jnp.float32(0.0), shape)
    np.testing.assert_allclose(np.asarray(got), numpy_perlin(ANGLES, shape, res), atol=2e-5)


def test_quarter_turn_rotates_the_noise_image():
    res = jnp.asarray((4, 2))
    flat = perlin.rotated_perlin_noise(jnp.asarray(ANGLES, jnp.float32), res, jnp.float32(0.0), (64, 64))
    turned = perlin.rotated_perlin_noise(jnp.asarray(ANGLES, jnp.float32), res,
                                         jnp.float32(np.pi / 2), (64, 64))
    np.testing.assert_allclose(np.asarray(turned), np.rot90(np.asarray(flat), 1), atol=1e-4)


def test_rotation_zeroes_the_corners_brought_in_from_outside():
    noise = perlin.rotated_perlin_noise(jnp.asarray(ANGLES, jnp.float32), jnp.asarray((8, 8)),
                                        jnp.float32(np.pi / 4), (64, 64))
    corners = np.asarray(noise)[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.all(corners == 0.0)
    assert np.abs(np.asarray(noise)[32, 32]) > 0 or np.abs(np.asarray(noise)[20, 40]) > 0


def test_masks_are_binary_with_the_stated_coverage():
    keys = jax.random.split(jax.random.key(0), 2048)
    masks = np.asarray(jax.jit(jax.vmap(lambda k: perlin.perlin_mask(k, (64, 64))))(keys))
    assert set(np.unique(masks)) <= {0.0, 1.0}
    coverage = masks.mean(axis=(1, 2))
    assert 0.02 <= np.mean(coverage == 0) <= 0.10  # a few empty masks, as in DRAEM
    assert 0.035 <= coverage.mean() <= 0.065
    assert 0.12 <= np.percentile(coverage, 99) <= 0.25
    assert coverage.max() <= 0.7
    assert len(np.unique(coverage)) > 300  # masks differ


def test_blend_keeps_pixels_outside_the_mask_and_mixes_inside():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (8, 64, 64, 3)).astype(np.uint8)
    textures = perlin.texture_bank(64, 4, 0)
    aug, masks = anomalies(jax.random.key(3), jnp.asarray(images), jnp.asarray(textures), False)
    aug, masks = np.asarray(aug), np.asarray(masks)
    outside = masks[..., None] == 0
    np.testing.assert_array_equal(np.where(outside, aug, 0), np.where(outside, images, 0))
    assert masks.sum() > 0
    # Inside, each pixel is (1-β)·texture + β·image with β in [0, 0.8] for one texture per image.
    for i in range(8):
        m = masks[i] > 0
        if not m.any():
            continue
        img, out = images[i][m].astype(np.float64), aug[i][m].astype(np.float64)
        fits = []
        for tex in textures:
            t = tex[m].astype(np.float64)
            denom = np.sum((img - t) ** 2)
            beta = np.sum((out - t) * (img - t)) / denom
            fits.append((np.abs(beta * img + (1 - beta) * t - out).max(), beta))
        err, beta = min(fits)
        assert err < 1e-2 and -1e-4 <= beta <= 0.8 + 1e-4


def test_foreground_keeps_masks_on_the_object():
    yy, xx = np.mgrid[:64, :64]
    disk = (yy - 30) ** 2 + (xx - 34) ** 2 < 18 ** 2
    img = np.full((64, 64, 3), 40, np.uint8)
    img[disk] = (200, 180, 90)
    img = np.clip(img + np.random.default_rng(0).normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    fg = np.asarray(jax.jit(perlin.foreground_masks)(jnp.asarray(img[None])))[0] > 0
    assert (fg & disk).sum() / (fg | disk).sum() > 0.95

    images = jnp.asarray(np.repeat(img[None], 16, axis=0))
    _, masks = anomalies(jax.random.key(0), images, jnp.asarray(perlin.texture_bank(64, 4, 0)), True)
    masks = np.asarray(masks)
    assert masks.sum() > 0
    assert masks[:, ~fg].sum() == 0


def test_texture_bank_is_deterministic_and_varied():
    a = perlin.texture_bank(32, 20, 5)
    b = perlin.texture_bank.__wrapped__(32, 20, 5)
    assert a.shape == (20, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, perlin.texture_bank.__wrapped__(32, 20, 6))
    assert len({x.tobytes() for x in a}) == 20
    with pytest.raises(ValueError, match="texture_bank"):
        perlin.perlin_anomalies(jax.random.key(0), jnp.zeros((1, 64, 64, 3), jnp.uint8), jnp.asarray(a))
