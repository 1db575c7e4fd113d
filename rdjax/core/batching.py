"""Fixed-size batches of a host array: one compiled shape for any number of examples."""

from typing import Iterator, Tuple

import numpy as np


def padded_batches(array: np.ndarray, batch_size: int) -> Iterator[Tuple[np.ndarray, int]]:
    """``(batch, n)`` for consecutive ``batch_size`` slices of ``array``: the last one is filled up
    with copies of its last example; ``n`` is how many of the batch are real."""
    for start in range(0, len(array), batch_size):
        chunk = array[start:start + batch_size]
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, axis=0)])
        yield chunk, n
