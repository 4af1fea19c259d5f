#!/usr/bin/env bash
# Does fine-tuning on one patient of a NEW site raise Dice on the site's other patients? Split by patient:
#   1. the base model sees one site only: Lesjak patient26 (+ the Lesjak lesion masks as transplants), never MSLesSeg;
#   2. it is fine-tuned (`lesionwatch finetune`, its defaults unless ITERATIONS / LEARNING_RATE / ANCHOR_WEIGHT say
#      otherwise) on MSLesSeg patients: P39 alone (73 ml of lesions), P18 alone (0.8 ml, 3 lesions), or both (then
#      finetune's default validation fraction keeps P18 aside for early stopping and trains on P39: arm P18+P39),
#      or both with no validation patient (--val-fraction 0: arm both);
#   3. base and fine-tuned models segment every MSLesSeg scan of the patients neither saw (P14 T1-T3 and P18;
#      P14 T1-T3 and P39; P14 T1-T3 for the last two) at one operating point (0.4 / 20 mm3), so only the weights
#      differ.
# Prints a table. Needs ../shared/data. The steps resume: finished models are kept. ARMS (default "P39 P18 P18+P39
# both") picks the arms; SEED (default 0) seeds the base and the fine-tunes (e.g. SEED=1 ARMS=both).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${LESIONWATCH_SHARED_DATA:-../shared/data}
OUT=${1:-models-trained/finetune-new-site}
BASE_ITER=${BASE_ITERATIONS:-1000}
ITER=${ITERATIONS:-400}
LR=${LEARNING_RATE:-3e-4}
ANCHOR=${ANCHOR_WEIGHT:-0}
MINUTES=${MAX_MINUTES:-25}
SEG=(--threshold 0.4 --min-lesion-volume-mm3 20)
ARMS=${ARMS:-P39 P18 P18+P39 both}
mkdir -p "$OUT"
if [ ! -f "$OUT/base/model_card.json" ]; then
  .venv/bin/lesionwatch --no-progress train "$DATA/lesjak_cross" --mask-tag gold --val-fraction 0 \
    --lesion-masks "$DATA/lesjak_cross_masks" --iterations "$BASE_ITER" --max-minutes 60 --seed "${SEED:-0}" \
    --name lesionwatch-unet-lesjak-only --out "$OUT/base" --cache "$OUT/cache" > "$OUT/base.log" 2>&1
fi
source scripts/lib_finetune.sh
want() { [[ " $ARMS " == *" $1 "* ]]; }
if want P39; then tune "$OUT/base" "$OUT/on-P39" --cache "$OUT/cache" --exclude-patients P14 --exclude-patients P18 & fi
if want P18; then tune "$OUT/base" "$OUT/on-P18" --cache "$OUT/cache" --exclude-patients P14 --exclude-patients P39 & fi
wait
if want P18+P39; then THREADS=2 tune "$OUT/base" "$OUT/on-P18+P39" --cache "$OUT/cache" --exclude-patients P14; fi
if want both; then
  THREADS=2 tune "$OUT/base" "$OUT/on-both" --cache "$OUT/cache" --exclude-patients P14 --val-fraction 0
fi
echo "| fine-tuned on | tested on | base Dice | base F1 | fine-tuned Dice | fine-tuned F1 |"
echo "|---|---|---|---|---|---|"
for tuned in $ARMS; do
  for scan in P14/T1 P14/T2 P14/T3 P18/T1 P39/T1; do
    [[ "+${tuned/both/P18+P39}+" == *"+${scan%%/*}+"* ]] && continue
    tag=${scan/\//_}
    echo "| $tuned | $tag | $(score "$OUT/base" "$DATA/mslesseg/$scan" "$OUT/seg/base-$tag") | $(score "$OUT/on-$tuned" "$DATA/mslesseg/$scan" "$OUT/seg/on-$tuned-$tag") |"
  done
done
