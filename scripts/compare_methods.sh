#!/usr/bin/env bash
# Trains several methods with the same teacher (EfficientNet-Lite0, pretrained), data, batch
# (16), seed and step budget, one after the other, then prints a Markdown table of their
# results.json (docs/comparison.md).
#
#   bash scripts/compare_methods.sh                    # embedded brick, 100 steps, runs/compare/<method>
#   METHODS="rd4ad mrkd rdpp two_stage" bash scripts/compare_methods.sh
#   DATA=magnetic_tile STEPS=200 OUT=runs/compare_mt bash scripts/compare_methods.sh
#
#   SEED=1 OUT=runs/compare_seed1 bash scripts/compare_methods.sh   # another seed (default 111)
#
# METHODS: any of rdjax/recipes.py's METHODS (default: all of them, in its order).
# DATA: 'embedded' (configs/embedded.py:<method> = configs/<method>.py:quick, the same scale
# for every method) or 'magnetic_tile' (configs/magnetic_tile.py:<method>, the same with the
# data swapped); both read rdjax/recipes.py. Extra arguments go to every run. For the papers'
# recipes on real data use `rdjax sweep`.
# Each run's workdir is emptied first (no resuming).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
OUT="${OUT:-runs/compare}"
STEPS="${STEPS:-100}"
SEED="${SEED:-111}"
DATA="${DATA:-embedded}"
METHODS="${METHODS:-$("$PY" -c 'from rdjax import recipes; print(*recipes.METHODS)')}"
for name in $METHODS; do
  case "$DATA" in
    embedded) config="configs/embedded.py:$name" ;;
    magnetic_tile) config="configs/magnetic_tile.py:$name" ;;
    *) echo "DATA='$DATA' is unknown; use 'embedded' or 'magnetic_tile'." >&2; exit 2 ;;
  esac
  rm -rf "${OUT:?}/$name"
  "$PY" -m rdjax.train --config "$config" --workdir "$OUT/$name" \
    --config.train.num_steps="$STEPS" --config.seed="$SEED" "$@"
done
echo
"$PY" scripts/summarize_comparison.py "$OUT"
