r"""Run methods × categories × seeds, one resumable workdir each, and write the results table.

  rdjax sweep --dataset=mvtec --root=/data/mvtec --categories=all --methods=rd4ad,mrkd,rdpp \
      --seeds=111,112,113 --out=runs/mvtec
  python -m rdjax.sweep --dataset=mvtec --root=../shared/data/mvtec_transistor_256 \
      --categories=transistor --methods=rd4ad --max_epochs=50 --out=runs/transistor \
      --config.model.teacher=efficientnet_lite0

Each run is a method's (or a named variant's) paper recipe on one category
(``rdjax/recipes.py``), trained and evaluated by ``rdjax train``'s trainer in
``<out>/<category>/<method>/seed<seed>``. ``--config.a.b=value`` (or ``--set=a.b=value``)
overrides a setting in every run whose config has it. ``--max_epochs`` shortens every
schedule that is longer (a method whose paper trains less keeps its own).

Resumable: a run whose workdir holds ``sweep_done.json`` written with the same config is
not run again; any other run is started or resumed from its last checkpoint (stopping a
sweep and starting it again with the same flags continues it; a larger ``--max_epochs``
continues finished runs from their last step). A failed run is reported and the sweep goes
on; the exit status is then 1.

Progress: each run's start and end, and while it trains its step, its ETA and the whole
sweep's ETA (remaining runs estimated from the finished ones, or from the running one).

Output in ``--out``: ``results.md`` (one table per metric: rows = categories with texture,
object and overall means, columns = methods, mean ± sd over seeds; then every run with its
train steps, wall time and images/s), ``results.csv`` (the same, wide) and ``runs.csv``.
"""

import dataclasses
import datetime
import json
import logging as logging_std
import os
import re
import sys
import time
import traceback
from typing import Callable, Dict, List, Optional, Sequence

from absl import app, flags, logging

from rdjax import recipes

FLAGS = flags.FLAGS
flags.DEFINE_list("methods", list(recipes.METHODS),
                  f"Methods ({', '.join(recipes.METHODS)}) or variants ({', '.join(recipes.VARIANTS)}).")
flags.DEFINE_string("dataset", "mvtec", "config.dataset.name: mvtec, visa, btad, mpdd, "
                    "magnetic_tile or folder.")
flags.DEFINE_string("root", "", "The dataset's folder (config.dataset.root).")
flags.DEFINE_list("categories", ["all"], "Categories; 'all' = every category of --dataset "
                  "(MVTec AD: 15). Datasets without categories take the default.")
flags.DEFINE_list("seeds", ["111"], "config.seed of each run (111 = the papers' seed).")
flags.DEFINE_string("out", None, "Folder for the runs' workdirs and the tables.")
flags.DEFINE_integer("image_size", 256, "config.dataset.image_size of every run.")
flags.DEFINE_integer("max_epochs", 0, "Train at most this many epochs (0 = each paper's schedule).")
flags.DEFINE_multi_string("set", [], "A setting for every run that has it: --set=model.teacher="
                          "efficientnet_lite0 (the same as --config.model.teacher=...).")
flags.DEFINE_bool("dry_run", False, "List the runs and their state; train nothing.")
flags.DEFINE_bool("tables_only", False, "Train nothing; write the tables from the finished runs "
                  "(e.g. while another sweep into --out is still running).")
flags.DEFINE_integer("progress_every", 60, "Seconds between progress lines while a run trains.")
flags.DEFINE_string("title", "", "Title of results.md (default: the dataset and settings).")

DONE = "sweep_done.json"  # the config and total wall time of a finished run
SPENT = "sweep_time.json"  # wall time of a run's unfinished calls
PROG = "rdjax sweep"
_CONFIG_OVERRIDES: List[str] = []  # --config.a.b=value arguments, taken out before absl parses


