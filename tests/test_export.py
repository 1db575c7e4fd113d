"""Restoring a workdir and the self-contained exported model agree with the live model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rdjax import export
from tests.tiny_config import TEACHER


@pytest.fixture(scope="module")
def workdir(make_untrained_workdir, tmp_path_factory):
    """(path, images, live maps of those images)."""
    path = tmp_path_factory.mktemp("workdir")
    return (str(path),) + make_untrained_workdir(path)


@pytest.fixture(scope="module")
def exported_file(workdir, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "model.rdjax")
    export.export_model(workdir[0], path, platforms=["cpu"])
    return path


def test_load_trained_restores_the_checkpointed_variables(workdir):
    path, images, live_maps = workdir
    model = export.load_trained(path, batch_size=3)  # 4 images: 2 calls, the second padded
    np.testing.assert_allclose(model.anomaly_maps(images), live_maps, rtol=1e-6, atol=1e-7)
    assert model.image_size == images.shape[1]
    assert model.threshold["mode"] == "quantile"


def test_exported_model_matches_live_model(workdir, exported_file):
    path, images, live_maps = workdir
    exported = export.load_exported(exported_file, batch_size=3)
    exp_maps = exported.anomaly_maps(images)
    np.testing.assert_allclose(exp_maps, live_maps, rtol=1e-5, atol=1e-6)
    live_scores, exp_scores = live_maps.max(axis=(1, 2)), exp_maps.max(axis=(1, 2))
    assert np.max(np.abs(exp_scores - live_scores) / np.abs(live_scores)) <= 1e-5
    assert exported.threshold == export.load_trained(path).threshold
    assert exported.image_size == images.shape[1]
    # The batch size is symbolic: 3 above, 1 here.
    one = np.asarray(exported.predict_batch(images[1:2]))
    np.testing.assert_allclose(one, live_maps[1:2], rtol=1e-5, atol=1e-6)


def test_exported_file_runs_without_rdjax_model_code(exported_file, workdir):
    """A fresh interpreter that cannot import rdjax.methods/models/train, flax or orbax."""
    path, images, live_maps = workdir
    np.save(exported_file + ".images.npy", images)
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("rdjax.methods", "rdjax.models", "rdjax.train", "ml_collections",
                            "flax", "optax", "orbax")):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import numpy as np
from rdjax.export import load_exported
model = load_exported({exported_file!r})
np.save({exported_file + '.maps.npy'!r}, model.anomaly_maps(np.load({exported_file + '.images.npy'!r})))
"""
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", script], check=True, env=env,
                   cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    np.testing.assert_allclose(np.load(exported_file + ".maps.npy"), live_maps, rtol=1e-5, atol=1e-6)


def test_manifest_and_bad_files(exported_file, workdir, tmp_path):
    import zipfile

    with zipfile.ZipFile(exported_file) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert sorted(z.namelist()) == ["manifest.json", "model.jaxexport", "weights.npz"]
    assert manifest["image_size"] == workdir[1].shape[1] and manifest["platforms"] == ["cpu"]
    assert manifest["teacher"] == TEACHER and manifest["threshold"]["mode"] == "quantile"
    not_zip = tmp_path / "model.rdjax"
    not_zip.write_text("hello")
    with pytest.raises(ValueError, match="not an rdjax exported model"):
        export.load_exported(str(not_zip))
    with pytest.raises(FileNotFoundError, match="config.json"):
        export.load_trained(str(tmp_path))
