"""Bad input through ``datasets.load``: each case is handled or stops naming the file or setting;
with ``skip_bad_files`` the run goes on and lists what it left out."""

import json
import logging
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from rdjax.data import datasets
from rdjax.data.decode import BadFileError
from tests.data import fixtures
from tests.data.fixtures import S, dataset_config


@pytest.fixture
def mvtec(tmp_path):
    """An MVTec 'bottle' fixture and a function making its dataset config."""
    fixtures.write_mvtec(tmp_path / "src", "bottle")
    c = tmp_path / "src" / "bottle"
    return c, lambda **kw: dataset_config("mvtec", tmp_path / "src", "bottle", tmp_path / "cache", **kw)


@pytest.mark.parametrize("case", list(fixtures.BREAKAGES))
def test_bad_file_stops_naming_it(mvtec, case):
    c, config = mvtec
    breakage, split, culprit, words = fixtures.BREAKAGES[case]
    breakage(c)
    with pytest.raises(BadFileError) as e:
        datasets.load(config(), split)
    assert e.value.path == str((c / culprit).resolve())
    assert words in e.value.reason and "skip_bad_files=True" in str(e.value)


@pytest.mark.parametrize("case", list(fixtures.BREAKAGES))
def test_skip_bad_files_goes_on_and_reports(mvtec, case, tmp_path, caplog):
    c, config = mvtec
    breakage, split, culprit, words = fixtures.BREAKAGES[case]
    clean = datasets.load(config(), split)
    breakage(c)
    with caplog.at_level(logging.WARNING):
        got = datasets.load(config(skip_bad_files=True), split, workdir=str(tmp_path / "work"))
    bad = str((c / culprit).resolve())
    assert got.skipped_files == [{"path": bad, "reason": got.skipped_files[0]["reason"]}]
    assert words in got.skipped_files[0]["reason"]
    # Everything else is there, unchanged and in order.
    keep = [i for i in range(len(clean)) if i != _index_of_image(clean, culprit)]
    assert got.paths == [clean.paths[i] for i in keep]
    np.testing.assert_array_equal(got.images, clean.images[keep])
    np.testing.assert_array_equal(got.masks, clean.masks[keep])
    np.testing.assert_array_equal(got.labels, clean.labels[keep])
    assert "Skipped 1 bad file(s)" in caplog.text and bad in caplog.text
    report = json.loads((tmp_path / "work" / "skipped_files.json").read_text())
    assert report == {split: got.skipped_files}


def _index_of_image(split, culprit):
    """Index of the image ``culprit`` names (for a mask, the image it belongs to)."""
    if culprit.startswith("ground_truth/"):
        _, kind, name = culprit.split("/")
        culprit = f"test/{kind}/{name.replace('_mask.png', '.png')}"
    return next(i for i, p in enumerate(split.paths) if p.endswith("/bottle/" + culprit))


def test_every_file_bad_is_an_error(mvtec):
    c, config = mvtec
    for p in (c / "train/good").iterdir():
        p.write_bytes(b"junk")
    with pytest.raises(ValueError, match="every image was skipped"):
        datasets.load(config(skip_bad_files=True), "train")


def test_image_modes_through_the_builder(tmp_path):
    """RGBA, grey, palette and 16-bit grey files decode to the expected RGB."""
    _, arrays = fixtures.write_mixed_modes(tmp_path / "src", "bottle")
    cfg = dataset_config("mvtec", tmp_path / "src", "bottle", tmp_path / "cache", image_size=32)
    train, test = datasets.load(cfg, "train"), datasets.load(cfg, "test")
    np.testing.assert_array_equal(train.images[1], np.repeat(arrays["train/good/001.png"][:, :, None], 3, 2))
    np.testing.assert_array_equal(train.images[2], arrays["train/good/002.png"][:, :, :3])  # RGBA
    np.testing.assert_array_equal(test.images[2], arrays["test/good/000.png"])  # palette
    g16 = np.rint(arrays["test/good/001.png"] / 257.0).astype(np.uint8)  # 16-bit grey
    np.testing.assert_array_equal(test.images[3], np.repeat(g16[:, :, None], 3, 2))
    assert [len(train), len(test)] == [3, 5]  # notes.txt and .hidden.png are not images


def test_label_id_masks_count_every_defect_id(tmp_path):
    """VisA-style masks (values 0..3) are defective wherever non-zero."""
    fixtures.write_mvtec(tmp_path / "src", "bottle")
    gt = tmp_path / "src/bottle/ground_truth/crack/000_mask.png"
    ids = np.zeros((S, S), np.uint8)
    ids[2:6, 2:6], ids[10:12, 3:20] = 1, 3
    fixtures.save(ids, gt)
    test = datasets.load(dataset_config("mvtec", tmp_path / "src", "bottle", tmp_path / "cache"), "test")
    np.testing.assert_array_equal(test.masks[0], (ids > 0).astype(np.uint8))


