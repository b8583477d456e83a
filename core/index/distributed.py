"""Distributed index builds on Ray: parse + chunk in parallel tasks, encode with an actor pool.

The parallel parts of :func:`h2mt.index.build.build_index` run on the cluster: one Ray task per
given source parses and chunks it (counting tokens with the generator's tokenizer, loaded once
per worker), and leaf and title texts are embedded in batches by a pool of actors, one encoder
each. The driver keeps what needs the whole corpus: it orders the documents as given, builds
the tree, aggregates memories post-order, computes the lexical statistics
(:func:`h2mt.index.build.index_leaves`) and returns the one :class:`~h2mt.index.index.Index`. The result
equals a local build of the same sources (embeddings within float tolerance).

Ray retries a task whose worker died (``max_retries``) and restarts a dead encoder actor,
re-running its batch; an error raised by h2mt itself (a source that fails to parse) is not
retried and is re-raised on the driver as the same :class:`~h2mt.errors.H2MTError`, so no
index is written. Every node of a cluster needs h2mt (and the encoder's extras) installed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..config import BackendConfig, ChunkConfig, EncoderConfig, H2MTConfig
from ..counting import CountFn, counter_name
from ..errors import ConfigError, EmptySourceError, H2MTError, InputError, ModelError
from ..extras import require
from ..types import ParsedDocument
from .build import index_leaves
from .chunking import Leaf, chunk_document
from .update import document_key

if TYPE_CHECKING:
    import numpy as np

    from .encoders.base import Encoder
    from .index import Index

__all__ = ["RayExecutor", "RayPoolEncoder", "build_on_ray"]

log = logging.getLogger(__name__)

Source = str | os.PathLike[str] | ParsedDocument
_COUNTERS: dict[str, CountFn] = {}  # per worker process: the generator tokenizer, loaded once


@dataclass
class RayExecutor:
    """Where and how a build runs on Ray (pass as ``H2MT.build(..., executor=RayExecutor())``)."""

    address: str | None = None  # Ray cluster address; None = $RAY_ADDRESS if set, else a local Ray
    num_workers: int = 2  # encoder actors (one encoder each)
    batch_size: int = 512  # texts sent to an actor per call (each actor batches them again by EncoderConfig.batch_size)
    cpus_per_worker: float = 1.0  # CPUs reserved per encoder actor
    gpus_per_worker: float = 0.0  # GPUs reserved per encoder actor (set with EncoderConfig.device="cuda")
    max_retries: int = 3  # retries of a task whose worker died, and restarts of a dead actor
    init_kwargs: dict[str, Any] = field(default_factory=dict)  # extra ray.init keywords (runtime_env, ...)

    def __post_init__(self) -> None:
        if self.num_workers < 1 or self.batch_size < 1:
            raise ConfigError("RayExecutor.num_workers and batch_size must be >= 1")
        if self.max_retries < 0 or self.cpus_per_worker < 0 or self.gpus_per_worker < 0:
            raise ConfigError("RayExecutor.max_retries, cpus_per_worker and gpus_per_worker must be >= 0")

    def build_index(self, sources: Iterable[Source], cfg: H2MTConfig, *, encoder: Encoder | None = None,
                    token_counter: CountFn | None = None, progress: bool = False) -> Index:
        """Build the index of ``sources`` on Ray (see :func:`build_on_ray`)."""
        return build_on_ray(sources, cfg, executor=self, encoder=encoder, token_counter=token_counter,
                            progress=progress)


def _ray() -> Any:
    return require("ray", "Building on Ray")


def _connect(ex: RayExecutor) -> Any:
    ray = _ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **ex.init_kwargs}
        ray.init(address=ex.address, **kwargs)
    return ray


def _unwrap(exc: Exception) -> Exception:
    """The h2mt error inside a Ray task error (raised as itself), else a ModelError saying what failed."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, H2MTError):
        return cause
    return ModelError(f"A Ray task of the build failed: {type(cause or exc).__name__}: {cause or exc}")


# ---- parse + chunk (tasks) ------------------------------------------------------------------
def _worker_counter(counter: CountFn | None, backend: BackendConfig) -> CountFn:
    if counter is not None:
        return counter
    key = repr(backend)
    if key not in _COUNTERS:
        from ..backends import load_counter

        _COUNTERS[key] = load_counter(backend)
    return _COUNTERS[key]


