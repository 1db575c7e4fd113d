"""IKD, bidirectional and RD-E train end to end through the one trainer and write results.json."""

import importlib
import json

import numpy as np
import pytest

from rdjax.train import trainer
from rdjax.train.jsonl_writer import read_jsonl


pytestmark = pytest.mark.usefixtures("embedded_data_dir")


@pytest.mark.slow
@pytest.mark.parametrize("name,logged", [
    ("ikd", ("hard_fraction_1", "margin_2")),
    ("bidirectional", ("weight_forward", "loss_reverse")),
    ("rde", ("teacher_loss", "student_loss")),
])
def test_config_trains_and_writes_results(tmp_path, name, logged):
    config = importlib.import_module(f"configs.{name}").get_config()
    config.model.teacher = "resnet18"
    config.model.pretrained = False
    config.dataset.image_size = 64
    config.train.batch_size = 8
    config.train.num_steps = 4
    config.train.log_every = 2
    config.train.checkpoint_every = 4
    config.eval.num_overlays = 0
    if name == "bidirectional":
        config.bidirectional.window_steps = 1  # DWA weights kick in from the third step
    results = trainer.train_and_evaluate(config, str(tmp_path))
    saved = json.loads((tmp_path / "results.json").read_text())
    for key in ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image"):
        assert 0.0 <= saved[key] <= 1.0 and saved[key] == pytest.approx(results[key])
    rows = [r for r in read_jsonl(str(tmp_path / "metrics.jsonl")) if "train/loss" in r]
    assert len(rows) == 2 and all(np.isfinite(r["train/loss"]) for r in rows)
    for key in logged:
        assert f"train/{key}" in rows[-1]
    if name == "bidirectional":
        assert rows[-1]["train/weight_forward"] != 1.0
