"""A few training steps of the tiny RD4AD setting in a fresh process, for the data-parallel
and multi-host tests.

It uses the trainer's own pieces: the ``TrainState`` replicated over
``sharding.make_mesh()``, the jitted ``trainer.train_step``, ``feature_cache.train_inputs``
(the teacher-feature cache is on, as for every RD4AD run) and ``pipeline.train_batches``,
which gives each process its share of every global batch.

  python -m tests.train.parallel_run OUT_PREFIX [--steps N] [--storage host,device]
      [--coordinator_address HOST:PORT --num_processes N --process_id I]

Each process writes ``OUT_PREFIX.<process index>.npz`` with, per cache storage ``S``:
``S/losses``, ``S/params…`` and ``S/model_state…`` (final values), ``S/array_keys`` (what
the pipeline gathers on the host), ``S/shard_rows`` and ``S/placed_images`` (the rows of
the first global batch that this process placed on its devices, and their images); and
``initial/…`` (the initial params and BatchNorm statistics), ``device_count``,
``local_device_count`` and ``process_count``.
"""

import argparse
import functools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[2]
BATCH_SIZE = 8  # global
NUM_IMAGES = 18  # not a multiple of the batch: the third batch straddles two epochs
# Every worker computes in float64 (``JAX_ENABLE_X64``, ``config.model.dtype``) with the
# recipe's own Adam. Splitting a batch over devices or processes reorders the additions of
# the gradient and BatchNorm sums; in float32 that rounding (~1e-7) is amplified by every
# Adam step, and by how much depends on the code XLA emits for the CPU (AVX-512 or AVX2),
# so a float32 trajectory is not a stable test. In float64 it starts at ~1e-16, and the
# runs stay within 1e-9 of each other: what remains to differ is the mathematics.
DTYPE = "float64"


def training_images() -> np.ndarray:
    """The same uint8 images in every process, as every process loads the whole train split."""
    return np.random.default_rng(0).integers(0, 256, (NUM_IMAGES, 64, 64, 3), dtype=np.uint8)


def flat(tree, prefix: str) -> Dict[str, np.ndarray]:
    import jax

    return {prefix + jax.tree_util.keystr(path): np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def run(steps: int, storages: Sequence[str]) -> Dict[str, np.ndarray]:
    """Trains ``steps`` steps from the same initial state once per cache storage."""
    import jax
    import jax.numpy as jnp
    from rdjax.core import sharding
    from rdjax.data import pipeline
    from rdjax.methods import get_method
    from rdjax.train import feature_cache, trainer
    from rdjax.train.state import TrainState
    from tests.tiny_config import tiny_rd4ad_config

    config = tiny_rd4ad_config(batch_size=BATCH_SIZE, num_steps=steps)
    config.model.dtype = DTYPE
    assert config.train.cache_teacher_features and jax.config.jax_enable_x64
    method = get_method(config)
    mesh = sharding.make_mesh()
    sharding.check_batch_size(config.train.batch_size, "config.train.batch_size")
    images = training_images()
    init_rng, train_rng = jax.random.split(jax.random.key(config.seed))
    # On the host: each run's state is made afresh (the step donates, and on one device the
    # replicated state would share the buffers of device-resident variables).
    variables = jax.tree_util.tree_map(lambda x: np.asarray(x, DTYPE), jax.device_get(
        method.init(init_rng, jnp.asarray(images[:1]))))
    tx = method.optimizer()
    step_fn = jax.jit(functools.partial(trainer.train_step, method, tx), donate_argnums=(0,))
    out = {"device_count": np.asarray(jax.device_count()),
           "local_device_count": np.asarray(jax.local_device_count()),
           "process_count": np.asarray(jax.process_count()),
           **flat(variables.params, "initial/params"),
           **flat(variables.model_state, "initial/model_state")}
    for storage in storages:
        config.train.teacher_cache_storage = storage
        state = jax.device_put(TrainState.create(variables, tx), sharding.replicated(mesh))
        arrays, to_device = feature_cache.train_inputs(method, variables, images, config, mesh)
        batches = pipeline.train_batches(arrays, config.train.batch_size, config.seed, 0,
                                         trainer.num_train_steps(config, len(images)),
                                         to_device=to_device)
        losses = []
        for batch in batches:
            if not losses:
                shards = sorted(batch["image"].addressable_shards,
                                key=lambda s: s.index[0].indices(BATCH_SIZE)[0])
                out[f"{storage}/shard_rows"] = np.asarray(
                    [np.arange(BATCH_SIZE)[s.index[0]] for s in shards])
                out[f"{storage}/placed_images"] = np.stack([np.asarray(s.data) for s in shards])
            state, metrics = step_fn(state, batch, train_rng)
            losses.append(float(metrics["loss"]))
        out[f"{storage}/losses"] = np.asarray(losses)
        out[f"{storage}/array_keys"] = np.asarray(sorted(arrays))
        out.update(flat(state.params, f"{storage}/params"))
        out.update(flat(state.model_state, f"{storage}/model_state"))
    return out


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("out_prefix")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--storage", default="host", help="comma-separated cache storages")
    p.add_argument("--coordinator_address")
    p.add_argument("--num_processes", type=int)
    p.add_argument("--process_id", type=int)
    args = p.parse_args(argv)
    if args.coordinator_address:
        from rdjax.train.__main__ import initialize_distributed

        initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)
    import jax

    out = run(args.steps, args.storage.split(","))
    np.savez(f"{args.out_prefix}.{jax.process_index()}.npz", **out)


