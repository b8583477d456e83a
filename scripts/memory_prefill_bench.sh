#!/usr/bin/env bash
# Memory-token prefill: prompt positions vs quality (docs/memory_prefill.md section 5), and
# memory-search routing's evidence recall next to the current router (section 2).
#   MP_MODEL=generator preset (default: the default generator, qwen2.5-coder-0.5b, with its shipped memory)
#   MP_LIMIT_8K / MP_LIMIT_32K = questions (default 10 / 3), MP_FULL=1 adds full context at 8k
#   (36 s per question here) and MP_FULL_32K=1 at 32k (5 min per question here),
#   MP_WEIGHTS=HMT folder (default: the memory shipped for MP_MODEL), MP_RESULTS=results folder,
#   MP_DEVICE=auto|cpu|cuda. Rerunning resumes finished rows; made node memories are cached.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
MODEL=${MP_MODEL:-qwen2.5-coder-0.5b}
RES=${MP_RESULTS:-bench-results-memory/$MODEL}
# the trade-off curve: text (h2mt-b8), 3 / 2 / 1 best leaves as text and the rest as memories, all memories;
# the -titles rows are the ablation (the same layout without the memory embeddings)
MEM=h2mt-b8,h2mt-hybrid3,h2mt-hybrid2,h2mt-hybrid,h2mt-hybrid-titles,h2mt-memory,h2mt-memory-titles
W=()
if [ -n "${MP_WEIGHTS:-}" ]; then W=(--hmt-weights "$MP_WEIGHTS"); fi
run() { "$PY" -m h2mt.cli.main bench --model "$MODEL" --device "${MP_DEVICE:-auto}" --results "$RES" "${W[@]}" "$@"; }
full8=""; [ "${MP_FULL:-0}" = 1 ] && full8="full,"
full32=""; [ "${MP_FULL_32K:-0}" = 1 ] && full32="full,"
# 1. prefill: positions vs F1 / ROUGE-L / correct / TTFT at equal budgets (the same routes for every h2mt row)
run --dataset hotpotqa-long --length 8k --methods "$full8$MEM" --budgets 1024,2048 --generate --limit "${MP_LIMIT_8K:-10}"
run --dataset hotpotqa-long --length 32k --methods "$full32$MEM" --budgets 2048 --generate --limit "${MP_LIMIT_32K:-3}"
run --dataset manuals --subset bash --methods "$MEM" --budgets 1024 --generate
# 2. routing: evidence recall of memory search fused at 25/50/100% (selection only, no generation)
run --dataset hotpotqa-long --length 8k --methods h2mt-b8,h2mt-mw25,h2mt-mw50,h2mt-mw100 --budgets 1024,2048 \
  --limit "${MP_LIMIT_8K:-10}"
run --dataset hotpotqa-long --length 32k --methods h2mt-b8,h2mt-mw25,h2mt-mw50,h2mt-mw100 --budgets 2048 \
  --limit "${MP_LIMIT_32K:-3}"
run --dataset manuals --subset bash --methods h2mt-b8,h2mt-mw25,h2mt-mw50,h2mt-mw100 --budgets 512,1024,2048
