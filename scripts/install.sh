#!/usr/bin/env bash
# Sets up the virtualenv $1 (created if missing) with rdjax and the extras $2, e.g. "test".
#
# With uv when it installs (measured here, 2 cores, empty caches: 16 s with uv, 61 s with
# pip --no-compile, 101 s with pip), else with pip. uv does not read pip's configuration, so
# pip's index, find-links and constraint settings (pip.conf or PIP_* variables) are passed on:
# where a local wheel is pinned (torch's CPU build), uv takes the same file pip would, and
# --index-strategy unsafe-best-match is pip's rule (the highest version over all indexes):
# checked here, both give the same versions of every package.
# RDJAX_INSTALLER=pip skips uv.
set -euo pipefail
VENV="$1"
EXTRAS="$2"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"

pip_settings_for_uv() {
  "$PY" - <<'EOF'
import shlex, subprocess, sys
listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                        capture_output=True, text=True).stdout
flags = {"index-url": "--index-url", "extra-index-url": "--extra-index-url",
         "find-links": "--find-links", "constraint": "--constraint"}
pairs = []  # (flag, value) in pip's order, each once
for line in listed.splitlines():
    key, _, value = line.partition("=")
    flag = flags.get(key.rsplit(".", 1)[-1])
    for item in (shlex.split(value)[0].split() if flag and value else []):
        if (flag, item) not in pairs:
            pairs.append((flag, item))
print(shlex.join(part for pair in pairs for part in pair))
EOF
}

if [ "${RDJAX_INSTALLER:-uv}" = uv ] && "$PY" -m pip install -q --disable-pip-version-check uv \
    && eval "uv_args=($(pip_settings_for_uv))" \
    && "$VENV/bin/uv" pip install -q --python "$PY" --index-strategy unsafe-best-match "${uv_args[@]}" -e ".[$EXTRAS]"; then
  echo "install.sh: installed .[$EXTRAS] into $VENV with uv" >&2
else
  echo "install.sh: installing .[$EXTRAS] into $VENV with pip" >&2
  "$PY" -m pip install -q --no-compile --disable-pip-version-check -e ".[$EXTRAS]"
fi
