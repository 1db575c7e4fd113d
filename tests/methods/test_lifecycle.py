"""Every registered method through its whole life, once: init and two training steps in the
one trainer (``train_and_evaluate``), the checkpoint, the restored state (equal to the live
one), the exported file (its maps equal to the live ones), and the metrics each method logs.

The data is the tiny MVTec-layout fixture (2 training images after the threshold holdout, 5
test images): what is checked here does not depend on how much there is."""

import json

import jax
import numpy as np
import pytest

from rdjax import export, recipes
from rdjax.eval import evaluate as evaluate_lib
from rdjax.methods.bidirectional import dwa_weights
from rdjax.train import checkpoints, trainer
from rdjax.train.jsonl_writer import read_jsonl
from tests.data.fixtures import write_mvtec
from tests.tiny_config import tiny_mvtec_config, with_small_teacher

pytestmark = pytest.mark.slow

# Training metrics (besides "loss") each method must log.
LOGGED = {
    "rd4ad": (),
    "mrkd": (),
    "rdpp": ("ssot", "recon", "contrast", "distill"),
    "two_stage": ("stage",),
    "ikd": ("hard_fraction_1", "margin_2"),
    "bidirectional": ("weight_forward", "loss_reverse"),
    "rde": ("teacher_loss", "student_loss", "mask_fraction"),
}
BATCH = 2  # training and evaluation batch; the exported model is compared on one batch
CATEGORY = "carpet"  # an MVTec AD texture: MRKD's patch-swap table and RD-E's foreground rule know it


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(root, cache): the MVTec-layout fixture, prepared once for every method."""
    base = tmp_path_factory.mktemp("lifecycle-data")
    write_mvtec(base / "mvtec", CATEGORY)
    return base / "mvtec", base / "cache"


def tiny_config(name: str, data):
    """The method's quick recipe (``configs/<name>.py:quick``) with a random ResNet-10 at
    64 px on the fixture, two steps."""
    config = recipes.embedded_config(name)
    tiny = tiny_mvtec_config(*data, checkpoint_every=2)
    config.dataset, config.threshold = tiny.dataset, tiny.threshold
    config.dataset.category = CATEGORY
    with_small_teacher(config)
    for key in ("batch_size", "num_steps", "log_every", "checkpoint_every"):
        config.train[key] = tiny.train[key]
    config.eval.batch_size, config.eval.num_overlays = BATCH, 0
    if name == "rdpp":
        config.rdpp.noise_min_size, config.rdpp.noise_max_size = 4, 8
    if name == "two_stage":
        config.two_stage.mask_patch = 4
        config.two_stage.stage1_steps = -1  # derived by the trainer: the first half, 1 step
    if name == "bidirectional":
        config.bidirectional.window_steps = 1  # two DWA windows close in two steps
    return config


def test_every_registered_method_is_covered():
    from rdjax.methods import METHODS

    assert set(LOGGED) == set(METHODS) == set(recipes.METHODS)


@pytest.mark.parametrize("name", recipes.METHODS)
def test_train_checkpoint_restore_export(name, data, tmp_path, monkeypatch):
    live = {}
    original_evaluate, original_predict = trainer.evaluate, evaluate_lib.predict_maps

    def recording_evaluate(method, variables, split, *args, **kwargs):
        live["method"], live["variables"] = method, jax.device_get(variables)
        return original_evaluate(method, variables, split, *args, **kwargs)

    def recording_predict(method, variables, images, *args, **kwargs):
        maps = original_predict(method, variables, images, *args, **kwargs)
        live["images"], live["maps"] = images, maps
        return maps

    monkeypatch.setattr(trainer, "evaluate", recording_evaluate)
    monkeypatch.setattr(evaluate_lib, "predict_maps", recording_predict)
    workdir = str(tmp_path / "run")
    config = tiny_config(name, data)
    assert config.train.batch_size == BATCH and config.train.num_steps == 2
    results = trainer.train_and_evaluate(config, workdir)

    # The run: results.json as returned, the method's own metrics logged at both steps.
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    for key in ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image"):
        assert 0.0 <= saved[key] <= 1.0 and saved[key] == pytest.approx(results[key])
    rows = [r for r in read_jsonl(f"{workdir}/metrics.jsonl") if "train/loss" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(np.isfinite(r["train/loss"]) for r in rows)
    for key in LOGGED[name]:
        assert all(f"train/{key}" in r for r in rows), key
    if name == "two_stage":
        assert [r["train/stage"] for r in rows] == [1.0, 2.0]

    # Checkpoint → restore: the state the trainer evaluated, leaf for leaf.
    assert checkpoints.latest_step(workdir) == 2
    restored_config, _, restored = export.restore(workdir)
    assert restored_config.method == name
    live_leaves = jax.tree_util.tree_leaves_with_path(live["variables"])
    restored_leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(restored))
    assert [jax.tree_util.keystr(k) for k, _ in restored_leaves] == \
        [jax.tree_util.keystr(k) for k, _ in live_leaves]
    for (path, a), (_, b) in zip(live_leaves, restored_leaves):
        np.testing.assert_array_equal(b, a, err_msg=jax.tree_util.keystr(path))
    if name == "bidirectional":  # the DWA state was saved too: its weights now differ from 1
        assert int(restored.model_state["dwa"]["windows"]) == 2
        assert not np.allclose(dwa_weights(restored.model_state["dwa"],
                                           config.bidirectional.temperature), 1.0)

    # Export: the file's maps of the first evaluation batch are the trainer's own maps.
    path = export.export_model(workdir, str(tmp_path / "model.rdjax"), platforms=["cpu"])
    exported = export.load_exported(path, batch_size=BATCH)
    assert exported.info["method"] == name
    np.testing.assert_allclose(exported.anomaly_maps(live["images"][:BATCH]),
                               live["maps"][:BATCH], rtol=1e-5, atol=1e-6)
