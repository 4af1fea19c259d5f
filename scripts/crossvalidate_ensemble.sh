#!/usr/bin/env bash
# Cross-validate an ensemble of seeds of the default recipe: combine the same fold of several runs of
# scripts/crossvalidate_default_model.sh (e.g. TRAIN_ARGS="--seed 1"), then benchmark the combined folds on the
# patients each fold never saw, with the sweep (OUT/benchmark/accuracy_model.json keeps every case at every point).
#   bash scripts/crossvalidate_ensemble.sh OUT CV_RUN_1 CV_RUN_2 [...]
# SEGMENT_ARGS (default "--threshold 0.5 --min-lesion-volume-mm3 10") is passed to `lesionwatch segment`; add
# --tta to measure flip test-time augmentation on the same folds.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1; shift
[ $# -ge 2 ] || { echo "usage: $0 OUT CV_RUN_1 CV_RUN_2 [...]" >&2; exit 2; }
read -r -a seg <<< "${SEGMENT_ARGS:---threshold 0.5 --min-lesion-volume-mm3 10}"
mkdir -p "$OUT"
for fold in foldA foldB; do
  members=(); for run in "$@"; do members+=("$run/$fold"); done
  [ -f "$OUT/$fold/model_card.json" ] || .venv/bin/lesionwatch models ensemble "${members[@]}" --out "$OUT/$fold" \
    --name "lesionwatch-ensemble-$fold" --threshold 0.5 --min-lesion-volume-mm3 10
done
.venv/bin/python benchmarks/accuracy.py --methods model --out "$OUT/benchmark" --model "$OUT/foldA" \
  --model "$OUT/foldB" --sweep -- "${seg[@]}" --no-report
