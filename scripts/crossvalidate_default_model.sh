#!/usr/bin/env bash
# Cross-validation of the default model's recipe, split by patient, then the benchmark on unseen patients. Two
# folds by default (FOLDS=patient: leave one patient out, below):
#   fold A trains on MSLesSeg P14 (3 time points) + Lesjak patient26 and is tested on P18 and P39;
#   fold B trains on P18 + P39 and is tested on P14 (3 time points) and patient26.
# Every case is segmented by the fold that never saw its patient; --sweep re-thresholds the unseen probability maps
# (the shipped threshold and minimum lesion volume are chosen from that table). Same recipe as the shipped model
# (scripts/train_default_model.sh: 4200 iterations since session 19, the full cosine schedule). Folds run side by
# side, one thread each (2 CPU cores, about 140 minutes at 4200 iterations in sessions 17-18, then 10 of benchmark);
# each resumes if interrupted.
# The recipe is scripts/lib_recipe.sh (TRAIN_ARGS adds options).
# STAGE2_ARGS (optional) tests a second training stage: each fold then trains on from its stage-1 weights
# (`train --continue-from`, same data and recipe, STAGE2_ARGS appended) into OUT/<fold>_stage2, and those folds are
# benchmarked too (OUT/benchmark_stage2), so stage 2 is compared with its own stage 1 on the same unseen scans.
# Session 12 ran STAGE2_ARGS="--iterations 500 --learning-rate 1e-3 --per-lesion-fraction 1.0 --blob-weight 1.0
# --match-small-lesions" (not adopted; docs/model.md).
# FOLDS=patient runs leave-one-patient-out instead: four folds (loP14, loP18, loP39, lopatient26), each trained on
# the other three patients, two at a time (about twice as long). Each fold then sees nearer the shipped model's
# training data (all four patients) than the two-fold split's two patients.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LESIONWATCH_SHARED_DATA:-../shared/data}
OUT=${1:-models-trained/cv}
source scripts/lib_recipe.sh
mkdir -p "$OUT"
read -r -a stage2 <<< "${STAGE2_ARGS:-}"
# BENCH_VARIANTS (optional, space-separated) also benchmarks each fold set on other inputs: "flair" (FLAIR alone),
# "thick4" (FLAIR and T1 re-acquired as 4 mm axial slices, as clinical 2D scans), "thick4_flair" (both), each into
# OUT/benchmark[_stage2]_<variant> (about 10 minutes each).
read -r -a variants <<< "${BENCH_VARIANTS:-}"
variant_args() {  # variant name -> accuracy.py options
  case $1 in
    flair) echo --flair-only ;;
    thick4) echo --slice-thickness 4 ;;
    thick4_flair) echo --slice-thickness 4 --flair-only ;;
    *) echo "BENCH_VARIANTS: unknown variant '$1' (flair, thick4, thick4_flair)" >&2; exit 2 ;;
  esac
}
for v in "${variants[@]}"; do variant_args "$v" > /dev/null; done  # a typo fails before hours of training
train_stage() {  # out folder, model name, extra train options...; uses the caller's excl; skips a done stage
  local out=$1 model_name=$2; shift 2
  [ -f "$out/model_card.json" ] || OMP_NUM_THREADS=1 .venv/bin/lesionwatch --no-progress train "${TRAIN_DATA[@]}" \
    "${RECIPE[@]}" "${excl[@]}" "$@" --max-minutes 240 --name "$model_name" --out "$out" --cache "$OUT/cache" \
    > "$out.log" 2>&1
}
fold() {  # name, excluded patients...
  local name=$1; shift
  local excl=(); for p in "$@"; do excl+=(--exclude-patients "$p"); done
  train_stage "$OUT/$name" "lesionwatch-unet-$name"
  [ ${#stage2[@]} -eq 0 ] || train_stage "$OUT/${name}_stage2" "lesionwatch-unet-$name-stage2" \
    --continue-from "$OUT/$name" "${stage2[@]}"
}
case ${FOLDS:-two} in
  two) fold foldA P18 P39 & fold foldB P14 patient26 & wait
    folds=(foldA foldB) ;;
  patient) fold loP14 P14 & fold loP18 P18 & wait
    fold loP39 P39 & fold lopatient26 patient26 & wait
    folds=(loP14 loP18 loP39 lopatient26) ;;
  *) echo "FOLDS must be 'two' or 'patient', not '$FOLDS'" >&2; exit 2 ;;
esac
benchmark() {  # suffix of the fold folders ("" or _stage2), then of the benchmark folder, then accuracy.py options
  local models=(); for f in "${folds[@]}"; do models+=(--model "$OUT/$f$1"); done
  .venv/bin/python benchmarks/accuracy.py --methods model --out "$OUT/benchmark$1$2" "${models[@]}" "${@:3}" \
    --sweep -- --threshold 0.5 --min-lesion-volume-mm3 10 --no-report
}
# the shipped operating point (the folds' own cards keep 0.5 / 5 mm3: they had no validation patient); --sweep
# re-thresholds the same probability maps and keeps every case at every point (OUT/benchmark/accuracy_model.json)
bench_all() {  # suffix of the fold folders
  benchmark "$1" ""
  for v in "${variants[@]}"; do
    read -r -a opts <<< "$(variant_args "$v")"
    benchmark "$1" "_$v" "${opts[@]}"
  done
}
bench_all ""
[ ${#stage2[@]} -eq 0 ] || bench_all _stage2
