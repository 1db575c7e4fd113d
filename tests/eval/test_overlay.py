"""Overlay PNGs and example selection."""

import os

import numpy as np
from PIL import Image

from rdjax.eval.overlay import PANEL_GAP, jet, save_overlays, select_examples


def _inputs(n=3, h=20, w=24):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    maps = rng.random((n, h, w)).astype(np.float32)
    masks = np.zeros((n, h, w), np.uint8)
    masks[1, 5:12, 6:15] = 1
    return images, maps, masks


def test_save_overlays_writes_three_panel_pngs(tmp_path):
    images, maps, masks = _inputs()
    paths = save_overlays(str(tmp_path), images, maps, masks, ["good/000", "crack/001", "x"])
    assert [os.path.basename(p) for p in paths] == ["good_000.png", "crack_001.png", "x.png"]
    for path, image in zip(paths, images):
        png = np.asarray(Image.open(path))
        assert png.shape == (20, 3 * 24 + 2 * PANEL_GAP, 3)
        np.testing.assert_array_equal(png[:, :24], image)        # first panel: the input
    # The GT contour is drawn in red on the third panel of the defective image only.
    third = np.asarray(Image.open(paths[1]))[:, 2 * (24 + PANEL_GAP):]
    red = np.all(third == (255, 0, 0), axis=-1)
    assert red[5, 6:15].all() and not red[8, 9] and not red[:5].any()
    third_normal = np.asarray(Image.open(paths[0]))[:, 2 * (24 + PANEL_GAP):]
    np.testing.assert_array_equal(third_normal, images[0])


def test_save_overlays_without_masks_has_two_panels(tmp_path):
    images, maps, _ = _inputs(n=2)
    paths = save_overlays(str(tmp_path / "sub"), images, maps, None, ["a", "b"],
                          vmin=0.0, vmax=2.0)
    assert all(np.asarray(Image.open(p)).shape == (20, 2 * 24 + PANEL_GAP, 3) for p in paths)


def test_jet_endpoints():
    np.testing.assert_array_equal(jet(np.array([0.0, 0.5, 1.0])),
                                  [[0, 0, 128], [128, 255, 128], [128, 0, 0]])


def test_select_examples_takes_both_ends_per_class():
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.4, 0.2, 0.3, 0.9, 0.5, 0.7])
    # Normals by score: 1 (0.4), 3, 2, 0 (0.1); defects: 4 (0.9), 6, 5 (0.5).
    np.testing.assert_array_equal(select_examples(labels, scores, 2), [1, 0, 4, 5])
    np.testing.assert_array_equal(select_examples(labels, scores, 3), [1, 0, 3, 4, 5, 6])
    assert len(select_examples(labels, scores, 10)) == 7
