"""Tests for the embedded synthetic dataset (in memory and a shrunken on-disk copy)."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from rdjax.data import mvtec, synthetic
from rdjax.data.synthetic import CATEGORIES, DEFECT_KINDS, generate_sample, sample_rng


def _changed(s):
    d = s.image != s.clean
    return d.any(axis=2) if d.ndim == 3 else d


@pytest.mark.parametrize("category,kind", list(itertools.product(CATEGORIES, DEFECT_KINDS)))
def test_mask_is_exactly_the_changed_region(category, kind):
    for i in range(3):
        s = generate_sample(category, kind, sample_rng(0, category, f"test/{kind}", i))
        assert s.mask.dtype == np.uint8 and set(np.unique(s.mask)) == {0, 1}
        np.testing.assert_array_equal(_changed(s), s.mask.astype(bool))
        frac = s.mask.mean()
        assert 0.002 < frac < 0.15, frac
        # Visible: a large mean change inside the mask.
        diff = np.abs(s.image.astype(int) - s.clean.astype(int))
        diff = diff.max(axis=2) if diff.ndim == 3 else diff
        assert diff[s.mask > 0].mean() > 20


@pytest.mark.parametrize("category", CATEGORIES)
def test_good_samples(category):
    s = generate_sample(category, "good", 3)
    assert not s.mask.any()
    np.testing.assert_array_equal(s.image, s.clean)
    assert s.image.shape == ((256, 256) if category == "gravel" else (256, 256, 3))


def test_sample_determinism():
    a = generate_sample("brick", "stain", sample_rng(0, "brick", "test/stain", 1))
    b = generate_sample("brick", "stain", sample_rng(0, "brick", "test/stain", 1))
    c = generate_sample("brick", "stain", sample_rng(1, "brick", "test/stain", 1))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("category", CATEGORIES)
def test_normals_differ(category):
    imgs = [generate_sample(category, "good", sample_rng(0, category, "train/good", i)).image for i in range(6)]
    imgs += [generate_sample(category, "good", sample_rng(0, category, "test/good", i)).image for i in range(3)]
    for a, b in itertools.combinations(imgs, 2):
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 5


def test_unknown_names():
    with pytest.raises(ValueError, match="category"):
        generate_sample("plastic", "good", 0)
    with pytest.raises(ValueError, match="kind"):
        generate_sample("brick", "dent", 0)


# ----------------------------------------------------------------------------
# On disk (shrunken so the tests stay fast; the layout code is the same)


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(synthetic, "NUM_TRAIN", 3)
    monkeypatch.setattr(synthetic, "NUM_TEST_GOOD", 2)
    monkeypatch.setattr(synthetic, "NUM_PER_DEFECT", 1)


def _files(root: Path):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_ensure_dataset_layout_and_reader(small, tmp_path):
    root = synthetic.ensure_dataset(tmp_path, seed=0)
    assert root == tmp_path / "synthetic-v1-seed0"
    assert (root / ".complete").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic-v1-seed0"]  # no temp folder left
    assert mvtec.list_categories(root) == sorted(CATEGORIES)
    for cat in CATEGORIES:
        tr = mvtec.load_split(root, cat, "train", 256)
        assert len(tr) == 3 and not tr.labels.any()
        te = mvtec.load_split(root, cat, "test", 256)
        assert len(te) == 2 + len(DEFECT_KINDS)
        assert sorted(set(te.defect_types)) == sorted(DEFECT_KINDS + ("good",))
        for i, kind in enumerate(te.defect_types):
            assert te.labels[i] == (kind != "good")
            ref = generate_sample(cat, kind, sample_rng(0, cat, f"test/{kind}", int(Path(te.paths[i]).stem)))
            np.testing.assert_array_equal(te.masks[i], ref.mask)
            img = ref.image if ref.image.ndim == 3 else np.repeat(ref.image[:, :, None], 3, 2)
            np.testing.assert_array_equal(te.images[i], img)
            assert te.masks[i].any() == (kind != "good")


def test_ensure_dataset_bytes_deterministic(small, tmp_path):
    a = _files(synthetic.ensure_dataset(tmp_path / "a", seed=0))
    b = _files(synthetic.ensure_dataset(tmp_path / "b", seed=0))
    c = _files(synthetic.ensure_dataset(tmp_path / "c", seed=1))
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if k.endswith(".png") and "train" in k)


def test_ensure_dataset_reuses_and_uses_env(small, tmp_path, monkeypatch):
    monkeypatch.setenv("RDJAX_DATA_DIR", str(tmp_path / "env"))
    root = synthetic.ensure_dataset()
    assert root == tmp_path / "env" / "synthetic-v1-seed0"

    def boom(*a, **k):
        raise AssertionError("should reuse the complete dataset")

    monkeypatch.setattr(synthetic, "generate_dataset", boom)
    assert synthetic.ensure_dataset(seed=0) == root


def test_ensure_dataset_replaces_incomplete(small, tmp_path):
    stale = tmp_path / "synthetic-v1-seed0"
    (stale / "brick").mkdir(parents=True)
    (stale / "junk.txt").write_text("partial")
    root = synthetic.ensure_dataset(tmp_path, seed=0)
    assert (root / ".complete").is_file() and not (root / "junk.txt").exists()
