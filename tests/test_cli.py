"""The ``rdjax`` command: overview, per-command help, flag errors, built-in configs by name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rdjax import cli, configs, export, predict

REPO = Path(__file__).resolve().parents[1]


def test_overview_names_every_command_with_an_example(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for name in ("train", "predict", "export", "benchmark", "sweep"):
        assert f"  {name} " in text and f"e.g. rdjax {name}" in text
    assert "quickstart" in text  # the built-in configs are listed
    assert cli.main([]) == 2 and "usage: rdjax <command>" in capsys.readouterr().out
    assert cli.main(["trian"]) == 2 and "unknown command 'trian'" in capsys.readouterr().err


@pytest.mark.parametrize("module", [predict, export])
def test_own_flag_commands_help_and_errors(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: rdjax {module.__name__.split('.')[-1]} [flags]")
    assert "--workdir" in text and "--out" in text
    with pytest.raises(SystemExit) as exit_:
        module.main(["--workdir=w", "--no_such_flag=1"])
    assert exit_.value.code == 2
    assert "Unknown command line flag 'no_such_flag'" in capsys.readouterr().err


def test_predict_needs_one_model_and_some_inputs(tmp_path, capsys):
    with pytest.raises(SystemExit):  # --workdir and --exported are exclusive
        predict.main(["--workdir=a", "--exported=b", "--out=o", "x.png"])
    assert "workdir" in capsys.readouterr().err
    assert predict.main(["--workdir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "name the images or folders" in capsys.readouterr().err


def test_export_names_a_missing_workdir(tmp_path, capsys):
    assert export.main(["--workdir", str(tmp_path / "nothing")]) == 2
    assert "rdjax export: error:" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "benchmark"])
def test_absl_commands_help(command):
    """train and benchmark define absl's global flags, so each runs in its own process."""
    out = subprocess.run([sys.executable, "-m", "rdjax", command, "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"usage: rdjax {command} [flags]")
    assert f"rdjax {command} --config=quickstart" in out.stdout  # the docstring's example
    assert "--config:" in out.stdout


def test_built_in_configs_by_name(tmp_path, monkeypatch):
    folder = os.path.dirname(configs.__file__)
    assert "quickstart" in configs.names() and "magnetic_tile" in configs.names()
    assert configs.resolve("quickstart") == os.path.join(folder, "quickstart.py")
    assert configs.resolve("magnetic_tile:mrkd") == os.path.join(folder, "magnetic_tile.py") + ":mrkd"
    assert configs.resolve("configs/rd4ad.py") == "configs/rd4ad.py"  # a path stays a path
    assert configs.resolve("no_such_config") == "no_such_config"  # config_flags names it
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart").write_text("")  # a file of that name wins over the built-in
    assert configs.resolve("quickstart") == "quickstart"
    argv = ["prog", "--config=mrkd", "--workdir", "w", "--config", "rdpp", "--config.seed=1"]
    assert configs.resolve_argv(argv) == [
        "prog", "--config=" + os.path.join(folder, "mrkd.py"), "--workdir", "w", "--config",
        os.path.join(folder, "rdpp.py"), "--config.seed=1"]
