"""The built wheel works outside the checkout: ``rdjax train`` on the embedded dataset by a
built-in config's name, ``rdjax export`` and ``rdjax predict`` from another folder.

The wheel goes into a fresh virtualenv that sees this interpreter's packages (a ``.pth`` file)
but not the checkout, so the test costs seconds of installing, not minutes.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "rdjax", "configs")


def _run(args, cwd, env, timeout=600):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _fresh_env_with_wheel(tmp_path, env):
    """A virtualenv holding only the rdjax wheel (built from a copy of the sources), layered
    on this interpreter's site-packages for the dependencies."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(REPO / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path / "wheels", src],
         tmp_path, env)
    [wheel] = (tmp_path / "wheels").glob("rdjax-*.whl")

    venv.create(tmp_path / "env", with_pip=False)
    python = tmp_path / "env" / "bin" / "python"
    env_site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp_path, env).strip()
    parents = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    Path(env_site, "dependencies.pth").write_text("\n".join(sorted(parents)) + "\n")
    # --force-reinstall: the checkout's editable rdjax is visible through the .pth file.
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", wheel],
         tmp_path, env)
    return tmp_path / "env" / "bin"


@pytest.mark.slow
def test_wheel_trains_exports_and_predicts_outside_the_checkout(tmp_path, embedded_data_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["RDJAX_DATA_DIR"] = str(embedded_data_dir)  # generated once for the session
    bin_dir = _fresh_env_with_wheel(tmp_path, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    where = _run([bin_dir / "python", "-c", "import rdjax, rdjax.configs, "
                  "rdjax.benchmark.torch_twin; print(rdjax.__file__, rdjax.configs.__file__)"],
                 elsewhere, env).split()
    assert all(p.startswith(str(tmp_path / "env")) for p in where), where
    assert "train" in _run([bin_dir / "rdjax", "--help"], elsewhere, env)

    _run([bin_dir / "rdjax", "train", "--config=quickstart", "--workdir=run",
          "--config.train.num_steps=3", "--config.train.log_every=1",
          "--config.dataset.image_size=64", "--config.eval.num_overlays=1"], elsewhere, env)
    results = json.loads((elsewhere / "run" / "results.json").read_text())
    assert results["train_steps"] == 3 and 0.0 <= results["image_auroc"] <= 1.0
    assert list((elsewhere / "run").glob("events.out.tfevents.*"))

    _run([bin_dir / "rdjax", "export", "--workdir=run", "--out=model.rdjax", "--platforms=cpu"],
         elsewhere, env)
    rng = np.random.default_rng(0)
    (elsewhere / "images").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(
            elsewhere / "images" / f"{i}.png")
    _run([bin_dir / "rdjax", "predict", "--exported=model.rdjax", "--out=predictions",
          "--no_progress", "images"], elsewhere, env)
    summary = json.loads((elsewhere / "predictions" / "summary.json").read_text())
    assert summary["num_images"] == 3 and not summary["skipped"]
    assert all(np.isfinite(row["score"]) for row in summary["images"])
