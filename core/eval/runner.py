"""``run_bench``: build the dataset, run the selection pass in-process, the generation pass in
one fresh process per method (so each method's peak memory is its own), then write the report.

Everything is resumable: rows are appended to JSONL files in the results folder and keys
already present are skipped, so an interrupted or limited run continues where it stopped.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import BackendConfig, H2MTConfig
from ..errors import H2MTError, InputError
from ..subprocess_run import RunFailed, run_module
from .datasets.registry import load_dataset
from .datasets.types import BenchDataset, BenchQuestion
from .methods.base import GroupView, Method, MethodUnavailable, Selection
from .methods.registry import METHOD_NAMES, make_methods
from .metrics import answer_contained, evidence_kept, normalise, titles_kept
from .publish import write_report
from .results import RUNS, SELECTION, RowLog, machine_info, row_key

if TYPE_CHECKING:
    from ..engine import H2MT
    from ..index.encoders.base import Encoder

__all__ = ["BenchOptions", "run_bench", "prepare", "run_selection", "run_generation", "judge", "open_engines"]

log = logging.getLogger(__name__)

WORKER = f"{__package__}.worker"
"""The generation worker's module (``python -m h2mt.eval.worker SPEC.json OUT.json``)."""


@dataclass
class BenchOptions:
    """One ``h2mt bench`` run."""

    dataset: str = "hotpotqa-long"  # one of h2mt.eval.datasets.registry.DATASETS
    length: str = "8k"  # haystack size (hotpotqa-long, niah): the model window it must fit
    data: str | None = None  # folder holding hotpotqa/ and manuals/ (None: $H2MT_DATA), or one input file
    subset: str | None = None  # manuals: bash | postgres
    task: str | None = None  # longbench task when the file name does not say it
    budgets: tuple[int, ...] = (512, 1024, 2048, 4096)  # context token budgets
    methods: tuple[str, ...] = METHOD_NAMES  # which methods (h2mt expands to one per beam)
    beams: tuple[int, ...] = (2, 4, 8)  # h2mt beam widths
    limit: int | None = None  # first N questions only
    generate: bool = False  # also generate answers (F1, prefill, TTFT, peak memory)
    model: str | None = None  # generator (None = embedded SmolLM2-135M-Instruct)
    device: str = "auto"  # generator device
    encoder: Literal["sentence-transformers", "hashing"] = "sentence-transformers"  # leaf/query encoder
    results: str = "bench-results"  # results folder (one subfolder per dataset, cache/ for indexes)
    seed: int = 0  # dataset construction seed
    misleading_titles: bool = False  # hotpotqa-long: every paragraph carries another paragraph's title
    llmlingua_limit: int | None = 3  # llmlingua runs on the first N questions of each part only (None = all)
    llmlingua_max_tokens: int = 16384  # llmlingua skips larger documents (cost), recording why
    threads: int | None = None  # torch CPU threads (None = torch default)
    progress: bool = True  # progress bars on stderr
    hmt_weights: str | None = None  # HMT memory folder for the memory methods (None = the shipped one)
    argv: list[str] = field(default_factory=list)  # the command line, recorded with the run

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchOptions:
        """Inverse of ``asdict`` (lists back to tuples)."""
        names = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) and k != "argv" else v
                              for k, v in d.items() if k in names}
        return cls(**kw)

    def backend_config(self) -> BackendConfig:
        """The generator's configuration."""
        return BackendConfig(model=self.model, device=self.device)  # type: ignore[arg-type]

    def llmlingua_kwargs(self) -> dict[str, Any]:
        """Arguments of :class:`h2mt.eval.methods.llmlingua.LongLLMLinguaMethod`."""
        return {"backend": self.backend_config(), "max_doc_tokens": self.llmlingua_max_tokens}


def set_threads(n: int | None) -> None:
    """Set torch's CPU thread count when asked (benchmark processes only, never at import)."""
    if n:
        import torch

        torch.set_num_threads(n)


