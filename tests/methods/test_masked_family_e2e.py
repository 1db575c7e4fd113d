"""MRKD, RD++ and two-stage RKD train end to end on the embedded dataset and write results.json."""

import json

import pytest

from rdjax.train import trainer
from rdjax.train.jsonl_writer import read_jsonl
from tests.methods.masked_family_helpers import tiny_config


pytestmark = pytest.mark.usefixtures("embedded_data_dir")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mrkd", "rdpp", "two_stage"])
def test_config_trains_and_writes_results(name, tmp_path):
    config = tiny_config(name, image_size=64)
    if name == "rdpp":
        config.rdpp.noise_min_size, config.rdpp.noise_max_size = 4, 8
    config.train.batch_size = 8
    config.train.num_steps = 4
    config.train.log_every = 1
    config.train.checkpoint_every = 4
    config.eval.batch_size = 16
    config.eval.num_overlays = 0
    trainer.train_and_evaluate(config, str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("image_auroc", "pixel_auroc", "aupro"):
        assert 0.0 <= results[key] <= 1.0
    logged = [r for r in read_jsonl(str(tmp_path / "metrics.jsonl")) if "train/loss" in r]
    assert len(logged) == 4
    if name == "rdpp":
        assert {"train/ssot", "train/recon", "train/contrast", "train/distill"} <= set(logged[0])
    if name == "two_stage":
        assert [r["train/stage"] for r in logged] == [1.0, 1.0, 2.0, 2.0]
