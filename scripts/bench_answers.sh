#!/usr/bin/env bash
# End-to-end answers (docs/benchmarks.md, "Answers against full context"): for a generator preset,
# methods full, truncation, bm25, dense and h2mt at 1,024 and 2,048 tokens on hotpotqa-long 8k and
# 32k, hotpotqa-corpus and the manuals; F1, ROUGE-L, robust containment (95% intervals), TTFT, peak
# memory and the quality-vs-TTFT plot per dataset. Every method of one comparison answers the same
# questions. Rerunning resumes finished rows.
#   ANS_MODEL=preset (default: the default preset)      ANS_RESULTS=folder (default bench-results-answers/<model>)
#   ANS_LIMIT_8K=N (10)  ANS_LIMIT_32K=N (3)  ANS_LIMIT_CORPUS=N (10)
#   ANS_32K=1 and ANS_MANUALS=1 (0 skips them; an 8k-window preset cannot run full context at 32k)
#   ANS_DATA=data folder (default: $H2MT_DATA)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
MODEL=${ANS_MODEL:-$("$PY" -c 'from h2mt.backends.presets import DEFAULT_PRESET; print(DEFAULT_PRESET)')}
RES=${ANS_RESULTS:-bench-results-answers/$MODEL}
DATA=()
if [ -n "${ANS_DATA:-}" ]; then DATA=(--data "$ANS_DATA"); fi
FLAT=truncation,bm25,dense,h2mt-b8
run() { "$PY" -m h2mt.cli.main bench --generate --model "$MODEL" --budgets 1024,2048 --results "$RES" "${DATA[@]}" "$@"; }

# Long haystacks: full context fits the 32k-window preset at both lengths
run --dataset hotpotqa-long --length 8k --methods "full,$FLAT" --limit "${ANS_LIMIT_8K:-10}"
if [ "${ANS_32K:-1}" = 1 ]; then
  run --dataset hotpotqa-long --length 32k --methods "full,$FLAT" --limit "${ANS_LIMIT_32K:-3}"
fi
# A corpus and the manuals exceed every preset's window: no full-context row
run --dataset hotpotqa-corpus --methods "$FLAT" --limit "${ANS_LIMIT_CORPUS:-10}"
if [ "${ANS_MANUALS:-1}" = 1 ]; then run --dataset manuals --methods "$FLAT"; fi