def _parse_chunk(source: Source, chunk: ChunkConfig, counter: CountFn | None,
                 backend: BackendConfig) -> tuple[list[tuple[ParsedDocument, list[Leaf]]], str, str]:
    """One source -> its documents with their leaves (``doc`` numbered within this source), the
    counter's name, and the empty-source message ("" when it had text)."""
    if isinstance(source, ParsedDocument):
        docs = [source]
    else:
        from .parse import parse_path

        given = os.fspath(source)
        where = os.path.abspath(given)  # a worker need not share the driver's working directory
        try:
            docs = parse_path(where)
        except EmptySourceError as exc:  # as a local build: skipped while other sources have text
            return [], "", str(exc).replace(where, given)
        for d in docs:  # sources read as the caller spelled them, as in a local build
            if d.source.startswith(where):
                d.source = given + d.source[len(where):]
    count = _worker_counter(counter, backend)  # after parsing: a source that fails, fails fast
    return [(d, chunk_document(d, i, count, chunk)) for i, d in enumerate(docs)], counter_name(count), ""


def _gather_parsed(ray: Any, refs: list[Any], progress: bool) -> list[Any]:
    """Results of the parse tasks in the order given, with a progress bar as they finish."""
    from tqdm.auto import tqdm

    pending = list(refs)
    with tqdm(total=len(refs), desc="parsing+chunking", unit="source", disable=not progress) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            bar.update(len(done))
    try:
        return list(ray.get(refs))
    except ray.exceptions.RayTaskError as exc:
        raise _unwrap(exc) from None


def _assemble(results: Sequence[Any], from_file: Sequence[bool]) -> tuple[list[ParsedDocument], list[Leaf], str]:
    """Documents in the given order (a file given twice kept once, as a local build), leaves renumbered."""
    pairs = [(pair, f) for (docs, _, _), f in zip(results, from_file, strict=True) for pair in docs]
    empty = [msg for _, _, msg in results if msg]
    for msg in empty:
        log.warning("skipping %s", msg)
    seen: set[str] = set()
    kept: list[ParsedDocument] = []
    for (d, _), parsed_here in pairs:
        key = document_key(d.source) if parsed_here else ""  # given ParsedDocuments are kept as they are
        if key and key in seen:
            log.info("%s is given more than once; indexing it once", d.source)
            continue
        seen.add(key)
        kept.append(d)
    if not kept:
        if empty:
            raise EmptySourceError(empty[0])
        raise InputError("No documents to index: give at least one file or folder with text")
    leaves_of = {id(d): lv for (d, lv), _ in pairs}
    leaves = [replace(lf, doc=i) for i, d in enumerate(kept) for lf in leaves_of[id(d)]]
    if not leaves:
        raise InputError("The sources contain no indexable text (every document is empty)")
    name = next((n for _, n, _ in results if n), "")
    return kept, leaves, name


# ---- encode (actor pool) --------------------------------------------------------------------
class _EncoderWorker:
    """Body of an encoder actor: one encoder, built from its spec where the actor runs."""

    def __init__(self, spec: Any) -> None:
        from .encoders.base import load_encoder

        self.encoder = load_encoder(spec) if isinstance(spec, (EncoderConfig, Mapping)) else spec

    def meta(self) -> dict[str, Any]:
        from .encoders.base import encoder_meta

        return encoder_meta(self.encoder)

    def encode(self, texts: list[str]) -> Any:
        return self.encoder.encode(texts)

    def plan(self, texts: list[str]) -> list[list[int]] | None:
        """The encoder's own batches of ``texts`` (ONNX encoders), or None (it batches freely)."""
        plan = getattr(self.encoder, "plan", None)
        return plan(texts) if plan is not None and hasattr(self.encoder, "encode_batch") else None

    def encode_batches(self, batches: list[list[str]]) -> Any:
        """Each of ``batches`` embedded as exactly that batch; rows concatenated."""
        import numpy as np

        encode_batch = self.encoder.encode_batch  # type: ignore[union-attr]  # only called after plan()
        return np.concatenate([encode_batch(b) for b in batches])


def _group_batches(batches: list[list[int]], texts_per_call: int) -> list[list[list[int]]]:
    """Consecutive ``batches`` grouped into actor calls of about ``texts_per_call`` texts each."""
    groups: list[list[list[int]]] = []
    size = texts_per_call  # forces a new group at the start
    for b in batches:
        if size + len(b) > texts_per_call:
            groups.append([])
            size = 0
        groups[-1].append(b)
        size += len(b)
    return groups


