"""Batch order: per-epoch permutations, full batches, resumable from any step."""

import numpy as np
import pytest

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


def test_partial_batches_make_pytorch_epochs():
    """partial_batches: each epoch is one permutation in ceil(n/B) batches, the last one
    partial, as DataLoader(shuffle=True, drop_last=False); 209 images → 13×16 + 1."""
    from rdjax.data.pipeline import steps_per_epoch

    n, b = 209, 16
    per_epoch = steps_per_epoch(n, b, partial_batches=True)
    assert per_epoch == 14
    for epoch in range(2):
        batches = [batch_indices(n, b, epoch * per_epoch + k, seed=5, partial_batches=True)
                   for k in range(per_epoch)]
        assert [len(x) for x in batches] == [16] * 13 + [1]
        assert sorted(np.concatenate(batches)) == list(range(n))
    # the same epoch permutations as the stream of full batches, cut differently
    first_epoch = np.concatenate([batch_indices(n, b, k, seed=5, partial_batches=True)
                                  for k in range(per_epoch)])
    stream = np.concatenate([batch_indices(n, b, k, seed=5) for k in range(14)])
    np.testing.assert_array_equal(first_epoch, stream[:n])


def test_partial_batch_splits_over_devices():
    """With D devices the last batch keeps a multiple of D images; a remainder below D
    drops the partial step (documented in rdjax/data/pipeline.py)."""
    from rdjax.data.pipeline import steps_per_epoch

    assert steps_per_epoch(22, 8, True, num_devices=4) == 3  # last batch: 6 → 4 images
    assert len(batch_indices(22, 8, 2, seed=0, partial_batches=True, num_devices=4)) == 4
    assert steps_per_epoch(17, 8, True, num_devices=2) == 2  # remainder 1 < 2 devices
    assert len(batch_indices(17, 8, 2, seed=0, partial_batches=True, num_devices=2)) == 8  # epoch 2
    assert steps_per_epoch(17, 8, False, num_devices=2) == 3
    with pytest.raises(ValueError, match="partial_batches"):
        steps_per_epoch(1, 8, True, num_devices=2)


def test_partial_batches_resume_and_num_train_steps():
    from rdjax.train.trainer import num_train_steps
    from rdjax.train.default_config import base_config

    kwargs = dict(to_device=dict, partial_batches=True)
    full = list(train_batches({"x": np.arange(7)}, 3, seed=1, start_step=0, num_steps=6, **kwargs))
    resumed = list(train_batches({"x": np.arange(7)}, 3, seed=1, start_step=4, num_steps=6, **kwargs))
    assert [len(b["x"]) for b in full] == [3, 3, 1, 3, 3, 1]
    np.testing.assert_array_equal(full[4]["x"], resumed[0]["x"])
    config = base_config()
    config.train.num_epochs, config.train.batch_size = 3, 16
    assert config.train.partial_batches  # the released code's epochs are the default
    assert num_train_steps(config, 209, num_devices=1) == 42
    config.train.partial_batches = False
    assert num_train_steps(config, 208, num_devices=1) == 39
