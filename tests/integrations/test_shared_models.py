"""One model per process (issue 27 items 9 and 10): every component of both integrations that names
the same configuration holds the same loaded generator, tokenizer and encoder; ``share_model=False``
opts out; loading is quiet. Offline: tiny random Llama, hashing encoder."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("llama_index.core")

from h2mt import EncoderConfig  # noqa: E402
from h2mt.backends.shared import backend_key, quiet_loading, shared_backend  # noqa: E402
from h2mt.config import BackendConfig  # noqa: E402
from h2mt.index.chunking import SimpleTokenCounter  # noqa: E402
from h2mt.index.encoders.base import HashingEncoder  # noqa: E402
from h2mt.index.encoders.shared import encoder_key, shared_encoder  # noqa: E402

from h2mt_integrations import langchain as lc  # noqa: E402
from h2mt_integrations import llama_index as li  # noqa: E402
from tests._tiny import make_tiny_model_dir  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("shared-tiny")))


def test_components_of_both_integrations_hold_one_generator(tiny: str) -> None:
    kw: dict[str, Any] = {"model": tiny, "device": "cpu"}
    chats = [lc.ChatH2MT(**kw), lc.ChatH2MT(**kw, max_tokens=3), lc.H2MTLLM(**kw)]
    li_llm = li.H2MTLLM(**kw)
    first = chats[0].backend
    assert all(c.backend is first for c in chats) and li_llm.backend is first
    assert shared_backend(BackendConfig(model=tiny, device="cpu")) is first
    assert chats[0].invoke("hello", max_tokens=2).content == chats[1].invoke("hello", max_tokens=2).content
    private = lc.ChatH2MT(**kw, share_model=False)
    assert private.backend is not first and li.H2MTLLM(**kw, share_model=False).backend is not first
    other = lc.ChatH2MT(model=tiny, device="cpu", dtype="float32")  # another configuration, another copy
    assert other.backend is not first


def test_tokenizer_alone_is_shared_and_is_the_loaded_models_own(tiny: str) -> None:
    a, b = lc.ChatH2MT(model=tiny, device="cpu"), lc.H2MTLLM(model=tiny, device="cpu")
    assert a.get_num_tokens("hello world") > 0  # counts without loading the weights
    assert a._backend is None and a.tokenizer is b.tokenizer
    loaded = lc.ChatH2MT(model=tiny, device="cpu").backend
    assert lc.ChatH2MT(model=tiny, device="cpu").tokenizer is loaded.tokenizer


def test_cache_keys_name_what_is_loaded(tiny: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rel = os.path.relpath(tiny)
    assert backend_key(BackendConfig(model=tiny)) == backend_key(BackendConfig(model=rel))
    int8 = BackendConfig(model=tiny, quantization="int8")
    assert backend_key(BackendConfig(model=tiny)) != backend_key(int8)
    monkeypatch.setenv("H2MT_MODEL", "qwen2.5-coder-0.5b")
    assert backend_key(BackendConfig()) == backend_key(BackendConfig(model="Qwen2.5-Coder-0.5B-Instruct"))
    assert encoder_key(EncoderConfig()) == encoder_key(EncoderConfig(backend="onnx-int8"))
    assert encoder_key(EncoderConfig()) != encoder_key(EncoderConfig(backend="torch"))


def test_the_cache_does_not_keep_a_model_alive(tiny: str) -> None:
    chat = lc.ChatH2MT(model=tiny, device="cpu", dtype="bfloat16")
    ref = weakref.ref(chat.backend)
    del chat
    gc.collect()
    assert ref() is None  # no component holds it: freed, as without the cache


def test_default_embeddings_of_both_integrations_are_one_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """LangChain's H2MTEmbeddings used the torch runtime (slow, noisy) where LlamaIndex's used the
    int8 ONNX default: both now ask for h2mt's default encoder and get the same object."""
    import h2mt.index.encoders.shared as shared

    loads: list[EncoderConfig] = []

    def load(cfg: EncoderConfig, backend: Any = None) -> HashingEncoder:
        loads.append(cfg)
        return HashingEncoder(64)

    import h2mt.index.encoders.base as base

    monkeypatch.setattr(shared, "load_encoder", load)
    monkeypatch.setattr(base, "load_encoder", load)  # share_model=False loads a private copy through it
    lc_emb, li_emb = lc.H2MTEmbeddings(), li.H2MTEmbedding()
    comp = lc.H2MTDocumentCompressor(token_counter=SimpleTokenCounter())
    post = li.H2MTNodePostprocessor(token_counter=SimpleTokenCounter())
    assert lc_emb.model is li_emb.h2mt_encoder is comp.encoder
    assert post.hierarchy([_node("a b c")]).encoder.inner is lc_emb.model  # type: ignore[attr-defined]
    assert len(loads) == 1 and loads[0].runtime == EncoderConfig().runtime
    assert lc_emb.embed_query("work_mem") == pytest.approx(li_emb.get_query_embedding("work_mem"))
    assert lc.H2MTEmbeddings(share_model=False).model is not lc_emb.model and len(loads) == 2


def _node(text: str) -> Any:
    from llama_index.core.schema import NodeWithScore, TextNode

    return NodeWithScore(node=TextNode(text=text, id_="n0"), score=1.0)


def test_retrievers_over_one_index_share_its_encoder(tmp_path: Path) -> None:
    from tests.integrations.test_langchain_standard import build_tiny_index

    path = str(build_tiny_index(tmp_path))
    a, b = lc.H2MTRetriever(index_path=path), lc.H2MTRetriever(index_path=path)
    assert a.engine.encoder is b.engine.encoder is shared_encoder({"kind": "hashing", "dim": 256})
    assert lc.H2MTRetriever(index_path=path, share_model=False).engine.encoder is not a.engine.encoder
    assert a.invoke("work_mem") == b.invoke("work_mem")


def test_quiet_loading_drops_optional_kernel_warnings(caplog: pytest.LogCaptureFixture) -> None:
    noisy = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING):
        with quiet_loading():
            noisy.warning("Failed to load CPU gemm_4bit_forward from kernels-community")
            logging.getLogger("kernels._internals.hf_hub").warning("Skipping publisher trust check")
        assert not caplog.records
        noisy.warning("outside the load")  # the caller's own logging is left as it was
    assert [r.getMessage() for r in caplog.records] == ["outside the load"]


_RSS = """
import json, resource, sys
from h2mt_integrations.langchain import ChatH2MT
n = int(sys.argv[1])
chats = [ChatH2MT(max_tokens=1, device="cpu") for _ in range(n)]
for c in chats:
    c.invoke("hi")
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "backends": len({id(c.backend) for c in chats})}))
"""


@pytest.mark.integration
def test_three_default_chat_models_cost_one_model_of_memory() -> None:
    """Peak RSS of three default ChatH2MT within 10% of one (the default generator of the tests,
    $H2MT_MODEL; before: each loaded its own copy)."""
    def run(n: int) -> dict[str, int]:
        out = subprocess.run([sys.executable, "-c", _RSS, str(n)], capture_output=True, text=True, check=True,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    one, three = run(1), run(3)
    assert three["backends"] == 1
    assert three["rss_kb"] <= 1.10 * one["rss_kb"], (one, three)


@pytest.mark.integration
def test_default_embeddings_are_quiet_and_use_the_fast_runtime() -> None:
    code = ("from h2mt_integrations.langchain import H2MTEmbeddings\n"
            "e = H2MTEmbeddings(); v = e.embed_query('hello'); print(len(v), type(e.model).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["384", "OnnxEncoder"] and out.stderr == "", out.stderr
