"""Data parallelism: one mesh axis ``data`` over every device of every process.

Parameters are replicated; batches are split along their first axis. jit then
averages gradients across devices by itself, and BatchNorm statistics are those
of the global batch, so N devices reproduce the 1-device run.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh() -> Mesh:
    return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, setting: str) -> int:
    """The per-process share of a global batch; errors name the setting."""
    devices, processes = jax.device_count(), jax.process_count()
    if batch_size % devices:
        raise ValueError(f"{setting}={batch_size} must be a multiple of the number of devices "
                         f"({devices}); set {setting} to e.g. {devices * max(1, batch_size // devices)}.")
    return batch_size // processes


def global_batch(local: dict, mesh: Mesh) -> dict:
    """Assembles each process's slice of a batch into one globally sharded array per key."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local.items()}


def shard_whole_batch(batch: np.ndarray, mesh: Mesh) -> jax.Array:
    """A batch that every process holds in full, split over all devices (each process
    places only the rows of its own devices)."""
    return jax.make_array_from_process_local_data(batch_sharding(mesh), batch, batch.shape)
