"""rdjax sweep: the recipes it plans, resuming, progress, the results table (fast), and an
end-to-end sweep over 2 tiny MVTec-layout categories with a resume (slow)."""

import csv
import io
import json
import os
import statistics

import pytest

from rdjax import recipes, sweep
from rdjax.eval.sweep_table import Table
from tests.tiny_config import TEACHER


def run_record(method, category, seed, **metrics):
    return {"method": method, "category": category, "seed": seed, "wall_seconds": 65.0,
            "results": {**metrics, "train_steps": 10, "train_images_per_sec": 12.5}}


def test_table_means_spread_and_groups():
    runs = []
    values = {("rd4ad", "carpet"): [0.90, 0.94], ("rd4ad", "bottle"): [0.80, 0.70],
              ("mrkd", "carpet"): [0.99], ("mrkd", "bottle"): [0.95]}
    for (method, category), vs in values.items():
        for seed, v in zip((1, 2), vs):
            runs.append(run_record(method, category, seed, image_auroc=v, pixel_auroc=v / 2))
    table = Table(runs, lambda c: recipes.category_group("mvtec", c),
                  method_order=recipes.METHODS, category_order=recipes.categories("mvtec"))
    assert table.methods == ["rd4ad", "mrkd"] and table.categories == ["bottle", "carpet"]
    md = table.markdown("t", ["note"])
    sd = statistics.stdev([90.0, 94.0])
    assert f"| bottle | 75.0 ± {statistics.stdev([80.0, 70.0]):.1f} | 95.0 |" in md
    assert f"| carpet | 92.0 ± {sd:.1f} | 99.0 |" in md
    # group means are per seed first: seed 1 (90+80)/2 = 85, seed 2 (94+70)/2 = 82
    assert f"| **mean** | 83.5 ± {statistics.stdev([85.0, 82.0]):.1f} | 97.0 |" in md
    assert "| **texture mean** | 92.0" in md and "| **object mean** | 75.0" in md
    assert "| rd4ad | bottle | 1 | 80.0 | 40.0 | – | – | 10 | 1m 05s | 12.5 |" in md
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(table.csv()))}
    assert rows["carpet"]["rd4ad:image_auroc"] == "92.00"
    assert float(rows["carpet"]["rd4ad:image_auroc:sd"]) == pytest.approx(sd, abs=0.01)
    assert rows["carpet"]["mrkd:image_auroc:sd"] == "" and rows["carpet"]["mrkd:image_auroc:n"] == "1"
    assert rows["mean"]["rd4ad:pixel_auroc"] == "41.75"
    long = list(csv.DictReader(io.StringIO(table.runs_csv())))
    assert len(long) == 6 and long[0]["wall_seconds"] == "65"


def test_group_mean_needs_every_category_of_the_seed():
    runs = [run_record("rd4ad", "carpet", 1, image_auroc=0.9),
            run_record("rd4ad", "bottle", 1, image_auroc=0.7),
            run_record("rd4ad", "carpet", 2, image_auroc=0.5)]  # seed 2 lacks bottle
    table = Table(runs, lambda c: recipes.category_group("mvtec", c))
    assert table.values("rd4ad", ("mean", "all"), "image_auroc") == [pytest.approx(80.0)]


