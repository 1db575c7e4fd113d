"""Every TFDS builder, prepared on a small fixture tree in its layout and read back.

The expected arrays come from the fixture writers (tests/data/fixtures.py) or
from PIL decoding the files directly, never from rdjax's reader.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdjax.data import datasets, synthetic
from rdjax.data.builders import base
from tests.data import fixtures
from tests.data.fixtures import S, dataset_config


def pil_rgb(path, size=S):
    im = Image.open(path).convert("RGB")
    return np.asarray(im if im.size == (size, size) else im.resize((size, size), Image.BILINEAR))


def check_split(split, expected, root):
    """``expected``: [(relative image path, defect type, {0,1} mask or None)] in order."""
    assert len(split) == len(expected)
    assert split.paths == [str(Path(root).resolve() / rel) for rel, _, _ in expected]
    assert split.defect_types == [t for _, t, _ in expected]
    np.testing.assert_array_equal(split.labels, [int(t != "good") for _, t, _ in expected])
    assert split.images.dtype == np.uint8 and split.masks.dtype == np.uint8
    for i, (rel, _, mask) in enumerate(expected):
        np.testing.assert_array_equal(split.images[i], pil_rgb(Path(root) / rel), err_msg=rel)
        np.testing.assert_array_equal(split.masks[i], np.zeros((S, S)) if mask is None else mask,
                                      err_msg=rel)
    assert split.skipped_files == []


@pytest.mark.parametrize("name,category", [("mvtec", "bottle"), ("mpdd", "connector")])
def test_mvtec_layout_builders(tmp_path, name, category):
    expected = fixtures.write_mvtec(tmp_path / "src", category)
    for split in ("train", "test"):
        got = datasets.load(dataset_config(name, tmp_path / "src", category, tmp_path / "cache"), split)
        check_split(got, expected[split], tmp_path / "src")
    assert sum(m is not None for _, _, m in expected["test"]) == 3


def test_mvtec_layout_reads_your_own_category(tmp_path):
    expected = fixtures.write_mvtec(tmp_path / "src", "my_widget")
    got = datasets.load(dataset_config("mvtec", tmp_path / "src", "my_widget", tmp_path / "cache"), "test")
    check_split(got, expected["test"], tmp_path / "src")
    with pytest.raises(ValueError, match=r"'my_widgets'.*found: \['my_widget'\]"):
        datasets.load(dataset_config("mvtec", tmp_path / "src", "my_widgets", tmp_path / "cache"), "test")


def test_visa_builder(tmp_path):
    expected = fixtures.write_visa(tmp_path / "src")
    for cat in ("candle", "pcb1"):
        for split in ("train", "test"):
            got = datasets.load(dataset_config("visa", tmp_path / "src", cat, tmp_path / "cache"), split)
            check_split(got, expected[cat][split], tmp_path / "src")
    # Masks store defect ids 1 and 2: both count as defective pixels.
    assert [int(np.asarray(Image.open(p)).max()) for p in sorted((tmp_path / "src/candle").rglob("*.png"))] == [1, 2]


def test_btad_builder(tmp_path):
    expected = fixtures.write_btad(tmp_path / "src", "02")
    for split in ("train", "test"):
        got = datasets.load(dataset_config("btad", tmp_path / "src", "02", tmp_path / "cache"), split)
        check_split(got, expected[split], tmp_path / "src")


def _documented_share(name):
    """The split rule of docs/datasets.md, written out independently."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) / 2 ** 64


def test_magnetic_tile_builder(tmp_path):
    written = fixtures.write_magnetic_tile(tmp_path / "src")
    cfg = dataset_config("magnetic_tile", tmp_path / "src", "", tmp_path / "cache")
    train, test = datasets.load(cfg, "train"), datasets.load(cfg, "test")
    root = (tmp_path / "src").resolve()
    test_free = [p for p in written["free"] if _documented_share(Path(p).name) < 0.2]
    train_free = [p for p in written["free"] if p not in test_free]
    assert 0 < len(test_free) < len(written["free"])  # the fixture's names give both sides
    check_split(train, [(p, "good", None) for p in train_free], root)
    expected_test = [(p, "good", None) for p in test_free] + written["defects"]
    expected_test.sort(key=lambda e: (e[1], Path(e[0]).name))
    check_split(test, expected_test, root)
    assert sorted(set(test.defect_types)) == ["blowhole", "break", "crack", "fray", "good", "uneven"]


def test_split_normals_rule_is_per_file_and_stable():
    names = [Path(f"img_{i}.jpg") for i in range(200)]
    train, test = base.split_normals(names, 0.2)
    assert sorted(train + test) == sorted(names) and not set(train) & set(test)
    assert set(test) == {p for p in names if _documented_share(p.name) < 0.2}
    assert 20 < len(test) < 60
    more_train, more_test = base.split_normals(names + [Path("new_1.jpg"), Path("new_2.jpg")], 0.2)
    assert set(test) <= set(more_test) and set(train) <= set(more_train)  # nothing moves
    # Tiny folders keep an image on each side.
    for pair in ([Path("a.png"), Path("b.png")], [Path("c.png"), Path("d.png")]):
        tr, te = base.split_normals(pair, 0.2)
        assert len(tr) == len(te) == 1


