"""scripts/summarize_comparison.py: means and ranges over runs, methods in the paper order."""

import importlib.util
import json
import pathlib

import numpy as np

SCRIPT = pathlib.Path(__file__).parents[1] / "scripts" / "summarize_comparison.py"
spec = importlib.util.spec_from_file_location("summarize_comparison", SCRIPT)
summarize = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summarize)


def write(out, method, image_auroc, ips=10.0):
    (out / method).mkdir(parents=True)
    (out / method / "results.json").write_text(json.dumps(
        {"image_auroc": image_auroc, "pixel_auroc": 0.9, "aupro": 0.8, "aupro_per_image": 0.7,
         "train_images_per_sec": ips}))


def test_mean_and_range_over_seeds(tmp_path):
    values = [0.91, 0.95, 0.97]
    for seed, v in enumerate(values):
        write(tmp_path / f"s{seed}", "rde", v, ips=10.0 * (seed + 1))
        write(tmp_path / f"s{seed}", "rd4ad", 0.99)
    text = summarize.table(summarize.load([str(tmp_path / f"s{i}") for i in range(3)]))
    rows = [l for l in text.splitlines() if l.startswith("| r")]
    assert rows[0].startswith("| rd4ad | 3 | 0.990 (0.990–0.990)")  # rd4ad before rde
    assert rows[1].startswith(f"| rde | 3 | {np.mean(values):.3f} (0.910–0.970)")
    assert rows[1].endswith("| 20.0 |")


def test_single_run_has_no_range(tmp_path):
    write(tmp_path, "mrkd", 0.5)
    assert "| mrkd | 1 | 0.500 | 0.900 |" in summarize.table(summarize.load([str(tmp_path)]))