def test_paper_recipes():
    c = recipes.paper_config("rdpp", "mvtec", "transistor", "/d")
    assert (c.train.num_epochs, c.train.num_steps, c.dataset.image_size) == (300, -1, 256)
    assert recipes.paper_config("rdpp", "mvtec", "carpet").train.num_epochs == 10
    assert recipes.paper_config("ikd", "mvtec", "bottle").train.batch_size == 2
    assert recipes.paper_config("rde", "mvtec", "transistor").train.num_steps == 10000
    assert recipes.paper_config("rde", "mvtec", "bottle").train.num_steps == 5000
    assert recipes.paper_config("two_stage", "mvtec", "bottle").two_stage.mask_patch == 16
    for name in recipes.METHODS:
        config = recipes.paper_config(name, "mvtec", "bottle")
        assert config.method == name and config.threshold.holdout_fraction == 0.0
    variant = recipes.paper_config("rd4ad_full_batches", "mvtec", "bottle")
    assert variant.method == "rd4ad" and variant.train.partial_batches is False
    assert len(recipes.categories("mvtec")) == 15
    assert recipes.categories("visa", ["all"])[0] == "candle"
    assert recipes.categories("magnetic_tile") == ("",)
    with pytest.raises(ValueError, match="neither a method"):
        recipes.method_of("rd5ad")


def test_max_epochs_caps_longer_schedules_only():
    c = recipes.paper_config("ikd", "mvtec", "bottle")
    recipes.cap_epochs(c, 100, lambda: pytest.fail("not counted for an epoch schedule"))
    assert c.train.num_epochs == 50  # IKD's paper trains less: kept
    c = recipes.paper_config("rde", "mvtec", "transistor")
    recipes.cap_epochs(c, 25, lambda: 213)  # 14 steps an epoch (13 full + 1 partial)
    assert c.train.num_steps == 350


def test_plan_overrides_and_layout(tmp_path):
    runs = sweep.plan(["rd4ad", "mrkd"], "mvtec", "/data", ["carpet", "bottle"], [1, 2],
                      str(tmp_path), max_epochs=5,
                      overrides=[f"model.teacher={TEACHER}", "mrkd.mask_at_test=False",
                                 "train.partial_batches=false"])
    assert len(runs) == 8 and runs[0].workdir == str(tmp_path / "carpet/rd4ad/seed1")
    assert all(r.config.model.teacher == TEACHER and r.config.train.num_epochs == 5
               and r.config.train.partial_batches is False for r in runs)
    assert [r.config.mrkd.mask_at_test for r in runs if r.method == "mrkd"] == [False] * 4
    assert {r.config.seed for r in runs} == {1, 2}
    with pytest.raises(ValueError, match="no run's config has this setting"):
        sweep.plan(["rd4ad"], "mvtec", "", ["bottle"], [1], str(tmp_path),
                   overrides=["mrkd.flm=False"])


def fake_trainer(calls, fail_on=()):
    def train(config, workdir):
        calls.append(workdir)
        if workdir in fail_on:
            raise RuntimeError("boom")
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump({"image_auroc": 0.5 + config.seed / 100, "train_steps": 3}, f)
    return train


def test_sweep_skips_done_runs_continues_after_failures_and_resumes(tmp_path):
    runs = sweep.plan(["rd4ad", "mrkd"], "mvtec", "", ["bottle"], [1], str(tmp_path))
    calls = []
    failed = sweep.sweep(runs, fake_trainer(calls, fail_on={runs[0].workdir}))
    assert failed == [runs[0].label] and calls == [runs[0].workdir, runs[1].workdir]
    assert not runs[0].done() and runs[1].done()
    assert os.path.exists(os.path.join(runs[0].workdir, sweep.SPENT))  # time of the failed call

    calls.clear()
    assert sweep.sweep(runs, fake_trainer(calls)) == []
    assert calls == [runs[0].workdir]  # the finished run is not redone
    done = json.load(open(os.path.join(runs[0].workdir, sweep.DONE)))
    assert done["config"] == runs[0].config_json() and done["wall_seconds"] >= 0
    assert not os.path.exists(os.path.join(runs[0].workdir, sweep.SPENT))

    longer = sweep.plan(["rd4ad"], "mvtec", "", ["bottle"], [1], str(tmp_path), max_epochs=300)
    longer[0].config.train.num_epochs = 250  # another schedule: the run is continued
    calls.clear()
    sweep.sweep(longer, fake_trainer(calls))
    assert calls == [longer[0].workdir] and longer[0].done() and not runs[0].done()

    paths = sweep.write_tables(runs, str(tmp_path), "T")
    text = open(paths["md"]).read()
    # rd4ad's workdir now holds the results of the other config: only mrkd's are shown
    assert "| category | mrkd |\n|---|---|\n| bottle | 51.0 |" in text
    assert "| mrkd | bottle | 1 | 51.0 | – | – | – | 3 | 0m 00s | – |" in text
    assert "mean**" not in text  # one category: no mean rows


