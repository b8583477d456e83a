"""Generation pass of one method, in its own process: ``python -m h2mt.eval.worker SPEC METHOD``.

Loads the generator (and the encoder only if the method needs one), answers every pending
(question, budget) with greedy decoding and the task's LongBench prompt, appends one row per
answer, and finally records the process's peak memory (CPU: peak RSS; CUDA: the largest
``max_memory_allocated`` of any answer). One warm-up answer runs first and is not recorded.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from ..config import AnswerTask, PrefillConfig
from ..errors import H2MTError
from ..query.generate import generate
from ..query.prompt import Prompt
from ..resources import peak_rss_bytes
from ..types import Accounting, GenerationStats
from .datasets.longbench import build_prompt
from .datasets.types import BenchDataset, BenchQuestion
from .methods.base import GroupView, Method, MethodUnavailable, Selection
from .methods.registry import make_methods
from .metrics import answer_correct, best_f1, best_rouge_l
from .results import GENERATION, MEMORY, RowLog, machine_info, row_key
from .runner import BenchOptions, method_budgets, method_questions, open_engines, set_threads

__all__ = ["generate_method", "answer_row", "main"]


def answer_row(
    ds: BenchDataset, q: BenchQuestion, m: Method, budget: int, view: GroupView, backend: Any
) -> dict[str, Any]:
    """Select, prompt, prefill and decode one answer; TTFT runs from the request (selection included)."""
    row: dict[str, Any] = {"key": row_key(ds.name, m.name, budget, q.id), "dataset": ds.name, "part": q.meta.get("part", ""),
                           "method": m.name, "budget": budget, "qid": q.id, "model": backend.name}
    t0 = time.perf_counter()
    try:
        sel = m.select(view, q.question, budget)
    except (MethodUnavailable, H2MTError) as e:
        return {**row, "error": str(e)}
    answer = getattr(m, "answer", None)
    if answer is not None:  # a method that reads and answers by itself (hmt)
        try:
            text, stats = answer(sel, q.question, backend, ds.max_new_tokens)
        except (MethodUnavailable, H2MTError) as e:
            return {**row, "error": str(e)}
        t_end = time.perf_counter()
        acc = Accounting.from_run(tokens_total=0, nodes_total=0, tokens_kept=sel.tokens_kept, route=None, stats=stats,
                                  started=t0, generation_started=t_end - stats.total_ms / 1000.0, ended=t_end)
        return _scored(row, text, q, acc, sel)
    try:
        prompt = _prompt(ds, q, m, sel, view, backend)
    except H2MTError as e:
        return {**row, "error": str(e)}
    if prompt.positions + ds.max_new_tokens > backend.context_window:
        return {**row, "prompt_tokens": prompt.positions,
                "error": f"the prompt plus {ds.max_new_tokens} new tokens exceeds the {backend.context_window}-token "
                         f"window of {backend.name} (prompt_tokens in the row)"}
    gen = generate(backend, prompt, PrefillConfig(task=AnswerTask.CHAT, max_new_tokens=ds.max_new_tokens, temperature=0.0))
    text = gen.run().strip()
    acc = Accounting.from_run(tokens_total=0, nodes_total=0, tokens_kept=sel.tokens_kept, route=None, stats=gen.stats,
                              started=t0, generation_started=gen.started, ended=gen.ended or time.perf_counter())
    return _scored(row, text, q, acc, sel)


def _scored(row: dict[str, Any], text: str, q: BenchQuestion, acc: Accounting, sel: Selection) -> dict[str, Any]:
    """The row of one answer: its quality scores and its cost."""
    acc.route_ms = sel.select_ms  # the method's own selection time (routing for h2mt)
    cost = {k: v for k, v in acc.as_dict().items() if k in _ROW_COST}
    return {**row, "prediction": text, "f1": best_f1(text, q.answers), "rouge_l": best_rouge_l(text, q.answers),
            "correct": float(answer_correct(text, q.answers, q.question)), **cost}


def _prompt(ds: BenchDataset, q: BenchQuestion, m: Method, sel: Selection, view: GroupView, backend: Any) -> Prompt:
    """The task's LongBench prompt over the selection; a method with ``make_prompt`` (memory
    prefill) builds it itself from the same messages."""

    def messages(question: str, context: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": build_prompt(ds.task, context, question)}]

    make = getattr(m, "make_prompt", None)
    if make is not None:
        made: Prompt = make(view, q.question, sel, messages, backend)
        return made
    msgs = messages(q.question, sel.text)
    return Prompt(q.question, [], sel.text, msgs, backend.chat_ids(msgs))


_ROW_COST = ("tokens_kept", "prompt_tokens", "completion_tokens", "route_ms", "prefill_ms", "ttft_ms", "total_ms",
             "peak_mem_bytes")


def _warm_up(backend: Any) -> None:
    """One short generation so first-call overheads are not measured."""
    ids = backend.chat_ids([{"role": "user", "content": "Say hello."}])
    for _ in backend.stream(ids, PrefillConfig(task=AnswerTask.CHAT, max_new_tokens=2, temperature=0.0), GenerationStats()):
        pass


def generate_method(opts: BenchOptions, ds: BenchDataset, folder: Path, method_name: str) -> int:
    """Answer every pending (question, budget) of one method; returns how many rows were written."""
    from tqdm.auto import tqdm

    from ..backends import load_backend, load_counter
    from .indexes import make_encoder

    t_start = time.perf_counter()
    method = make_methods([method_name], opts.beams, opts.llmlingua_kwargs(), opts.hmt_weights,
                           str(Path(opts.results) / "cache"))[0]
    rows = RowLog(folder / GENERATION)
    work = [(q, b) for q in method_questions(opts, method, ds.questions) for b in method_budgets(method, opts.budgets)
            if row_key(ds.name, method.name, b, q.id) not in rows.done]
    if not work:
        return 0
    backend = load_backend(opts.backend_config())
    counter = load_counter(opts.backend_config())
    encoder_box: list[Any] = []

    def encoder() -> Any:
        if not encoder_box:
            encoder_box.append(make_encoder(opts.encoder))
        return encoder_box[0]

    groups = list(dict.fromkeys(q.group for q, _ in work))
    engines = open_engines(ds, opts, groups, encoder, counter, attach_encoder=method.needs_encoder)
    _warm_up(backend)
    bar = tqdm(total=len(work), desc=f"{ds.name} {method.name} generation", unit="answer", disable=not opts.progress)
    written, peak = 0, 0
    for key, eng, _ in engines:
        view = GroupView(eng)
        method.prepare(view)  # offline per-document work (BM25 index, ...) is not part of TTFT
        prepare_generation = getattr(method, "prepare_generation", None)
        if prepare_generation is not None:  # e.g. HMT node memories on this generator, also untimed
            prepare_generation(view, backend)
        for q, b in [(q, b) for q, b in work if q.group == key]:
            row = answer_row(ds, q, method, b, view, backend)
            rows.append(row)
            peak = max(peak, int(row.get("peak_mem_bytes", 0)))
            written += 1
            bar.update(1)
    bar.close()
    device = getattr(backend, "device", "cpu")
    RowLog(folder / MEMORY).append({
        "dataset": ds.name, "method": method.name, "device": device, "answers": written,
        "peak_rss_bytes": peak_rss_bytes(), "peak_cuda_bytes": peak if str(device).startswith("cuda") else None,
        "wall_s": time.perf_counter() - t_start, "machine": machine_info(),
    })
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m h2mt.eval.worker SPEC.json METHOD\n")
        return 2
    spec = Path(args[0])
    opts = BenchOptions.from_dict(json.loads(spec.read_text(encoding="utf-8")))
    set_threads(opts.threads)
    ds = BenchDataset.load(spec.parent / "dataset.json").limited(opts.limit)
    generate_method(opts, ds, spec.parent, args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