# ----------------------------------------------------------------------------
# Folders and names


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.load(dataset_config("mvtec", tmp_path / "nowhere", "bottle", tmp_path / "c"), "train")
    with pytest.raises(ValueError, match="config.dataset.root is empty"):
        datasets.load(dataset_config("btad", "", "01", tmp_path / "c"), "train")


@pytest.mark.parametrize("name,category,remove,named", [
    ("mvtec", "bottle", "bottle/train/good", "train/good"),
    ("mvtec", "bottle", "bottle", "category 'bottle' not found"),
    ("btad", "01", "01/test/ko", "01/test/ko"),
    ("magnetic_tile", "", "MT_Crack/Imgs", "MT_Crack/Imgs"),
    ("folder", "", "good", "good (normal_dir)"),
    ("visa", "candle", "split_csv/1cls.csv", "1cls.csv"),
])
def test_missing_folder_named(tmp_path, name, category, remove, named):
    src = tmp_path / "src"
    {"mvtec": lambda: fixtures.write_mvtec(src, "bottle"), "btad": lambda: fixtures.write_btad(src, "01"),
     "magnetic_tile": lambda: fixtures.write_magnetic_tile(src), "folder": lambda: fixtures.write_folder(src),
     "visa": lambda: fixtures.write_visa(src)}[name]()
    gone = src / remove
    if gone.is_dir():
        shutil.rmtree(gone)
    else:
        gone.unlink()
    if name == "mvtec" and remove == "bottle":
        fixtures.write_mvtec(src, "cable")  # another category, listed in the message
    with pytest.raises(FileNotFoundError, match=re.escape(named)) as e:
        datasets.load(dataset_config(name, src, category, tmp_path / "cache"), "train")
    if name == "mvtec" and remove == "bottle":
        assert "cable" in str(e.value)


@pytest.mark.parametrize("where", ["MT_Fray/Imgs", "bottle/test/crack"])
def test_empty_folder_named(tmp_path, where):
    src = tmp_path / "src"
    name, category = ("magnetic_tile", "") if where.startswith("MT") else ("mvtec", "bottle")
    fixtures.write_magnetic_tile(src) if name == "magnetic_tile" else fixtures.write_mvtec(src, "bottle")
    for p in (src / where).iterdir():
        p.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(where)):
        datasets.load(dataset_config(name, src, category, tmp_path / "cache"), "test")


@pytest.mark.parametrize("name,category,hint", [
    ("mvtec", "bottel", "bottle"),
    ("visa", "pcb5", "pcb4"),
    ("btad", "04", "03"),
    ("mpdd", "bracket", "bracket_black"),
    ("synthetic", "plastic", "brick"),
    ("magnetic_tile", "crack", "no categories"),
    ("folder", "widgets", "no categories"),
    ("kolektor", "", "magnetic_tile"),
])
def test_unknown_names(tmp_path, name, category, hint):
    (tmp_path / "src").mkdir()
    with pytest.raises(ValueError) as e:
        datasets.load(dataset_config(name, tmp_path / "src", category, tmp_path / "c"), "train")
    assert hint in str(e.value) and "config.dataset." in str(e.value)


def test_visa_csv_problems_name_the_line(tmp_path):
    fixtures.write_visa(tmp_path / "src")
    csv_path = tmp_path / "src/split_csv/1cls.csv"
    lines = csv_path.read_text().splitlines()
    cfg = dataset_config("visa", tmp_path / "src", "candle", tmp_path / "cache")
    csv_path.write_text("\n".join(lines[:3] + [lines[3].replace(",normal,", ",broken,")] + lines[4:]))
    with pytest.raises(ValueError, match=r"1cls.csv line 4: label 'broken'"):
        datasets.load(cfg, "train")
    csv_path.write_text("\n".join([lines[0].replace(",mask", "")] + lines[1:]))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['mask'\]"):
        datasets.load(cfg, "train")


def test_folder_defect_without_mask_when_masks_given(tmp_path):
    fixtures.write_folder(tmp_path / "src")
    (tmp_path / "src/masks/dent/d1_mask.png").unlink()
    cfg = dataset_config("folder", tmp_path / "src", "", tmp_path / "cache")
    cfg.folder.mask_dirs = "masks"
    with pytest.raises(BadFileError, match="d1.png: defect image has no ground-truth mask"):
        datasets.load(cfg, "test")
    cfg.skip_bad_files = True
    test = datasets.load(cfg, "test")
    assert [s["path"].split("/")[-1] for s in test.skipped_files] == ["d1.png"]


def test_bad_image_size_setting(mvtec):
    _, config = mvtec
    with pytest.raises(ValueError, match="image_size must be positive"):
        datasets.load(config(image_size=0), "train")


def test_image_size_resizes_images_and_masks(mvtec):
    c, config = mvtec
    test = datasets.load(config(image_size=12), "test")
    assert test.images.shape == (5, 12, 12, 3) and test.masks.shape == (5, 12, 12)
    ref = np.asarray(Image.open(c / "test/crack/000.png").resize((12, 12), Image.BILINEAR))
    np.testing.assert_array_equal(test.images[0], ref)
