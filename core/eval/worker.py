"""Generation pass of one method, in its own process: ``python -m h2mt.eval.worker SPEC.json OUT.json``
(launched by :func:`h2mt.eval.runner.run_generation` through :func:`h2mt.subprocess_run.run_module`).

Loads the generator (and the encoder only if the method needs one), answers every pending
(question, budget) with the benchmark's decoding (:func:`h2mt.eval.decoding.bench_decoding`:
greedy, no repetition penalty, the task's answer length) and the task's LongBench prompt,
appends one row per answer, and finally records the process's peak memory (CPU: peak RSS;
CUDA: the largest ``max_memory_allocated`` of any answer). One warm-up answer runs first and is
not recorded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from ..errors import H2MTError
from ..query.generate import generate
from ..query.prompt import Prompt
from ..resources import peak_rss_bytes
from ..subprocess_run import worker_main
from ..types import Accounting, GenerationStats
from .datasets.longbench import build_prompt
from .datasets.types import BenchDataset, BenchQuestion
from .decoding import Decoding, bench_decoding
from .methods.base import GroupView, MakeMessages, Method, MethodUnavailable, Selection
from .methods.registry import make_methods
from .metrics import answer_correct, best_f1, best_rouge_l
from .results import GENERATION, MEMORY, RowLog, machine_info, row_key
from .runner import BenchOptions, method_budgets, method_questions, open_engines, set_threads

__all__ = ["generate_method", "answer_row", "run_spec", "main"]


def answer_row(
    ds: BenchDataset, q: BenchQuestion, m: Method, budget: int, view: GroupView, backend: Any,
    decoding: Decoding | None = None,
) -> dict[str, Any]:
    """Select, prompt, prefill and decode one answer (``decoding``: the benchmark's for the task's
    answer length); TTFT runs from the request (selection included)."""
    decoding = decoding or bench_decoding(ds.max_new_tokens)
    row: dict[str, Any] = {"key": row_key(ds.name, m.name, budget, q.id), "dataset": ds.name,
                           "part": q.meta.get("part", ""), "method": m.name, "budget": budget, "qid": q.id,
                           "model": backend.name}
    try:
        m.warm(view, q.question, budget, _messages(ds), backend)  # untimed: before the request
    except (MethodUnavailable, H2MTError) as e:
        return {**row, "error": str(e)}
    t0 = time.perf_counter()
    try:
        sel = m.select(view, q.question, budget)
        answered = m.answer(sel, q.question, backend, decoding)  # a method answering by itself (hmt)
    except (MethodUnavailable, H2MTError) as e:
        return {**row, "error": str(e)}
    if answered is not None:
        text, stats = answered
        t_end = time.perf_counter()
        cost = _cost(sel, stats, t0, t_end - stats.total_ms / 1000.0, t_end)
        return _scored(row, text, q, sel, decoding, cost)
    try:
        prompt = _prompt(ds, q, m, sel, view, backend)
    except H2MTError as e:
        return {**row, "error": str(e)}
    if prompt.positions + decoding.max_new_tokens > backend.context_window:
        return {**row, "prompt_tokens": prompt.positions,
                "error": f"the prompt plus {decoding.max_new_tokens} new tokens exceeds the "
                         f"{backend.context_window}-token window of {backend.name} "
                         "(prompt_tokens in the row)"}
    gen = generate(backend, prompt, decoding.prefill_config())
    text = gen.run().strip()
    return _scored(row, text, q, sel, decoding, _cost(sel, gen.stats, t0, gen.started, gen.ended))


def _cost(sel: Selection, stats: GenerationStats, started: float, generation_started: float,
          ended: float | None) -> dict[str, Any]:
    """The cost columns of one answer; its route time is the method's own selection time."""
    acc = Accounting.from_run(tokens_total=0, nodes_total=0, tokens_kept=sel.tokens_kept, route=None,
                              stats=stats, started=started, generation_started=generation_started,
                              ended=ended or time.perf_counter())
    acc.route_ms = sel.select_ms  # routing for h2mt
    return {k: v for k, v in acc.as_dict().items() if k in _ROW_COST}


