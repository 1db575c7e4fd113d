"""End to end on the embedded dataset: learning, results.json, resume, NaN stop."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.tiny_config import tiny_rd4ad_config
from rdjax.data import pipeline
from rdjax.train import checkpoints, trainer
from rdjax.train.jsonl_writer import read_jsonl


pytestmark = pytest.mark.usefixtures("embedded_data_dir")


def tiny_config(**train):
    config = tiny_rd4ad_config(batch_size=8, **{"log_every": 2, "checkpoint_every": 2, **train})
    config.eval.batch_size = 16
    config.eval.num_overlays = 2
    return config


def restored_params(workdir):
    """The latest checkpoint's params, restored without a template."""
    mngr = checkpoints.manager(workdir, 2)
    step = mngr.latest_step()
    tree = mngr.restore(step)
    return step, tree["params"]


@pytest.mark.slow
def test_train_and_evaluate_learns_and_writes_results(tmp_path):
    config = tiny_config(num_steps=30, log_every=5, checkpoint_every=30)
    results = trainer.train_and_evaluate(config, str(tmp_path))

    saved = json.loads((tmp_path / "results.json").read_text())
    for key in ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image"):
        assert 0.0 <= saved[key] <= 1.0
        assert saved[key] == pytest.approx(results[key])
    losses = [r["train/loss"] for r in read_jsonl(str(tmp_path / "metrics.jsonl")) if "train/loss" in r]
    assert len(losses) == 6
    assert losses[-1] < 0.6 * losses[0], losses  # the student learns to mimic the teacher
    assert len(list((tmp_path / "overlays").glob("*.png"))) == 4
    assert (tmp_path / "config.json").exists()


@pytest.mark.slow
def test_interrupted_run_resumes_at_checkpoint_step(tmp_path, monkeypatch):
    config = tiny_config(num_steps=6)
    config.eval.num_overlays = 0
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


@pytest.mark.slow
def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    config = tiny_config(num_steps=8)
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
