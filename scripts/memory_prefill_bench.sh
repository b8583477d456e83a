#!/usr/bin/env bash
# Memory-token prefill: prompt positions vs quality (docs/memory_prefill.md section 5), and
# memory-search routing's evidence recall next to the current router (section 2).
#   MP_LIMIT=N questions (default 50), MP_WEIGHTS=HMT folder (default: the shipped memory),
#   MP_RESULTS=results folder, MP_DEVICE=auto|cpu|cuda. Rerunning resumes finished rows.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
RES=${MP_RESULTS:-bench-results-memory}
LIMIT=${MP_LIMIT:-50}
W=()
if [ -n "${MP_WEIGHTS:-}" ]; then W=(--hmt-weights "$MP_WEIGHTS"); fi
# 1. prefill: positions vs F1 / correct / TTFT at equal budgets
"$PY" -m h2mt.cli bench --dataset hotpotqa-long --length 8k --methods full,h2mt-b8,h2mt-hybrid,h2mt-memory \
  --budgets 1024,2048 --generate --limit "$LIMIT" --device "${MP_DEVICE:-auto}" --results "$RES" "${W[@]}"
# 2. routing: evidence recall of memory search fused at 25/50/100% (selection only, no generation)
"$PY" -m h2mt.cli bench --dataset manuals --methods h2mt-b8,h2mt-mw25,h2mt-mw50,h2mt-mw100 \
  --budgets 512,1024,2048 --device "${MP_DEVICE:-auto}" --results "$RES" "${W[@]}"
"$PY" -m h2mt.cli bench --dataset hotpotqa-long --length 8k --methods h2mt-b8,h2mt-mw25,h2mt-mw50 \
  --budgets 1024,2048 --limit "$LIMIT" --device "${MP_DEVICE:-auto}" --results "$RES" "${W[@]}"
