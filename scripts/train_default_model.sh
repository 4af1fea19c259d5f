#!/usr/bin/env bash
# Remake the shipped default model as it was made: the two folds of scripts/crossvalidate_default_model.sh
# (seed 0, lesion transplants from ../shared/data/lesjak_cross_masks, no validation patient), combined into one
# ensemble. Needs ../shared/data (see its README). Each fold resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-models-trained/cv}
bash scripts/crossvalidate_default_model.sh "$OUT"
.venv/bin/lesionwatch --force models ensemble "$OUT/foldA" "$OUT/foldB" --out "$OUT/default" \
  --name lesionwatch-unet-default --threshold 0.4 --min-lesion-volume-mm3 20  # chosen by the sweep
echo "install with: cp $OUT/default/{model_card.json,weights.pt} src/lesionwatch/models/weights/default/"
