"""Teacher features of the training set, computed once and fed in the batch.

RD4AD trains on images that are never augmented, through a frozen teacher, so each
training image's teacher features never change. Computing them once removes the
teacher's forward pass from every step. The trainer asks :func:`is_valid`: a method
may cache when it declares ``caches_teacher_features`` (``rdjax/methods/base.py``; RD4AD
does, its subclasses that corrupt the input or train the teacher do not). The features go
in the batch under ``teacher_features/<scale>`` and ``RD4AD.loss`` uses them when present.

Settings (``config.train``):

* ``cache_teacher_features``: on/off (default on; ignored where not valid);
* ``teacher_cache_dtype``: '' = the compute dtype (``config.model.dtype``; float64 in tests), or
  'float32' / 'bfloat16' / 'float16' (the latter two halve the memory);
* ``teacher_cache_storage``: 'host' (numpy arrays; the input pipeline's thread gathers
  each batch and sends it with the images) or 'device' (one replicated copy per device,
  gathered there; no per-step transfer, more device memory).

Memory: one image's features take (h1·w1·c1 + h2·w2·c2 + h3·w3·c3) values, e.g.
1.8 M (7.3 MB in float32) for WRN50-2 at 256 px, 42 k for EfficientNet-Lite0 at 128 px.
"""

import time
from typing import Callable, Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rdjax.core import batching, sharding
from rdjax.methods.rd4ad import cached_teacher_features_keys

INDEX_KEY = "example_index"
DTYPES = ("float32", "bfloat16", "float16", "float64")
STORAGES = ("host", "device")


def is_valid(method) -> bool:
    """Caching is valid for methods that declare it (their loss reads the cached features)."""
    return bool(getattr(method, "caches_teacher_features", False))


def enabled(method, config) -> bool:
    return bool(config.train.get("cache_teacher_features", False)) and is_valid(method)


def cache_dtype(config) -> jnp.dtype:
    name = config.train.get("teacher_cache_dtype", "") or config.model.get("dtype", "float32")
    if name not in DTYPES:
        raise ValueError(f"config.train.teacher_cache_dtype='{name}' is unknown; choose '' "
                         f"(the compute dtype) or one of {DTYPES}.")
    return jnp.dtype(name)


def compute_teacher_features(method, frozen, images: np.ndarray, batch_size: int,
                             dtype=jnp.float32) -> List[np.ndarray]:
    """The teacher's features (stride 4, 8, 16; NHWC numpy in ``dtype``) of uint8 ``images``.

    Jitted and batched over this process's devices only: every process computes the
    features of all images, so any process can feed any example.
    """
    mesh = Mesh(np.asarray(jax.local_devices()), (sharding.DATA_AXIS,))
    batch_size = -(-batch_size // mesh.size) * mesh.size
    data = NamedSharding(mesh, PartitionSpec(sharding.DATA_AXIS))

    def features(frozen, x):
        feats = method.teacher_features(frozen["teacher"], method.normalize(x))
        return [f.astype(dtype) for f in feats]

    fn = jax.jit(features, out_shardings=data)
    frozen = jax.device_put(frozen, NamedSharding(mesh, PartitionSpec()))
    parts = [[np.asarray(f)[:n] for f in fn(frozen, jax.device_put(chunk, data))]
             for chunk, n in batching.padded_batches(images, batch_size)]  # one compiled shape
    return [np.concatenate(scale) for scale in zip(*parts)]


def train_inputs(method, variables, images: np.ndarray, config,
                 mesh: Mesh) -> Tuple[Dict[str, np.ndarray], Callable[[dict], dict]]:
    """``(arrays, to_device)`` for ``pipeline.train_batches``.

    ``arrays`` holds the training images and, when caching is enabled, the teacher
    features (or, for device storage, each example's index); ``to_device`` turns a
    process-local batch into global device arrays with the features in place.
    """
    arrays = {"image": images}

    def to_global(local):
        return sharding.global_batch(local, mesh)

    if not enabled(method, config):
        return arrays, to_global
    storage = config.train.get("teacher_cache_storage", "host")
    if storage not in STORAGES:
        raise ValueError(f"config.train.teacher_cache_storage='{storage}' is unknown; choose "
                         f"one of {STORAGES}.")
    t0 = time.time()
    feats = compute_teacher_features(method, variables.frozen, images, config.train.batch_size,
                                     cache_dtype(config))
    keys = cached_teacher_features_keys(len(feats))
    logging.info("Cached the teacher features of %d training images in %.1f s: %.1f MiB of "
                 "%s on the %s.", len(images), time.time() - t0,
                 sum(f.nbytes for f in feats) / 2**20, feats[0].dtype, storage)
    if storage == "host":
        arrays.update(zip(keys, feats))
        return arrays, to_global

    replicated = sharding.replicated(mesh)
    cache = {k: jax.make_array_from_callback(f.shape, replicated, lambda i, f=f: f[i])
             for k, f in zip(keys, feats)}
    gather = jax.jit(lambda cache, index: {k: v[index] for k, v in cache.items()},
                     out_shardings=sharding.batch_sharding(mesh))
    arrays[INDEX_KEY] = np.arange(len(images), dtype=np.int32)

    def to_device(local):
        batch = to_global(local)
        batch.update(gather(cache, batch.pop(INDEX_KEY)))
        return batch

    return arrays, to_device
