"""``rdjax``: one command for training, inference, export, benchmarking and sweeps.

Each subcommand is a module that also runs as ``python -m <module>``; all take absl flags
(``--name=value`` or ``--name value``; a config is an ml_collections file or a built-in
name, with ``--config.a.b=value`` overrides). ``rdjax <command> --help`` describes one.
"""

import dataclasses
import importlib
import os
import sys
import textwrap
from typing import List, Optional, Sequence

from absl import app, flags

HELP_ARGS = ("-h", "--help", "-?", "--helpshort", "--helpfull")


@dataclasses.dataclass(frozen=True)
class Command:
    module: str
    summary: str
    example: str
    # True: ``module.main(args) -> exit code`` parses its own flags (rdjax.cli.parse_flags).
    # False: an absl ``main(argv)`` run by ``app.run`` with flags on absl's global FLAGS
    # (parsed by the module's own ``parse_flags(argv)`` where it has one).
    own_flags: bool = False


COMMANDS = {
    "train": Command(
        "rdjax.train.__main__",
        "Train a method from a config, then evaluate it (checkpoints, metrics.jsonl, "
        "TensorBoard events, results.json, threshold, overlays, report).",
        "rdjax train --config=quickstart --workdir=runs/quickstart"),
    "predict": Command(
        "rdjax.predict",
        "Score images with a trained workdir or an exported model: score, normal/defect "
        "decision, heat-map overlay and mask per image, summary.csv.",
        "rdjax predict --workdir=runs/quickstart --out=predictions IMAGES_OR_FOLDERS...",
        own_flags=True),
    "export": Command(
        "rdjax.export",
        "Write a workdir's trained model as one file (StableHLO + weights) that `rdjax "
        "predict --exported` runs without the config or the model code.",
        "rdjax export --workdir=runs/quickstart --out=model.rdjax",
        own_flags=True),
    "benchmark": Command(
        "rdjax.benchmark.__main__",
        "Time RD4AD in rdjax against its PyTorch twin on this machine (needs "
        "`pip install 'rdjax[bench]'`).",
        "rdjax benchmark --config=quickstart --out=benchmark_results"),
    "sweep": Command(
        "rdjax.sweep",
        "Run methods x categories x seeds (each method's paper recipe), one resumable workdir "
        "each, and write the papers' results table (Markdown and CSV).",
        "rdjax sweep --dataset=mvtec --root=/data/mvtec --categories=all --methods=rd4ad,mrkd "
        "--out=runs/mvtec"),
}


def overview() -> str:
    """What ``rdjax --help`` prints: each command, what it does and an example."""
    lines = ["usage: rdjax <command> [flags]", "",
             "One command for training, inference, export, benchmarking and sweeps.", "",
             "commands:"]
    for name, command in COMMANDS.items():
        lines += textwrap.wrap(command.summary, 88, initial_indent=f"  {name:11s}",
                               subsequent_indent=" " * 13)
        lines.append(" " * 13 + "e.g. " + command.example)
    lines += [""] + textwrap.wrap(
        "`rdjax <command> --help` describes a command and lists its flags. Built-in configs "
        f"(--config=NAME): {', '.join(_config_names())}.", 88)
    return "\n".join(lines)


def _config_names() -> List[str]:
    from rdjax import configs

    return configs.names()


def command_help(prog: str, doc: Optional[str], flag_help: str) -> str:
    """The text ``--help`` prints: the command's docstring, then its flags."""
    text = (doc or "").strip()
    return f"usage: {prog} [flags]\n\n{text}\n\nflags:\n{flag_help}"


def parse_flags(flag_values: flags.FlagValues, args: Sequence[str], prog: str,
                doc: Optional[str]) -> List[str]:
    """Parses ``args`` (no program name) into ``flag_values``; returns the positional ones.

    ``--help`` prints :func:`command_help` and exits 0; a bad flag prints one line naming it
    and exits 2.
    """
    args = list(args)
    if any(a in HELP_ARGS for a in args):
        print(command_help(prog, doc, flag_values.get_help()))
        raise SystemExit(0)
    try:
        return flag_values([prog] + args)[1:]
    except flags.Error as e:
        print(f"{prog}: error: {e}\nPass --help to see the flags.", file=sys.stderr)
        raise SystemExit(2) from None


def run(name: str, args: Sequence[str]) -> int:
    """Runs command ``name`` with ``args``; returns the exit code."""
    from rdjax import configs

    command, prog = COMMANDS[name], f"rdjax {name}"
    try:
        module = importlib.import_module(command.module)
    except ModuleNotFoundError as e:
        if e.name != command.module:
            raise
        print(f"rdjax: '{name}' is not part of this rdjax version ({command.module} is missing).",
              file=sys.stderr)
        return 2
    if command.own_flags:
        return module.main(list(args))
    if any(a in HELP_ARGS[:4] for a in args):  # --helpfull goes to absl: every module's flags
        print(command_help(prog, module.__doc__, flags.FLAGS.module_help(module.__name__)))
        return 0
    sys.argv = [prog] + list(args)  # what the command logs as its own command line
    parser = getattr(module, "parse_flags", app.parse_flags_with_usage)
    app.run(module.main, argv=configs.resolve_argv(sys.argv), flags_parser=parser)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # e.g. `rdjax --help | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(args: List[str]) -> int:
    if not args or args[0] in HELP_ARGS + ("help",):
        print(overview())
        return 0 if args else 2
    if args[0] not in COMMANDS:
        print(f"rdjax: unknown command '{args[0]}'\n\n{overview()}", file=sys.stderr)
        return 2
    return run(args[0], args[1:])


if __name__ == "__main__":
    sys.exit(main())
