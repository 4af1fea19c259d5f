#!/usr/bin/env bash
# Does fine-tuning on a site's own labelled scans help another patient of that site? Split by patient, one site
# (MSLesSeg), starting from cross-validation fold A (trained on P14 + Lesjak patient26, never saw P18 or P39):
#   1. fine-tune fold A on P39 alone, segment P18 before and after;
#   2. fine-tune fold A on P18 alone, segment P39 before and after.
# The two fine-tunes run side by side, one thread each; every segmentation uses one operating point (0.4 / 20 mm3,
# the shipped default's until session 8; kept so the documented tables reproduce) so only the weights differ.
# ITERATIONS, LEARNING_RATE and ANCHOR_WEIGHT (L2-SP) set the fine-tune (defaults: those of `lesionwatch
# finetune`), MAX_MINUTES its budget (25), SEED its seed (0). Prints a table. Needs
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
source scripts/lib_finetune.sh
tune "$FOLD" "$OUT/on-P39" --exclude-patients P14 --exclude-patients P18 &
tune "$FOLD" "$OUT/on-P18" --exclude-patients P14 --exclude-patients P39 &
wait
echo "| tested on | fine-tuned on | Dice before | F1 before | Dice after | F1 after |"
echo "|---|---|---|---|---|---|"
for pair in "P18 P39" "P39 P18"; do
  set -- $pair
  echo "| $1 | $2 | $(score "$FOLD" "$DATA/mslesseg/$1/T1" "$OUT/before-$1") | $(score "$OUT/on-$2" "$DATA/mslesseg/$1/T1" "$OUT/after-$1") |"
done
