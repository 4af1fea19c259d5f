#!/usr/bin/env bash
# Two-fold cross-validation of the default model's recipe, split by patient, then the benchmark on unseen patients:
#   fold A trains on MSLesSeg P14 (3 time points) + Lesjak patient26 and is tested on P18 and P39;
#   fold B trains on P18 + P39 and is tested on P14 (3 time points) and patient26.
# Every case is segmented by the fold that never saw its patient; --sweep re-thresholds the unseen probability maps
# (the shipped threshold and minimum lesion volume are chosen from that table). Same recipe as the shipped model
# (scripts/train_default_model.sh: 2100 iterations, the full cosine schedule). Folds run side by side, one thread
# each (2 CPU cores, about 50 minutes, then 5 of benchmark); each resumes if interrupted. The recipe is
# scripts/lib_recipe.sh (TRAIN_ARGS adds options).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LESIONWATCH_SHARED_DATA:-../shared/data}
OUT=${1:-models-trained/cv}
source scripts/lib_recipe.sh
mkdir -p "$OUT"
fold() {  # name, excluded patients...
  local name=$1; shift
  local excl=(); for p in "$@"; do excl+=(--exclude-patients "$p"); done
  OMP_NUM_THREADS=1 .venv/bin/lesionwatch --no-progress train "${TRAIN_DATA[@]}" "${RECIPE[@]}" "${excl[@]}" \
    --max-minutes 150 --name "lesionwatch-unet-$name" --out "$OUT/$name" --cache "$OUT/cache" > "$OUT/$name.log" 2>&1
}
[ -f "$OUT/foldA/model_card.json" ] || fold foldA P18 P39 &
[ -f "$OUT/foldB/model_card.json" ] || fold foldB P14 patient26 &
wait
# the shipped operating point (the folds' own cards keep 0.5 / 5 mm3: they had no validation patient); --sweep
# re-thresholds the same probability maps and keeps every case at every point (OUT/benchmark/accuracy_model.json)
.venv/bin/python benchmarks/accuracy.py --methods model --out "$OUT/benchmark" --model "$OUT/foldA" \
  --model "$OUT/foldB" --sweep -- --threshold 0.2 --min-lesion-volume-mm3 20 --no-report
