#!/usr/bin/env bash
# Rebuild every fundus model from the public data, then measure it: `make models`.
#
# Resumable: each training run continues from its last checkpoint (--resume) and
# each step whose output exists is skipped, so an interrupted run is started again
# with the same command. Wall times go to $RUNS/walltimes.tsv. Lightning uses a GPU
# when one is present (accelerator auto); the disc crops in $RUNS/crops are the
# compact training cache a GPU machine needs (≈25 kB a crop).
#
#   DATA   datasets folder (default: MEDSCREEN_DATA_DIR or ../shared/data)
#   RUNS   where runs go (default: runs/models)
#   SHIP=1 copy the exported models and cards into src/medscreen/weights
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-${MEDSCREEN_DATA_DIR:-../shared/data}}"
RUNS="${RUNS:-runs/models}"
MS="${MS:-.venv/bin/medscreen}"
PY="${PY:-.venv/bin/python}"
mkdir -p "$RUNS"

timed() {  # timed NAME COMMAND...: run, and record the wall time
  local name=$1 start=$SECONDS; shift
  echo "== $name: $*"
  "$@"
  printf '%s\t%s\t%s\n' "$name" "$((SECONDS - start))" "$(date -u +%FT%TZ)" >> "$RUNS/walltimes.tsv"
}

# 1. Optic disc. Round 1: IDRiD full photos, every framing from whole field to tight crops, camera-appearance
#    augmentation. Round 2: fine-tuned with outlines of GRAPE and HYGD photos made by round 1 where the disc's
#    position is known (half of each source's people held out for evidence).
timed disc-r1-train "$MS" train disc --data "$DATA/idrid" --out "$RUNS/disc-r1" --norm instance --repeats 8 \
  --epochs 40 --early-stop 12 --resume
[ -f "$RUNS/disc-r1.onnx" ] || timed disc-r1-export "$MS" export segmentation "$RUNS/disc-r1/checkpoints/best.ckpt" \
  --out "$RUNS/disc-r1.onnx"
[ -f "$RUNS/disc-pseudo/manifest.csv" ] || timed disc-pseudo "$PY" scripts/disc_pseudo_masks.py \
  --model "$RUNS/disc-r1.onnx" --idrid-split "$RUNS/disc-r1/split.csv" --data "$DATA" --out "$RUNS/disc-pseudo"
timed disc-train "$MS" train disc --manifest "$RUNS/disc-pseudo/manifest.csv" --out "$RUNS/disc" --norm instance \
  --repeats 2 --epochs 3 --lr 3e-4 --init "$RUNS/disc-r1/checkpoints/best.ckpt" --resume
[ -f "$RUNS/disc.onnx" ] || timed disc-export "$MS" export segmentation "$RUNS/disc/checkpoints/best.ckpt" \
  --out "$RUNS/disc.onnx" --card cards/disc.json
[ -f "$RUNS/disc-val.json" ] || timed disc-eval "$MS" evaluate disc --manifest "$RUNS/disc-r1/split.csv" --split val \
  --crop-scale 2 --crop-scale 3 --crop-scale 4 --model "$RUNS/disc.onnx" --json "$RUNS/disc-val.json"
[ -f "$RUNS/disc-location.json" ] || timed disc-location "$PY" benchmarks/disc_location.py --heldout \
  --model "$RUNS/disc.onnx" --idrid-split "$RUNS/disc-r1/split.csv" --out "$RUNS/disc-location.json" \
  --cases "$RUNS/disc-location-cases.csv"

# 2. Disc crops of every two-class glaucoma source, made once by the new disc stage (the training cache).
[ -f "$RUNS/crops/manifest.csv" ] || timed crops "$MS" data crops "$DATA/acrima" "$DATA/hygd" \
  --out "$RUNS/crops" --disc-model "$RUNS/disc.onnx"

# 3. Glaucoma: leave-one-source-out evidence, then the shipped model on every source (balanced per source × class).
GLAUCOMA=(--input-size 160 --epochs 30 --early-stop 8 --preprocess local-contrast --balance source)
timed glaucoma-no-hygd "$MS" train glaucoma --manifest "$RUNS/crops/manifest_acrima.csv" \
  --out "$RUNS/glaucoma-no-hygd" "${GLAUCOMA[@]}" --resume
timed glaucoma-no-acrima "$MS" train glaucoma --manifest "$RUNS/crops/manifest_hygd.csv" \
  --out "$RUNS/glaucoma-no-acrima" "${GLAUCOMA[@]}" --resume
timed glaucoma-all "$MS" train glaucoma --manifest "$RUNS/crops/manifest.csv" \
  --out "$RUNS/glaucoma" "${GLAUCOMA[@]}" --resume
[ -f "$RUNS/glaucoma.onnx" ] || timed glaucoma-export "$MS" export classifier \
  "$RUNS/glaucoma/checkpoints/best.ckpt" --out "$RUNS/glaucoma.onnx" --card cards/glaucoma.json
timed glaucoma-review-band "$PY" scripts/operating_point.py "$RUNS/glaucoma/val_predictions.csv" \
  --card "$RUNS/glaucoma.json" --positive glaucoma --write review_band

# 4. Evidence from sources each model did not train on (full photos go through the new disc stage).
[ -f "$RUNS/eval-no-hygd-on-hygd.json" ] || timed eval-no-hygd "$MS" evaluate glaucoma \
  --manifest "$RUNS/crops/manifest_hygd.csv" --crops --model "$RUNS/glaucoma-no-hygd/checkpoints/best.ckpt" \
  --json "$RUNS/eval-no-hygd-on-hygd.json"
[ -f "$RUNS/eval-no-acrima-on-acrima.json" ] || timed eval-no-acrima "$MS" evaluate glaucoma \
  --data "$DATA/acrima" --crops --model "$RUNS/glaucoma-no-acrima/checkpoints/best.ckpt" \
  --json "$RUNS/eval-no-acrima-on-acrima.json"
[ -f "$RUNS/transfer.json" ] || timed transfer "$PY" benchmarks/glaucoma_transfer.py \
  --model "$RUNS/glaucoma.onnx" --disc-model "$RUNS/disc.onnx" --out "$RUNS/transfer.json"

# 5. Progression: the model comparison (nothing clears AUC 0.65: the shipped model stays experimental).
[ -f "$RUNS/progression_compare.json" ] || timed progression-compare "$PY" benchmarks/progression_compare.py \
  --out "$RUNS/progression_compare.json"

if [ "${SHIP:-0}" = 1 ]; then
  cp "$RUNS/disc.onnx" "$RUNS/disc.json" "$RUNS/glaucoma.onnx" "$RUNS/glaucoma.json" src/medscreen/weights/
  echo "copied disc and glaucoma models into src/medscreen/weights (re-export the .pt weights and cards' Markdown)"
fi
echo "done; wall times in $RUNS/walltimes.tsv"
