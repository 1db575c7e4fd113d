"""The built-in configs, one ``get_config()`` file each.

This folder is installed as the package ``rdjax.configs`` (setup.py maps it), so the configs
ship with rdjax and a config can be named instead of given by path:
``--config=quickstart`` or ``--config=magnetic_tile:mrkd`` is ``configs/quickstart.py`` or
``configs/magnetic_tile.py:mrkd`` from the installed package. A file that exists always wins.
A method's config takes a variant, ``--config=mrkd:paper`` (``:quick`` is the default);
``common.py`` writes both variants once and is not a config itself.
"""

import os
from typing import List, Sequence

FOLDER = os.path.dirname(os.path.abspath(__file__))
HELPERS = ("__init__", "common")  # modules without a get_config()


def names() -> List[str]:
    """The built-in config names, e.g. ``['bidirectional', ..., 'quickstart', ...]``."""
    return sorted(f[:-3] for f in os.listdir(FOLDER) if f.endswith(".py") and f[:-3] not in HELPERS)


def resolve(value: str) -> str:
    """``NAME[:ARG]`` of a built-in config → ``<its path>[:ARG]``; anything else unchanged."""
    path, sep, arg = value.partition(":")
    if os.path.isfile(path) or path not in names():
        return value
    return os.path.join(FOLDER, path + ".py") + sep + arg


def resolve_argv(argv: Sequence[str], flag: str = "config") -> List[str]:
    """``argv`` with the value of ``--<flag>=V`` / ``--<flag> V`` passed through :func:`resolve`."""
    out, argv = [], list(argv)
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{flag}="):
            arg = f"--{flag}=" + resolve(arg.split("=", 1)[1])
        elif i > 0 and argv[i - 1] == f"--{flag}":
            arg = resolve(arg)
        out.append(arg)
    return out
