"""rdjax's side of the benchmark: ``python -m rdjax.benchmark.jax_worker WORKLOAD_JSON``.

Uses the trainer's own jitted, donating step (``rdjax.train.step.train_step``) and the
teacher-feature cache's own feature function, on batches placed on the devices first.
"""

import functools
import sys
import time

import jax
import jax.numpy as jnp

from rdjax.benchmark import workload as wl
from rdjax.core import sharding
from rdjax.methods.rd4ad import RD4AD, cached_teacher_features_keys
from rdjax.train import feature_cache
from rdjax.train.default_config import base_config
from rdjax.train.state import TrainState
from rdjax.train.step import train_step


def rdjax_config(w: wl.Workload):
    config = base_config()
    config.model.teacher = w.teacher
    config.model.pretrained = w.pretrained
    config.model.teacher_weights = w.teacher_weights
    config.model.dtype = w.precision  # compute dtype; parameters stay float32
    config.dataset.image_size = w.image_size
    config.train.batch_size = w.batch_size
    config.train.learning_rate, config.train.b1, config.train.b2 = w.learning_rate, w.b1, w.b2
    config.eval.combine, config.eval.sigma = w.combine, w.sigma
    return config


def device_peak_mib():
    stats = jax.local_devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return peak / 2**20 if peak else None


def flops_of(compiled) -> float:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else {}
    return float((analysis or {}).get("flops", 0.0))


def measure_training(method, tx, state, batches, w, rng):
    """(first_step_s, compile_s, images/s, flops, final state) for the trainer's step."""
    step_fn = jax.jit(functools.partial(train_step, method, tx), donate_argnums=(0,))
    t0 = time.perf_counter()
    compiled = step_fn.lower(state, batches[0], rng).compile()
    compile_s = time.perf_counter() - t0
    state, metrics = compiled(state, batches[0], rng)
    jax.block_until_ready(metrics)
    first_step_s = time.perf_counter() - t0
    for i in range(w.warmup_steps):
        state, metrics = compiled(state, batches[i % len(batches)], rng)
    jax.block_until_ready(metrics)
    box = {"state": state, "metrics": metrics}

    def one(i):
        box["state"], box["metrics"] = compiled(box["state"], batches[i % len(batches)], rng)

    seconds = wl.time_loop(one, lambda: jax.block_until_ready(box["metrics"]), w.train_steps)
    return first_step_s, compile_s, w.train_steps * w.batch_size / seconds, flops_of(compiled), box["state"]


def main(workload_json: str) -> None:
    w = wl.Workload.from_json(workload_json)
    baseline = wl.peak_rss_mib()
    config = rdjax_config(w)
    method = RD4AD(config)
    mesh = sharding.make_mesh()
    rng = jax.random.key(w.seed)
    wl.progress(f"rdjax {w.precision}: init {w.teacher} at {w.image_size} px on {jax.devices()}")
    variables = method.init(rng, jnp.asarray(w.images(1, 0)))
    tx = method.optimizer()
    place = lambda images: sharding.global_batch({"image": images}, mesh)  # noqa: E731
    host_batches = [w.images(w.batch_size, i) for i in range(w.pool_batches)]
    batches = [place(images) for images in host_batches]
    result = {"framework": "rdjax", "precision": w.precision, "device": jax.devices()[0].device_kind,
              "num_devices": jax.device_count(), "jax": jax.__version__}

    wl.progress("train step, teacher recomputed")
    def fresh_state():  # a copy: the donating step deletes the arrays it is given
        copy = jax.tree_util.tree_map(jnp.copy, variables)
        return jax.device_put(TrainState.create(copy, tx), sharding.replicated(mesh))

    state = fresh_state()
    (result["first_step_s"], result["compile_s"], result["train_images_per_sec"],
     result["train_flops"], _) = measure_training(method, tx, state, batches, w, rng)

    wl.progress("train step, cached teacher features")
    dtype = feature_cache.cache_dtype(config)
    keys = cached_teacher_features_keys(3)
    cached = []
    for images in host_batches:
        feats = feature_cache.compute_teacher_features(method, variables.frozen, images,
                                                       w.batch_size, dtype)
        cached.append(sharding.global_batch({"image": images, **dict(zip(keys, feats))}, mesh))
    state = fresh_state()
    (_, result["cached_compile_s"], result["train_cached_images_per_sec"],
     result["train_cached_flops"], state) = measure_training(method, tx, state, cached, w, rng)

    wl.progress("inference")
    map_fn = jax.jit(method.anomaly_map)
    trained = state.variables
    one = place(w.images(1, 0))["image"]
    jax.block_until_ready(map_fn(trained, one))
    result["latency_ms"] = wl.median_latency_ms(
        lambda: jax.block_until_ready(map_fn(trained, one)), w.latency_repeats)
    big = place(w.images(w.infer_batch, 0))["image"]
    jax.block_until_ready(map_fn(trained, big))
    box = {}
    seconds = wl.time_loop(lambda i: box.__setitem__("out", map_fn(trained, big)),
                           lambda: jax.block_until_ready(box["out"]), w.infer_repeats)
    result["infer_images_per_sec"] = w.infer_repeats * w.infer_batch / seconds

    peak = device_peak_mib()
    result["peak_memory_mib"] = peak if peak is not None else wl.peak_rss_mib()
    result["peak_memory_kind"] = "device" if peak is not None else "process RSS"
    if peak is None:
        result["memory_above_imports_mib"] = result["peak_memory_mib"] - baseline
    wl.emit(result)


if __name__ == "__main__":
    main(sys.argv[1])
