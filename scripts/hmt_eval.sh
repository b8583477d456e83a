#!/usr/bin/env bash
# Evaluate the shipped HMT memory against no-memory segments, a sliding window and full context
# on held-out long documents (perplexity, peak RSS, s per 1k tokens). One subprocess per run.
# Output: $OUT/results.json, $OUT/results.md (rerunning skips finished runs).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${HMT_EVAL_OUT:-hmt-runs/eval}
PY=${PYTHON:-.venv/bin/python}
exec "$PY" -m h2mt.cli.hmt eval --out "$OUT" --device "${HMT_DEVICE:-cpu}" \
  --lengths "${HMT_LENGTHS:-2048,8192,32768}" --docs "${HMT_DOCS:-4,3,2}" \
  --methods "${HMT_METHODS:-segments,sliding,hmt,full}" --threads "${HMT_THREADS:-1}" "$@"
