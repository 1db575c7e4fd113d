"""Batch order: per-epoch permutations, full batches, resumable from any step."""

import numpy as np

from rdjax.data.pipeline import batch_indices, train_batches


def test_each_epoch_visits_every_example_once():
    n, b = 10, 4
    stream = np.concatenate([batch_indices(n, b, s, seed=3) for s in range(5)])  # 20 = 2 epochs
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))
    assert not np.array_equal(stream[:10], stream[10:])  # reshuffled per epoch


def test_order_depends_on_seed_only_and_resumes():
    full = list(train_batches({"x": np.arange(7)}, 3, seed=1, start_step=0, num_steps=6, to_device=dict))
    resumed = list(train_batches({"x": np.arange(7)}, 3, seed=1, start_step=4, num_steps=6, to_device=dict))
    np.testing.assert_array_equal(full[4]["x"], resumed[0]["x"])
    np.testing.assert_array_equal(full[5]["x"], resumed[1]["x"])
    other = batch_indices(7, 3, 0, seed=2)
    assert not np.array_equal(other, full[0]["x"])
