"""``python -m rdjax <command> ...`` is the ``rdjax`` command (rdjax/cli.py)."""

import sys

from rdjax.cli import main

if __name__ == "__main__":
    sys.exit(main())
