# The default model's training recipe, shared by scripts/train_default_model.sh (all patients) and
# scripts/crossvalidate_default_model.sh (its folds), so that the folds measure what is shipped; source it after
# setting DATA. Since session 8 the recipe samples half its lesion-centred patches per lesion and adds the blob loss
# (--per-lesion-fraction 0.5 --blob-weight 0.5); since session 19 it runs 4200 iterations (2100 before: the weights of
# sessions 8-18). TRAIN_ARGS (extra `lesionwatch train` options) is appended:
# cross-validate a changed recipe, then train it, with the same TRAIN_ARGS. A later option wins, so
# TRAIN_ARGS="--seed 1" reruns the folds with another seed (how the recipe's second seed was made).
read -r -a extra <<< "${TRAIN_ARGS:-}"
TRAIN_DATA=("$DATA/mslesseg" "$DATA/lesjak_cross")
RECIPE=(--mask-tag mask,gold --val-fraction 0 --lesion-masks "$DATA/lesjak_cross_masks" --iterations 4200 --seed 0
  --features 12,24,48,96 --per-lesion-fraction 0.5 --blob-weight 0.5 "${extra[@]}")