@dataclasses.dataclass
class Run:
    method: str  # a method or variant name
    category: str
    seed: int
    workdir: str
    config: object

    @property
    def label(self) -> str:
        return f"{self.method} / {self.category or self.config.dataset.name} / seed {self.seed}"

    def config_json(self) -> dict:
        return json.loads(self.config.to_json_best_effort())

    def done(self) -> bool:
        """Finished with this very config (``sweep_done.json``) and evaluated."""
        path = os.path.join(self.workdir, DONE)
        if not os.path.exists(path) or not os.path.exists(os.path.join(self.workdir, "results.json")):
            return False
        with open(path) as f:
            return json.load(f).get("config") == self.config_json()

    def record(self) -> dict:
        """The table's view of the run: its results.json and total wall time once done."""
        results, wall = None, None
        if self.done():  # results of this config only
            with open(os.path.join(self.workdir, "results.json")) as f:
                results = json.load(f)
            wall = _wall(os.path.join(self.workdir, DONE))
        return {"method": self.method, "category": self.category, "seed": self.seed,
                "results": results, "wall_seconds": wall}


def parse_value(text: str, current):
    """``text`` as the type of the setting's ``current`` value."""
    import ast

    if isinstance(current, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"'{text}' is not True or False")
        return text.lower() in ("true", "1")
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        number = float(text)
        return int(number) if isinstance(current, int) and number.is_integer() else number
    if isinstance(current, (tuple, list)):
        return tuple(ast.literal_eval(text))
    return text


def _find(config, key: str):
    """``(node, last)`` with ``node[last]`` the setting ``key`` of ``config``, or None."""
    *parents, last = key.split(".")
    node = config
    for part in parents:
        if part not in node or not hasattr(node[part], "keys"):
            return None
        node = node[part]
    return (node, last) if last in node else None


def apply_overrides(configs: Sequence, overrides: Sequence[str]) -> None:
    """Sets each ``a.b=value`` in every config that has ``a.b``; one that none has is an error."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set={item}: expected KEY=VALUE")
        applied = 0
        for config in configs:
            found = _find(config, key)
            if found:
                node, last = found
                node[last] = parse_value(text, node[last])
                applied += 1
        if configs and not applied:
            raise ValueError(f"--config.{key}: no run's config has this setting")


def count_train_images(config) -> int:
    """Training images of ``config.dataset`` (prepares the dataset if needed)."""
    from rdjax.data import datasets

    ds, _ = datasets.data_source(config.dataset, "train")
    return len(ds)


def plan(methods: Sequence[str], dataset: str, root: str, categories: Sequence[str],
         seeds: Sequence[int], out: str, image_size: int = 256, max_epochs: int = 0,
         overrides: Sequence[str] = ()) -> List[Run]:
    """Every run of the sweep, with its config, in the order they run (category-major)."""
    for m in methods:
        recipes.method_of(m)  # names a method or a variant
    runs = []
    for category in recipes.categories(dataset, categories):
        for method in methods:
            for seed in seeds:
                config = recipes.paper_config(method, dataset, category, root, image_size)
                config.seed = int(seed)
                runs.append(Run(method, category, int(seed),
                                os.path.join(out, category or dataset, method, f"seed{seed}"), config))
    apply_overrides([r.config for r in runs], overrides)
    counts: Dict[str, int] = {}

    def images_of(run: Run) -> int:
        if run.category not in counts:
            counts[run.category] = count_train_images(run.config)
        return counts[run.category]

    for r in runs:
        recipes.cap_epochs(r.config, max_epochs, lambda r=r: images_of(r))
    return runs


class Progress(logging_std.Handler):
    """Turns the trainer's progress lines into sweep progress lines with a sweep ETA."""

    PATTERN = re.compile(r"\((\d+)/(\d+)\), ETA: (\d+)m (\d+)s")

    def __init__(self, runs: Sequence[Run], every_seconds: float):
        super().__init__()
        self.runs, self.every = runs, every_seconds
        self.current: Optional[int] = None
        self.started = 0.0
        self.finished: Dict[int, float] = {}  # run index -> wall seconds (run in this sweep)
        self.last_report = 0.0

    def start(self, index: int) -> None:
        self.current, self.started, self.last_report = index, time.time(), time.time()
        pending = sum(1 for i in range(len(self.runs)) if i not in self.finished)
        logging.info("[sweep %d/%d] %s: starting (%d run(s) left, sweep ETA %s)", index + 1,
                     len(self.runs), self.runs[index].label, pending,
                     self.eta_text(self.remaining_estimate(index, None)))

    def end(self, index: int, seconds: float, status: str) -> None:
        self.finished[index] = seconds
        left = len(self.runs) - len(self.finished)
        logging.info("[sweep %d/%d] %s: %s in %s; %d run(s) left, sweep ETA %s", index + 1,
                     len(self.runs), self.runs[index].label, status, _duration(seconds), left,
                     self.eta_text(self.remaining_estimate(None, None)))
        self.current = None

    def skip(self, index: int) -> None:
        self.finished[index] = None  # done before this sweep: no timing
        logging.info("[sweep %d/%d] %s: already done (results.json, same config)", index + 1,
                     len(self.runs), self.runs[index].label)

    def remaining_estimate(self, running: Optional[int], running_left: Optional[float]
                           ) -> Optional[float]:
        """Seconds for the running run's rest plus every run not yet started."""
        timed = [s for s in self.finished.values() if s]
        waiting = [i for i in range(len(self.runs)) if i not in self.finished and i != running]
        per_run = sum(timed) / len(timed) if timed else None
        if per_run is None and running_left is not None:
            per_run = running_left + (time.time() - self.started)  # this run's projected total
        if per_run is None:
            return None
        return (running_left or 0.0) + per_run * len(waiting)

    @staticmethod
    def eta_text(seconds: Optional[float]) -> str:
        return "unknown yet" if seconds is None else _duration(seconds)

    def emit(self, record: logging_std.LogRecord) -> None:
        if self.current is None:
            return
        match = self.PATTERN.search(record.getMessage())
        now = time.time()
        if not match or now - self.last_report < self.every:
            return
        step, total, minutes, secs = map(int, match.groups())
        run_left = 60 * minutes + secs
        self.last_report = now
        logging.info("[sweep %d/%d] %s: step %d/%d (%.0f%%), run ETA %s, sweep ETA %s",
                     self.current + 1, len(self.runs), self.runs[self.current].label, step, total,
                     100.0 * step / total, _duration(run_left),
                     self.eta_text(self.remaining_estimate(self.current, run_left)))


