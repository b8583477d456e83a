"""Offline build: sources -> parsed documents -> leaves -> tree -> embeddings -> Index."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from ..config import H2MTConfig
from ..counting import CountFn
from ..errors import EmptySourceError, InputError
from ..types import NodeKind, ParsedDocument, titled_text
from .aggregate import aggregate_tree
from .chunking import Leaf, chunk_document
from .encoders.base import Encoder, encoder_meta
from .hierarchy import build_tree
from .index import FORMAT_VERSION, Index
from .lexical import LEXICAL_VERSION, node_lexical
from .update import content_hash, document_key

__all__ = ["parse_sources", "build_index", "index_leaves"]

log = logging.getLogger(__name__)


def parse_sources(sources: Iterable[str | os.PathLike[str] | ParsedDocument]) -> list[ParsedDocument]:
    """Parse files/folders (or pass through already parsed documents), in the given order.

    An empty file is skipped with a warning while other sources have text (when none is left,
    its :class:`~h2mt.errors.EmptySourceError` is raised); a file given twice is indexed once."""
    docs: list[ParsedDocument] = []
    empty: list[EmptySourceError] = []
    seen: set[str] = set()  # files already parsed, by resolved path
    for s in sources:
        if isinstance(s, ParsedDocument):
            docs.append(s)
            continue
        from .parse import parse_path

        try:
            docs.extend(_unseen(parse_path(s), seen))
        except EmptySourceError as exc:  # one empty file must not sink the others
            log.warning("skipping %s", exc)
            empty.append(exc)
    if not docs:
        if empty:
            raise empty[0]
        raise InputError("No documents to index: give at least one file or folder with text")
    return docs


def _unseen(docs: list[ParsedDocument], seen: set[str]) -> list[ParsedDocument]:
    """``docs`` parsed from files, without a file already in ``seen`` (``net.md`` and ``/abs/net.md``
    given both); ``seen`` is updated."""
    out: list[ParsedDocument] = []
    for d in docs:
        key = document_key(d.source)
        if key in seen:
            log.info("%s is given more than once; indexing it once", d.source)
            continue
        seen.add(key)
        out.append(d)
    return out


def _chunk_all(docs: Sequence[ParsedDocument], count: CountFn, cfg: H2MTConfig, progress: bool) -> list[Leaf]:
    from tqdm.auto import tqdm

    leaves: list[Leaf] = []
    for di, doc in enumerate(tqdm(docs, desc="chunking", unit="doc", disable=not progress)):
        leaves.extend(chunk_document(doc, di, count, cfg.chunk))
    if not leaves:
        raise InputError("The sources contain no indexable text (every document is empty)")
    return leaves


def _leaf_input(leaf: Leaf, docs: Sequence[ParsedDocument]) -> str:
    """Text the encoder sees for a leaf: its section title, then the text."""
    title = docs[leaf.doc].sections[leaf.section].title
    return titled_text(title, leaf.text)


def build_index(
    sources: Iterable[str | os.PathLike[str] | ParsedDocument],
    cfg: H2MTConfig,
    encoder: Encoder,
    count_tokens: CountFn,
    *,
    progress: bool = False,
    tokenizer_name: str = "",
    corpus_title: str = "corpus",
) -> Index:
    """Build an :class:`Index` over ``sources`` (files, folders or parsed documents)."""
    t0 = time.perf_counter()
    docs = parse_sources(sources)
    t_parse = time.perf_counter() - t0
    leaves = _chunk_all(docs, count_tokens, cfg, progress)
    index = index_leaves(docs, leaves, cfg, encoder, progress=progress, tokenizer_name=tokenizer_name,
                         corpus_title=corpus_title)
    t = index.meta["build_timings"]
    t["parse_s"] = t_parse
    t["chunk_s"] = time.perf_counter() - t0 - t_parse - t["encode_s"] - t["tree_s"]
    t["total_s"] = time.perf_counter() - t0
    return index


def index_leaves(
    docs: Sequence[ParsedDocument],
    leaves: Sequence[Leaf],
    cfg: H2MTConfig,
    encoder: Encoder,
    *,
    progress: bool = False,
    tokenizer_name: str = "",
    corpus_title: str = "corpus",
) -> Index:
    """Encode ``leaves``, build the tree over ``docs``, aggregate embeddings and lexical stats."""
    import numpy as np

    t0 = time.perf_counter()
    leaf_emb = encoder.encode([_leaf_input(lf, docs) for lf in leaves], progress=progress)
    t_enc = time.perf_counter()
    nodes = build_tree(docs, leaves, leaf_emb, cfg.hierarchy, corpus_title)
    leaf_rows = {n.id: i for i, n in enumerate(n for n in nodes if n.kind == NodeKind.LEAF)}
    titled = [n for n in nodes if n.kind != NodeKind.LEAF and n.title]
    t_emb = encoder.encode([n.title for n in titled]) if titled else np.zeros((0, encoder.dim), np.float32)
    emb = aggregate_tree(
        nodes,
        {nid: leaf_emb[row] for nid, row in leaf_rows.items()},
        {n.id: t_emb[i] for i, n in enumerate(titled)},
        cfg.hierarchy,
    )
    lex = node_lexical(nodes)
    t_end = time.perf_counter()
    timings = {"parse_s": 0.0, "chunk_s": 0.0, "encode_s": t_enc - t0, "tree_s": t_end - t_enc, "total_s": t_end - t0}
    log.info("built index: %d docs, %d nodes, %d leaves in %.1fs",
             len(docs), len(nodes), len(leaves), timings["total_s"])
    return Index(nodes, emb, lex, _doc_records(docs), _meta(cfg, encoder, tokenizer_name, timings))


def _doc_records(docs: Sequence[ParsedDocument]) -> list[dict[str, Any]]:
    """One record per document: ``source`` as given, its stable ``key`` (resolved absolute path) and
    the ``sha256`` of its text, by which add/remove recognise it whatever the spelling."""
    return [
        {"source": d.source, "key": document_key(d.source), "sha256": content_hash(d.text), "title": d.title,
         "format": d.meta.get("format", ""), "chars": len(d.text)}
        for d in docs
    ]


def _meta(cfg: H2MTConfig, encoder: Encoder, tokenizer_name: str, timings: dict[str, float]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "lexical_version": LEXICAL_VERSION,
        "encoder": encoder_meta(encoder),
        "tokenizer": tokenizer_name,
        "chunk": asdict(cfg.chunk),
        "hierarchy": {**asdict(cfg.hierarchy), "aggregate": cfg.hierarchy.aggregate.value},
        "build_timings": timings,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
