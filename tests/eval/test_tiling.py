"""Tiled anomaly maps: tile geometry, blending against a per-pixel loop, a defect on a seam."""

import numpy as np
import pytest
from scipy import ndimage

from rdjax.eval.tiling import blend_window, tile_starts, tiled_anomaly_map


@pytest.mark.parametrize("length,tile,overlap", [(1000, 128, 32), (300, 128, 0), (129, 128, 64),
                                                 (128, 128, 32), (50, 128, 32), (777, 200, 199)])
def test_tile_starts_cover_the_line_with_the_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0
    assert starts[-1] == max(0, length - tile)
    covered = np.zeros(max(length, tile), bool)
    for s in starts:
        covered[s:s + tile] = True
    assert covered[:length].all()
    shared = [a + tile - b for a, b in zip(starts, starts[1:])]
    assert all(overlap <= s < tile for s in shared)


def test_tile_starts_rejects_bad_overlap():
    with pytest.raises(ValueError, match="overlap"):
        tile_starts(500, 64, 64)


def test_blend_window_is_one_inside_and_ramps_at_edges():
    w = blend_window(16, 4)
    assert w.shape == (16, 16) and (w > 0).all() and np.allclose(w, w.T)
    assert np.all(w[4:12, 4:12] == 1.0)
    np.testing.assert_allclose(w[8, :4], [0.125, 0.375, 0.625, 0.875])


def _stitch_reference(image, map_fn, tile, overlap):
    """Per-pixel loop: a pixel's value is the window-weighted mean of every tile covering it."""
    h, w = image.shape[:2]
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    ramp = max(overlap, 1)

    def weight(i):
        return min(1.0, (i + 0.5) / ramp, (tile - i - 0.5) / ramp)

    maps = {(y, x): map_fn(image[None, y:y + tile, x:x + tile])[0] for y in ys for x in xs}
    out = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            num = den = 0.0
            for (y, x), m in maps.items():
                if y <= r < y + tile and x <= c < x + tile:
                    wt = weight(r - y) * weight(c - x)
                    num += wt * m[r - y, c - x]
                    den += wt
            out[r, c] = num / den
    return out


def _local_contrast(tiles):
    """A stand-in model with tile-border effects: |grey − its 9×9 mean| (reflect padding)."""
    grey = tiles.astype(np.float64).mean(axis=-1)
    return np.abs(grey - ndimage.uniform_filter(grey, size=(1, 9, 9), mode="reflect"))


def test_blending_matches_per_pixel_reference():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    got = tiled_anomaly_map(image, _local_contrast, tile_size=32, overlap=8, model_size=32,
                            tiles_per_call=5)
    np.testing.assert_allclose(got, _stitch_reference(image, _local_contrast, 32, 8), rtol=1e-5)


def test_pointwise_model_gives_the_whole_image_map_exactly():
    """A model without spatial context must give the same map tiled or not, at any size."""
    rng = np.random.default_rng(1)

    def pointwise(tiles):
        return tiles.astype(np.float32).mean(axis=-1) / 255.0

    for shape in [(600, 900, 3), (40, 700, 3)]:  # the second is smaller than a tile in height
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        got = tiled_anomaly_map(image, pointwise, tile_size=128, overlap=32, model_size=128)
        assert got.shape == shape[:2]
        np.testing.assert_allclose(got, pointwise(image[None])[0], rtol=1e-6, atol=1e-6)


def test_large_image_with_a_defect_on_a_tile_border_is_found():
    """A 1024×1536 smooth texture with a 12 px dark spot straddling the seam of two tiles."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:1024, :1536]
    grey = 128 + 20 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + rng.normal(0, 2, (1024, 1536))
    image = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    tile, overlap = 256, 64
    xs = tile_starts(1536, tile, overlap)
    seam_x = xs[2]  # the spot straddles the left edge of the third column of tiles
    spot = (slice(500, 512), slice(seam_x - 6, seam_x + 6))
    image[spot] = 20
    # The model sees each tile at half resolution, as a 256 px model would see 512 px tiles.
    got = tiled_anomaly_map(image, _local_contrast, tile_size=tile, overlap=overlap, model_size=128)
    assert got.shape == (1024, 1536)
    peak = np.unravel_index(np.argmax(got), got.shape)
    assert 494 <= peak[0] < 518 and seam_x - 12 <= peak[1] < seam_x + 12
    cut = 0.5 * got.max()
    defect = got >= cut
    assert defect[spot].mean() > 0.5  # most of the spot is flagged ...
    far = np.ones_like(defect)
    far[470:542, seam_x - 36:seam_x + 36] = False
    assert not defect[far].any()  # ... and nothing away from it
    # Without overlap the seam is still covered, by the two tiles' edges only.
    no_overlap = tiled_anomaly_map(image, _local_contrast, tile_size=tile, overlap=0, model_size=128)
    assert no_overlap[spot].max() >= cut
