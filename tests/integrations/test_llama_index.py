"""LlamaIndex integration: real llama-index-core objects, tiny offline models, no network."""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import urllib.request

import pytest

pytest.importorskip("llama_index.core")

import llama_index.core as li  # noqa: E402
from h2mt import BackendConfig, ChunkConfig, H2MTConfig, NodeKind  # noqa: E402
from h2mt.backends import load_backend  # noqa: E402
from h2mt.errors import InputError  # noqa: E402
from h2mt.index.chunking import SimpleTokenCounter  # noqa: E402
from h2mt.index.encoders.base import HashingEncoder  # noqa: E402
from llama_index.core import Document, Settings, VectorStoreIndex  # noqa: E402
from llama_index.core.base.response.schema import AsyncStreamingResponse, Response, StreamingResponse  # noqa: E402
from llama_index.core.instrumentation import get_dispatcher  # noqa: E402
from llama_index.core.instrumentation.event_handlers import BaseEventHandler  # noqa: E402
from llama_index.core.llms import ChatMessage, MockLLM  # noqa: E402
from llama_index.core.node_parser import (  # noqa: E402
    HierarchicalNodeParser,
    MarkdownNodeParser,
    SentenceSplitter,
    get_leaf_nodes,
)
from llama_index.core.prompts import PromptTemplate  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.response_synthesizers import CompactAndRefine  # noqa: E402
from llama_index.core.schema import NodeRelationship, NodeWithScore  # noqa: E402
from llama_index.core.storage.docstore import SimpleDocumentStore  # noqa: E402

from h2mt_integrations.llama_index import (  # noqa: E402
    H2MTLLM,
    H2MTEmbedding,
    H2MTNodePostprocessor,
    H2MTQueryEngine,
    RoutingEndEvent,
    RoutingStartEvent,
    install_tokenizer,
)
from tests._tiny import TINY_CONTEXT, make_tiny_model_dir  # noqa: E402

MD = """# Shell Guide

This guide covers the shell in short sections.

## Redirections

Redirect output to a file with the greater-than sign and append with two of them. Here strings feed input.

## Signals

The trap builtin handles signals. A command killed by fatal signal N exits with status 128+N.

### Kill

The kill builtin sends a signal to a process or a job.

## Variables

PIPESTATUS is an array variable holding the exit statuses of the last foreground pipeline.
"""

PROSE = " ".join(
    f"Paragraph {i} explains {w} in the {t} chapter with examples."
    for i, (w, t) in enumerate(
        (random.Random(3).choice(["quoting", "globbing", "aliases", "arrays", "traps"]), t)
        for t in ["first", "second", "third", "fourth"] * 12
    )
)


