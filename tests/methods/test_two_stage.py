"""Two-stage RKD: masked restoration before stage1_steps, plain distillation after."""

import jax
import pytest

from rdjax.train.state import TrainState
from tests.methods.masked_family_helpers import images, method_and_variables, tiny_config

pytestmark = pytest.mark.slow  # compiles the networks (tens of seconds on 2 cores)


def test_stage_one_masks_the_input_and_stage_two_does_not():
    config = tiny_config("two_stage")  # stage1_steps = 2
    config.two_stage.mask_ratio = 0.5
    method, v = method_and_variables(config)
    loss = jax.jit(lambda b, r, s: method.loss(v.params, v.model_state, v.frozen, b, r, s)[0])
    x = images()
    stage1 = [float(loss({"image": x}, jax.random.key(k), 1)) for k in (0, 1)]
    stage2 = [float(loss({"image": x}, jax.random.key(k), 2)) for k in (0, 1)]
    assert stage1[0] != stage1[1]  # a random mask per step key
    assert stage2[0] == stage2[1]  # clean input
    config.two_stage.mask_ratio = 0.0  # nothing masked: stage 1 = stage 2
    unmasked = float(jax.jit(lambda b, r: method.loss(v.params, v.model_state, v.frozen, b, r, 0)[0])(
        {"image": x}, jax.random.key(0)))
    assert unmasked == pytest.approx(stage2[0], rel=1e-6)


def test_train_step_reports_the_stage_from_the_step_counter():
    method, v = method_and_variables(tiny_config("two_stage"))
    tx = method.optimizer()
    state = TrainState.create(v, tx)
    step = jax.jit(lambda s, b, r: method.train_step(tx, s, b, r))
    stages = []
    for i in range(3):
        state, metrics = step(state, {"image": images(seed=i)}, jax.random.key(i))
        stages.append(float(metrics["stage"]))
    assert stages == [1.0, 1.0, 2.0]
    assert {"fusion", "ocbe", "memory"} <= set(state.params["bottleneck"])


def test_trainer_derives_the_first_stage_from_the_data(tmp_path):
    """stage1_steps=-1 through the trainer: 3 images, batch 2, 3 epochs = 6 steps (a full and
    a partial batch each epoch), so stage 1 is the first 3 steps."""
    import json

    from rdjax.train.trainer import train_and_evaluate
    from tests.data.fixtures import write_mvtec

    write_mvtec(tmp_path / "data", "carpet")
    config = tiny_config("two_stage")
    config.two_stage.stage1_steps = -1
    config.dataset.name, config.dataset.category = "mvtec", "carpet"
    config.dataset.root, config.dataset.data_dir = str(tmp_path / "data"), str(tmp_path / "cache")
    config.train.batch_size, config.eval.batch_size = 2, 2
    config.train.num_epochs, config.train.log_every = 3, 1
    config.eval.num_overlays = 0
    train_and_evaluate(config, str(tmp_path / "run"))
    rows = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    stages = [r["train/stage"] for r in rows if "train/stage" in r]
    assert stages == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