def prepare(opts: BenchOptions, count: Callable[[Sequence[str]], list[int]]) -> tuple[BenchDataset, Path]:
    """Build the dataset and its results folder; refuse a folder that holds another dataset."""
    ds = load_dataset(opts.dataset, count, data=opts.data, length=opts.length, seed=opts.seed,
                      subset=opts.subset, task=opts.task, misleading_titles=opts.misleading_titles)
    name = ds.name if opts.seed == 0 else f"{ds.name}-s{opts.seed}"
    folder = Path(opts.results) / name
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / "dataset.json"
    if saved.exists():
        old = BenchDataset.load(saved)
        if [g.fingerprint for g in old.groups.values()] != [g.fingerprint for g in ds.groups.values()]:
            raise InputError(f"{folder} holds results of a different {ds.name} dataset (other data or "
                             "tokenizer); use another --results folder or delete that one")
    ds.save(saved)
    return ds, folder


def judge(q: BenchQuestion, sel: Selection) -> dict[str, Any]:
    """Selection-level metrics: evidence kept (all / any) and answer contained."""
    out: dict[str, Any] = {"answer_contained": answer_contained(q.answers, sel.text)}
    if q.gold_titles:
        if sel.nodes is not None:
            # an excerpt (a leaf cut to its sentences matching the question) does not count as its paragraph kept
            kept = {n.path[-1] for n in sel.nodes if n.path and not n.excerpt}
            out["evidence_all"], out["evidence_any"] = titles_kept(q.gold_titles, kept)
        else:  # text-level methods: a title survives when it still occurs in the text
            text = f" {normalise(sel.text)} "
            hits = [f" {normalise(t)} " in text for t in q.gold_titles]
            out["evidence_all"], out["evidence_any"] = all(hits), any(hits)
    elif q.evidence:
        hits = [evidence_kept(e, sel.text) for e in q.evidence]
        out["evidence_all"], out["evidence_any"] = all(hits), any(hits)
    return out


def method_budgets(method: Method, budgets: Sequence[int]) -> list[int]:
    """``[0]`` for budget-independent methods, else ``budgets``."""
    return list(budgets) if method.budgeted else [0]


def method_questions(opts: BenchOptions, method: Method, qs: Sequence[BenchQuestion]) -> list[BenchQuestion]:
    """The questions a method runs on (llmlingua: the first ``llmlingua_limit`` of each part)."""
    if method.name != "llmlingua" or opts.llmlingua_limit is None:
        return list(qs)
    seen: dict[str, int] = {}
    out = []
    for q in qs:
        part = str(q.meta.get("part", ""))
        if seen.get(part, 0) < opts.llmlingua_limit:
            seen[part] = seen.get(part, 0) + 1
            out.append(q)
    return out


def open_engines(
    ds: BenchDataset, opts: BenchOptions, groups: Sequence[str], encoder: Callable[[], Encoder], counter: Any,
    attach_encoder: bool = True,
) -> Iterator[tuple[str, H2MT, float | None]]:
    """Yield (group key, engine, build seconds or None when cached) for ``groups``, in order."""
    from .indexes import encoder_name, engine_for

    cfg = H2MTConfig(backend=opts.backend_config())
    cache = Path(opts.results) / "cache"
    for key in groups:
        eng, took = engine_for(ds.groups[key], cfg, encoder, encoder_name(opts.encoder), counter, cache,
                               attach_encoder=attach_encoder,
                               progress=opts.progress and len(groups) == 1)
        yield key, eng, took


def _pending(
    opts: BenchOptions, ds: BenchDataset, methods: Sequence[Method], done: set[str]
) -> dict[str, list[tuple[BenchQuestion, Method, int, str]]]:
    """Work left, grouped by document group (group order follows the questions)."""
    work: dict[str, list[tuple[BenchQuestion, Method, int, str]]] = {}
    for m in methods:
        for q in method_questions(opts, m, ds.questions):
            for b in method_budgets(m, opts.budgets):
                k = row_key(ds.name, m.name, b, q.id)
                if k not in done:
                    work.setdefault(q.group, []).append((q, m, b, k))
    order = list(dict.fromkeys(q.group for q in ds.questions))
    return {g: sorted(work[g], key=lambda w: ds.questions.index(w[0])) for g in order if g in work}


