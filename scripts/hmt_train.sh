#!/usr/bin/env bash
# Train the shipped HMT memory for the embedded SmolLM2-135M-Instruct on a CPU (193 steps: 60 stage 1 + 133
# stage 2; about 45 min of training on the shared 2-core machine, --threads 1 is fastest when it is busy).
# Resumable: rerun the same command after an interruption and it continues from $OUT/ckpt.
# Output: $OUT (checkpoints, log.jsonl, final/) and the fp16 artefact in core/hmt/weights/.
# Needs: bash scripts/setup.sh, pip install peft, apt-get install python3.11-doc bash-doc postgresql-doc-15.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${HMT_OUT:-hmt-runs/smollm2-cpu}
DEVICE=${HMT_DEVICE:-cpu}
PY=${PYTHON:-.venv/bin/python}
exec "$PY" -m h2mt.hmt.cli train \
  --out "$OUT" --device "$DEVICE" \
  --segment-len 256 --sensory-len 32 --cache-size 100 --key-dim 1536 \
  --trainable lora --lora-r 8 --lora-alpha 16 --lora-targets q_proj,k_proj,v_proj,o_proj \
  --stage1-steps 60 --stage1-segments 2 \
  --stage2-steps 133 --stage2-segments 4 \
  --lr 2e-4 --lr-step-size 200 --lr-gamma 0.8 \
  --save-every 10 --seed 0 --threads "${HMT_THREADS:-1}" --max-minutes "${HMT_MAX_MINUTES:-120}" \
  --export core/hmt/weights/smollm2-135m-instruct --export-dtype float16 \
  "$@"