class RayPoolEncoder:
    """An :class:`~h2mt.index.encoders.base.Encoder` whose ``encode`` runs on a pool of Ray actors.

    ``spec`` is an :class:`~h2mt.config.EncoderConfig` or a recorded encoder meta (each actor
    loads the encoder itself), or an encoder object (shipped to each actor). It reports the
    actors' encoder's ``name``/``dim``/``meta()``, so the index records the real encoder."""

    def __init__(self, spec: Any, ex: RayExecutor) -> None:
        ray = _connect(ex)
        remote = ray.remote(_EncoderWorker).options(
            num_cpus=ex.cpus_per_worker, num_gpus=ex.gpus_per_worker,
            max_restarts=ex.max_retries, max_task_retries=ex.max_retries)
        self._ray = ray
        self._actors = [remote.remote(spec) for _ in range(ex.num_workers)]
        self._batch = ex.batch_size
        try:
            self._meta: dict[str, Any] = ray.get(self._actors[0].meta.remote())
        except ray.exceptions.RayError as exc:
            self.close()
            raise _unwrap(exc) from None
        self.name = str(self._meta["name"])
        self.dim = int(self._meta["dim"])
        self.kind = str(self._meta.get("kind", "custom"))

    def meta(self) -> dict[str, Any]:
        """The actors' encoder's own record."""
        return dict(self._meta)

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` in batches spread over the actors; rows in the given order."""
        import numpy as np
        from ray.util import ActorPool
        from tqdm.auto import tqdm

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            plan = self._ray.get(self._actors[0].plan.remote(list(texts)))
            if plan is None:  # the encoder batches as it likes: send plain slices
                calls = [list(range(i, min(i + self._batch, len(texts)))) for i in range(0, len(texts), self._batch)]
                slices = [[texts[i] for i in c] for c in calls]
                pool = ActorPool(self._actors).map(lambda a, b: a.encode.remote(b), slices)
            else:  # the local build's exact batches, about ``batch_size`` texts per call
                groups = _group_batches(plan, self._batch)
                calls = [[i for b in g for i in b] for g in groups]
                work = [[[texts[i] for i in b] for b in g] for g in groups]
                pool = ActorPool(self._actors).map(lambda a, g: a.encode_batches.remote(g), work)
            out = np.zeros((len(texts), self.dim), dtype=np.float32)
            for rows, part in tqdm(zip(calls, pool, strict=True), total=len(calls), desc="encoding", unit="batch",
                                   disable=not progress):  # ActorPool.map yields in submission order
                out[rows] = np.asarray(part, dtype=np.float32)
        except self._ray.exceptions.RayError as exc:
            raise _unwrap(exc) from None
        return out

    def close(self) -> None:
        """Stop the actors."""
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []


def build_on_ray(
    sources: Iterable[Source],
    cfg: H2MTConfig | None = None,
    *,
    executor: RayExecutor | None = None,
    encoder: Encoder | None = None,
    token_counter: CountFn | None = None,
    progress: bool = False,
    corpus_title: str = "corpus",
) -> Index:
    """Build the index of ``sources`` on Ray; equal to :func:`h2mt.index.build.build_index` run locally.

    ``encoder`` (a custom encoder object) and ``token_counter`` are shipped to the workers and
    must pickle; without them each worker loads ``cfg.encoder`` and the tokenizer of
    ``cfg.backend`` itself. Raises the :class:`~h2mt.errors.H2MTError` of a failed source."""
    cfg = cfg or H2MTConfig()
    ex = executor or RayExecutor()
    ray = _connect(ex)
    t0 = time.perf_counter()
    task = ray.remote(_parse_chunk).options(max_retries=ex.max_retries, retry_exceptions=False)
    counter_ref = ray.put(token_counter)
    given = [s if isinstance(s, ParsedDocument) else os.fspath(s) for s in sources]
    refs = [task.remote(s, cfg.chunk, counter_ref, cfg.backend) for s in given]
    if not refs:
        raise InputError("No documents to index: give at least one file or folder with text")
    docs, leaves, tok_name = _assemble(_gather_parsed(ray, refs, progress),
                                       [not isinstance(s, ParsedDocument) for s in given])
    t_parse = time.perf_counter() - t0
    pool = RayPoolEncoder(encoder if encoder is not None else cfg.encoder, ex)
    try:
        index = index_leaves(docs, leaves, cfg, pool, progress=progress, tokenizer_name=tok_name,
                             corpus_title=corpus_title)
    finally:
        pool.close()
    t = index.meta["build_timings"]
    t["parse_s"] = t_parse  # parse + chunk, in parallel tasks
    t["total_s"] = time.perf_counter() - t0
    index.meta["build_executor"] = {"kind": "ray", "workers": ex.num_workers, "batch_size": ex.batch_size}
    log.info("built on Ray: %d documents, %d leaves in %.1fs", len(docs), len(leaves), t["total_s"])
    return index

