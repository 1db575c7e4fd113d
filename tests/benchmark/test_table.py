"""The benchmark table: ratios point in rdjax's favour when rdjax is better, MFU from FLOPs."""

import pytest

from rdjax.benchmark import table
from rdjax.benchmark import workload as wl


def test_advantage_is_speed_up_for_throughput_and_saving_for_time_and_memory():
    results = [
        {"framework": "rdjax", "precision": "float32", "train_images_per_sec": 30.0,
         "latency_ms": 10.0, "peak_memory_mib": 500.0, "peak_memory_kind": "process RSS"},
        {"framework": "torch", "precision": "float32", "train_images_per_sec": 20.0,
         "latency_ms": 40.0, "peak_memory_mib": 1000.0, "peak_memory_kind": "process RSS"},
    ]
    rows = {line.split(" | ")[0].strip("| "): line for line in
            table.markdown(results, "float32", 32).splitlines()}
    assert rows["train images/s, teacher recomputed"].endswith("| 30.0 | 20.0 | 1.50× |")
    assert rows["inference latency, batch 1 (ms)"].endswith("| 10.0 | 40.0 | 4.00× |")
    assert rows["peak memory (MiB, process RSS)"].endswith("| 500 | 1000 | 2.00× |")
    assert "inference images/s, batch 32" not in rows  # neither side measured it


def test_a_failed_worker_is_named_under_its_table():
    results = [{"framework": "rdjax", "precision": "bfloat16", "train_images_per_sec": 5.0},
               {"framework": "torch", "precision": "bfloat16", "error": "exit status 1"}]
    text = table.markdown(results, "bfloat16", 32)
    assert "| 5.0 | — | — |" in text and "torch bfloat16 failed: exit status 1" in text


def test_tflops_and_mfu():
    gpu = {"device": "NVIDIA H200", "train_images_per_sec": 160.0}
    table.add_derived(gpu, flops_per_step=2e12, batch_size=16)  # 10 steps/s
    assert gpu["train_tflops"] == pytest.approx(20.0)
    assert gpu["mfu"] == pytest.approx(20.0 / 989.0)
    cpu = {"device": "cpu", "train_images_per_sec": 16.0}
    table.add_derived(cpu, flops_per_step=1e9, batch_size=16)
    assert cpu["train_tflops"] == pytest.approx(1e-3) and "mfu" not in cpu


def test_workload_round_trip_and_same_images_in_both_workers():
    w = wl.Workload("resnet18", False, "", 64, 4, 1e-3, 0.5, 0.999, "add", 4.0, precision="bfloat16")
    again = wl.Workload.from_json(w.to_json())
    assert again == w
    assert (again.images(4, 1) == w.images(4, 1)).all()
    assert not (w.images(4, 0) == w.images(4, 1)).all()


def test_best_of_rounds_keeps_each_measures_best_and_skips_failures():
    runs = [{"framework": "torch", "precision": "float32", "train_images_per_sec": 10.0, "latency_ms": 5.0},
            {"framework": "torch", "precision": "float32", "train_images_per_sec": 12.0, "latency_ms": 7.0},
            {"framework": "torch", "precision": "float32", "error": "exit status 1"}]
    best = table.best_of(runs)
    assert (best["train_images_per_sec"], best["latency_ms"], best["rounds"]) == (12.0, 5.0, 2)
    assert "error" in table.best_of(runs[2:])
