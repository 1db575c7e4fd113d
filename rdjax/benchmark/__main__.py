"""Time RD4AD in rdjax against its PyTorch twin on this machine.

  rdjax benchmark --config=quickstart [--out=DIR]

Runs RD4AD in rdjax and in its PyTorch twin (``rdjax/benchmark/torch_twin.py``, needs
``pip install 'rdjax[bench]'``) on this machine, at the config's teacher, image size, batch
and optimiser, in float32 and in bfloat16 mixed precision, one subprocess each (``--rounds``
times, alternating, best kept), and writes ``DIR/benchmark.json`` and ``DIR/benchmark.md``
(the side-by-side table, also printed). Absolute times drift on a shared machine; the ratio
is what counts. Measured figures: docs/performance.md. (``python -m rdjax.benchmark`` takes
the same flags.)
"""

import datetime
import json
import os
import platform
import subprocess
import sys
import time

from absl import app, flags
from ml_collections import config_flags

from rdjax.benchmark import table
from rdjax.benchmark import workload as wl

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "A config file with get_config() (an RD4AD "
                                "config) or a built-in config's name (e.g. quickstart).")
flags.DEFINE_string("out", "benchmark_results", "Folder for benchmark.json and benchmark.md.")
flags.DEFINE_list("frameworks", ["rdjax", "torch"], "rdjax and/or torch (the twin).")
flags.DEFINE_list("precisions", list(wl.PRECISIONS), "float32 and/or bfloat16.")
flags.DEFINE_integer("rounds", 2, "Runs of each worker, alternating frameworks; the table "
                     "keeps each measure's best (a shared machine only slows runs down).")
flags.DEFINE_integer("train_steps", 10, "Timed train steps (after the warm-up).")
flags.DEFINE_integer("warmup_steps", 2, "Untimed train steps after the first.")
flags.DEFINE_integer("infer_batch", 32, "Batch of the inference-throughput measurement.")
flags.DEFINE_integer("worker_timeout", 900, "Seconds a worker may take before it is stopped.")
flags.mark_flags_as_required(["config"])

WORKERS = {"rdjax": "rdjax.benchmark.jax_worker", "torch": "rdjax.benchmark.torch_worker"}


def workload_from_config(config, precision: str) -> wl.Workload:
    if config.method != "rd4ad":
        raise app.UsageError(f"rdjax.benchmark compares RD4AD with its PyTorch twin; the config's "
                             f"method is '{config.method}' (use an RD4AD config, e.g. configs/quickstart.py).")
    return wl.Workload(
        teacher=config.model.teacher, pretrained=bool(config.model.pretrained),
        teacher_weights=config.model.teacher_weights, image_size=config.dataset.image_size,
        batch_size=config.train.batch_size, learning_rate=config.train.learning_rate,
        b1=config.train.b1, b2=config.train.b2, combine=config.eval.combine,
        sigma=config.eval.sigma, precision=precision, train_steps=FLAGS.train_steps,
        warmup_steps=FLAGS.warmup_steps, infer_batch=FLAGS.infer_batch)


def run_worker(framework: str, w: wl.Workload) -> dict:
    """Runs one worker subprocess; its progress goes to our stderr, its result is parsed."""
    t0 = time.time()
    try:
        proc = subprocess.run([sys.executable, "-m", WORKERS[framework], w.to_json()],
                              stdout=subprocess.PIPE, stderr=None, text=True,
                              timeout=FLAGS.worker_timeout)
    except subprocess.TimeoutExpired:
        return {"framework": framework, "precision": w.precision,
                "error": f"stopped after --worker_timeout={FLAGS.worker_timeout} s"}
    if proc.returncode != 0:
        return {"framework": framework, "precision": w.precision,
                "error": f"exit status {proc.returncode} (its messages are above)"}
    result = wl.parse_result(proc.stdout)
    wl.progress(f"{framework} {w.precision} done in {time.time() - t0:.0f} s")
    return result


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    for name in FLAGS.frameworks:
        if name not in WORKERS:
            raise app.UsageError(f"--frameworks: '{name}' is unknown; use rdjax and/or torch.")
    for p in FLAGS.precisions:
        if p not in wl.PRECISIONS:
            raise app.UsageError(f"--precisions: '{p}' is unknown; use {', '.join(wl.PRECISIONS)}.")
    config = FLAGS.config
    started = datetime.datetime.now(datetime.timezone.utc)
    results, workloads = [], {}
    for precision in FLAGS.precisions:
        w = workloads[precision] = workload_from_config(config, precision)
        runs = {f: [] for f in FLAGS.frameworks}
        for _ in range(FLAGS.rounds):
            for framework in FLAGS.frameworks:
                runs[framework].append(run_worker(framework, w))
        results.extend(table.best_of(r) for r in runs.values())
        flops = next((r.get("train_flops") for r in results
                      if r["framework"] == "rdjax" and r["precision"] == precision), None)
        for r in results:
            if r["precision"] == precision:
                table.add_derived(r, flops, w.batch_size)

    machine = {"platform": platform.platform(), "processor": cpu_model(),
               "cpu_count": os.cpu_count(), "python": platform.python_version(),
               "load_average": os.getloadavg()}
    header = (f"RD4AD, teacher {config.model.teacher}, {config.dataset.image_size} px, batch "
              f"{config.train.batch_size}; {started:%Y-%m-%d %H:%M} UTC; {machine['platform']}, "
              f"{machine['processor']}, {machine['cpu_count']} CPUs, load average {machine['load_average'][0]:.1f}; "
              f"`{' '.join(['rdjax benchmark'] + sys.argv[1:])}`")
    tables = [table.markdown(results, p, FLAGS.infer_batch) for p in FLAGS.precisions]
    text = header + "\n\n" + "\n\n".join(tables) + "\n"
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(os.path.join(FLAGS.out, "benchmark.json"), "w") as f:
        json.dump({"started": started.isoformat(), "command": sys.argv, "machine": machine,
                   "workloads": {p: json.loads(w.to_json()) for p, w in workloads.items()},
                   "results": results}, f, indent=2)
    with open(os.path.join(FLAGS.out, "benchmark.md"), "w") as f:
        f.write(text)
    print("\n" + text)
    print(f"Written: {os.path.join(FLAGS.out, 'benchmark.json')}, {os.path.join(FLAGS.out, 'benchmark.md')}")
    if any("error" in r for r in results):
        sys.exit(1)


if __name__ == "__main__":
    from rdjax import configs

    app.run(main, argv=configs.resolve_argv(sys.argv))
