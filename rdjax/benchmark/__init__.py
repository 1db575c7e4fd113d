"""``python -m rdjax.benchmark``: rdjax's RD4AD beside its PyTorch twin, on one machine.

Each (framework, precision) runs in its own subprocess (:mod:`rdjax.benchmark.jax_worker`,
:mod:`rdjax.benchmark.torch_worker`) so their thread pools and peak memory do not mix;
:mod:`rdjax.benchmark.__main__` collects their JSON and writes the side-by-side table
(:mod:`rdjax.benchmark.table`). What is measured and how: :mod:`rdjax.benchmark.workload`.
"""
