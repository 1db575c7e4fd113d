"""Training batches: per-epoch shuffling as a pure function of the step.

The example order is one permutation per epoch, seeded by ``(seed, epoch)``, so a
resumed run sees exactly the batches it would have seen. Two ways to cut it into
batches (``config.train.partial_batches``):

* ``True`` (the released RD-family code: PyTorch's ``DataLoader(shuffle=True)``,
  no ``drop_last``): epoch ``e`` is ``ceil(n / B)`` steps over its permutation and
  its last batch holds the ``n mod B`` remaining images (209 images, batch 16 →
  13 batches of 16 and one of 1). A batch must split evenly over the devices: with
  ``D`` devices the last batch keeps its first ``r − r mod D`` images (the others —
  different ones each epoch — sit that epoch out), and an epoch whose remainder is
  smaller than ``D`` has ``floor(n / B)`` steps. On one device nothing is left out.
* ``False``: every step gets a full batch; step ``s`` takes positions
  ``[s·B, (s+1)·B)`` of the stream of permutations, so batches may straddle two
  epochs and nothing is dropped.
"""

import queue
import threading
from typing import Dict, Iterator

import jax
import numpy as np


def _permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, int(epoch)]).permutation(num_examples)


def last_batch_size(num_examples: int, batch_size: int, num_devices: int = 1) -> int:
    """Images in an epoch's partial last batch (0: there is none); see the module docstring."""
    rest = num_examples % batch_size
    return rest - rest % num_devices


def steps_per_epoch(num_examples: int, batch_size: int, partial_batches: bool,
                    num_devices: int = 1) -> int:
    """Steps that make one epoch: ``ceil(n / B)`` (full batches: the last one borrows from
    the next epoch), or with partial batches one less if the last would be empty."""
    if not partial_batches:
        return -(-num_examples // batch_size)
    steps = num_examples // batch_size + (1 if last_batch_size(num_examples, batch_size,
                                                               num_devices) else 0)
    if not steps:
        raise ValueError(f"{num_examples} training images do not fill one batch split over "
                         f"{num_devices} devices; set config.train.partial_batches=False.")
    return steps


def batch_indices(num_examples: int, batch_size: int, step: int, seed: int,
                  partial_batches: bool = False, num_devices: int = 1) -> np.ndarray:
    """Indices of the global batch at ``step``."""
    if partial_batches:
        epoch, k = divmod(step, steps_per_epoch(num_examples, batch_size, True, num_devices))
        start = k * batch_size
        remaining = num_examples - start
        size = batch_size if remaining >= batch_size else remaining - remaining % num_devices
        return _permutation(num_examples, seed, epoch)[start:start + size]
    positions = step * batch_size + np.arange(batch_size)
    epochs, within = np.divmod(positions, num_examples)
    out = np.empty(batch_size, np.int64)
    for epoch in np.unique(epochs):
        perm = _permutation(num_examples, seed, epoch)
        sel = epochs == epoch
        out[sel] = perm[within[sel]]
    return out


def local_slice(indices: np.ndarray) -> np.ndarray:
    """This process's share of a global batch."""
    per_process = len(indices) // jax.process_count()
    start = jax.process_index() * per_process
    return indices[start:start + per_process]


def train_batches(arrays: Dict[str, np.ndarray], batch_size: int, seed: int, start_step: int,
                  num_steps: int, to_device, prefetch: int = 2, partial_batches: bool = False,
                  num_devices: int = 1) -> Iterator[dict]:
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
                idx = local_slice(batch_indices(num_examples, batch_size, step, seed,
                                                partial_batches, num_devices))
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
