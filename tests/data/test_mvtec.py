"""Tests for the MVTec-layout reader on small fixture trees."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdjax.data import decode, mvtec
from rdjax.data.decode import BadFileError
from tests.data import fixtures

H = W = fixtures.MIXED_SIZE


@pytest.fixture
def tree(tmp_path):
    c, arrays = fixtures.write_mixed_modes(tmp_path)
    return tmp_path, c, arrays


def test_list_categories(tree, tmp_path):
    root, _, _ = tree
    (root / "empty_folder").mkdir()
    fixtures.write_mixed_modes(root, "another")
    assert mvtec.list_categories(root) == ["another", "widget"]


def test_train_split_counts_and_modes(tree):
    root, c, arrays = tree
    s = mvtec.load_split(root, "widget", "train", image_size=H)
    assert s.images.shape == (3, H, W, 3) and s.images.dtype == np.uint8
    assert s.masks.shape == (3, H, W) and not s.masks.any()
    assert s.labels.dtype == np.int32 and not s.labels.any()
    assert s.defect_types == ["good"] * 3
    assert [Path(p).name for p in s.paths] == ["000.png", "001.png", "002.png"]
    np.testing.assert_array_equal(s.images[0], arrays["train/good/000.png"])
    grey = arrays["train/good/001.png"]
    np.testing.assert_array_equal(s.images[1], np.repeat(grey[:, :, None], 3, 2))
    np.testing.assert_array_equal(s.images[2], arrays["train/good/002.png"][:, :, :3])  # alpha dropped


def test_test_split_labels_masks(tree):
    root, c, arrays = tree
    s = mvtec.load_split(root, "widget", "test", image_size=H)
    assert s.defect_types == ["crack", "crack", "good", "good", "hole"]
    np.testing.assert_array_equal(s.labels, [1, 1, 0, 0, 1])
    assert len(s) == 5
    assert set(np.unique(s.masks)) <= {0, 1} and s.masks.dtype == np.uint8
    np.testing.assert_array_equal(s.masks[0], fixtures.rect_mask(8, 20, 10, 24) // 255)
    np.testing.assert_array_equal(s.masks[1], fixtures.rect_mask(0, 4, 0, 32, hi=1))  # stored as 0/1
    np.testing.assert_array_equal(s.masks[4], fixtures.rect_mask(16, 32, 16, 32) // 255)
    assert not s.masks[2:4].any()
    np.testing.assert_array_equal(s.images[0], arrays["test/crack/000.png"])
    np.testing.assert_array_equal(s.images[2], arrays["test/good/000.png"])  # palette -> RGB
    g16 = arrays["test/good/001.png"]
    expect = np.clip(np.rint(g16 / 257.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(s.images[3], np.repeat(expect[:, :, None], 3, 2))


def test_resize_is_pil_bilinear_and_masks_stay_aligned(tree):
    root, c, arrays = tree
    s = mvtec.load_split(root, "widget", "test", image_size=16)
    assert s.images.shape == (5, 16, 16, 3) and s.masks.shape == (5, 16, 16)
    ref = np.asarray(Image.fromarray(arrays["test/crack/000.png"]).resize((16, 16), Image.BILINEAR))
    np.testing.assert_array_equal(s.images[0], ref)
    # The 32px mask rows 8:20, cols 10:24 become rows 4:10, cols 5:12 at half size.
    np.testing.assert_array_equal(s.masks[0], fixtures.rect_mask(4, 10, 5, 12)[:16, :16] // 255)
    up = mvtec.load_split(root, "widget", "test", image_size=64)
    np.testing.assert_array_equal(up.masks[4][32:, 32:], 1)
    np.testing.assert_array_equal(up.masks[4][:32], 0)


def test_workers_give_same_result(tree):
    root, _, _ = tree
    a = mvtec.load_split(root, "widget", "test", 24, num_workers=1)
    b = mvtec.load_split(root, "widget", "test", 24, num_workers=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert a.paths == b.paths


# ----------------------------------------------------------------------------
# Errors name the offending path


def test_missing_root(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        mvtec.load_split(missing, "widget", "train", 16)


def test_missing_category_lists_available(tree):
    root, _, _ = tree
    with pytest.raises(FileNotFoundError) as e:
        mvtec.load_split(root, "gadget", "train", 16)
    assert "gadget" in str(e.value) and "widget" in str(e.value)


def test_empty_train_good(tree):
    root, c, _ = tree
    for p in (c / "train/good").iterdir():
        p.unlink()
    with pytest.raises(FileNotFoundError, match=str(c / "train" / "good")):
        mvtec.load_split(root, "widget", "train", 16)


def test_bad_split_name(tree):
    with pytest.raises(ValueError, match="split"):
        mvtec.load_split(tree[0], "widget", "val", 16)


def test_defect_without_mask(tree):
    root, c, _ = tree
    (c / "ground_truth/hole/000_mask.png").unlink()
    with pytest.raises(BadFileError) as e:
        mvtec.load_split(root, "widget", "test", 16)
    assert e.value.path == str(c / "test/hole/000.png")
    assert "000_mask.png" in str(e.value) and str(c / "test/hole/000.png") in str(e.value)


@pytest.mark.parametrize("content", [b"this is not a png", None], ids=["garbage", "truncated"])
def test_corrupt_image(tree, content):
    root, c, _ = tree
    bad = c / "train/good/001.png"
    data = bad.read_bytes()
    bad.write_bytes(content if content is not None else data[: len(data) // 2])
    with pytest.raises(BadFileError) as e:
        mvtec.load_split(root, "widget", "train", 16)
    assert e.value.path == str(bad) and str(bad) in str(e.value)
    assert "decode" in e.value.reason


def test_corrupt_mask(tree):
    root, c, _ = tree
    bad = c / "ground_truth/crack/001_mask.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(BadFileError, match="001_mask.png") as e:
        mvtec.load_split(root, "widget", "test", 16)
    assert e.value.path == str(bad)


def test_mask_size_mismatch(tree):
    root, c, _ = tree
    bad = c / "ground_truth/crack/000_mask.png"
    Image.fromarray(np.zeros((H, W + 4), np.uint8)).save(bad)
    with pytest.raises(BadFileError) as e:
        mvtec.load_split(root, "widget", "test", 16)
    assert e.value.path == str(bad)
    assert "36x32" in str(e.value) and "32x32" in str(e.value)


def test_decode_sample_is_the_single_entry_point(tree):
    _, c, arrays = tree
    img, mask = decode.decode_sample(c / "test/crack/000.png", c / "ground_truth/crack/000_mask.png",
                                    H, defective=True)
    np.testing.assert_array_equal(img, arrays["test/crack/000.png"])
    assert mask.sum() == 12 * 14
    img, mask = decode.decode_sample(c / "test/good/000.png", None, 8, defective=False)
    assert img.shape == (8, 8, 3) and not mask.any()
    with pytest.raises(BadFileError, match="missing.png"):
        decode.decode_sample(c / "missing.png", None, 8, defective=False)


@pytest.mark.parametrize(
    "name,make",
    [
        ("la.png", lambda im: im.convert("LA")),
        ("one.png", lambda im: im.convert("1")),
        ("ptrans.png", lambda im: im.quantize(8)),
        ("cmyk.jpg", lambda im: im.convert("CMYK")),
        ("i32.tif", lambda im: im.convert("I")),
        ("f01.tif", lambda im: Image.fromarray(np.asarray(im.convert("L"), np.float32) / 255)),
        ("i16.png", lambda im: Image.fromarray(np.asarray(im.convert("L"), np.uint16) * 257)),
    ],
)
def test_odd_modes_decode_to_rgb(tmp_path, name, make):
    src = Image.fromarray(fixtures.rgb(11, H, W))
    path = tmp_path / name
    kwargs = {"transparency": 0} if name == "ptrans.png" else {}
    make(src).save(path, **kwargs)
    img, wh = decode.decode_image(path, 20)
    assert img.shape == (20, 20, 3) and img.dtype == np.uint8 and wh == (W, H)
    if name != "one.png":  # everything but the 1-bit image keeps the grey level range
        grey = np.asarray(src.convert("L").resize((20, 20), Image.BILINEAR), float)
        assert abs(img.mean() - grey.mean()) < 12
