"""Data parallelism in one process: 2 CPU devices train exactly like 1 device.

Both runs happen in fresh processes (tests/train/parallel_run.py), since the number of
CPU devices (``--xla_force_host_platform_device_count``) is fixed when JAX starts. Same
initial state, same global batch of 8, same 4 steps; the 2-device run splits each batch
4 + 4 over its devices, averages the gradients and takes BatchNorm statistics over the
global batch, all through jit.
"""

import numpy as np
import pytest

from tests.train import parallel_run

STEPS = 4
STORAGES = ("host", "device")  # where the teacher-feature cache lives
TIMEOUT_S = 400


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("data_parallel")
    steps = ("--steps", str(STEPS))
    procs = [parallel_run.start(str(out / "one"), *steps),
             parallel_run.start(str(out / "two"), *steps, "--storage", ",".join(STORAGES),
                                devices=2)]
    parallel_run.wait_all(procs, TIMEOUT_S)
    return parallel_run.load(out / "one.0.npz"), parallel_run.load(out / "two.0.npz")


def test_each_device_gets_half_of_every_batch(runs):
    one, two = runs
    assert int(one["device_count"]) == 1
    assert (int(two["device_count"]), int(two["local_device_count"]),
            int(two["process_count"])) == (2, 2, 1)
    first = parallel_run.first_global_batch()
    for storage in STORAGES:
        np.testing.assert_array_equal(two[f"{storage}/shard_rows"], [[0, 1, 2, 3], [4, 5, 6, 7]])
        np.testing.assert_array_equal(two[f"{storage}/placed_images"],
                                      first.reshape(2, 4, *first.shape[1:]))
        parallel_run.assert_cache_in_use(two, storage)


@pytest.mark.parametrize("storage", STORAGES)
def test_two_devices_follow_the_one_device_trajectory(runs, storage):
    one, two = runs
    losses = one["host/losses"]
    assert len(losses) == STEPS and losses[-1] < losses[0] - 0.05, losses  # it learns
    parallel_run.assert_same_training(two, one, storage)
