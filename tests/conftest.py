"""Shared test setup: CPU-only JAX, quiet logs, the embedded dataset prepared once, and a
training workdir written without training."""

import fcntl
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# XLA's persistent compilation cache, shared by the xdist workers and the processes tests start
# (they inherit the environment): most of the suite's CPU time is compiling the same tiny
# programs again. The key covers the program, jaxlib, XLA_FLAGS (so the AVX2 rerun compiles
# its own) and the devices, so a hit runs exactly what a compile would give. Kept in the
# checkout's .pytest_cache (a clean clone starts cold, as CI does); with a size limit jax locks
# each read and write, so concurrent workers never read a half-written entry.
# RDJAX_TEST_XLA_CACHE='' turns it off.
XLA_CACHE = os.environ.get("RDJAX_TEST_XLA_CACHE", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".pytest_cache", "xla"))
if XLA_CACHE:
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", XLA_CACHE)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 << 30))


# The modules that take longest (CPU seconds measured per module, 2026-12-02, ResNet-10 tests),
# longest first; the parallel runs' four processes go first, beside the next module.
LONGEST_MODULES = ("tests.train.test_parallel", "tests.methods.test_lifecycle",
                   "tests.test_twin_parity", "tests.train.test_train_e2e", "tests.methods.test_rde",
                   "tests.test_wheel", "tests.methods.test_bidirectional",
                   "tests.benchmark.test_benchmark_cli", "tests.test_sweep")


def pytest_collection_modifyitems(config, items):
    """The longest modules first, then the other modules with slow tests, then the rest: under
    xdist's ``--dist loadscope`` (scripts/test.sh) the long modules start early and the short
    ones fill the end, so the two workers finish together instead of one running the last long
    module alone."""
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("slow")}

    def rank(item):
        name = item.module.__name__
        if name in LONGEST_MODULES:
            return LONGEST_MODULES.index(name)
        return len(LONGEST_MODULES) + (name not in slow_modules)

    items.sort(key=rank)  # stable: collection order within a rank


@pytest.fixture(scope="session")
def embedded_data_dir(tmp_path_factory, worker_id):
    """``$RDJAX_DATA_DIR`` for the whole run, with the embedded dataset's ``brick`` category
    (the quickstart's) generated and prepared once and shared by the pytest-xdist workers: the
    first worker prepares it under a file lock, the others wait and then read it."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker_id != "master" else base) / "embedded-data"
    root.mkdir(exist_ok=True)
    old = os.environ.get("RDJAX_DATA_DIR")
    os.environ["RDJAX_DATA_DIR"] = str(root)
    from configs import quickstart
    from rdjax.data import datasets

    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for split in ("train", "test"):
            datasets.data_source(quickstart.get_config().dataset, split)
    yield root
    if old is None:
        del os.environ["RDJAX_DATA_DIR"]
    else:
        os.environ["RDJAX_DATA_DIR"] = old


UNTRAINED_IMAGE_SIZE = 64


def _random_variables(method, image_size: int, seed: int = 0):
    """He-scaled random weights in the shapes ``method.init`` makes, drawn with numpy
    (initialising eagerly compiles one tiny program per layer: slow on a busy CPU)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    abstract = jax.eval_shape(method.init, jax.random.key(0),
                              jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.uint8))
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = jax.tree_util.keystr(path[-1:])
        if name == "['kernel']":
            fan_in = int(np.prod(leaf.shape[:-1]))
            return rng.normal(0, np.sqrt(2 / fan_in), leaf.shape).astype(np.float32)
        if name in ("['scale']", "['var']"):
            return rng.uniform(0.8, 1.2, leaf.shape).astype(np.float32)
        return rng.normal(0, 0.05, leaf.shape).astype(np.float32)  # bias, mean

    return jax.tree_util.tree_map_with_path(draw, abstract)


def _write_untrained_workdir(path, threshold_quantile: float = 0.5):
    """See :func:`make_untrained_workdir`."""
    import json

    import jax
    import numpy as np

    from configs import quickstart
    from rdjax.methods import get_method
    from rdjax.train import checkpoints
    from rdjax.train import state as state_lib
    from rdjax.train import workdir as workdir_lib
    from rdjax.train.state import TrainState
    from tests.tiny_config import with_small_teacher

    config = with_small_teacher(quickstart.get_config())
    config.dataset.image_size = UNTRAINED_IMAGE_SIZE
    os.makedirs(path, exist_ok=True)
    workdir_lib.write_config(config, str(path))
    method = get_method(config)
    variables = _random_variables(method, UNTRAINED_IMAGE_SIZE)
    tx = state_lib.optimizer(method, config)  # as the trainer builds it
    opt_state = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype),
                                       jax.eval_shape(tx.init, variables.params))
    state = TrainState(step=np.int32(5), params=variables.params, model_state=variables.model_state,
                       frozen=variables.frozen, opt_state=opt_state)
    mngr = checkpoints.manager(str(path), 2)
    checkpoints.save(mngr, 5, state)
    mngr.wait_until_finished()
    images = np.random.default_rng(99).integers(
        0, 256, (4, UNTRAINED_IMAGE_SIZE, UNTRAINED_IMAGE_SIZE, 3), dtype=np.uint8)
    maps = np.asarray(jax.jit(method.anomaly_map)(variables, images))
    cut = float(np.quantile(maps.max(axis=(1, 2)), threshold_quantile))
    record = {"threshold": cut, "mode": "quantile", "display_min": float(np.median(maps)),
              "display_max": 2 * cut - float(np.median(maps))}
    with open(os.path.join(path, "threshold.json"), "w") as f:
        json.dump(record, f)
    return images, maps


@pytest.fixture(scope="session")
def make_untrained_workdir():
    """``make(path, threshold_quantile=0.5) -> (images, maps)``: writes a training workdir
    without training — config.json (the quickstart with a ResNet-10 teacher at 64 px), a
    checkpoint of randomly weighted RD4AD and a threshold.json (that quantile of the scores of
    4 random images) — and returns those images and their maps from the in-memory model."""
    return _write_untrained_workdir
