"""MRKD's same-image patch swap: what changes, where it comes from, object awareness."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from ml_collections import ConfigDict

from rdjax.data.augmentations import patch_swap as ps

SIZE = 64


def coordinate_image():
    """R = row, G = column, B = 128: every pixel says where it is."""
    i, j = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    return np.stack([i, j, np.full_like(i, 128)], -1).astype(np.uint8)


def swap_many(spec, n, seed=0):
    image = coordinate_image()
    swap = jax.jit(lambda k, x: ps.patch_swap_batch(k, x, spec))
    out, masks = swap(jax.random.key(seed), jnp.asarray(np.repeat(image[None], n, 0)))
    return image, np.asarray(out), np.asarray(masks)


def source_offsets(out, mask):
    """The distinct (dy, dx) from source to destination among pasted pixels."""
    rows, cols = np.nonzero(mask)
    d = np.stack([rows - out[rows, cols, 0].astype(int), cols - out[rows, cols, 1].astype(int)], 1)
    return {tuple(v) for v in np.unique(d, axis=0)}


def test_one_patch_is_a_translated_box_of_the_same_image_and_its_mask():
    spec = ps.PatchSwapSpec(((0.05, 0.3), (0.05, 0.3)), num_patches=1)
    image, out, masks = swap_many(spec, 100)
    hi = int(np.round(0.3 * SIZE))
    for o, m in zip(out, masks):
        assert not np.any(np.any(o != image, axis=-1) & ~m)  # nothing outside the mask changed
        rows, cols = np.nonzero(m)
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert m.sum() == h * w and h <= 2 * hi and w <= 2 * hi  # one filled box
        assert len(source_offsets(o, m)) == 1  # the box is a copy of another box of the same image
        assert np.all(o[..., 2] == 128)


def test_extra_patches_come_with_probability_one_half():
    spec = ps.PatchSwapSpec(((0.05, 0.3), (0.05, 0.3)), num_patches=3)
    image, out, masks = swap_many(spec, 200)
    counts = []
    for o, m in zip(out, masks):
        assert not np.any(np.any(o != image, axis=-1) & ~m)
        counts.append(len(source_offsets(o, m) - {(0, 0)}))
    assert 1 <= min(counts) and max(counts) <= 3
    assert 1.85 < np.mean(counts) < 2.15  # 1 + 2 x 1/2 (sd of the mean 0.05)


def test_same_key_same_result_other_key_other_result():
    spec = ps.TEXTURE_PRESET
    img = jnp.asarray(coordinate_image())
    swap = jax.jit(lambda k: ps.patch_swap(k, img, spec))
    (a, ma), (b, mb), (c, _) = swap(jax.random.key(3)), swap(jax.random.key(3)), swap(jax.random.key(4))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ma, mb)
    assert np.any(np.asarray(a) != np.asarray(c))


def test_object_mask_is_threshold_then_7x7_median_with_replicated_borders():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    image = scipy.ndimage.uniform_filter(image.astype(float), (5, 5, 1)).astype(np.uint8)
    raw = np.abs(image.astype(float).mean(-1) - 128) > 10
    expected = scipy.ndimage.median_filter(raw.astype(np.uint8), size=7, mode="nearest") > 0
    np.testing.assert_array_equal(np.asarray(ps.object_mask(jnp.asarray(image), (128, 10))), expected)


def test_object_aware_swap_only_pastes_where_an_object_is_at_source_or_destination():
    spec = ps.PatchSwapSpec(((0.05, 0.15), (0.05, 0.15)), 1, background=(200, 60), min_object=0.5,
                            min_overlap=0.25)
    image = np.full((SIZE, SIZE, 3), 230, np.uint8)  # bright background
    i, j = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    image[16:48, 16:48] = np.stack([10 + i, 10 + j, np.full_like(i, 20)], -1)  # dark object
    is_object = np.zeros((SIZE, SIZE), bool)
    is_object[16:48, 16:48] = True
    swap = jax.jit(lambda k, x: ps.patch_swap_batch(k, x, spec))
    out, masks = map(np.asarray, swap(jax.random.key(1), jnp.asarray(np.repeat(image[None], 100, 0))))
    pasted_any = 0
    for o, m in zip(out, masks):
        from_object = o[..., 2] == 20
        assert np.all(is_object[m] | from_object[m])
        assert not np.any(np.any(o != image, -1) & ~m)
        pasted_any += m.any()
    assert pasted_any > 80


def test_preset_resolution():
    assert ps.resolve_preset("auto", ConfigDict({"name": "mvtec", "category": "screw"})) == \
        ps.MVTEC_PRESETS["screw"]
    assert ps.resolve_preset("auto", ConfigDict({"name": "synthetic", "category": "brick"})) == \
        ps.TEXTURE_PRESET
    with pytest.raises(ValueError, match="config.mrkd.ilm_preset"):
        ps.resolve_preset("auto", ConfigDict({"name": "visa", "category": "candle"}))
    with pytest.raises(ValueError, match="unknown"):
        ps.resolve_preset("nope", ConfigDict({"name": "mvtec", "category": "bottle"}))
