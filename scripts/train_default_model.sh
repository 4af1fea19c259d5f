#!/usr/bin/env bash
# Remake the shipped default model as it was made (session 5): one network trained on every labelled patient of
# ../shared/data (MSLesSeg P14 x3, P18, P39; Lesjak patient26), seed 0, lesion transplants from
# ../shared/data/lesjak_cross_masks, no validation patient, 2100 iterations (what the cross-validation folds of
# scripts/crossvalidate_default_model.sh reached in their 80 minutes). Threshold 0.4 and minimum lesion 20 mm3
# were chosen by the cross-validation sweep. About an hour on 2 CPU cores; resumes if interrupted. Extra training
# options (a changed recipe, cross-validated first with the same TRAIN_ARGS in scripts/crossvalidate_default_model.sh)
# go in TRAIN_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LESIONWATCH_SHARED_DATA:-../shared/data}
OUT=${1:-models-trained/default}
read -r -a extra <<< "${TRAIN_ARGS:-}"
OMP_NUM_THREADS=2 .venv/bin/lesionwatch --no-progress train "$DATA/mslesseg" "$DATA/lesjak_cross" \
  --mask-tag mask,gold --val-fraction 0 --lesion-masks "$DATA/lesjak_cross_masks" \
  --iterations 2100 --max-minutes 100 --seed 0 --features 12,24,48,96 \
  "${extra[@]}" --name lesionwatch-unet-default --out "$OUT" --cache "$OUT.cache"
echo "install with: cp $OUT/{model_card.json,weights.pt,training_log.json} src/lesionwatch/models/weights/default/"
echo "then set its threshold / min lesion volume to 0.4 / 20 and its metrics (see docs/model.md)"