def _scored(row: dict[str, Any], text: str, q: BenchQuestion, sel: Selection, decoding: Decoding,
            cost: dict[str, Any]) -> dict[str, Any]:
    """The row of one answer: its quality scores, its cost and how it was decoded."""
    return {**row, "prediction": text, "f1": best_f1(text, q.answers),
            "rouge_l": best_rouge_l(text, q.answers),
            "correct": float(answer_correct(text, q.answers, q.question)), **cost,
            "decoding": decoding.as_dict()}


def _messages(ds: BenchDataset) -> MakeMessages:
    """The task's LongBench prompt as one user message: (question, context) -> messages."""

    def messages(question: str, context: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": build_prompt(ds.task, context, question)}]

    return messages


def _prompt(
    ds: BenchDataset, q: BenchQuestion, m: Method, sel: Selection, view: GroupView, backend: Any
) -> Prompt:
    """The task's LongBench prompt over the selection, unless the method builds its own from the
    same messages (memory prefill: :meth:`~h2mt.eval.methods.base.Method.make_prompt`)."""

    messages = _messages(ds)
    made = m.make_prompt(view, q.question, sel, messages, backend)
    if made is not None:
        return made
    msgs = messages(q.question, sel.text)
    return Prompt(q.question, [], sel.text, msgs, backend.chat_ids(msgs))


_ROW_COST = ("tokens_kept", "prompt_tokens", "completion_tokens", "route_ms", "prefill_ms", "ttft_ms",
             "total_ms", "peak_mem_bytes", "positions_reused", "positions_recomputed", "kv_bytes_read", "kv_misses")


def _warm_up(backend: Any) -> None:
    """One short generation so first-call overheads are not measured."""
    ids = backend.chat_ids([{"role": "user", "content": "Say hello."}])
    for _ in backend.stream(ids, bench_decoding(2).prefill_config(), GenerationStats()):
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
    work = [(q, b) for q in method_questions(opts, method, ds.questions)
            for b in method_budgets(method, opts.budgets)
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
    bar = tqdm(total=len(work), desc=f"{ds.name} {method.name} generation", unit="answer",
               disable=not opts.progress)
    decoding = bench_decoding(ds.max_new_tokens)  # the same for every method
    written, peak = 0, 0
    for key, eng, _ in engines:
        view = GroupView(eng)
        method.prepare(view)  # offline per-document work (BM25 index, ...) is not part of TTFT
        method.prepare_generation(view, backend)  # e.g. HMT node memories on this generator, also untimed
        for q, b in [(q, b) for q, b in work if q.group == key]:
            row = answer_row(ds, q, method, b, view, backend, decoding)
            rows.append(row)
            peak = max(peak, int(row.get("peak_mem_bytes", 0)))
            written += 1
            bar.update(1)
    bar.close()
    device = getattr(backend, "device", "cpu")
    RowLog(folder / MEMORY).append({
        "dataset": ds.name, "method": method.name, "device": device, "answers": written,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_cuda_bytes": peak if str(device).startswith("cuda") else None,
        "wall_s": time.perf_counter() - t_start, "machine": machine_info(),
    })
    return written


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """One worker run: ``spec`` holds the bench ``options``, the results ``folder`` and the ``method``."""
    opts = BenchOptions.from_dict(spec["options"])
    set_threads(opts.threads)
    folder = Path(spec["folder"])
    ds = BenchDataset.load(folder / "dataset.json").limited(opts.limit)
    return {"method": spec["method"], "written": generate_method(opts, ds, folder, spec["method"])}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process: ``SPEC.json OUT.json`` (see :func:`run_spec`)."""
    return worker_main(run_spec, argv)


if __name__ == "__main__":
    sys.exit(main())
