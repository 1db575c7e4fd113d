"""``python -m rdjax.benchmark`` end to end at a tiny size: both workers, JSON and table."""

import json
import os
import subprocess
import sys

import pytest

from tests.tiny_config import TEACHER

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow  # trains both frameworks in subprocesses
def test_side_by_side_tiny(tmp_path):
    cmd = [sys.executable, "-m", "rdjax.benchmark", "--config", "configs/quickstart.py",
           f"--config.model.teacher={TEACHER}", "--config.model.pretrained=False",
           "--config.dataset.image_size=64", "--config.train.batch_size=4",
           "--train_steps=1", "--warmup_steps=0", "--rounds=1", "--infer_batch=4", "--precisions=float32",
           f"--out={tmp_path}"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "benchmark.json").read_text())
    by = {r["framework"]: r for r in report["results"]}
    assert set(by) == {"rdjax", "torch"}
    for r in by.values():
        for key in ("train_images_per_sec", "train_cached_images_per_sec", "latency_ms",
                    "infer_images_per_sec", "peak_memory_mib"):
            assert r[key] > 0, (r["framework"], key)
    assert by["rdjax"]["train_flops"] > 0 and by["torch"]["train_tflops"] > 0
    table = (tmp_path / "benchmark.md").read_text()
    assert "| train images/s, teacher recomputed |" in table and "×" in table
    assert table in proc.stdout


def test_other_methods_are_refused_by_name(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rdjax.benchmark", "--config", "configs/mrkd.py",
                           f"--out={tmp_path}"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and "'mrkd'" in proc.stderr
