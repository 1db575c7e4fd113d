#!/usr/bin/env bash
# README command 2: set up a virtualenv with the test extras and run the test suite.
# Extra arguments go to pytest, e.g. -m "not slow" or -k metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
bash scripts/install.sh "$VENV" test
# --dist loadscope: a module's tests share one worker, so its module fixtures (trained
# workdirs, the multi-device runs) are built once, not once per worker.
exec "$VENV/bin/python" -m pytest -n 2 --dist loadscope --durations=15 "$@"
