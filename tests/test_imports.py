"""Importing every rdjax module loads neither TensorFlow nor clu (whose writers import it)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Walks rdjax and rdjax.configs (installed from configs/), imports each module once, and removes
# the absl flags a command module defines so that the next one may define the same names.
WALK = r"""
import importlib, importlib.util, pkgutil, sys
from absl import flags
import rdjax, rdjax.configs

needs_torch = {"rdjax.benchmark.torch_twin", "rdjax.benchmark.torch_worker"}
has_torch = importlib.util.find_spec("torch") is not None
names = ["rdjax.configs"]
names += [m.name for m in pkgutil.walk_packages(rdjax.__path__, "rdjax.")]
names += [m.name for m in pkgutil.iter_modules(rdjax.configs.__path__, "rdjax.configs.")]
for name in sorted(set(names)):
    if name in needs_torch and not has_torch:
        continue
    before = set(flags.FLAGS)
    importlib.import_module(name)
    for flag in set(flags.FLAGS) - before:
        delattr(flags.FLAGS, flag)
print(len(set(names)), "tensorflow" in sys.modules, "clu" in sys.modules)
"""


@pytest.mark.slow
def test_importing_every_module_loads_neither_tensorflow_nor_clu():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", WALK], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    count, tensorflow, clu = out.stdout.split()[-3:]
    assert int(count) > 60  # the walk found the package, not an empty folder
    assert (tensorflow, clu) == ("False", "False")
