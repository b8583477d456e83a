"""LangChain integration: chat model, LLM, runnable (LCEL, streaming, batch, async, callbacks),
retriever and document compressor. Offline: tiny random Llama, hashing encoder."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

pytest.importorskip("langchain_core")

from h2mt import InputError  # noqa: E402
from h2mt.backends import load_backend  # noqa: E402
from h2mt.config import BackendConfig  # noqa: E402
from h2mt.index.chunking import SimpleTokenCounter  # noqa: E402
from h2mt.index.encoders.base import HashingEncoder  # noqa: E402
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler  # noqa: E402
from langchain_core.documents import Document  # noqa: E402
from langchain_core.language_models.fake_chat_models import FakeListChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage  # noqa: E402
from langchain_core.runnables import RunnablePassthrough  # noqa: E402

from h2mt_integrations.langchain import (  # noqa: E402
    H2MTLLM,
    ChatH2MT,
    H2MTDocumentCompressor,
    H2MTRetriever,
    H2MTRunnable,
)
from tests._tiny import make_tiny_model_dir  # noqa: E402
from tests.integrations.test_langchain_standard import build_tiny_index  # noqa: E402

Q = "What is the default value of work_mem?"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = make_tiny_model_dir(tmp_path_factory.mktemp("lc-tiny-llama"))
    return load_backend(BackendConfig(model=str(path), device="cpu"))


@pytest.fixture(scope="module")
def chat(backend: Any) -> ChatH2MT:
    return ChatH2MT(backend=backend, max_tokens=6)


@pytest.fixture(scope="module")
def index_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_index(tmp_path_factory.mktemp("lc-index"))


@pytest.fixture(scope="module")
def retriever(index_path: Path) -> H2MTRetriever:
    return H2MTRetriever(index_path=str(index_path), budget=48)


@pytest.fixture(scope="module")
def runnable(chat: ChatH2MT) -> H2MTRunnable:
    return H2MTRunnable(llm=chat, budget=48, encoder=HashingEncoder(256))


@pytest.fixture()
def docs() -> list[Document]:
    texts = [
        ("Connections", "max_connections sets the maximum number of concurrent connections."),
        ("Connections", "superuser_reserved_connections reserves slots for superusers."),
        ("Resource Consumption", "work_mem: the default value is four megabytes."),
        ("Resource Consumption", "shared_buffers sets the memory for shared buffers."),
        ("Checkpoints", "checkpoint_timeout: the default is five minutes."),
    ]
    return [
        Document(page_content=t, metadata={"Header 1": "Config", "Header 2": h, "source": "pg.md"}, id=f"d{i}")
        for i, (h, t) in enumerate(texts)
    ]


class Recorder(BaseCallbackHandler):
    """Records run starts (with parents), tokens and tags/metadata of nested chat model runs."""

    def __init__(self) -> None:
        self.chains: list[UUID] = []
        self.chat_runs: list[dict[str, Any]] = []
        self.tokens: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self.chains.append(run_id)

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any) -> None:
        self.chat_runs.append({"run_id": run_id, "messages": messages[0], **kw})

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.tokens.append(token)


class AsyncRecorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.parents: list[UUID | None] = []

    async def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.parents.append(kw.get("parent_run_id"))

    async def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.tokens.append(token)


# ---- ChatH2MT ------------------------------------------------------------------------------------
def test_chat_invoke_usage_and_response_metadata(chat: ChatH2MT) -> None:
    msg = chat.invoke("hello there")
    assert isinstance(msg, AIMessage) and isinstance(msg.content, str)
    u = msg.usage_metadata
    assert u is not None and u["input_tokens"] > 0 and 1 <= u["output_tokens"] <= 6
    assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"]
    meta = msg.response_metadata
    assert meta["model_name"] == chat.backend.name and meta["finish_reason"] in ("stop", "length")
    assert {"prefill_ms", "ttft_ms", "total_ms", "peak_mem_bytes", "prompt_tokens"} <= set(meta["accounting"])


def test_chat_stream_equals_invoke_and_emits_tokens(chat: ChatH2MT) -> None:
    full = chat.invoke("hello there").content
    rec = Recorder()
    chunks = list(chat.stream("hello there", config={"callbacks": [rec]}))
    assert "".join(c.text for c in chunks) == full
    assert "".join(rec.tokens) == full
    assert chunks[-1].chunk_position == "last" and chunks[-1].usage_metadata is not None
    assert chunks[-1].response_metadata["model_name"] == chat.backend.name


def test_chat_generate_streams_tokens_through_run_manager(chat: ChatH2MT) -> None:
    rec = Recorder()
    msg = chat.invoke("hello there", config={"callbacks": [rec]})
    assert rec.tokens and "".join(rec.tokens) == msg.content


def test_chat_async(chat: ChatH2MT) -> None:
    full = chat.invoke("hello there").content

    async def run() -> tuple[str, str, list[str]]:
        rec = AsyncRecorder()
        a = (await chat.ainvoke("hello there", config={"callbacks": [rec]})).text
        s = "".join([c.text async for c in chat.astream("hello there")])
        return a, s, rec.tokens

    a, s, tokens = asyncio.run(run())
    assert a == full and s == full and "".join(tokens) == full


def test_chat_standard_params(chat: ChatH2MT) -> None:
    full = chat.invoke("hello there", max_tokens=12)
    assert full.usage_metadata["output_tokens"] <= 12
    short = chat.invoke("hello there", max_tokens=2)
    assert short.usage_metadata["output_tokens"] <= 2
    text = full.text
    if len(text) >= 4:
        stop = text[2:4]
        cut = chat.invoke("hello there", max_tokens=12, stop=[stop]).text
        assert stop not in cut and text.startswith(cut)
    a = chat.invoke("hello there", temperature=1.0, seed=3).text
    assert a == chat.invoke("hello there", temperature=1.0, seed=3).text
    with pytest.raises(TimeoutError):
        chat.invoke("hello there", max_tokens=12, timeout=1e-9)
    bound = ChatH2MT(backend=chat.backend, max_tokens=3, stop=["zz"], temperature=0.5, timeout=30)
    assert bound._get_ls_params() == {
        "ls_provider": "h2mt", "ls_model_type": "chat", "ls_model_name": chat.backend.name,
        "ls_temperature": 0.5, "ls_max_tokens": 3, "ls_stop": ["zz"],
    }


def test_chat_rejects_what_it_cannot_do(chat: ChatH2MT) -> None:
    with pytest.raises(ValueError, match="text only"):
        chat.invoke([HumanMessage(content=[{"type": "image", "url": "http://x/y.png"}])])
    with pytest.raises(ValueError, match="tool"):
        chat.invoke([ToolMessage(content="3", tool_call_id="t1")])
    with pytest.raises(ValueError, match="serves"):
        chat.invoke("hi", model="another-model")


def test_llm_subclass(backend: Any) -> None:
    llm = H2MTLLM(backend=backend, max_tokens=5)
    text = llm.invoke("hello there")
    assert isinstance(text, str)
    assert "".join(llm.stream("hello there")) == text
    assert asyncio.run(llm.ainvoke("hello there")) == text
    res = llm.generate(["hello there"])
    assert res.generations[0][0].text == text


# ---- H2MTRunnable --------------------------------------------------------------------------------
def _check_output(out: dict[str, Any], docs: list[Document], budget: int) -> None:
    assert set(out) == {"answer", "sources", "stats"} and isinstance(out["answer"], str)
    ids = [d.id for d in docs]
    kept = [d.id for d in out["sources"]]
    assert kept and set(kept) <= set(ids) and kept == sorted(kept, key=ids.index)  # document order
    for d in out["sources"]:
        assert d.metadata["path"] and isinstance(d.metadata["score"], float)
    st = out["stats"]
    assert 0 < st["tokens_kept"] <= budget and st["tokens_total"] >= st["tokens_kept"]
    assert st["prompt_tokens"] > 0 and st["completion_tokens"] >= 1 and st["ttft_ms"] >= st["route_ms"]
    assert 0 < st["kept_ratio"] <= 1 and st["nodes_total"] > 0


def test_runnable_invoke_both_input_conventions(runnable: H2MTRunnable, docs: list[Document]) -> None:
    out = runnable.invoke({"question": Q, "documents": docs})
    _check_output(out, docs, runnable.budget)
    assert out["sources"][0].metadata["path"][:1] == ["Config"]
    assert "d2" in [d.id for d in out["sources"]]  # the work_mem document
    alt = runnable.invoke({"input": Q, "context": docs})
    assert alt["answer"] == out["answer"] and [d.id for d in alt["sources"]] == [d.id for d in out["sources"]]


def test_lcel_chain_retriever_then_h2mt(retriever: H2MTRetriever, runnable: H2MTRunnable) -> None:
    chain = {"context": retriever, "question": RunnablePassthrough()} | runnable
    out = chain.invoke(Q)
    retrieved = retriever.invoke(Q)
    _check_output(out, retrieved, runnable.budget)
    assert any("work_mem" in d.page_content for d in out["sources"])
    assert all(d.metadata["path"][0] == "manual" for d in out["sources"])  # the index's breadcrumbs survive
    streamed = list(chain.stream(Q))  # the parallel step streams its input chunks into the runnable
    assert "".join(c.get("answer", "") for c in streamed) == out["answer"] and "stats" in streamed[-1]


def test_create_retrieval_chain(retriever: H2MTRetriever, runnable: H2MTRunnable) -> None:
    chains = pytest.importorskip("langchain_classic.chains")
    out = chains.create_retrieval_chain(retriever, runnable).invoke({"input": Q})
    assert out["context"] == retriever.invoke(Q)
    _check_output(out["answer"], out["context"], runnable.budget)


def test_runnable_stream_and_transform(runnable: H2MTRunnable, docs: list[Document]) -> None:
    inp = {"question": Q, "documents": docs}
    expected = runnable.invoke(inp)
    chunks = list(runnable.stream(inp))
    assert set(chunks[0]) == {"sources", "answer"} and set(chunks[-1]) == {"stats"}
    assert all(set(c) == {"answer"} for c in chunks[1:-1]) and len(chunks) > 2
    assert "".join(c.get("answer", "") for c in chunks) == expected["answer"]
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert total["answer"] == expected["answer"] and total["sources"] == expected["sources"]


def test_runnable_batch_and_async(runnable: H2MTRunnable, docs: list[Document]) -> None:
    inputs = [{"question": Q, "documents": docs}, {"question": "When is a checkpoint made?", "documents": docs}]
    expected = [runnable.invoke(x) for x in inputs]
    batch = runnable.batch(inputs)
    assert [b["answer"] for b in batch] == [e["answer"] for e in expected]
    assert [b["sources"] for b in batch] == [e["sources"] for e in expected]

    async def run() -> tuple[Any, Any, Any]:
        a = await runnable.ainvoke(inputs[0])
        s = [c async for c in runnable.astream(inputs[0])]
        ab = await runnable.abatch(inputs)
        return a, s, ab

    a, s, ab = asyncio.run(run())
    assert a["answer"] == expected[0]["answer"] and a["sources"] == expected[0]["sources"]
    assert "".join(c.get("answer", "") for c in s) == expected[0]["answer"] and "stats" in s[-1]
    assert [x["answer"] for x in ab] == [e["answer"] for e in expected]


def test_runnable_callbacks_reach_nested_model_run(runnable: H2MTRunnable, docs: list[Document]) -> None:
    for mode in ("invoke", "stream"):
        rec = Recorder()
        cfg: Any = {"callbacks": [rec], "tags": ["manual-qa"], "metadata": {"user": "u1"}}
        inp = {"question": Q, "documents": docs}
        out = runnable.invoke(inp, cfg) if mode == "invoke" else list(runnable.stream(inp, cfg))
        assert len(rec.chains) == 1 and len(rec.chat_runs) == 1
        run = rec.chat_runs[0]
        assert run["parent_run_id"] == rec.chains[0]
        assert "manual-qa" in run["tags"] and run["metadata"]["user"] == "u1"
        assert "work_mem" in run["messages"][-1].content  # the pruned context reached the model
        answer = out["answer"] if mode == "invoke" else "".join(c.get("answer", "") for c in out)
        assert "".join(rec.tokens) == answer

    async def arun() -> AsyncRecorder:
        rec = AsyncRecorder()
        [c async for c in runnable.astream({"question": Q, "documents": docs}, {"callbacks": [rec]})]
        return rec

    rec = asyncio.run(arun())
    assert rec.parents and rec.parents[0] is not None and rec.tokens


def test_runnable_schemas(runnable: H2MTRunnable) -> None:
    ins = runnable.input_schema.model_json_schema()["properties"]
    assert {"question", "input", "documents", "context", "chat_history"} <= set(ins)
    outs = runnable.output_schema.model_json_schema()["properties"]
    assert set(outs) == {"answer", "sources", "stats"}
    assert runnable.get_input_schema() is runnable.input_schema


def test_runnable_history_other_models_and_errors(runnable: H2MTRunnable, docs: list[Document]) -> None:
    rec = Recorder()
    history = [HumanMessage("What is max_connections?"), AIMessage("The connection limit.")]
    runnable.invoke({"question": "And its default?", "documents": docs, "chat_history": history}, {"callbacks": [rec]})
    sent = rec.chat_runs[0]["messages"]
    assert [m.type for m in sent] == ["system", "human", "ai", "human"] and sent[1].content == history[0].content
    fake = H2MTRunnable(llm=FakeListChatModel(responses=["four megabytes"]), budget=20,
                        encoder=HashingEncoder(256), token_counter=SimpleTokenCounter())
    out = fake.invoke({"question": Q, "documents": docs})
    assert out["answer"] == "four megabytes" and out["stats"]["tokens_kept"] <= 20
    empty = runnable.invoke({"question": Q, "documents": []})
    assert empty["sources"] == [] and empty["stats"]["tokens_kept"] == 0
    with pytest.raises(InputError):
        runnable.invoke({"documents": docs})


# ---- retriever and compressor ----------------------------------------------------------------------
def test_retriever_documents(retriever: H2MTRetriever, index_path: Path) -> None:
    got = retriever.invoke(Q)
    assert got and sum(d.metadata["tokens"] for d in got) <= retriever.budget
    starts = [(d.metadata["start"]) for d in got]
    assert starts == sorted(starts)  # document order
    for d in got:
        m = d.metadata
        assert d.id == m["id"] and m["path"][0] == "manual" and m["source"].endswith("manual.md")
        assert m["end"] > m["start"] and isinstance(m["score"], float)
    assert any("four megabytes" in d.page_content for d in got)
    best = max(got, key=lambda d: d.metadata["score"])
    assert retriever.invoke(Q, k=1) == [best]
    assert len(retriever.invoke(Q, budget=10_000)) > len(got)
    assert asyncio.run(retriever.ainvoke(Q)) == got
    with pytest.raises(ValueError, match="index_path"):
        H2MTRetriever()


def test_compressor(docs: list[Document]) -> None:
    comp = H2MTDocumentCompressor(budget=24, encoder=HashingEncoder(256), token_counter=SimpleTokenCounter())
    kept = comp.compress_documents(docs, Q)
    assert kept and sum(SimpleTokenCounter()([d.page_content for d in kept])) <= 24
    assert "d2" in [d.id for d in kept]
    assert kept[0].metadata["path"][:2] == ["Config", kept[0].metadata["Header 2"]]
    assert kept[0].metadata["source"] == "pg.md"
    top = H2MTDocumentCompressor(budget=1000, k=2, encoder=HashingEncoder(256), token_counter=SimpleTokenCounter())
    two = top.compress_documents(docs, Q)
    assert len(two) == 2 and [d.id for d in two] == sorted(d.id for d in two)
    assert asyncio.run(top.acompress_documents(docs, Q)) == two


def test_contextual_compression_retriever(retriever: H2MTRetriever) -> None:
    ccr = pytest.importorskip("langchain_classic.retrievers")
    comp = H2MTDocumentCompressor(budget=20, encoder=HashingEncoder(256), token_counter=SimpleTokenCounter())
    r = ccr.ContextualCompressionRetriever(base_compressor=comp, base_retriever=retriever)
    got = r.invoke(Q)
    assert got and len(got) < len(retriever.invoke(Q))
    assert sum(d.metadata["tokens"] for d in got) <= 20 and any("work_mem" in d.page_content for d in got)
    assert asyncio.run(r.ainvoke(Q)) == got


def test_import_h2mt_does_not_import_langchain() -> None:
    code = (
        "import sys, h2mt; h2mt.H2MT; import h2mt.engine, h2mt_integrations;"
        "bad = [m for m in sys.modules if m.startswith('langchain')]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the acceptance figure on the real PostgreSQL docs (needs a built index: minutes to build) ----------
PG_QA = Path(__file__).resolve().parents[2].parent / "shared/data/manuals/manual_qa_dev.jsonl"


@pytest.mark.data
@pytest.mark.integration
@pytest.mark.skipif(not PG_QA.exists(), reason="../shared/data/manuals/manual_qa_dev.jsonl not present")
def test_pg_docs_retriever_keeps_evidence() -> None:
    """Set H2MT_PG_INDEX to an index of /usr/share/doc/postgresql-doc-15/html (h2mt build ... -o FILE)."""
    import json
    import os

    from h2mt.eval import evidence_kept

    index = os.environ.get("H2MT_PG_INDEX")
    if not index or not Path(index).exists():
        pytest.skip("H2MT_PG_INDEX does not name a built PostgreSQL docs index")
    retriever = H2MTRetriever(index_path=index, budget=2048)
    qs = [q for q in map(json.loads, PG_QA.open()) if q["manual"] == "postgresql-15-docs"]
    hits = [evidence_kept(q["evidence"], "\n\n".join(d.page_content for d in retriever.invoke(q["question"])))
            for q in qs]
    assert len(qs) == 8 and sum(hits) >= 7


# ---- token counting with the generator's tokenizer (never LangChain's GPT-2 download) ---------------
@pytest.fixture()
def no_gpt2(monkeypatch: pytest.MonkeyPatch) -> None:
    import langchain_core.language_models.base as lc_base

    def fail() -> Any:
        raise AssertionError("LangChain's GPT-2 tokenizer (a download) was used")

    monkeypatch.setattr(lc_base, "get_tokenizer", fail)


def test_token_counting_uses_the_generator_tokenizer(chat: ChatH2MT, backend: Any, no_gpt2: None) -> None:
    text = "PIPESTATUS holds the exit statuses of the last pipeline."
    assert chat.get_num_tokens(text) == backend.count_tokens([text])[0] > 0
    assert chat.get_token_ids(text) == backend.tokenizer.encode(text, add_special_tokens=False)
    msgs = [SystemMessage("Be brief."), HumanMessage("hello there"), AIMessage("hi")]
    expected = len(backend.chat_ids([{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "hello there"},
                                     {"role": "assistant", "content": "hi"}]))
    assert chat.get_num_tokens_from_messages(msgs) == expected
    llm = H2MTLLM(backend=backend)
    assert llm.get_num_tokens(text) == chat.get_num_tokens(text)
    assert llm.get_token_ids(text) == chat.get_token_ids(text)


def test_token_counting_without_loading_the_weights(tmp_path_factory: pytest.TempPathFactory,
                                                    no_gpt2: None) -> None:
    path = make_tiny_model_dir(tmp_path_factory.mktemp("lc-tok-only"))
    chat = ChatH2MT(model=str(path), device="cpu")
    assert chat.get_num_tokens("hello there") > 0
    assert chat._backend is None  # only the tokenizer was loaded


def test_trim_messages_with_the_chat_model_as_counter(chat: ChatH2MT, no_gpt2: None) -> None:
    from langchain_core.messages import trim_messages

    history = [SystemMessage("Be brief.")]
    for i in range(6):
        history += [HumanMessage(f"question number {i} about the shell"), AIMessage(f"answer number {i}")]
    total = chat.get_num_tokens_from_messages(history)
    trimmed = trim_messages(history, max_tokens=total // 2, token_counter=chat, strategy="last",
                            include_system=True, start_on="human")
    assert 1 < len(trimmed) < len(history) and trimmed[0].type == "system"
    assert chat.get_num_tokens_from_messages(trimmed) <= total // 2


def test_bind_tools_says_why_and_what_instead(chat: ChatH2MT) -> None:
    with pytest.raises(NotImplementedError, match="tool-calling template.*create_retriever_tool"):
        chat.bind_tools([])


# ---- retriever breadcrumbs, embeddings, concurrent batch --------------------------------------------
def test_retriever_page_content_starts_with_the_breadcrumb(index_path: Path) -> None:
    from h2mt.query.prompt import breadcrumb

    got = H2MTRetriever(index_path=str(index_path), budget=48).invoke(Q)
    assert got
    for d in got:
        first, _, rest = d.page_content.partition("\n")
        assert first == breadcrumb(d.metadata["path"]) and rest.strip()
    plain = H2MTRetriever(index_path=str(index_path), budget=48, breadcrumbs=False).invoke(Q)
    assert [d.page_content for d in plain] == [d.page_content.partition("\n")[2] for d in got]


def test_breadcrumbed_retriever_documents_get_one_heading_in_the_prompt(index_path: Path,
                                                                        runnable: H2MTRunnable) -> None:
    from h2mt_integrations.langchain._convert import format_documents

    docs = H2MTRetriever(index_path=str(index_path), budget=48).invoke(Q)
    lines = format_documents(docs).split("\n")
    for d in docs:
        crumb = d.page_content.partition("\n")[0]
        assert crumb.startswith("## ")
        assert lines.count(crumb) == sum(1 for x in docs if x.page_content.startswith(crumb + "\n"))


def test_embeddings(no_gpt2: None) -> None:
    from langchain_core.embeddings import Embeddings

    from h2mt_integrations.langchain import H2MTEmbeddings

    emb = H2MTEmbeddings(encoder=HashingEncoder(256))
    assert isinstance(emb, Embeddings)
    docs = emb.embed_documents(["work_mem sets memory", "checkpoints happen"])
    assert len(docs) == 2 and len(docs[0]) == 256 and all(isinstance(x, float) for x in docs[0])
    q = emb.embed_query("work_mem sets memory")
    assert q == pytest.approx(docs[0])
    assert asyncio.run(emb.aembed_documents(["checkpoints happen"]))[0] == pytest.approx(docs[1])
    assert asyncio.run(emb.aembed_query("work_mem sets memory")) == pytest.approx(q)
    assert emb.embed_documents([]) == []
    named = H2MTEmbeddings(encoder="hashing")  # a named encoder loads on first use
    assert named._encoder is None and len(named.embed_query("x")) > 0


def _spans(backend: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    import time

    spans: list[tuple[float, float]] = []
    real = backend.stream

    def stream(ids: Any, cfg: Any, stats: Any) -> Any:
        pieces = real(ids, cfg, stats)

        def gen() -> Any:
            t0 = time.perf_counter()
            yield from pieces
            spans.append((t0, time.perf_counter()))

        return gen()

    monkeypatch.setattr(backend, "stream", stream)
    return spans


def _overlapping(spans: list[tuple[float, float]], n: int) -> bool:
    s = sorted(spans)
    return len(s) == n and all(a[1] > b[0] for a, b in zip(s, s[1:], strict=False))


@pytest.mark.parametrize("kind", ["chat", "llm", "runnable"])
def test_batch_runs_inputs_concurrently(kind: str, backend: Any, docs: list[Document],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    spans = _spans(backend, monkeypatch)
    chat = ChatH2MT(backend=backend, max_tokens=24, stop=["\x00"])
    if kind == "chat":
        model: Any = chat
        inputs: list[Any] = ["hello there", "one two three", "the capital of France"]
    elif kind == "llm":
        model = H2MTLLM(backend=backend, max_tokens=24, stop=["\x00"])
        inputs = ["hello there", "one two three", "the capital of France"]
    else:
        model = H2MTRunnable(llm=chat, budget=48, encoder=HashingEncoder(256))
        inputs = [{"question": q, "documents": docs} for q in (Q, "When is a checkpoint made?", "connections?")]
    out = model.batch(inputs)
    assert len(out) == 3 and _overlapping(spans, 3), spans
    spans.clear()
    assert len(asyncio.run(model.abatch(inputs))) == 3 and _overlapping(spans, 3), spans


# ---- one prompt step, one async stream, structured output ------------------------------------------
def test_runnable_builds_its_prompt_with_the_engines_prompt_step(runnable: H2MTRunnable, docs: list[Document],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from h2mt import H2MT

    calls: list[Any] = []
    real = H2MT.prompt

    def spy(self: H2MT, question: str, kept: Any, config: Any = None) -> Any:
        p = real(self, question, kept, config)
        calls.append((question, [k.node.ref for k in kept], p))
        return p

    monkeypatch.setattr(H2MT, "prompt", spy)
    rec = Recorder()
    history = [HumanMessage("What is max_connections?"), AIMessage("The connection limit.")]
    out = runnable.invoke({"question": Q, "documents": docs, "chat_history": history}, {"callbacks": [rec]})
    assert len(calls) == 1
    question, refs, prompt = calls[0]
    assert question == Q and [docs[int(r)].id for r in refs] == [d.id for d in out["sources"]]
    sent = rec.chat_runs[0]["messages"]  # the engine's messages, the history before the question
    assert [m.content for m in sent] == [prompt.messages[0]["content"], *[m.content for m in history],
                                         prompt.messages[1]["content"]]
    # a foreign chat model: the same prompt step, and no h2mt generator is loaded for it
    import h2mt.backends as hb

    monkeypatch.setattr(hb, "load_backend", lambda *a, **k: pytest.fail("no generator may load"))
    fake = FakeListChatModel(responses=["four megabytes"])
    frec = Recorder()
    other = H2MTRunnable(llm=fake, budget=20, encoder=HashingEncoder(256), token_counter=SimpleTokenCounter())
    assert other.invoke({"question": Q, "documents": docs}, {"callbacks": [frec]})["answer"] == "four megabytes"
    assert len(calls) == 2 and calls[1][2].ids == []
    assert [m.content for m in frec.chat_runs[0]["messages"]] == [m["content"] for m in calls[1][2].messages]


def test_runnable_modes_and_tasks_come_from_h2mt(backend: Any, docs: list[Document]) -> None:
    from h2mt.config import TASK_SYSTEM_PROMPTS, AnswerTask, PrefillMode

    fields = H2MTRunnable.model_fields
    assert fields["prefill"].annotation is PrefillMode and fields["task"].annotation is AnswerTask
    for mode in PrefillMode:  # every mode h2mt has is a valid setting, by its value
        assert H2MTRunnable(llm=FakeListChatModel(responses=["x"]), prefill=mode.value).prefill is mode
    for task in AnswerTask:
        rec = Recorder()
        r = H2MTRunnable(llm=ChatH2MT(backend=backend, max_tokens=2), task=task.value, budget=48,
                         encoder=HashingEncoder(256))
        r.invoke({"question": Q, "documents": docs}, {"callbacks": [rec]})
        assert rec.chat_runs[0]["messages"][0].content == TASK_SYSTEM_PROMPTS[task]
    with pytest.raises(ValueError):
        H2MTRunnable(prefill="bogus")


def test_chat_model_and_llm_share_one_async_stream() -> None:
    from h2mt_integrations.langchain import _local

    for cls in (ChatH2MT, H2MTLLM):
        names = cls._astream.__code__.co_names
        assert "astream_blocking" in names and "aiter_blocking" not in names, cls
        module = sys.modules[cls.__module__]
        assert module.astream_blocking is _local.astream_blocking


def test_async_stream_reports_each_token_to_async_callbacks(backend: Any) -> None:
    for model in (ChatH2MT(backend=backend, max_tokens=5), H2MTLLM(backend=backend, max_tokens=5)):
        rec = AsyncRecorder()

        async def run(m: Any = model, r: AsyncRecorder = rec) -> list[str]:
            return [c if isinstance(c, str) else c.text async for c in m.astream("hello there", {"callbacks": [r]})]

        pieces = [p for p in asyncio.run(run()) if p]
        assert pieces and [t for t in rec.tokens if t] == pieces


def _json_backend(backend: Any, monkeypatch: pytest.MonkeyPatch, reply: str) -> list[Any]:
    """The backend streams ``reply``; returns the list of prompt ids it was given."""
    seen: list[Any] = []

    def stream(ids: Any, cfg: Any, stats: Any) -> Any:
        seen.append(list(ids))
        stats.prompt_tokens, stats.completion_tokens = len(ids), 3
        yield from (reply[:5], reply[5:])

    monkeypatch.setattr(backend, "stream", stream)
    return seen


def test_with_structured_output_json_schema(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.exceptions import OutputParserException
    from pydantic import BaseModel

    class Setting(BaseModel):
        name: str
        default: str

    chat = ChatH2MT(backend=backend, max_tokens=32)
    _json_backend(backend, monkeypatch, '```json\n{"name": "work_mem", "default": "4MB"}\n```')
    rec = Recorder()
    out = chat.with_structured_output(Setting).invoke("What is work_mem's default?", {"callbacks": [rec]})
    assert out == Setting(name="work_mem", default="4MB")
    system = rec.chat_runs[0]["messages"][0]
    assert system.type == "system" and '"default"' in system.content and "JSON" in system.content
    raw = chat.with_structured_output(Setting, include_raw=True).invoke([SystemMessage("Be brief."), HumanMessage("q")])
    assert raw["parsed"] == out and raw["parsing_error"] is None and isinstance(raw["raw"], AIMessage)
    as_dict = chat.with_structured_output(Setting.model_json_schema()).invoke("q")
    assert as_dict == {"name": "work_mem", "default": "4MB"}
    assert chat.with_structured_output(method="json_mode").invoke("q") == as_dict
    _json_backend(backend, monkeypatch, '{"name": "work_mem"}')  # "default" missing: does not validate
    with pytest.raises(OutputParserException):
        chat.with_structured_output(Setting).invoke("q")
    bad = chat.with_structured_output(Setting, include_raw=True).invoke("q")
    assert bad["parsed"] is None and isinstance(bad["parsing_error"], OutputParserException)
    _json_backend(backend, monkeypatch, '{"name": "work_mem", "default": "4MB"}')
    assert chat.with_structured_output(Setting, method="function_calling").invoke("q") == out  # no tools: JSON
    with pytest.raises(ValueError, match="needs a schema"):
        chat.with_structured_output()