def test_progress_reports_sweep_eta(tmp_path, caplog):
    runs = sweep.plan(["rd4ad", "mrkd", "ikd"], "mvtec", "", ["bottle"], [1], str(tmp_path))
    progress = sweep.Progress(runs, every_seconds=0)
    progress.start(0)
    progress.started -= 100  # the running run has taken 100 s, and has 50 s to go
    assert progress.remaining_estimate(0, 50.0) == pytest.approx(50 + 2 * 150, rel=0.01)
    progress.end(0, 150.0, "done")
    progress.start(1)
    assert progress.remaining_estimate(1, 20.0) == pytest.approx(20 + 150)
    import logging
    record = logging.LogRecord("absl", logging.INFO, "", 0,
                               "0.5 steps/s, 40.0% (40/100), ETA: 1m 00s", None, None)
    with caplog.at_level(logging.INFO):
        progress.emit(record)
    assert "[sweep 2/3] mrkd / bottle / seed 1: step 40/100 (40%), run ETA 1m 00s, " \
           "sweep ETA 3m 30s" in caplog.text


@pytest.mark.slow
def test_sweep_end_to_end_two_categories_with_resume(tmp_path):
    """rdjax sweep through main(): tiny RD4AD on two generated MVTec-layout categories (a
    texture and an object) for one epoch, the table; then one run continued to two epochs, and
    a third call that redoes nothing. (Several methods in one table: test_table_means_spread_and_groups.)"""
    from absl import flags

    from tests.data.fixtures import write_mvtec

    for category in ("carpet", "bottle"):
        write_mvtec(tmp_path / "data", category)
    out = tmp_path / "sweep"

    def run(epochs, categories="carpet,bottle"):
        argv = ["sweep", "--dataset=mvtec", f"--root={tmp_path / 'data'}",
                f"--categories={categories}", "--methods=rd4ad", "--seeds=0",
                f"--out={out}", "--image_size=32", f"--max_epochs={epochs}",
                f"--config.model.teacher={TEACHER}", "--config.model.pretrained=False",
                f"--config.dataset.data_dir={tmp_path / 'cache'}",
                "--config.train.batch_size=2", "--config.eval.batch_size=2",
                "--config.eval.num_overlays=0", "--config.train.log_every=1"]
        try:
            rest = sweep.parse_flags(argv)
            return sweep.main(rest)
        finally:
            flags.FLAGS.unparse_flags()

    assert run(1) == 0
    table = (out / "results.md").read_text()
    assert "| category | rd4ad |" in table and "**texture mean**" in table
    assert "**object mean**" in table
    rows = list(csv.DictReader(open(out / "runs.csv")))
    assert {(r["method"], r["category"]) for r in rows} == {("rd4ad", "carpet"), ("rd4ad", "bottle")}
    # 3 images, batch 2: a full and a partial batch an epoch
    assert all(float(r["wall_seconds"]) > 0 and r["train_steps"] == "2" for r in rows)

    workdir = out / "carpet" / "rd4ad" / "seed0"
    assert run(2, "carpet") == 0
    assert json.load(open(workdir / "results.json"))["train_steps"] == 4  # continued
    stamp = os.path.getmtime(workdir / "results.json")
    assert run(2, "carpet") == 0 and os.path.getmtime(workdir / "results.json") == stamp
    assert [r["train_steps"] for r in csv.DictReader(open(out / "runs.csv"))] == ["4"]
