#!/usr/bin/env bash
# Does fine-tuning on a site's own labelled scans help another patient of that site? Split by patient, one site
# (MSLesSeg), starting from cross-validation fold A (trained on P14 + Lesjak patient26, never saw P18 or P39):
#   1. fine-tune fold A on P39 alone, segment P18 before and after;
#   2. fine-tune fold A on P18 alone, segment P39 before and after.
# The two fine-tunes run side by side, one thread each; every segmentation uses the shipped default's threshold
# and minimum lesion volume so only the weights differ. ITERATIONS, LEARNING_RATE and ANCHOR_WEIGHT (L2-SP) set the
# fine-tune (defaults: those of `lesionwatch finetune`), MAX_MINUTES its budget (25). Prints a table. Needs
# ../shared/data and fold A (scripts/crossvalidate_default_model.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LESIONWATCH_SHARED_DATA:-../shared/data}
FOLD=${1:-models-trained/cv/foldA}
OUT=${2:-models-trained/finetune-demo}
ITER=${ITERATIONS:-400}
LR=${LEARNING_RATE:-3e-4}
ANCHOR=${ANCHOR_WEIGHT:-0}
MINUTES=${MAX_MINUTES:-25}
SEG=(--threshold 0.4 --min-lesion-volume-mm3 20)
mkdir -p "$OUT"
tune() {  # name, excluded patients...
  local name=$1; shift
  local excl=(); for p in "$@"; do excl+=(--exclude-patients "$p"); done
  [ -f "$OUT/$name/model_card.json" ] && return
  OMP_NUM_THREADS=1 .venv/bin/lesionwatch --no-progress --force finetune "$DATA/mslesseg" --from "$FOLD" \
    --mask-tag mask "${excl[@]}" --iterations "$ITER" --learning-rate "$LR" --anchor-weight "$ANCHOR" \
    --max-minutes "$MINUTES" --seed 0 --out "$OUT/$name" \
    > "$OUT/$name.log" 2>&1
}
tune on-P39 P14 P18 &
tune on-P18 P14 P39 &
wait
segment() {  # model, patient, output
  local d="$DATA/mslesseg/$2/T1"
  .venv/bin/lesionwatch --no-progress -q --force segment --flair "$d/$2_T1_FLAIR.nii.gz" --t1 "$d/$2_T1_T1.nii.gz" \
    --model "$1" "${SEG[@]}" --no-report --out "$3" > /dev/null
  .venv/bin/lesionwatch evaluate --pred "$3/lesion_mask_space-native.nii.gz" --truth "$d/$2_T1_MASK.nii.gz" \
    --json "$3/metrics.json" > /dev/null
  .venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1]))['metrics']; print(f\"{m['dice']:.3f} | {m['lesion_f1']:.3f}\", end='')" "$3/metrics.json"
}
echo "| tested on | fine-tuned on | Dice before | F1 before | Dice after | F1 after |"
echo "|---|---|---|---|---|---|"
for pair in "P18 P39" "P39 P18"; do
  set -- $pair
  before=$(segment "$FOLD" "$1" "$OUT/before-$1")
  after=$(segment "$OUT/on-$2" "$1" "$OUT/after-$1")
  echo "| $1 | $2 | $before | $after |"
done
