#!/usr/bin/env bash
# Trains several methods with the same teacher (EfficientNet-Lite0, pretrained), data, batch
# (16), seed and step budget, one after the other, then prints a Markdown table of their
# results.json (docs/comparison.md).
#
#   bash scripts/compare_methods.sh                    # embedded brick, 100 steps, runs/compare/<method>
#   METHODS="ikd bidirectional rde" bash scripts/compare_methods.sh
#   DATA=magnetic_tile STEPS=200 OUT=runs/compare_mt bash scripts/compare_methods.sh
#
# METHODS: any of rd4ad mrkd rdpp two_stage ikd bidirectional rde (default: the first four).
# DATA: 'embedded' (each method's own config; RD4AD's is configs/quickstart.py) or
# 'magnetic_tile' (configs/magnetic_tile.py:<method>). Extra arguments go to every run.
# Each run's workdir is emptied first (no resuming).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
OUT="${OUT:-runs/compare}"
STEPS="${STEPS:-100}"
DATA="${DATA:-embedded}"
METHODS="${METHODS:-rd4ad mrkd rdpp two_stage}"
for name in $METHODS; do
  case "$DATA" in
    embedded) config="configs/$([ "$name" = rd4ad ] && echo quickstart || echo "$name").py" ;;
    magnetic_tile) config="configs/magnetic_tile.py:$name" ;;
    *) echo "DATA='$DATA' is unknown; use 'embedded' or 'magnetic_tile'." >&2; exit 2 ;;
  esac
  rm -rf "${OUT:?}/$name"
  "$PY" -m rdjax.train --config "$config" --workdir "$OUT/$name" \
    --config.train.num_steps="$STEPS" --config.seed=111 "$@"
done
"$PY" - "$OUT" $METHODS <<'PYEOF'
import json, os, sys
out, names = sys.argv[1], sys.argv[2:]
print("\n| method | image AUROC | pixel AUROC | AU-PRO (0.3) | AU-PRO per image | train images/s |")
print("|---|---|---|---|---|---|")
for name in names:
    r = json.load(open(os.path.join(out, name, "results.json")))
    print(f"| {name} | {r['image_auroc']:.3f} | {r['pixel_auroc']:.3f} | {r['aupro']:.3f} | "
          f"{r['aupro_per_image']:.3f} | {r.get('train_images_per_sec', float('nan')):.1f} |")
PYEOF
