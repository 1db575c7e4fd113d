"""Restoring a workdir and the self-contained exported model agree with the live model."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import quickstart
from rdjax import export
from rdjax.methods import get_method
from rdjax.train import checkpoints
from rdjax.train import workdir as workdir_lib
from rdjax.train.state import TrainState

IMAGE_SIZE = 64


def random_variables(method, seed=0):
    """He-scaled random weights in the shapes ``method.init`` makes, drawn with numpy
    (initialising eagerly compiles one tiny program per layer: slow on a busy CPU)."""
    abstract = jax.eval_shape(method.init, jax.random.key(0),
                              jax.ShapeDtypeStruct((1, IMAGE_SIZE, IMAGE_SIZE, 3), jnp.uint8))
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = jax.tree_util.keystr(path[-1:])
        if name == "['kernel']":
            fan_in = int(np.prod(leaf.shape[:-1]))
            return rng.normal(0, np.sqrt(2 / fan_in), leaf.shape).astype(np.float32)
        if name in ("['scale']", "['var']"):
            return rng.uniform(0.8, 1.2, leaf.shape).astype(np.float32)
        return rng.normal(0, 0.05, leaf.shape).astype(np.float32)  # bias, mean

    return jax.tree_util.tree_map_with_path(draw, abstract)


def make_workdir(path, threshold_quantile=0.5):
    """A training workdir without training: config.json, a checkpoint of a randomly
    weighted ResNet-18 RD4AD, and a threshold.json (the median score of 4 random images).

    Returns ``(images, maps)``: those 4 images and their maps from the in-memory model.
    """
    config = quickstart.get_config()
    config.model.teacher = "resnet18"
    config.model.pretrained = False
    config.dataset.image_size = IMAGE_SIZE
    os.makedirs(path, exist_ok=True)
    workdir_lib.write_config(config, str(path))
    method = get_method(config)
    variables = random_variables(method)
    tx = method.optimizer()
    opt_state = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype),
                                       jax.eval_shape(tx.init, variables.params))
    state = TrainState(step=np.int32(5), params=variables.params, model_state=variables.model_state,
                       frozen=variables.frozen, opt_state=opt_state)
    mngr = checkpoints.manager(str(path), 2)
    checkpoints.save(mngr, 5, state)
    mngr.wait_until_finished()
    images = random_images(4, seed=99)
    maps = np.asarray(jax.jit(method.anomaly_map)(variables, images))
    cut = float(np.quantile(maps.max(axis=(1, 2)), threshold_quantile))
    record = {"threshold": cut, "mode": "quantile", "display_min": float(np.median(maps)),
              "display_max": 2 * cut - float(np.median(maps))}
    with open(os.path.join(path, "threshold.json"), "w") as f:
        json.dump(record, f)
    return images, maps


def random_images(n, seed=0, size=IMAGE_SIZE):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """(path, images, live maps of those images)."""
    path = tmp_path_factory.mktemp("workdir")
    return (str(path),) + make_workdir(path)


@pytest.fixture(scope="module")
def exported_file(workdir, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "model.rdjax")
    export.export_model(workdir[0], path, platforms=["cpu"])
    return path


def test_load_trained_restores_the_checkpointed_variables(workdir):
    path, images, live_maps = workdir
    model = export.load_trained(path, batch_size=3)  # 4 images: 2 calls, the second padded
    np.testing.assert_allclose(model.anomaly_maps(images), live_maps, rtol=1e-6, atol=1e-7)
    assert model.image_size == IMAGE_SIZE
    assert model.threshold["mode"] == "quantile"


def test_exported_model_matches_live_model(workdir, exported_file):
    path, images, live_maps = workdir
    exported = export.load_exported(exported_file, batch_size=3)
    exp_maps = exported.anomaly_maps(images)
    np.testing.assert_allclose(exp_maps, live_maps, rtol=1e-5, atol=1e-6)
    live_scores, exp_scores = live_maps.max(axis=(1, 2)), exp_maps.max(axis=(1, 2))
    assert np.max(np.abs(exp_scores - live_scores) / np.abs(live_scores)) <= 1e-5
    assert exported.threshold == export.load_trained(path).threshold
    assert exported.image_size == IMAGE_SIZE
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


def test_manifest_and_bad_files(exported_file, tmp_path):
    import zipfile

    with zipfile.ZipFile(exported_file) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert sorted(z.namelist()) == ["manifest.json", "model.jaxexport", "weights.npz"]
    assert manifest["image_size"] == IMAGE_SIZE and manifest["platforms"] == ["cpu"]
    assert manifest["teacher"] == "resnet18" and manifest["threshold"]["mode"] == "quantile"
    not_zip = tmp_path / "model.rdjax"
    not_zip.write_text("hello")
    with pytest.raises(ValueError, match="not an rdjax exported model"):
        export.load_exported(str(not_zip))
    with pytest.raises(FileNotFoundError, match="config.json"):
        export.load_trained(str(tmp_path))
