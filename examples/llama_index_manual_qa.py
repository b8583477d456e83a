"""Questions over the Bash Reference Manual with LlamaIndex and h2mt, offline on the embedded defaults.

    python examples/llama_index_manual_qa.py                    # answer 3 questions, both ways
    python examples/llama_index_manual_qa.py --questions 11 --budget 1024 --top-k 40
    python examples/llama_index_manual_qa.py --eval             # evidence recall of the postprocessor

Two ways to use h2mt from LlamaIndex:

1. one line in an ordinary LlamaIndex RAG pipeline: the vector store retrieves ``--top-k``
   candidate nodes and ``H2MTNodePostprocessor`` routes them down to ``--budget`` tokens::

       VectorStoreIndex(nodes).as_query_engine(node_postprocessors=[H2MTNodePostprocessor(budget=1024)])

2. ``H2MTQueryEngine``: h2mt's own pipeline (hierarchy, routing, one pruned prefill, accounting).

The generator is the local SmolLM2-135M-Instruct (``H2MTLLM``), embeddings come from the embedded
all-MiniLM-L6-v2 (``H2MTEmbedding``), and LlamaIndex counts tokens with the model's tokenizer:
nothing is downloaded. The manual (Debian package ``bash-doc``) is converted to Markdown (its
headings as Markdown headings; ``--entry-headings`` also makes each definition-list entry - a
variable, option or builtin - a sub-heading) and split by ``MarkdownNodeParser``, then
``SentenceSplitter``. ``--eval`` applies the postprocessor to all
leaf nodes of the manual and reports how many questions keep their gold evidence (docs/architecture.md section 4).
Built indexes are cached under ``--workdir``. Needs the extra: ``pip install -e ".[llama-index]"``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path

from h2mt.eval import evidence_kept
from h2mt.index.parse import parse_path

try:
    import llama_index.core  # noqa: F401
except ImportError:
    raise SystemExit('This example needs LlamaIndex: pip install -e ".[llama-index]"') from None
from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter
from llama_index.core.schema import NodeWithScore
from platformdirs import user_cache_dir

from h2mt_integrations.llama_index import (
    H2MTLLM,
    H2MTEmbedding,
    H2MTNodePostprocessor,
    H2MTQueryEngine,
    RoutingEndEvent,
)

MANUAL = "/usr/share/doc/bash-doc/bashref.html"
# The manual QA file: in $H2MT_DATA when set, else in ../shared/data beside this checkout.
DATA = Path(os.environ.get("H2MT_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
QA = DATA / "manuals" / "manual_qa_dev.jsonl"


def _literal(line: str) -> str:
    """Escape a leading ``#`` so that manual text ("# comment", the ``#`` parameter) is no heading."""
    return re.sub(r"^( {0,3})#", r"\1\\#", line)


def manual_document(path: str, entries_as_headings: bool = False) -> Document:
    """The HTML manual as one Markdown document (h2mt's HTML parser does the HTML -> text part)."""
    parsed = parse_path(path)[0]
    parts = []
    for sec in parsed.sections:
        if sec.path[:-1] or sec.title != parsed.title:  # not the lead text under the document title
            heading = entries_as_headings or sec.meta.get("kind") != "entry"
            parts.append(("#" * sec.level + " " if heading else "") + _literal(sec.title))
        parts.append("\n".join(map(_literal, parsed.text[sec.start : sec.end].strip().splitlines())))
    text = "\n\n".join(p for p in parts if p)
    return Document(text=text, id_="bashref", metadata={"file_name": "bashref.md", "title": parsed.title})


def leaf_nodes(doc: Document, chunk_tokens: int) -> list:
    """MarkdownNodeParser sections, split to ``chunk_tokens`` by SentenceSplitter (model tokenizer)."""
    sections = MarkdownNodeParser().get_nodes_from_documents([doc])
    return SentenceSplitter(chunk_size=chunk_tokens, chunk_overlap=0).get_nodes_from_documents(sections)


class Savings(BaseEventHandler):
    """Remembers the last routing result (an instrumentation event handler)."""

    last: RoutingEndEvent | None = None

    @classmethod
    def class_name(cls) -> str:
        return "Savings"

    def handle(self, event, **kwargs) -> None:
        if isinstance(event, RoutingEndEvent):
            self.last = event


def evaluate(nodes: list, qs: list[dict], budgets: list[int], beam: int) -> None:
    post = H2MTNodePostprocessor(budget=budgets[0], beam_width=beam)
    nws = [NodeWithScore(node=n) for n in nodes]
    t = time.perf_counter()
    post.hierarchy(nws)
    print(f"hierarchy over {len(nodes)} LlamaIndex leaf nodes built in {time.perf_counter() - t:.1f}s")
    for budget in budgets:
        post.budget = budget
        hits, ms = 0, []
        for q in qs:
            t = time.perf_counter()
            kept = post.postprocess_nodes(nws, query_str=q["question"])
            ms.append((time.perf_counter() - t) * 1000)
            ok = evidence_kept(q["evidence"], "\n\n".join(k.node.get_content() for k in kept))
            hits += ok
            print(f"  {'OK  ' if ok else 'MISS'} {q['id']}: {q['question'][:72]}")
        print(f"budget {budget}: evidence kept for {hits}/{len(qs)} questions "
              f"(postprocess ms median {statistics.median(ms):.0f})")


