#!/usr/bin/env bash
# Train a shipped HMT memory on a CPU, for one generator preset (HMT_PRESET):
#   smollm2-135m (default): 193 steps, 60 stage 1 + 133 stage 2; about 45 min on a shared 2-core
#     machine (--threads 1 is fastest when it is busy) -> core/hmt/weights/smollm2-135m-instruct
#   qwen2.5-coder-0.5b (the default generator): 40 stage 1 + up to 160 stage 2 steps within a
#     60-minute budget, two threads on a quiet machine -> core/hmt/weights/qwen2.5-coder-0.5b-instruct
# Resumable: rerun the same command after an interruption and it continues from $OUT/ckpt.
# Output: $OUT (checkpoints, log.jsonl, final/) and the fp16 artefact in core/hmt/weights/.
# Needs: bash scripts/setup.sh, apt-get install python3.11-doc bash-doc postgresql-doc-15.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${HMT_PRESET:-smollm2-135m}
DEVICE=${HMT_DEVICE:-cpu}
PY=${PYTHON:-.venv/bin/python}
case "$PRESET" in
  smollm2-135m)
    OUT=${HMT_OUT:-hmt-runs/smollm2-cpu}; EXPORT=core/hmt/weights/smollm2-135m-instruct
    STEPS=(--stage1-steps 60 --stage2-steps 133); THREADS=${HMT_THREADS:-1}; MINUTES=${HMT_MAX_MINUTES:-120} ;;
  qwen2.5-coder-0.5b)
    OUT=${HMT_OUT:-hmt-runs/qwen-cpu}; EXPORT=core/hmt/weights/qwen2.5-coder-0.5b-instruct
    STEPS=(--stage1-steps 40 --stage2-steps 160); THREADS=${HMT_THREADS:-2}; MINUTES=${HMT_MAX_MINUTES:-60} ;;
  *) echo "HMT_PRESET must be smollm2-135m or qwen2.5-coder-0.5b (got $PRESET)" >&2; exit 2 ;;
esac
exec "$PY" -m h2mt.cli.hmt train \
  --out "$OUT" --device "$DEVICE" --model "$PRESET" \
  --segment-len 256 --sensory-len 32 --cache-size 100 --key-dim 1536 \
  --trainable lora --lora-r 8 --lora-alpha 16 --lora-targets q_proj,k_proj,v_proj,o_proj \
  "${STEPS[@]}" --stage1-segments 2 --stage2-segments 4 \
  --lr 2e-4 --lr-step-size 200 --lr-gamma 0.8 \
  --save-every 10 --seed 0 --threads "$THREADS" --max-minutes "$MINUTES" \
  --export "$EXPORT" --export-dtype float16 \
  "$@"