def _duration(seconds: float) -> str:
    from rdjax.eval.sweep_table import format_duration

    return format_duration(seconds)


def _wall(path: str) -> float:
    if not os.path.exists(path):
        return 0.0
    with open(path) as f:
        return float(json.load(f).get("wall_seconds") or 0.0)


def _write_json(path: str, value: dict) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=1)
    os.replace(path + ".tmp", path)


def add_time(run: Run, seconds: float) -> None:
    """Adds ``seconds`` to the time of ``run`` not yet finished (``sweep_time.json``)."""
    path = os.path.join(run.workdir, SPENT)
    _write_json(path, {"wall_seconds": _wall(path) + seconds})


def run_one(run: Run, train: Callable) -> float:
    """Trains and evaluates ``run`` (resuming its workdir); returns this call's wall seconds.

    The run's total wall time (every call that worked on it, interrupted ones included)
    goes into ``sweep_done.json`` with the config once the evaluation is written.
    """
    os.makedirs(run.workdir, exist_ok=True)
    done = os.path.join(run.workdir, DONE)
    if os.path.exists(done):  # finished with other settings (e.g. fewer epochs): continue it
        add_time(run, _wall(done))
        os.remove(done)
    t0 = time.time()
    train(run.config, run.workdir)
    elapsed = time.time() - t0
    spent = os.path.join(run.workdir, SPENT)
    _write_json(done, {"config": run.config_json(), "wall_seconds": _wall(spent) + elapsed,
                       "finished": datetime.datetime.now().isoformat(timespec="seconds")})
    if os.path.exists(spent):
        os.remove(spent)
    return elapsed


def sweep(runs: Sequence[Run], train: Callable, progress_every: float = 60) -> List[str]:
    """Runs what is not done; returns the labels of the runs that failed."""
    progress = Progress(runs, progress_every)
    logging_std.getLogger("absl").addHandler(progress)
    failed = []
    try:
        for i, run in enumerate(runs):
            if run.done():
                progress.skip(i)
                continue
            progress.start(i)
            t0 = time.time()
            try:
                seconds = run_one(run, train)
            except Exception as e:  # noqa: BLE001 (one run's failure must not end the sweep)
                add_time(run, time.time() - t0)
                logging.error("%s failed: %s\n%s", run.label, e, traceback.format_exc())
                failed.append(run.label)
                progress.end(i, time.time() - t0, f"FAILED ({type(e).__name__}: {e})")
                continue
            except BaseException:  # interrupted: keep the time for the resumed run
                add_time(run, time.time() - t0)
                raise
            progress.end(i, seconds, "done")
    finally:
        logging_std.getLogger("absl").removeHandler(progress)
    return failed


