"""padded_batches: every example once, in order, in batches of one size."""

import numpy as np

from rdjax.core.batching import padded_batches


def test_last_batch_is_filled_with_its_last_example():
    array = np.arange(7 * 2).reshape(7, 2)
    batches = list(padded_batches(array, 3))
    assert [n for _, n in batches] == [3, 3, 1]
    assert all(b.shape == (3, 2) for b, _ in batches)
    np.testing.assert_array_equal(np.concatenate([b[:n] for b, n in batches]), array)
    np.testing.assert_array_equal(batches[-1][0], [[12, 13]] * 3)
    assert [n for _, n in padded_batches(array, 7)] == [7]
    assert list(padded_batches(array[:0], 3)) == []
