"""End to end: learning on the embedded dataset (results.json, the report, the threshold, and
``rdjax predict`` on the test folder scoring like the evaluation); resuming and the NaN stop
on the tiny MVTec-layout fixture."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rdjax import predict
from rdjax.data import pipeline
from rdjax.train import checkpoints, trainer
from rdjax.train.jsonl_writer import read_jsonl
from tests.data.fixtures import write_mvtec
from tests.tiny_config import CATEGORY, tiny_mvtec_config, tiny_rd4ad_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(embedded_data_dir, tmp_path_factory):
    """(workdir, config, results): 12 steps of the tiny RD4AD setting on the embedded data
    (batch 4), evaluated. The loss falls to about 0.4 of its first value in 12 steps."""
    config = tiny_rd4ad_config(batch_size=4, num_steps=12, log_every=2, checkpoint_every=12)
    config.eval.batch_size = 16
    config.eval.num_overlays = 2
    workdir = tmp_path_factory.mktemp("trained")
    return workdir, config, trainer.train_and_evaluate(config, str(workdir))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(root, cache) of the MVTec-layout fixture."""
    base = tmp_path_factory.mktemp("mvtec")
    write_mvtec(base / "src", CATEGORY)
    return base / "src", base / "cache"


def tiny_config(data, **train):
    """The fixture's tiny RD4AD setting (2 training images, batch 2), checkpoints every 2 steps."""
    return tiny_mvtec_config(*data, **{"checkpoint_every": 2, **train})


def restored_params(workdir):
    """The latest checkpoint's params, restored without a template."""
    mngr = checkpoints.manager(workdir, 2)
    step = mngr.latest_step()
    tree = mngr.restore(step)
    return step, tree["params"]


def test_train_and_evaluate_learns_and_writes_results(trained):
    tmp_path, _, results = trained
    saved = json.loads((tmp_path / "results.json").read_text())
    for key in ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image"):
        assert 0.0 <= saved[key] <= 1.0
        assert saved[key] == pytest.approx(results[key])
    losses = [r["train/loss"] for r in read_jsonl(str(tmp_path / "metrics.jsonl")) if "train/loss" in r]
    assert len(losses) == 6
    assert losses[-1] < 0.6 * losses[0], losses  # the student learns to mimic the teacher
    assert len(list((tmp_path / "overlays").glob("*.png"))) == 4
    assert (tmp_path / "config.json").exists()
    record = json.loads((tmp_path / "threshold.json").read_text())
    assert record["mode"] == "quantile" and record["num_normal_images"] == 8  # 10% of 80
    page = (tmp_path / "report" / "index.html").read_text()
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (tmp_path / "report" / src).is_file()


def test_predict_scores_the_test_folder_like_the_evaluation(trained, tmp_path):
    """``rdjax predict`` on the embedded test folder: the image AUROC of its scores is the
    evaluation's."""
    from rdjax.data import synthetic
    from rdjax.eval.metrics import auroc

    workdir, config, results = trained
    test_dir = synthetic.ensure_dataset(None, seed=config.dataset.seed) / config.dataset.category / "test"
    out = tmp_path / "predictions"
    assert predict.main(["--workdir", str(workdir), str(test_dir), "--out", str(out),
                         "--no_progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_images"] == 60 and not summary["skipped"]
    labels = [int(not r["name"].startswith("good")) for r in summary["images"]]
    assert auroc(labels, [r["score"] for r in summary["images"]]) == pytest.approx(
        results["image_auroc"], abs=1e-6)
    assert len(list((out / "overlays").glob("*.png"))) == len(list((out / "masks").glob("*.png"))) == 60


def test_interrupted_run_resumes_at_checkpoint_step(data, tmp_path, monkeypatch):
    config = tiny_config(data, num_steps=6)
    straight = tmp_path / "straight"
    trainer.train_and_evaluate(config, str(straight))

    # Interrupt a second run after 3 steps: checkpoints exist at step 2 only.
    interrupted = tmp_path / "interrupted"
    real_batches = pipeline.train_batches

    def batches_then_crash(*args, **kwargs):
        for i, batch in enumerate(real_batches(*args, **kwargs)):
            if i == 3:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(pipeline, "train_batches", batches_then_crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_and_evaluate(config, str(interrupted))
    assert checkpoints.manager(str(interrupted), 2).latest_step() == 2

    # Rerun with the same workdir: it starts at step 2 and ends where the straight run ended.
    seen_starts = []

    def recording(*args, **kwargs):
        seen_starts.append(args[3])
        return real_batches(*args, **kwargs)

    monkeypatch.setattr(pipeline, "train_batches", recording)
    trainer.train_and_evaluate(config, str(interrupted))
    assert seen_starts == [2]
    step_a, params_a = restored_params(str(straight))
    step_b, params_b = restored_params(str(interrupted))
    assert step_a == step_b == 6
    for a, b in zip(jax.tree_util.tree_leaves(params_a), jax.tree_util.tree_leaves(params_b)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    config = tiny_config(data, num_steps=8)
    real_step = trainer.train_step

    def step_with_nan_from_step_5(method, tx, state, batch, rng):
        new_state, metrics = real_step(method, tx, state, batch, rng)
        return new_state, {"loss": metrics["loss"] + jnp.where(state.step >= 5, jnp.nan, 0.0)}

    monkeypatch.setattr(trainer, "train_step", step_with_nan_from_step_5)
    with pytest.raises(trainer.NonFiniteLossError, match="loss = nan at step 6"):
        trainer.train_and_evaluate(config, str(tmp_path))
    step, params = restored_params(str(tmp_path))
    assert step == 4  # the checkpoints at 2 and 4 were good; nothing was saved after the NaN
    assert all(np.all(np.isfinite(p)) for p in jax.tree_util.tree_leaves(params))
    assert not (tmp_path / "results.json").exists()