def selection_row(
    ds: BenchDataset, q: BenchQuestion, m: Method, b: int, key: str, view: GroupView
) -> dict[str, Any]:
    """Run one selection and measure it."""
    row: dict[str, Any] = {"key": key, "dataset": ds.name, "part": q.meta.get("part", ""), "method": m.name,
                           "budget": b, "qid": q.id, "tokens_total": view.tokens_total,
                           "nodes_total": len(view.index.nodes)}
    try:
        sel = m.select(view, q.question, b)
    except (MethodUnavailable, H2MTError) as e:
        return {**row, "error": str(e)}
    return {**row, **judge(q, sel), "tokens_kept": sel.tokens_kept, "nodes_scored": sel.nodes_scored,
            "route_ms": sel.select_ms}


def run_selection(
    opts: BenchOptions, ds: BenchDataset, folder: Path, methods: Sequence[Method]
) -> dict[str, float]:
    """The selection pass (no generator): quality and cost of every method at every budget."""
    from tqdm.auto import tqdm

    from ..backends import load_counter
    from .indexes import make_encoder

    rows = RowLog(folder / SELECTION)
    work = _pending(opts, ds, methods, rows.done)
    encoder = _once(lambda: make_encoder(opts.encoder))
    counter = load_counter(opts.backend_config())
    t0, build_s = time.perf_counter(), 0.0
    bar = tqdm(total=sum(map(len, work.values())), desc=f"{ds.name} selection", unit="row",
               disable=not opts.progress)
    for key, eng, took in open_engines(ds, opts, list(work), encoder, counter):
        build_s += took or 0.0
        view = GroupView(eng)
        for m in dict.fromkeys(w[1] for w in work[key]):
            m.prepare(view)
        for q, m, b, k in work[key]:
            rows.append(selection_row(ds, q, m, b, k, view))
            bar.update(1)
    bar.close()
    return {"selection_s": time.perf_counter() - t0, "index_build_s": build_s}


def _once(fn: Callable[[], Any]) -> Callable[[], Any]:
    box: list[Any] = []

    def get() -> Any:
        if not box:
            box.append(fn())
        return box[0]

    return get


def run_generation(opts: BenchOptions, folder: Path, methods: Sequence[Method]) -> dict[str, float]:
    """One fresh worker process per method (:data:`WORKER`, its stderr passed on); returns wall
    seconds per method. A failed worker is logged and the next method runs."""
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="h2mt-bench-") as tmp:
        for m in methods:
            t0 = time.perf_counter()
            spec = {"options": asdict(opts), "folder": str(folder), "method": m.name}
            try:
                run_module(WORKER, spec, tmp, name=m.name, stream_stderr=True)
            except RunFailed as e:
                log.warning("generation worker for %s failed: %s", m.name, e)
            walls[m.name] = time.perf_counter() - t0
    return walls


def run_bench(opts: BenchOptions) -> Path:
    """Run the benchmark described by ``opts``; returns the dataset's results folder."""
    from ..backends import load_counter

    set_threads(opts.threads)
    started = machine_info()
    ds, folder = prepare(opts, load_counter(opts.backend_config()))
    ds = ds.limited(opts.limit)
    methods = make_methods(opts.methods, opts.beams, opts.llmlingua_kwargs(), opts.hmt_weights,
                          str(Path(opts.results) / "cache"))
    timings = run_selection(opts, ds, folder, methods)
    walls = run_generation(opts, folder, methods) if opts.generate else {}
    run = {"options": asdict(opts), "machine": started, "machine_end": machine_info(),
           "questions": len(ds.questions),
           **timings, "generation_s": walls}
    RowLog(folder / RUNS).append(run)
    write_report(folder)
    return folder

