#!/usr/bin/env bash
# README command 1: set up a virtualenv, install rdjax, train + evaluate the quickstart.
# Extra arguments go to the trainer, e.g. --config.train.num_epochs=5
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[lite]"
exec "$VENV/bin/rdjax" train --config=quickstart --workdir="${WORKDIR:-runs/quickstart}" "$@"
