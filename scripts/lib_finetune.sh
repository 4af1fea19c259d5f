# Shell functions shared by the fine-tuning demonstrations (scripts/finetune_*_demo.sh); source it, do not run it.
# The caller sets DATA (the shared data folder), ITER, LR, ANCHOR, MINUTES (fine-tune recipe) and SEG (segment
# options, so that base and fine-tuned models are compared at one operating point); SEED (default 0) seeds the
# fine-tunes (and the new-site demo's base).

# tune BASE OUT [--cache DIR | --exclude-patients P ...]: fine-tune BASE on the MSLesSeg patients not
# excluded, on THREADS threads (default 1), into OUT (log beside it); kept if already finished
tune() {
  local base=$1 out=$2; shift 2
  [ -f "$out/model_card.json" ] && return
  OMP_NUM_THREADS=${THREADS:-1} .venv/bin/lesionwatch --no-progress --force finetune "$DATA/mslesseg" --from "$base" \
    --mask-tag mask "$@" --iterations "$ITER" --learning-rate "$LR" --anchor-weight "$ANCHOR" \
    --max-minutes "$MINUTES" --seed "${SEED:-0}" --out "$out" > "$out.log" 2>&1
}

# score MODEL SCAN_DIR OUT: segment an MSLesSeg scan folder (e.g. .../mslesseg/P14/T1) with MODEL into OUT, score it
# against the expert mask and print "dice | lesion_f1"; a finished OUT is scored again, not re-segmented
score() {
  local model=$1 dir=$2 out=$3 scan
  scan=$(basename "$(dirname "$dir")")_$(basename "$dir")
  if [ ! -f "$out/metrics.json" ]; then
    .venv/bin/lesionwatch --no-progress -q --force segment --flair "$dir/${scan}_FLAIR.nii.gz" \
      --t1 "$dir/${scan}_T1.nii.gz" --model "$model" "${SEG[@]}" --no-report --out "$out" > /dev/null
    .venv/bin/lesionwatch evaluate --pred "$out/lesion_mask_space-native.nii.gz" --truth "$dir/${scan}_MASK.nii.gz" \
      --json "$out/metrics.json" > /dev/null
  fi
  .venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1]))['metrics']; print(f\"{m['dice']:.3f} | {m['lesion_f1']:.3f}\", end='')" "$out/metrics.json"
}
