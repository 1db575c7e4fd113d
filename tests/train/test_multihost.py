"""Multi-host data parallelism: two processes joined by ``jax.distributed.initialize`` on
127.0.0.1 (CPU collectives over gloo, as ``python -m rdjax.train --distributed`` sets them
up) train exactly like one process on the same global batch.

Each process has one CPU device and feeds its own half of every global batch of 8
(``pipeline.local_slice``); the teacher-feature cache is on in both, with host and with
device storage. Workers: tests/train/parallel_run.py.
"""

import numpy as np
import pytest

from tests.train import parallel_run

STEPS = 3
STORAGES = ("host", "device")
TIMEOUT_S = 400


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("multihost")
    steps = ("--steps", str(STEPS))
    join = ("--coordinator_address", f"127.0.0.1:{parallel_run.free_port()}",
            "--num_processes", "2", "--storage", ",".join(STORAGES))
    procs = [parallel_run.start(str(out / "single"), *steps)]
    procs += [parallel_run.start(str(out / "joined"), *steps, *join, "--process_id", str(i))
              for i in range(2)]
    parallel_run.wait_all(procs, TIMEOUT_S)
    return (parallel_run.load(out / "single.0.npz"),
            [parallel_run.load(out / f"joined.{i}.npz") for i in range(2)])


def test_each_process_feeds_its_own_half(runs):
    _, joined = runs
    first = parallel_run.first_global_batch()
    for index, result in enumerate(joined):
        assert (int(result["device_count"]), int(result["local_device_count"]),
                int(result["process_count"])) == (2, 1, 2)
        rows = np.arange(4) + 4 * index
        for storage in STORAGES:
            np.testing.assert_array_equal(result[f"{storage}/shard_rows"], [rows])
            np.testing.assert_array_equal(result[f"{storage}/placed_images"], first[rows][None])
            parallel_run.assert_cache_in_use(result, storage)


@pytest.mark.parametrize("storage", STORAGES)
def test_two_processes_follow_the_single_process_trajectory(runs, storage):
    single, joined = runs
    assert len(single["host/losses"]) == STEPS
    for result in joined:
        parallel_run.assert_same_training(result, single, storage)
    # Both processes hold the same replicated state.
    for key in parallel_run.state_keys(joined[0], storage):
        np.testing.assert_array_equal(joined[0][key], joined[1][key], err_msg=key)
