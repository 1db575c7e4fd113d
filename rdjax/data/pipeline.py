"""Training batches: per-epoch shuffling as a pure function of the step.

The example order is a stream of permutations, one per epoch, seeded by
``(seed, epoch)``; step ``s`` takes stream positions ``[s·B, (s+1)·B)``. Every
step gets a full batch (batches may straddle an epoch boundary), nothing is
dropped, and a resumed run sees exactly the batches it would have seen.
"""

import queue
import threading
from typing import Dict, Iterator

import jax
import numpy as np


def batch_indices(num_examples: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Indices of the global batch at ``step``."""
    positions = step * batch_size + np.arange(batch_size)
    epochs, within = np.divmod(positions, num_examples)
    out = np.empty(batch_size, np.int64)
    for epoch in np.unique(epochs):
        perm = np.random.default_rng([seed, int(epoch)]).permutation(num_examples)
        sel = epochs == epoch
        out[sel] = perm[within[sel]]
    return out


def local_slice(indices: np.ndarray) -> np.ndarray:
    """This process's share of a global batch."""
    per_process = len(indices) // jax.process_count()
    start = jax.process_index() * per_process
    return indices[start:start + per_process]


def train_batches(arrays: Dict[str, np.ndarray], batch_size: int, seed: int, start_step: int,
                  num_steps: int, to_device, prefetch: int = 2) -> Iterator[dict]:
    """Yields device batches for steps ``start_step … num_steps-1``.

    A background thread gathers and transfers the next ``prefetch`` batches while
    the current step runs. ``to_device`` turns a dict of local numpy arrays into
    global (sharded) device arrays.
    """
    num_examples = len(next(iter(arrays.values())))
    out: "queue.Queue" = queue.Queue(maxsize=prefetch)
    stop = threading.Event()

    def produce():
        try:
            for step in range(start_step, num_steps):
                if stop.is_set():
                    return
                idx = local_slice(batch_indices(num_examples, batch_size, step, seed))
                out.put(to_device({k: v[idx] for k, v in arrays.items()}))
            out.put(None)
        except BaseException as e:  # surfaced in the consumer
            out.put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