def vector_index(nodes: list, embed: H2MTEmbedding, where: Path) -> VectorStoreIndex:
    if where.exists():
        return load_index_from_storage(StorageContext.from_defaults(persist_dir=str(where)), embed_model=embed)
    index = VectorStoreIndex(nodes, embed_model=embed, show_progress=True)
    index.storage_context.persist(persist_dir=str(where))
    return index


def show(label: str, resp, extra: str) -> None:
    print(f"  [{label}] {str(resp).strip()[:300]}")
    for s in resp.source_nodes[:4]:
        path = s.node.metadata.get("h2mt_path") or s.node.metadata.get("header_path", "")
        print(f"      {s.score:.3f} {path} :: {s.node.get_content()[:70]!r}")
    print(f"      {extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=MANUAL, help="the Bash manual (bashref.html)")
    ap.add_argument("--qa", default=str(QA), help="manual_qa_dev.jsonl")
    ap.add_argument("--questions", type=int, default=3, help="questions to answer (not with --eval)")
    ap.add_argument("--budget", type=int, nargs="+", default=[1024], help="token budget(s)")
    ap.add_argument("--beam", type=int, default=4, help="beam width")
    ap.add_argument("--top-k", type=int, default=40, help="vector-store candidates for the postprocessor")
    ap.add_argument("--chunk-tokens", type=int, default=192, help="SentenceSplitter chunk size")
    ap.add_argument("--entry-headings", action="store_true", help="definition-list entries as sub-headings")
    ap.add_argument("--eval", action="store_true", help="evidence recall over all leaf nodes, no generation")
    ap.add_argument("--workdir", default=str(Path(user_cache_dir("h2mt")) / "llama_index_bash"),
                    help="where built indexes are cached (default: the user cache dir)")
    args = ap.parse_args()
    qs = [q for q in map(json.loads, open(args.qa)) if q["manual"] == "bash-reference-manual"]
    llm = H2MTLLM(max_new_tokens=64)  # also hands LlamaIndex the model's tokenizer (no tiktoken download)
    Settings.llm, Settings.embed_model = llm, H2MTEmbedding()
    doc = manual_document(args.source, entries_as_headings=args.entry_headings)
    nodes = leaf_nodes(doc, args.chunk_tokens)
    if args.eval:
        evaluate(nodes, qs, args.budget, args.beam)
        return
    work = Path(args.workdir) / f"{'entries' if args.entry_headings else 'headings'}-{args.chunk_tokens}"
    work.mkdir(parents=True, exist_ok=True)
    savings = Savings()
    get_dispatcher().add_event_handler(savings)
    encoder = Settings.embed_model.h2mt_encoder  # one MiniLM for the vector store and both h2mt paths
    index = vector_index(nodes, Settings.embed_model, work / "vector")
    # docstore: its insertion order gives the postprocessor document order for the retrieved nodes
    post = H2MTNodePostprocessor(budget=args.budget[0], beam_width=args.beam, encoder=encoder, docstore=index.docstore)
    rag = index.as_query_engine(similarity_top_k=args.top_k, node_postprocessors=[post])
    saved = work / "bash.h2mt"
    if saved.exists():
        h2 = H2MTQueryEngine.from_index(saved, llm=llm, encoder=encoder, budget=args.budget[0], beam_width=args.beam)
    else:
        h2 = H2MTQueryEngine.from_documents([doc], llm=llm, encoder=encoder, budget=args.budget[0],
                                            beam_width=args.beam)
        h2.engine.save(saved)
    for q in qs[: args.questions]:
        print(f"\nQ: {q['question']}   (gold: {', '.join(q['answers'])})")
        t = time.perf_counter()
        resp = rag.query(q["question"])
        r = savings.last
        show("VectorStoreIndex + H2MTNodePostprocessor", resp,
             f"kept {r.tokens_kept} of {r.tokens_total} candidate tokens "
             f"({r.kept} nodes; {r.nodes_scored} of {r.nodes_total} tree nodes scored), "
             f"route {r.route_ms:.0f} ms, total {time.perf_counter() - t:.1f}s")
        resp = h2.query(q["question"])
        m = resp.metadata
        show("H2MTQueryEngine", resp,
             f"kept {m['tokens_kept']} of {m['tokens_total']} manual tokens ({m['kept_ratio']:.1%}), route "
             f"{m['route_ms']:.0f} ms, prefill {m['prefill_ms']:.0f} ms, TTFT {m['ttft_ms']:.0f} ms")


if __name__ == "__main__":
    main()
