"""The quickstart's metrics against training steps, over several seeds (docs/quickstart_convergence.md).

  python scripts/quickstart_convergence.py --out runs/convergence \
      --seeds=111,1,2,3,4 --steps=200,400,600,800,1000

One workdir per seed (``OUT/seed<s>``); each step count resumes that seed's run from its last
checkpoint (the batch order is a pure function of seed and step, so this equals a fresh run of
that length) and evaluates it. Every finished (seed, steps) evaluation is appended to
``OUT/runs.jsonl``, so the script can be stopped and rerun: finished points are not redone.
At the end (and with ``--summarize_only``) it prints a Markdown table: per step count, the mean
of each metric over seeds with the lowest and highest run in brackets.
"""

import json
import os
import platform
import subprocess
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "runs/convergence", "Folder for the seed workdirs and runs.jsonl.")
flags.DEFINE_string("config", "configs/quickstart.py", "The config file to train.")
flags.DEFINE_list("seeds", ["111", "1", "2", "3", "4"], "Training seeds (config.seed).")
flags.DEFINE_list("steps", ["200", "400", "600", "800", "1000"], "Step counts to evaluate at.")
flags.DEFINE_bool("summarize_only", False, "Only print the table of OUT/runs.jsonl.")

METRICS = ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image")


def read_runs(path: str) -> list:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cpu_isa() -> str:
    """'avx512' or 'avx2' (or the XLA_FLAGS cap), to tell runs on different instruction sets apart."""
    flags_env = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_max_isa" in flags_env:
        return flags_env.split("xla_cpu_max_isa=")[1].split()[0].lower()
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return platform.machine()
    return "avx512" if "avx512f" in text else "avx2" if "avx2" in text else platform.machine()


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def train(seed: int, steps: int) -> dict:
    workdir = os.path.join(FLAGS.out, f"seed{seed}")
    command = [sys.executable, "-m", "rdjax.train", f"--config={FLAGS.config}",
               f"--workdir={workdir}", f"--config.seed={seed}", f"--config.train.num_steps={steps}",
               "--config.eval.num_overlays=0"]
    print(f"[convergence] seed {seed}, {steps} steps: {' '.join(command[1:])}", flush=True)
    t0 = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
    record = {"seed": seed, "steps": steps, "wall_s": round(time.time() - t0, 1),
              "isa": cpu_isa(), "commit": git_commit()}
    record.update({k: results[k] for k in METRICS})
    return record


def cell(values) -> str:
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} ({min(values):.3f}–{max(values):.3f})"


def table(runs: list) -> str:
    lines = ["| steps | seeds | image AUROC | pixel AUROC | AU-PRO | AU-PRO per image |",
             "|---|---|---|---|---|---|"]
    for steps in sorted({r["steps"] for r in runs}):
        rows = [r for r in runs if r["steps"] == steps]
        cells = [cell([r[k] for r in rows]) for k in METRICS]
        lines.append(f"| {steps} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    log = os.path.join(FLAGS.out, "runs.jsonl")
    if not FLAGS.summarize_only:
        os.makedirs(FLAGS.out, exist_ok=True)
        done = {(r["seed"], r["steps"]) for r in read_runs(log)}
        for steps in sorted(int(s) for s in FLAGS.steps):
            for seed in (int(s) for s in FLAGS.seeds):
                if (seed, steps) in done:
                    continue
                record = train(seed, steps)
                with open(log, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print("[convergence] " + ", ".join(f"{k} {record[k]:.4f}" for k in METRICS),
                      flush=True)
    print(table(read_runs(log)))


if __name__ == "__main__":
    app.run(main)
