#!/usr/bin/env bash
# Trains RD4AD, MRKD, RD++ and two-stage RKD with the same teacher (EfficientNet-Lite0,
# pretrained), data (the embedded dataset, brick, 128 px), batch (16), seed and step budget,
# one after the other, then prints a Markdown table of their results.json (docs/comparison.md).
#
#   bash scripts/compare_methods.sh                      # 100 steps each into runs/compare/<method>
#   STEPS=200 OUT=runs/cmp2 bash scripts/compare_methods.sh --config.dataset.category=grass
#
# Extra arguments go to every run. Each run's workdir is emptied first (no resuming).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
OUT="${OUT:-runs/compare}"
STEPS="${STEPS:-100}"
RUNS="quickstart:rd4ad mrkd:mrkd rdpp:rdpp two_stage:two_stage"
for run in $RUNS; do
  config="${run%%:*}" name="${run##*:}"
  rm -rf "${OUT:?}/$name"
  "$PY" -m rdjax.train --config "configs/$config.py" --workdir "$OUT/$name" \
    --config.train.num_steps="$STEPS" --config.seed=111 "$@"
done
"$PY" - "$OUT" $RUNS <<'PYEOF'
import json, os, sys
out, runs = sys.argv[1], [r.split(":")[1] for r in sys.argv[2:]]
print("\n| method | image AUROC | pixel AUROC | AU-PRO (0.3) | AU-PRO per image | train images/s |")
print("|---|---|---|---|---|---|")
for name in runs:
    r = json.load(open(os.path.join(out, name, "results.json")))
    print(f"| {name} | {r['image_auroc']:.3f} | {r['pixel_auroc']:.3f} | {r['aupro']:.3f} | "
          f"{r['aupro_per_image']:.3f} | {r.get('train_images_per_sec', float('nan')):.1f} |")
PYEOF
