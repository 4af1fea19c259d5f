#!/usr/bin/env bash
# Remake the shipped default model as it was made (session 19): one network trained on every labelled patient of
# ../shared/data (MSLesSeg P14 x3, P18, P39; Lesjak patient26), seed 0, lesion transplants from
# ../shared/data/lesjak_cross_masks, half the lesion-centred patches drawn per lesion, the blob loss, no validation
# patient, 4200 iterations (99.4 minutes on 2 CPU cores in session 19; the 2100-iteration weights of sessions 8-18
# took 32.9 on a faster day). Threshold 0.5 and minimum lesion 10 mm3 were chosen (session 14) by the sweeps of
# scripts/crossvalidate_default_model.sh's runs (docs/model.md). THREADS sets the thread count (default 2); resumes if
# interrupted. The recipe is scripts/lib_recipe.sh, shared with the cross-validation (TRAIN_ARGS adds options to
# both). --max-minutes is only a safety budget, far above the recipe's time, so that a slow machine does not cut the
# schedule short.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LESIONWATCH_SHARED_DATA:-../shared/data}
OUT=${1:-models-trained/default}
source scripts/lib_recipe.sh
OMP_NUM_THREADS=${THREADS:-2} .venv/bin/lesionwatch --no-progress train "${TRAIN_DATA[@]}" "${RECIPE[@]}" \
  --max-minutes 200 --name lesionwatch-unet-default --out "$OUT" --cache "$OUT.cache"
echo "install with: cp $OUT/{model_card.json,weights.pt,training_log.json} src/lesionwatch/models/weights/default/"
echo "then set its threshold / min lesion volume to 0.5 / 10 and its metrics (see docs/model.md)"
