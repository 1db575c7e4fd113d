"""Shared test setup: CPU-only JAX, quiet logs, and the embedded dataset prepared once."""

import fcntl
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")


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
