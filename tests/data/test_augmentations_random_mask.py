"""Two-stage RKD's random patch masking."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdjax.data.augmentations.random_mask import mask_patches, random_patch_mask


def test_mask_is_whole_grid_cells_at_the_requested_rate():
    mask = np.asarray(random_patch_mask(jax.random.key(0), 64, 36, 40, 8, 0.3))
    assert mask.shape == (64, 36, 40)
    assert not mask[:, 32:].any() and not mask[:, :, 40:].any()  # the partial bottom row stays
    cells = mask[:, :32, :40].reshape(64, 4, 8, 5, 8)
    assert np.all(cells == cells[:, :, :1, :, :1])  # constant inside each 8x8 cell
    assert abs(cells[:, :, 0, :, 0].mean() - 0.3) < 0.03  # 1280 cells, sd ~ 0.013


def test_masked_pixels_take_the_fill_value_others_are_untouched():
    x = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
    out, mask = mask_patches(jax.random.key(2), x, 4, 0.5)
    out, mask, x = map(np.asarray, (out, mask, x))
    np.testing.assert_array_equal(out[mask], 0.0)
    np.testing.assert_array_equal(out[~mask], x[~mask])


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="patch size"):
        random_patch_mask(jax.random.key(0), 1, 8, 8, 16, 0.3)
    with pytest.raises(ValueError, match="ratio"):
        mask_patches(jax.random.key(0), jnp.zeros((1, 8, 8, 3)), 4, 1.5)
