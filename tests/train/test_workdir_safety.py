"""A trained workdir survives every rerun: refused reruns change nothing, a second training
stops at once, a resume after a kill logs each step once, an evaluation-only change is a new
evaluation that keeps the previous one, and predict and export still work afterwards."""

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rdjax import export, predict
from rdjax.train import trainer, validate
from rdjax.train import workdir as workdir_lib
from rdjax.train.jsonl_writer import read_jsonl
from rdjax.train.validate import ConfigError
from rdjax.train.workdir import WorkdirBusyError, WorkdirError
from tests.data import fixtures
from tests.tiny_config import CATEGORY, TEACHER, tiny_mvtec_config, with_setting

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Finished:
    workdir: Path
    src: Path
    cache: Path
    config: object  # the second run's
    rows_after_kill: list  # metrics.jsonl as the kill left it
    first_results: str  # results.json of the first run


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A tiny RD4AD trained for 2 steps (checkpoints at 1 and 2) and evaluated; then the
    step-2 checkpoint is turned into what a kill during its write leaves (orbax's temporary
    folder) and the run is repeated with another eval.sigma: it resumes at step 1, trains
    step 2 again and evaluates anew."""
    tmp = tmp_path_factory.mktemp("safety")
    fixtures.write_mvtec(tmp / "src", CATEGORY)
    workdir = tmp / "run"
    config = tiny_mvtec_config(tmp / "src", tmp / "cache")
    trainer.train_and_evaluate(config, str(workdir))
    first_results = (workdir / "results.json").read_text()
    ckpts = workdir / "checkpoints"
    os.rename(ckpts / "2", ckpts / "2.orbax-checkpoint-tmp-1700000000000000")
    rows_after_kill = read_jsonl(str(workdir / "metrics.jsonl"))
    config.eval.sigma = 1.0  # quickstart's is 2.0
    trainer.train_and_evaluate(config, str(workdir))
    return Finished(workdir, tmp / "src", tmp / "cache", config, rows_after_kill, first_results)


def snapshot(workdir: Path) -> dict:
    """Every file under ``workdir`` with its size, inode and modification time, and the
    content of the small ones (the checkpoints' arrays are not read)."""
    def state(p: Path):
        st = p.stat()
        small = st.st_size < 1 << 20
        return st.st_size, st.st_ino, st.st_mtime_ns, small and hashlib.md5(p.read_bytes()).hexdigest()

    return {str(p.relative_to(workdir)): state(p) for p in sorted(workdir.rglob("*")) if p.is_file()}


@pytest.mark.slow  # trains (here or in its fixture)
def test_resume_after_a_kill_logs_each_step_once(finished):
    before = [r["step"] for r in finished.rows_after_kill if "train/loss" in r]
    assert before == [1, 2]  # step 2 was logged, then its checkpoint write was "killed"
    rows = read_jsonl(str(finished.workdir / "metrics.jsonl"))
    assert [r["step"] for r in rows if "train/loss" in r] == [1, 2]
    assert [r["step"] for r in rows if "eval/image_auroc" in r] == [2]
    assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows)
    # Step 2 trained again from the step-1 checkpoint gives the loss it gave the first time.
    loss = {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}
    first = {r["step"]: r["train/loss"] for r in finished.rows_after_kill if "train/loss" in r}
    assert loss[1] == first[1] and loss[2] == pytest.approx(first[2], rel=1e-5)
    assert workdir_lib.LOCK not in os.listdir(finished.workdir)  # released


@pytest.mark.slow  # trains (here or in its fixture)
def test_evaluation_change_is_recorded_as_a_new_evaluation(finished):
    workdir = finished.workdir
    stamps = sorted(p.name[len("results."):-len(".json")] for p in workdir.glob("results.*.json"))
    assert len(stamps) == 1, stamps
    stamp = stamps[0]
    assert (workdir / f"results.{stamp}.json").read_text() == finished.first_results
    assert json.loads((workdir / f"config.{stamp}.json").read_text())["eval"]["sigma"] == 2.0
    assert (workdir / f"threshold.{stamp}.json").is_file()
    stored = json.loads((workdir / "config.json").read_text())
    assert stored["eval"]["sigma"] == 1.0
    assert json.loads((workdir / "results.json").read_text())["train_steps"] == 2


# Reruns that must change nothing: (what is changed, the error, words of its message).
REFUSED = {
    "misspelt method": (("method", "rd4da"), ConfigError, "config.method='rd4da' is unknown"),
    "misspelt combine": (("eval.combine", "mull"), ConfigError, "config.eval.combine='mull'"),
    "other image size": (("dataset.image_size", 32), WorkdirError, "dataset.image_size: 64 -> 32"),
    "other teacher": (("model.teacher", "resnet34"), WorkdirError,
                      f'model.teacher: "{TEACHER}" -> "resnet34"'),
    "other loss": (("train.loss", "per_pixel"), WorkdirError, 'train.loss: "flattened" -> "per_pixel"'),
    "fewer steps than trained": (("train.num_steps", 1), WorkdirError, "checkpoint at step 2, past"),
    "size off the stride": (("dataset.image_size", 100), ConfigError, "multiple of 32"),
}