class Recorder(BaseEventHandler):
    """Collects every dispatched event."""

    events: list = []

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event, **kwargs) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    path = make_tiny_model_dir(tmp_path_factory.mktemp("tiny_li"))
    return load_backend(BackendConfig(model=str(path), device="cpu"))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any network access or tiktoken BPE load fails the test."""
    attempts: list[str] = []

    def deny(what):
        def fail(*args, **kwargs):
            attempts.append(what)
            raise OSError(f"network access attempted in an offline test: {what}")

        return fail

    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            return deny("socket.connect")(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", deny("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", deny("socket.getaddrinfo"))
    monkeypatch.setattr(urllib.request, "urlopen", deny("urllib.request.urlopen"))
    import tiktoken

    monkeypatch.setattr(tiktoken, "get_encoding", deny("tiktoken.get_encoding"))
    monkeypatch.setattr(tiktoken, "encoding_for_model", deny("tiktoken.encoding_for_model"))
    monkeypatch.setattr(li, "global_tokenizer", None)  # every test starts without a LlamaIndex tokenizer
    yield
    assert not attempts, f"offline test tried to reach the network: {attempts}"


@pytest.fixture
def recorder():
    root = get_dispatcher()
    rec = Recorder()
    rec.events = []
    root.add_event_handler(rec)
    yield rec
    root.event_handlers.remove(rec)


def md_nodes():
    doc = Document(text=MD, id_="guide", metadata={"file_name": "guide.md"})
    return MarkdownNodeParser().get_nodes_from_documents([doc])


def pp(**kw) -> H2MTNodePostprocessor:
    kw.setdefault("encoder", HashingEncoder(256))
    kw.setdefault("token_counter", SimpleTokenCounter())
    return H2MTNodePostprocessor(**kw)


def titles(eng, leaf_ref: str) -> list[str]:
    leaf = next(n for n in eng.index.nodes if n.ref == leaf_ref)
    return [a.title for a in eng.index.ancestors(leaf.id) if a.kind != NodeKind.GROUP]


def test_import_h2mt_does_not_import_llama_index():
    code = "import sys, h2mt; h2mt.H2MT; assert not [m for m in sys.modules if m.startswith('llama_index')]"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_markdown_structure_ids_metadata_scores_order():
    nodes = md_nodes()
    by_head = {n.text.split("\n")[0]: n for n in nodes}
    post = pp(budget=40)
    nws = [NodeWithScore(node=n, score=0.1) for n in nodes]
    eng = post.hierarchy(nws)
    assert titles(eng, by_head["### Kill"].node_id) == ["corpus", "guide.md", "Shell Guide", "Signals", "Kill"]
    assert titles(eng, by_head["## Variables"].node_id)[-2:] == ["Shell Guide", "Variables"]
    assert titles(eng, by_head["# Shell Guide"].node_id)[-1] == "Shell Guide"
    assert len(eng.index.leaves()) == len(nodes)
    out = post.postprocess_nodes(list(reversed(nws)), query_str="What does PIPESTATUS hold for a pipeline?")
    assert 0 < len(out) < len(nodes)
    assert by_head["## Variables"].node_id in [o.node.node_id for o in out]
    order = [n.node_id for n in nodes]
    assert [o.node.node_id for o in out] == sorted((o.node.node_id for o in out), key=order.index)
    for o in out:
        original = next(n for n in nodes if n.node_id == o.node.node_id)
        assert o.node is original and o.node.metadata["header_path"] == original.metadata["header_path"]
        assert o.score is not None and o.score != 0.1
    assert sum(SimpleTokenCounter()([o.node.text for o in out])) <= 40


def test_markdown_split_chunks_share_their_section_and_docstore_order(backend):
    install_tokenizer(backend.tokenizer)
    doc = Document(text=MD.replace("pipeline.", "pipeline. " + PROSE), id_="guide", metadata={"file_name": "g.md"})
    md = MarkdownNodeParser().get_nodes_from_documents([doc])
    chunks = SentenceSplitter(chunk_size=96, chunk_overlap=0).get_nodes_from_documents(md)
    var = [c for c in chunks if c.metadata["header_path"] == "/Shell Guide/" and "Paragraph" in c.text]
    assert len(var) >= 3
    eng = pp(backend=backend, token_counter=None).hierarchy([NodeWithScore(node=c) for c in chunks])
    assert {tuple(titles(eng, c.node_id)[-2:]) for c in var} == {("Shell Guide", "Variables")}
    # offsets are relative to the Markdown sections here; the docstore's insertion order is document order
    store = SimpleDocumentStore()
    store.add_documents(chunks)
    shuffled = [NodeWithScore(node=c) for c in chunks]
    random.Random(1).shuffle(shuffled)
    post = pp(backend=backend, token_counter=None, docstore=store, budget=400)
    assert {tuple(titles(post.hierarchy(shuffled), c.node_id)[-2:]) for c in var} == {("Shell Guide", "Variables")}
    ids = [o.node.node_id for o in post.postprocess_nodes(shuffled, query_str="paragraph about arrays")]
    order = [c.node_id for c in chunks]
    assert len(ids) > 2 and ids == sorted(ids, key=order.index)


def _hier_nodes(backend):
    install_tokenizer(backend.tokenizer)
    doc = Document(text=PROSE + " The FUNCNEST variable limits function nesting.", id_="prose")
    parser = HierarchicalNodeParser.from_defaults(chunk_sizes=[384, 96, 48], chunk_overlap=0)
    return parser.get_nodes_from_documents([doc])


def _parent(n):
    rel = n.relationships.get(NodeRelationship.PARENT)
    return rel.node_id if rel else None


def test_hierarchical_parents_from_docstore_become_sections(backend):
    allnodes = _hier_nodes(backend)
    leaves = get_leaf_nodes(allnodes)
    store = SimpleDocumentStore()
    store.add_documents(allnodes)
    post = pp(docstore=store)
    shuffled = [NodeWithScore(node=n) for n in leaves]
    random.Random(0).shuffle(shuffled)
    eng = post.hierarchy(shuffled)
    assert len(eng.index.leaves()) == len(leaves)
    by_id = {n.node_id: n for n in allnodes}
    sections = {}
    for lf in leaves:
        path = titles(eng, lf.node_id)[2:]  # below corpus and document
        chain = []
        p = _parent(lf)
        while p:
            chain.append(p)
            p = _parent(by_id[p])
        assert len(path) == len(chain) == 2
        for pid, title in zip(reversed(chain), path, strict=True):
            assert sections.setdefault(pid, title) == title  # one h2mt section per LlamaIndex parent
    assert len(set(sections.values())) == len(sections)
    out = post.postprocess_nodes(shuffled, query_str="Which variable limits function nesting?")
    order = [n.node_id for n in leaves]
    ids = [o.node.node_id for o in out]
    assert ids == sorted(ids, key=order.index)  # document order, though candidates came shuffled
    assert any("FUNCNEST" in o.node.text for o in out)


def test_hierarchical_parents_among_candidates_are_structure_only(backend):
    allnodes = _hier_nodes(backend)
    leaves = {n.node_id for n in get_leaf_nodes(allnodes)}
    post = pp(budget=60)
    eng = post.hierarchy([NodeWithScore(node=n) for n in allnodes])
    assert {n.ref for n in eng.index.leaves()} == leaves
    out = post.postprocess_nodes([NodeWithScore(node=n) for n in allnodes], query_str="function nesting")
    assert out and {o.node.node_id for o in out} <= leaves
    only = post.hierarchy([NodeWithScore(node=allnodes[-1])])  # parent unknown: still one level
    assert len(only.index.leaves()) == 1


def test_query_required_async_and_cache(recorder):
    post = pp(budget=40)
    nws = [NodeWithScore(node=n) for n in md_nodes()]
    with pytest.raises(InputError, match="needs the query"):
        post.postprocess_nodes(nws)
    sync = post.postprocess_nodes(nws, query_str="trap signals exit status")
    asy = asyncio.run(post.apostprocess_nodes(nws, query_str="trap signals exit status"))
    assert [(o.node.node_id, o.score) for o in asy] == [(o.node.node_id, o.score) for o in sync]
    assert post.hierarchy(nws) is post.hierarchy(list(nws))
    builds = [e for e in recorder.events if e.class_name() == "H2MTHierarchyBuildEvent"]
    assert [e.cached for e in builds][:2] == [False, True]
    ends = [e for e in recorder.events if isinstance(e, RoutingEndEvent)]
    starts = [e for e in recorder.events if isinstance(e, RoutingStartEvent)]
    assert len(starts) == len(ends) == 2  # the query-less call fails before routing starts
    assert ends[0].kept == len(sync) and ends[0].pruned >= 0 and ends[0].kept_ids == [o.node.node_id for o in sync]
    assert ends[0].span_id and "H2MTNodePostprocessor" in ends[0].span_id


def test_h2mt_llm_metadata_stream_chat_async(backend, recorder):
    llm = H2MTLLM(backend=backend, max_new_tokens=6)
    assert Settings.tokenizer("hello world") == backend.tokenizer.encode("hello world", add_special_tokens=False)
    md = llm.metadata
    assert (md.context_window, md.num_output, md.is_chat_model) == (TINY_CONTEXT, 6, True)
    assert md.model_name == backend.name
    full = llm.complete("Tell me about hierarchical memory.")
    deltas = [r.delta for r in llm.stream_complete("Tell me about hierarchical memory.")]
    assert "".join(deltas) == full.text and len(deltas) >= 2
    assert full.additional_kwargs["prompt_tokens"] > 0 and full.additional_kwargs["prefill_ms"] > 0
    msgs = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hi")]
    chat = llm.chat(msgs)
    assert chat.message.content == "".join(r.delta for r in llm.stream_chat(msgs))
    ids = backend.tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        add_generation_prompt=True, tokenize=True)
    assert chat.additional_kwargs["prompt_tokens"] == len(ids["input_ids"] if hasattr(ids, "keys") else ids)

    async def run():
        a = await llm.acomplete("Tell me about hierarchical memory.")
        s = "".join([r.delta async for r in await llm.astream_complete("Tell me about hierarchical memory.")])
        c = await llm.achat(msgs)
        cs = "".join([r.delta async for r in await llm.astream_chat(msgs)])
        return a.text, s, c.message.content, cs

    assert asyncio.run(run()) == (full.text, full.text, chat.message.content, chat.message.content)
    names = {e.class_name() for e in recorder.events}
    assert {"LLMCompletionStartEvent", "LLMCompletionEndEvent", "LLMChatStartEvent", "LLMChatEndEvent"} <= names


def _prompt_text(event) -> str:
    if event.class_name() == "LLMChatStartEvent":
        return "\n".join(m.content for m in event.messages)
    return event.prompt


@pytest.mark.parametrize("local", [True, False], ids=["h2mt-llm", "mock-llm-defaults"])
def test_retriever_query_engine_prompt_has_only_kept_nodes(backend, recorder, local):
    # The tiny model has 512 positions: too few for LlamaIndex's default prompts and 500-token response
    # padding, so with it the synthesizer gets short templates; MockLLM (3,900 positions) runs the defaults.
    llm = H2MTLLM(backend=backend, max_new_tokens=4) if local else MockLLM(max_tokens=4)
    short = PromptTemplate("Context:\n{context_str}\nQuestion: {query_str}\nAnswer: ")
    refine = PromptTemplate("{context_msg}\nQuestion: {query_str}\nDraft: {existing_answer}\nAnswer: ")
    nodes = md_nodes()
    index = VectorStoreIndex(nodes, embed_model=H2MTEmbedding(encoder=HashingEncoder(256)))
    post = H2MTNodePostprocessor(budget=90, encoder=HashingEncoder(256), backend=backend)

    def engine(streaming: bool = False) -> RetrieverQueryEngine:
        if not local:
            return index.as_query_engine(llm=llm, similarity_top_k=len(nodes), node_postprocessors=[post],
                                         streaming=streaming)
        synth = CompactAndRefine(llm=llm, text_qa_template=short, refine_template=refine,
                                 response_padding_size=16, streaming=streaming)
        return RetrieverQueryEngine(index.as_retriever(similarity_top_k=len(nodes)), synth, [post])

    qe = engine()
    q = "What does the PIPESTATUS array variable hold?"
    resp = qe.query(q)
    kept = [s.node for s in resp.source_nodes]
    assert 0 < len(kept) < len(nodes) and all(s.score is not None for s in resp.source_nodes)
    starts = [e for e in recorder.events if e.class_name() in ("LLMChatStartEvent", "LLMCompletionStartEvent")]
    prompt = _prompt_text(starts[-1])
    for n in nodes:
        assert (n.get_content() in prompt) == (n in kept)
    assert any("PIPESTATUS" in n.text for n in kept)
    stream = engine(streaming=True).query(q)
    assert isinstance(stream, StreamingResponse) and isinstance("".join(stream.response_gen), str)
    assert [s.node.node_id for s in stream.source_nodes] == [n.node_id for n in kept]
    aresp = asyncio.run(qe.aquery(q))
    assert [s.node.node_id for s in aresp.source_nodes] == [n.node_id for n in kept]


@pytest.fixture(scope="module")
def engine_kw(backend):
    return {"config": H2MTConfig(chunk=ChunkConfig(max_tokens=32, min_tokens=4)), "encoder": HashingEncoder(256),
            "backend": backend}


def test_query_engine_from_documents(engine_kw, backend, recorder, tmp_path):
    doc = Document(text=MD, id_="guide", metadata={"file_name": "guide.md", "author": "me"})
    qe = H2MTQueryEngine.from_documents([doc], budget=60, **engine_kw)
    q = "Which exit status does a fatal signal give?"
    resp = qe.query(q)
    assert isinstance(resp, Response) and isinstance(resp.response, str)
    md = resp.metadata
    assert md["tokens_kept"] <= 60 < md["tokens_total"] and md["route_ms"] > 0
    assert md["prefill_ms"] > 0 and md["ttft_ms"] >= md["route_ms"] and md["prompt_tokens"] > 0
    srcs = resp.source_nodes
    assert srcs and all(s.node.metadata["author"] == "me" and s.node.ref_doc_id == "guide" for s in srcs)
    assert any("128+N" in s.node.text for s in srcs)
    assert [s.node.node_id for s in qe.retrieve(q)] == [s.node.node_id for s in srcs]
    assert [s.node.node_id for s in asyncio.run(qe.aretrieve(q))] == [s.node.node_id for s in srcs]
    assert any(isinstance(e, RoutingEndEvent) for e in recorder.events)
    qe.streaming = True
    stream = qe.query(q)
    assert isinstance(stream, StreamingResponse) and stream.metadata["prefill_ms"] is None
    text = "".join(stream.response_gen)
    assert stream.metadata["prefill_ms"] > 0 and isinstance(text, str)

    async def astream():
        r = await qe.aquery(q)
        assert isinstance(r, AsyncStreamingResponse)
        return "".join([p async for p in r.async_response_gen()]), r.metadata

    atext, ameta = asyncio.run(astream())
    assert atext == text and ameta["ttft_ms"] > 0
    qe.streaming = False
    assert asyncio.run(qe.aquery(q)).response == resp.response
    path = tmp_path / "guide.h2mt"
    qe.engine.save(path)
    loaded = H2MTQueryEngine.from_index(path, encoder=HashingEncoder(256), backend=backend, budget=60)
    assert [s.node.text for s in loaded.retrieve(q)] == [s.node.text for s in srcs]


def test_query_engine_node_parser_and_external_llm(engine_kw):
    doc = Document(text=MD, id_="guide", metadata={"file_name": "guide.md"})
    parser = MarkdownNodeParser()
    qe = H2MTQueryEngine.from_documents([doc], node_parser=parser, budget=90, llm=MockLLM(max_tokens=5), **engine_kw)
    resp = qe.query("kill builtin sends a signal")
    assert resp.source_nodes  # the parser's own nodes come back (header_path, no synthetic h2mt_path)
    assert all("header_path" in s.node.metadata and "h2mt_path" not in s.node.metadata for s in resp.source_nodes)
    assert resp.response and resp.metadata["ttft_ms"] is not None and resp.metadata["prefill_ms"] is None
    assert any(s.node.text.startswith("### Kill") for s in resp.source_nodes)


def test_candidates_larger_than_the_budget_degrade_to_the_best_one_truncated(caplog):
    """LlamaIndex's default chunk size (1024) over a budget of 512: keep the best node's matching sentences
    (or the node truncated), within the budget."""
    import logging

    text = (PROSE + " ") * 2
    docs = [Document(text=f"{t}\n\n{text}", id_=f"doc-{i}") for i, t in
            enumerate(["PIPESTATUS holds the exit statuses of a pipeline.", "The trap builtin handles signals."])]
    nodes = SentenceSplitter(chunk_size=1024, chunk_overlap=0, tokenizer=str.split).get_nodes_from_documents(docs)
    counter = SimpleTokenCounter()
    budget = 16
    assert min(counter([n.get_content() for n in nodes])) > budget
    post = pp(budget=budget)
    nws = [NodeWithScore(node=n, score=0.5) for n in nodes]
    q = "What does PIPESTATUS hold?"
    with caplog.at_level(logging.WARNING):
        out = post.postprocess_nodes(nws, query_str=q)
    assert len(out) == 1 and "budget" in caplog.text
    best = out[0]
    original = next(n for n in nodes if n.node_id == best.node.node_id)
    assert best.node.node_id == original.node_id and best.node.metadata == original.metadata
    assert "PIPESTATUS" in best.node.get_content()
    assert 0 < counter([best.node.get_content()])[0] <= budget
    # sentences of the node (an excerpt) or a prefix of it (truncation); the node itself is untouched
    parts = [p.strip() for p in best.node.get_content().split("…")]
    assert all(p and p in original.get_content() for p in parts)
    assert len(original.get_content()) > len(best.node.get_content())
    asy = asyncio.run(post.apostprocess_nodes(nws, query_str=q))
    assert [(o.node.node_id, o.node.get_content()) for o in asy] == [(best.node.node_id, best.node.get_content())]


def test_query_engine_prompt_is_the_engines_prompt_step(engine_kw, backend, monkeypatch):
    from h2mt import H2MT

    calls = []
    real = H2MT.prompt

    def spy(self, question, kept, config=None):
        p = real(self, question, kept, config)
        calls.append((self.backend, p))
        return p

    monkeypatch.setattr(H2MT, "prompt", spy)
    doc = Document(text=MD, id_="guide", metadata={"file_name": "guide.md"})
    for llm in (None, H2MTLLM(backend=backend, max_new_tokens=2)):
        calls.clear()
        qe = H2MTQueryEngine.from_documents([doc], budget=60, llm=llm, **engine_kw)
        resp = qe.query("Which exit status does a fatal signal give?")
        assert len(calls) == 1
        used, prompt = calls[0]
        assert used is backend and prompt.ids == backend.chat_ids(prompt.messages)
        assert resp.metadata["prompt_tokens"] == len(prompt.ids)