def write_tables(runs: Sequence[Run], out: str, title: str = "", notes: Sequence[str] = ()) -> dict:
    """``results.md``, ``results.csv`` and ``runs.csv`` in ``out`` from the runs' workdirs."""
    from rdjax.eval.sweep_table import Table

    dataset = runs[0].config.dataset.name if runs else ""
    table = Table([r.record() for r in runs], lambda c: recipes.category_group(dataset, c),
                  method_order=list(recipes.METHODS) + list(recipes.VARIANTS),
                  category_order=recipes.categories(dataset) if dataset else ())
    os.makedirs(out, exist_ok=True)
    paths = {"md": os.path.join(out, "results.md"), "csv": os.path.join(out, "results.csv"),
             "runs": os.path.join(out, "runs.csv")}
    with open(paths["md"], "w") as f:
        f.write(table.markdown(title or f"Results on {dataset}", notes))
    with open(paths["csv"], "w") as f:
        f.write(table.csv())
    with open(paths["runs"], "w") as f:
        f.write(table.runs_csv())
    return paths


def describe(runs: Sequence[Run], argv: Sequence[str]) -> List[str]:
    """The notes under the title: command, date, machine, shared settings."""
    import platform

    c = runs[0].config if runs else None
    notes = [f"Command: `{' '.join([PROG] + list(argv[1:]))}`",
             f"Written {datetime.datetime.now().isoformat(timespec='minutes')} on "
             f"{platform.node() or 'this machine'} ({platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPU threads)."]
    if c is not None:
        notes.append(f"Teacher {c.model.teacher}, {c.dataset.image_size} px; each method's own "
                     f"recipe otherwise (rdjax/recipes.py). Numbers in %, mean ± sd over seeds.")
    return notes


def parse_flags(argv: Sequence[str]) -> List[str]:
    """absl's parsing, after taking the ``--config.a.b=value`` overrides out of ``argv``."""
    rest = []
    _CONFIG_OVERRIDES.clear()
    for arg in argv:
        if arg.startswith("--config."):
            if "=" not in arg:
                print(f"{PROG}: error: {arg}: write --config.KEY=VALUE", file=sys.stderr)
                sys.exit(2)
            _CONFIG_OVERRIDES.append(arg[len("--config."):])
        else:
            rest.append(arg)
    try:
        return FLAGS(rest)
    except flags.Error as e:
        print(f"{PROG}: error: {e}\nPass --help to see the flags.", file=sys.stderr)
        sys.exit(2)


def main(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.out:
        print(f"{PROG}: error: --out is required (the folder for the runs and tables).",
              file=sys.stderr)
        return 2
    try:
        runs = plan(FLAGS.methods, FLAGS.dataset, FLAGS.root, FLAGS.categories,
                    [int(s) for s in FLAGS.seeds], FLAGS.out, FLAGS.image_size, FLAGS.max_epochs,
                    list(FLAGS.set) + _CONFIG_OVERRIDES)
    except (ValueError, KeyError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    logging.info("Sweep of %d run(s) into %s:", len(runs), FLAGS.out)
    for r in runs:
        t = r.config.train
        length = f"{t.num_steps} steps" if t.num_steps > 0 else f"{t.num_epochs:g} epochs"
        logging.info("  %s: %s, %s%s", r.label, length, r.workdir,
                     " (done)" if r.done() else "")
    if FLAGS.dry_run:
        return 0
    failed = []
    if not FLAGS.tables_only:
        from rdjax.train.trainer import train_and_evaluate

        failed = sweep(runs, train_and_evaluate, FLAGS.progress_every)
    paths = write_tables(runs, FLAGS.out, FLAGS.title, describe(runs, sys.argv))
    logging.info("Tables: %s", ", ".join(paths.values()))
    if failed:
        logging.error("%d run(s) failed: %s", len(failed), "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
