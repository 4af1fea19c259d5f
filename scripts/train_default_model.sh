#!/usr/bin/env bash
# Retrain the shipped default model exactly as it was trained (recipe also recorded in its model_card.json).
# Needs ../shared/data (see its README). Seed 0; 40-minute budget on 2 CPU cores; resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LESIONWATCH_SHARED_DATA:-../shared/data}
OUT=${1:-models-trained/default}
.venv/bin/lesionwatch --no-progress train "$DATA/mslesseg" "$DATA/lesjak_cross" \
  --mask-tag mask,gold --exclude-patients P18 --val-patients P39 \
  --iterations 3000 --max-minutes 40 --seed 0 --features 12,24,48,96 \
  --name lesionwatch-unet-default --out "$OUT" --cache "${OUT}-cache"
echo "install with: cp $OUT/{model_card.json,weights.pt,training_log.json} src/lesionwatch/models/weights/default/"