# ---- For the tests: start workers, wait for all of them, read what they wrote. ----

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(out_prefix: str, *args: str, devices: int = 1) -> subprocess.Popen:
    """``python -m tests.train.parallel_run OUT_PREFIX *args`` on ``devices`` CPU devices;
    its output goes to a log file that :func:`wait_all` shows on failure."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", JAX_ENABLE_X64="1")
    xla_flags = [f for f in env.get("XLA_FLAGS", "").split()
                 if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join(xla_flags + [f"--xla_force_host_platform_device_count={devices}"])
    log = open(f"{out_prefix}.{time.monotonic_ns()}.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "tests.train.parallel_run", out_prefix, *args],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log
    return proc


def wait_all(procs: Sequence[subprocess.Popen], timeout: float) -> None:
    """Waits for every worker. When one fails, or after ``timeout`` seconds in all, kills
    the others and fails with each worker's output."""
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers still running after {timeout:.0f} s")
            if any(p.poll() for p in procs):
                break
            time.sleep(0.2)
        if any(p.poll() for p in procs):
            raise RuntimeError("a worker failed")
    except BaseException as e:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        report = []
        for i, p in enumerate(procs):
            p.log.seek(0)
            report.append(f"--- worker {i} ({' '.join(p.args[3:])}), exit code {p.returncode}:\n"
                          + p.log.read()[-4000:])
        raise AssertionError(f"{e}\n" + "\n".join(report)) from None
    finally:
        for p in procs:
            p.log.close()


def load(path) -> Dict[str, np.ndarray]:
    with np.load(path) as f:
        return dict(f)


def state_keys(result: Dict[str, np.ndarray], storage: str) -> List[str]:
    """The final params and BatchNorm statistics of one storage's run."""
    prefixes = (f"{storage}/params", f"{storage}/model_state")
    return sorted(k for k in result if k.startswith(prefixes))


def first_global_batch() -> np.ndarray:
    """The images of step 0's global batch, in order."""
    from rdjax.data import pipeline
    from tests.tiny_config import tiny_rd4ad_config

    seed = tiny_rd4ad_config().seed
    return training_images()[pipeline.batch_indices(NUM_IMAGES, BATCH_SIZE, 0, seed)]


def assert_cache_in_use(result: Dict[str, np.ndarray], storage: str) -> None:
    """The pipeline gathered the cached teacher features (host) or their indices (device)."""
    keys = set(result[f"{storage}/array_keys"])
    expected = ({"image", "example_index"} if storage == "device" else
                {"image", "teacher_features/0", "teacher_features/1", "teacher_features/2"})
    assert keys == expected, (storage, keys)


# Measured 2026-12-01 (float64, Adam, 2-core AVX-512 CPU): against the 1-device run, the
# 2-device run's losses differ by ≤ 4e-14 over 4 steps, its final params and BatchNorm
# statistics lie 3e-13 (over all) and ≤ 4e-12 (per tensor) of the distance the reference
# travelled. The bounds leave 100× and more for other CPUs' code, and are 1e5× tighter than
# the float32 runs' own spread (losses 4e-4 apart after 4 steps on an AVX2 CPU).
LOSS_RTOL = 1e-10
APART_OVERALL = 1e-9
APART_PER_TENSOR = 1e-8


def assert_same_training(result: Dict[str, np.ndarray], reference: Dict[str, np.ndarray],
                         storage: str) -> None:
    """``result``'s run of ``storage`` has the reference's (host storage) loss at every step
    and ends where it ends: the distance between the final params and BatchNorm statistics
    is a tiny fraction of the distance the reference travelled from the initial state, over
    all and for each tensor (bounds above)."""
    np.testing.assert_allclose(result[f"{storage}/losses"], reference["host/losses"],
                               rtol=LOSS_RTOL, err_msg=f"{storage}: losses")
    names = [k[len("host"):] for k in state_keys(reference, "host")]
    assert names and [k[len(storage):] for k in state_keys(result, storage)] == names
    travelled_sq = apart_sq = 0.0
    for name in names:
        initial = reference["initial" + name]
        np.testing.assert_array_equal(result["initial" + name], initial, err_msg=name)
        final = reference["host" + name]
        assert final.dtype == result[storage + name].dtype == np.float64, name
        travelled = float(np.linalg.norm(final - initial))
        apart = float(np.linalg.norm(result[storage + name] - final))
        assert apart <= APART_PER_TENSOR * travelled + 1e-15, (
            f"{storage}{name}: {apart:.3g} apart from the reference, which travelled {travelled:.3g}")
        travelled_sq, apart_sq = travelled_sq + travelled ** 2, apart_sq + apart ** 2
    assert apart_sq ** 0.5 <= APART_OVERALL * travelled_sq ** 0.5, (storage, apart_sq ** 0.5,
                                                                   travelled_sq ** 0.5)


if __name__ == "__main__":
    main()