def rerun(finished, name):
    (setting, value), error, words = REFUSED[name]
    config = with_setting(tiny_mvtec_config(finished.src, finished.cache), setting, value)
    config.eval.sigma = finished.config.eval.sigma
    with pytest.raises(error) as e:
        trainer.train_and_evaluate(config, str(finished.workdir))
    return str(e.value), words


@pytest.mark.slow  # trains (here or in its fixture)
@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_rerun_changes_nothing(finished, name):
    before = snapshot(finished.workdir)
    message, words = rerun(finished, name)
    assert words in message and "\n" not in message and len(message) < 400
    assert snapshot(finished.workdir) == before


@pytest.mark.slow  # trains (here or in its fixture)
def test_a_bad_test_file_stops_a_rerun_before_it_touches_the_workdir(finished):
    """The data changed since training: the rerun names the file and changes nothing."""
    image = finished.src / CATEGORY / "test" / "crack" / "000.png"
    data = image.read_bytes()
    before = snapshot(finished.workdir)
    image.write_bytes(b"")
    try:
        with pytest.raises(ConfigError) as e:
            trainer.train_and_evaluate(finished.config, str(finished.workdir))
    finally:
        image.write_bytes(data)
    assert str(e.value).startswith(f"{image.resolve()}: empty file (0 bytes")
    assert snapshot(finished.workdir) == before


@pytest.fixture
def lock_holder(finished):
    """A process holding ``finished``'s lock, as a running training would."""
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
            f"from rdjax.train.workdir import Lock\n"
            f"with Lock({str(finished.workdir)!r}):\n"
            f"    print('locked', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait()


class PastTheLock(Exception):
    pass


@pytest.mark.slow  # trains (here or in its fixture)
def test_second_training_stops_at_once_and_a_dead_holder_is_taken_over(finished, lock_holder,
                                                                       monkeypatch):
    def reached(config):
        raise PastTheLock

    monkeypatch.setattr(validate, "load_inputs", reached)  # the first thing after the lock
    config = tiny_mvtec_config(finished.src, finished.cache)
    config.eval.sigma = finished.config.eval.sigma
    before = snapshot(finished.workdir)
    with pytest.raises(WorkdirBusyError, match=rf"in use by training process {lock_holder.pid} on "
                                               rf"host "):
        trainer.train_and_evaluate(config, str(finished.workdir))
    assert snapshot(finished.workdir) == before
    lock_holder.send_signal(signal.SIGKILL)  # kill -9: its lock file stays behind
    lock_holder.wait()
    assert (finished.workdir / workdir_lib.LOCK).is_file()
    with pytest.raises(PastTheLock):
        trainer.train_and_evaluate(config, str(finished.workdir))
    assert not (finished.workdir / workdir_lib.LOCK).exists()


def stored_threshold(finished):
    return json.loads((finished.workdir / "threshold.json").read_text())


@pytest.mark.slow  # trains (here or in its fixture)
def test_finished_workdir_still_serves_predict_and_export(finished, tmp_path, capsys):
    for name in REFUSED:
        rerun(finished, name)
    images = finished.src / CATEGORY / "test"
    out = tmp_path / "predictions"
    assert predict.main(["--workdir", str(finished.workdir), "--out", str(out), "--no_progress",
                         str(images)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_images"] == 5 and summary["model"]["method"] == "rd4ad"
    assert summary["threshold"] == stored_threshold(finished)["threshold"]
    path = export.export_model(str(finished.workdir), str(tmp_path / "model.rdjax"), ["cpu"])
    exported = export.load_exported(path)
    assert exported.image_size == 64 and exported.threshold == stored_threshold(finished)

    # Nothing scored, or an --out that cannot be written: exit status 2 and one line.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "empty.png").write_bytes(b"")
    capsys.readouterr()
    assert predict.main(["--workdir", str(finished.workdir), "--out", str(tmp_path / "o"),
                         "--no_progress", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "empty file (0 bytes)" in err and "error: nothing scored" in err
    (tmp_path / "a_file").write_text("")
    assert predict.main(["--workdir", str(finished.workdir), "--out", str(tmp_path / "a_file" / "o"),
                         "--no_progress", str(images)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rdjax predict: error: ") and "a_file" in err and "\n" not in err


def test_record_evaluation_keeps_each_previous_evaluation(tmp_path):
    """Two evaluations within one second keep separate records."""
    config = tiny_mvtec_config(tmp_path, tmp_path)
    workdir_lib.record_evaluation(str(tmp_path), config, {"image_auroc": 0.5}, {"threshold": 1.0})
    workdir_lib.record_evaluation(str(tmp_path), config, {"image_auroc": 0.6}, None)
    workdir_lib.record_evaluation(str(tmp_path), config, {"image_auroc": 0.7}, {"threshold": 2.0})
    kept = sorted(json.loads(p.read_text())["image_auroc"] for p in tmp_path.glob("results.*.json"))
    assert kept == [0.5, 0.6]
    assert json.loads((tmp_path / "results.json").read_text()) == {"image_auroc": 0.7}
    assert json.loads((tmp_path / "threshold.json").read_text()) == {"threshold": 2.0}
    assert not list(tmp_path.glob("*.new"))