def test_folder_builder(tmp_path):
    written = fixtures.write_folder(tmp_path / "src")
    root = (tmp_path / "src").resolve()
    cfg = dataset_config("folder", root, "", tmp_path / "cache")
    cfg.folder.mask_dirs = "masks"
    train, test = datasets.load(cfg, "train"), datasets.load(cfg, "test")
    test_good = [p for p in written["good"] if _documented_share(Path(p).name) < 0.2]
    check_split(train, [(p, "good", None) for p in written["good"] if p not in test_good], root)
    expected = sorted([(p, "good", None) for p in test_good] + written["test_defects"],
                      key=lambda e: (e[1], Path(e[0]).name))
    check_split(test, expected, root)

    # Only the scratch folder, no masks: defect images without pixel ground truth.
    cfg.folder.defect_dirs, cfg.folder.mask_dirs = "scratch", ""
    test = datasets.load(cfg, "test")
    assert [t for t in test.defect_types if t != "good"] == ["scratch", "scratch"]
    assert not test.masks.any() and test.labels.sum() == 2


def test_synthetic_builder_matches_the_generator(tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "NUM_TRAIN", 3)
    monkeypatch.setattr(synthetic, "NUM_TEST_GOOD", 2)
    monkeypatch.setattr(synthetic, "NUM_PER_DEFECT", 1)
    cfg = dataset_config("synthetic", "", "gravel", tmp_path / "cache", image_size=256, seed=5)
    train, test = datasets.load(cfg, "train"), datasets.load(cfg, "test")
    assert len(train) == 3 and not train.labels.any()
    assert test.defect_types == ["cut", "displaced", "good", "good", "hole", "scratch", "stain"]
    for split, folder_of in ((train, lambda t: "train/good"), (test, lambda t: f"test/{t}")):
        for i, kind in enumerate(split.defect_types):
            index = int(Path(split.paths[i]).stem)
            ref = synthetic.generate_sample("gravel", kind, synthetic.sample_rng(5, "gravel", folder_of(kind), index))
            np.testing.assert_array_equal(split.images[i], np.repeat(ref.image[:, :, None], 3, 2))
            np.testing.assert_array_equal(split.masks[i], ref.mask)
    assert test.paths[0] == "synthetic-v1-seed5/gravel/test/cut/000.png"


def test_plain_tfds_data_source(tmp_path):
    """The builders work with TFDS's own API, the source folder as manual dir."""
    import tensorflow_datasets as tfds

    import rdjax.data.builders  # noqa: F401  (registers the builders)

    fixtures.write_mvtec(tmp_path / "src", "bottle")
    ds = tfds.data_source(
        "rdjax_mvtec_ad/bottle", split="test", data_dir=str(tmp_path / "tfds"),
        builder_kwargs={"file_format": "array_record"},
        download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(
            manual_dir=str(tmp_path / "src"))})
    assert len(ds) == 5
    assert [ds[i]["label"] for i in range(5)] == [1, 1, 0, 0, 1]
    assert ds[4]["defect_type"] == b"hole" and ds[4]["mask_path"] == b"bottle/ground_truth/hole/000_mask.png"
    assert ds[4]["image"] == (tmp_path / "src/bottle/test/hole/000.png").read_bytes()
    assert list((tmp_path / "tfds/rdjax_mvtec_ad/bottle/1.0.0").glob("*.array_record*"))


def test_prepared_once_then_again_when_files_change(tmp_path, monkeypatch):
    from rdjax.data.builders.btad import RdjaxBtad

    fixtures.write_btad(tmp_path / "src", "01")
    cfg = dataset_config("btad", tmp_path / "src", "01", tmp_path / "cache")
    first = datasets.load(cfg, "train")
    calls = []
    real = RdjaxBtad._generate_examples
    monkeypatch.setattr(RdjaxBtad, "_generate_examples",
                        lambda self, *a: calls.append(1) or real(self, *a))
    datasets.load(cfg, "train")
    assert calls == []  # reused the prepared copy
    changed = tmp_path / "src/01/train/ok/0001.bmp"
    fixtures.save(np.zeros((S, S, 3), np.uint8), changed)
    os.utime(changed, ns=(1, 1))
    again = datasets.load(cfg, "train")
    assert calls  # prepared again
    assert again.images[1].max() == 0 and first.images[1].max() > 0
    assert len(list((tmp_path / "cache/tfds").glob("src-*"))) == 2


def test_prepares_and_reads_without_importing_tensorflow(tmp_path):
    fixtures.write_mvtec(tmp_path / "src", "bottle")
    code = (
        "import sys\n"
        "from rdjax.data import datasets\n"
        "from rdjax.train.default_config import base_config\n"
        "c = base_config().dataset\n"
        f"c.root, c.category, c.data_dir, c.image_size = {str(tmp_path / 'src')!r}, 'bottle', "
        f"{str(tmp_path / 'cache')!r}, 24\n"
        "s = datasets.load(c, 'test')\n"
        "print(len(s), int(s.labels.sum()), 'tensorflow' in sys.modules)\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[2], timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-3:] == ["5", "3", "False"]
