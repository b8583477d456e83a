"""A manual assistant over the PostgreSQL 15 documentation: LangChain parts, h2mt inside.

    python examples/langchain_manual_agent.py                  # scripted demo: a question, then a follow-up
    python examples/langchain_manual_agent.py --chat           # interactive (empty line or Ctrl-D quits)
    python examples/langchain_manual_agent.py --ask "What is the default value of work_mem?"
    python examples/langchain_manual_agent.py --eval           # retriever evidence recall on the PG QA set

Setup (fresh clone): ``H2MT_WITH_POSTGRES_DOCS=1 bash scripts/setup.sh`` then
``.venv/bin/pip install -e ".[langchain]"``. Runs offline with the embedded defaults
(SmolLM2-135M-Instruct generator, all-MiniLM-L6-v2 encoder). The first run indexes the
docs from Debian's ``postgresql-doc-15`` (1,173 HTML pages, ~24k nodes; several minutes)
into the user cache, or into ``--index``; later runs load it in about a second.

The chain is ``{question, chat_history} -> assign(context = H2MTRetriever) -> H2MTRunnable``:
the retriever routes the question (joined with the previous question, for follow-ups)
through the saved hierarchy under a 2,048-token budget; the runnable routes again within
those sections down to ``--answer-budget`` tokens, prefills the local model once over them,
streams the answer, and returns the sections it read (cited below the answer) and the
accounting (the savings against the whole manual). The 135M default model is a demo of the
plumbing, not of answer quality: pass ``--model`` with a bigger instruct model for that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from h2mt import H2MT
from h2mt.eval import evidence_kept
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from h2mt_integrations.langchain import ChatH2MT, H2MTRetriever, H2MTRunnable

SOURCE = "/usr/share/doc/postgresql-doc-15/html"
MANUAL = "postgresql-15-docs"
# The manual QA file: in $H2MT_DATA when set, else in ../shared/data beside this checkout.
DATA = Path(os.environ.get("H2MT_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
QA = DATA / "manuals" / "manual_qa_dev.jsonl"
SYSTEM = (
    "You are a PostgreSQL 15 configuration assistant. Answer from the documentation excerpts only, "
    "briefly, naming the parameter and its value. If the excerpts do not say, say so."
)
DEMO = ["What is the default value of work_mem?", "What about maintenance_work_mem?"]


def default_index() -> Path:
    import platformdirs

    root = os.environ.get("H2MT_CACHE_DIR") or platformdirs.user_cache_dir("h2mt")
    return Path(root) / "indexes" / f"{MANUAL}.h2mt"


def load_retriever(args: argparse.Namespace) -> H2MTRetriever:
    index = Path(args.index or default_index())
    if not index.exists():
        if not Path(args.source).exists():
            sys.exit(f"{args.source} not found: apt-get install postgresql-doc-15 (or pass --source)")
        print(f"indexing {args.source} into {index} (once; several minutes)...", flush=True)
        index.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        H2MT.build([args.source], progress=True).save(index)
        print(f"built in {time.perf_counter() - t:.0f}s")
    return H2MTRetriever(index_path=str(index), budget=args.budget, beam_width=args.beam)


def search_query(x: dict[str, Any]) -> str:
    """Follow-ups ("and its default?") are searched together with the previous question."""
    previous = [m.text for m in x.get("chat_history", []) if isinstance(m, HumanMessage)]
    return f"{previous[-1]} {x['question']}" if previous else x["question"]


def build_chain(retriever: H2MTRetriever, args: argparse.Namespace) -> Runnable:
    llm = ChatH2MT(model=args.model, max_tokens=args.max_tokens, stop=["\n\n"])  # one paragraph
    _ = llm.backend  # load now (the embedded GGUF is converted once and cached)
    answerer = H2MTRunnable(
        llm=llm, budget=args.answer_budget, system_prompt=SYSTEM, encoder=retriever.engine.encoder
    )
    return RunnablePassthrough.assign(context=RunnableLambda(search_query) | retriever) | answerer


def ask(chain: Runnable, question: str, history: list[BaseMessage], manual_tokens: int) -> str:
    print(f"\nQ: {question}\nA: ", end="", flush=True)
    out: Any = None
    for chunk in chain.stream({"question": question, "chat_history": history}):
        print(chunk.get("answer", ""), end="", flush=True)
        out = chunk if out is None else out + chunk  # AddableDict: answer pieces concatenate
    sections: dict[str, float] = {}
    for d in out["sources"]:
        name = " > ".join(d.metadata["path"][1:][-3:])
        sections[name] = max(sections.get(name, -1e9), d.metadata["score"])
    print("\nSections read:")
    for i, (name, score) in enumerate(sorted(sections.items(), key=lambda kv: -kv[1])[:6], 1):
        print(f"  [{i}] {name}  (score {score:.2f})")
    s = out["stats"]
    print(
        f"Savings: prefilled {s['tokens_kept']:,} of {manual_tokens:,} manual tokens "
        f"({100 * s['tokens_kept'] / manual_tokens:.2f}%); route {s['route_ms']:.0f} ms, "
        f"prefill {s['prefill_ms']:.0f} ms, first token after {s['ttft_ms']:.0f} ms"
    )
    return str(out["answer"])


def evaluate(retriever: H2MTRetriever, qa: str) -> None:
    qs = [q for q in map(json.loads, open(qa, encoding="utf-8")) if q["manual"] == MANUAL]
    hits = 0
    for q in qs:
        docs = retriever.invoke(q["question"])
        ok = evidence_kept(q["evidence"], "\n\n".join(d.page_content for d in docs))
        hits += ok
        tokens = sum(d.metadata["tokens"] for d in docs)
        print(f"  {'OK  ' if ok else 'MISS'} {q['id']} ({tokens} tokens kept): {q['question'][:70]}")
    print(f"evidence kept for {hits}/{len(qs)} questions at a {retriever.budget}-token budget")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--ask", nargs="+", help="questions to ask in turn (follow-ups see the history)")
    mode.add_argument("--chat", action="store_true", help="interactive session")
    mode.add_argument("--eval", action="store_true", help="evidence recall of the retriever on the QA set")
    ap.add_argument("--index", help="index file (built when missing; default: the user cache)")
    ap.add_argument("--source", default=SOURCE, help="the PostgreSQL HTML docs folder")
    ap.add_argument("--qa", default=str(QA), help="manual QA JSONL (for --eval)")
    ap.add_argument("--budget", type=int, default=2048, help="token budget of the retriever")
    ap.add_argument("--answer-budget", type=int, default=1024, help="tokens of it the model prefills")
    ap.add_argument("--model", help="HF folder or GGUF file of the generator (default: embedded SmolLM2)")
    ap.add_argument("--beam", type=int, default=None, help="routing beam width (default: the retriever's)")
    ap.add_argument("--max-tokens", type=int, default=96, help="answer length limit")
    ap.add_argument("--history", type=int, default=2, help="turns of conversation kept for follow-ups")
    args = ap.parse_args()
    retriever = load_retriever(args)
    if args.eval:
        return evaluate(retriever, args.qa)
    chain = build_chain(retriever, args)
    manual_tokens = retriever.engine.index.tokens_total
    history: list[BaseMessage] = []
    questions = iter(args.ask or DEMO) if not args.chat else iter(lambda: input("\nyou> ").strip(), "")
    try:
        for question in questions:
            answer = ask(chain, question, history, manual_tokens)
            history = [*history, HumanMessage(question), AIMessage(answer)][-2 * args.history :]
    except (EOFError, KeyboardInterrupt):
        print()


if __name__ == "__main__":
    main()
