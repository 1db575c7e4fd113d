"""kill -9 a training while it writes a checkpoint, resume it, compare with an unbroken run.

  python scripts/kill_during_checkpoint.py --trials 3 [--steps 6] [--out /tmp/kill9]

Trains the tiny RD4AD setting of the tests (random ResNet-18, 64 px, an MVTec-layout fixture)
with ``rdjax train``, a checkpoint every step. Each trial starts the training, waits until
orbax's temporary folder of a checkpoint appears (a write in progress) and sends SIGKILL to
the process, then reruns the same command to the end. Prints one JSON line per trial: the
step being written when killed, the step the rerun resumed from, and the largest difference
of the final parameters and of results.json against the unbroken run (0.0 = identical), and
whether metrics.jsonl holds each step once.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.data import fixtures  # noqa: E402

METRICS = ("image_auroc", "pixel_auroc", "aupro", "aupro_per_image")


def command(workdir: Path, data: Path, steps: int):
    return [sys.executable, "-m", "rdjax.train", "--config=configs/quickstart.py",
            f"--workdir={workdir}", "--config.model.teacher=resnet18",
            "--config.model.pretrained=False", "--config.dataset.image_size=64",
            "--config.dataset.name=mvtec", f"--config.dataset.root={data / 'src'}",
            "--config.dataset.category=widget", f"--config.dataset.data_dir={data / 'cache'}",
            "--config.train.batch_size=2", f"--config.train.num_steps={steps}",
            "--config.train.log_every=1", "--config.train.checkpoint_every=1",
            "--config.eval.batch_size=4", "--config.eval.num_overlays=0",
            "--config.threshold.holdout_fraction=0.34"]


def run(workdir: Path, data: Path, steps: int) -> None:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    subprocess.run(command(workdir, data, steps), check=True, cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_while_writing(workdir: Path, data: Path, steps: int, target: int) -> int:
    """Starts the training; SIGKILLs it once checkpoint ``target`` or later is being
    written. Returns the step whose write was cut."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen(command(workdir, data, steps), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = workdir / "checkpoints"
    while proc.poll() is None:
        writing = [p.name for p in ckpts.glob("*.orbax-checkpoint-tmp*")] if ckpts.is_dir() else []
        steps_writing = [int(n.split(".")[0]) for n in writing if n.split(".")[0].isdigit()]
        if steps_writing and max(steps_writing) >= target:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return max(steps_writing)
        time.sleep(0.002)
    raise RuntimeError(f"the training ended before checkpoint {target} was written")


def final_params(workdir: Path):
    import jax

    from rdjax.train import checkpoints

    mngr = checkpoints.manager(str(workdir), 2)
    tree = mngr.restore(mngr.latest_step())
    return jax.tree_util.tree_leaves(tree["params"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", default="/tmp/kill9")
    args = parser.parse_args()
    out = Path(args.out)
    data = out / "data"
    if not (data / "src").is_dir():
        fixtures.write_mvtec(data / "src", "widget")
    reference = out / "unbroken"
    if not (reference / "results.json").is_file():
        run(reference, data, args.steps)
    ref_params = final_params(reference)
    ref_results = json.loads((reference / "results.json").read_text())
    rng = random.Random(0)
    for trial in range(args.trials):
        workdir = out / f"trial{trial}"
        cut = kill_while_writing(workdir, data, args.steps, rng.randint(1, args.steps - 1))
        from rdjax.train import checkpoints
        resumed_from = checkpoints.latest_step(str(workdir))
        run(workdir, data, args.steps)
        params = final_params(workdir)
        results = json.loads((workdir / "results.json").read_text())
        rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        losses = [r["step"] for r in rows if "train/loss" in r]
        print(json.dumps({
            "trial": trial, "killed_while_writing_step": cut, "resumed_from_step": resumed_from,
            "max_param_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(params, ref_params)),
            "max_metric_diff": max(abs(results[k] - ref_results[k]) for k in METRICS),
            "each_step_logged_once": losses == list(range(1, args.steps + 1)),
        }), flush=True)


if __name__ == "__main__":
    main()
