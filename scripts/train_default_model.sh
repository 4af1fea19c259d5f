#!/usr/bin/env bash
# Retrain the shipped default model exactly as it was trained (the recipe is also recorded in its model_card.json).
# Needs ../shared/data (see its README). Seed 0; every labelled patient (MSLesSeg P14 P18 P39, Lesjak patient26) plus
# the 27 image-less Lesjak consensus masks as lesion transplants; no validation patient (the threshold and minimum
# lesion volume come from the cross-validation in scripts/crossvalidate_default_model.sh). Resumes if interrupted.
# Threads: the run that made the shipped model used one thread (OMP_NUM_THREADS=1) beside the two folds.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LESIONWATCH_SHARED_DATA:-../shared/data}
OUT=${1:-models-trained/default}
.venv/bin/lesionwatch --no-progress train "$DATA/mslesseg" "$DATA/lesjak_cross" --mask-tag mask,gold \
  --val-fraction 0 --lesion-masks "$DATA/lesjak_cross_masks" \
  --iterations 2600 --max-minutes 80 --seed 0 --features 12,24,48,96 \
  --name lesionwatch-unet-default --out "$OUT" --cache "${OUT}-cache"
echo "install with: cp $OUT/{model_card.json,weights.pt,training_log.json} src/lesionwatch/models/weights/default/"
echo "then set threshold/min_lesion_volume_mm3 in the card to the cross-validation's choice (docs/model.md)"
