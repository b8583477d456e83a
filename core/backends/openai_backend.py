"""``OpenAIBackend``: generation on an OpenAI-compatible server (vLLM, llama.cpp, TGI, OpenAI).

The server applies its own chat template, so this backend takes the prompt's **messages**
(``takes_messages``; :func:`h2mt.query.generate.generate` calls :meth:`OpenAIBackend.stream_messages`).
Token budgets are counted locally with the tokenizer of the same model (``BackendConfig.tokenizer``,
default: the default generator's). Replies are streamed over server-sent events; time to first
token is measured here at the client; token usage comes from the server's final usage chunk
(``stream_options.include_usage``) and stays ``None`` when the server sends none
(``BackendConfig.streaming=False``: one non-streamed request, whose usage every server reports,
and whose first token arrives with the whole reply). Prefill time
is not visible to a client (``None``), nor is the server's memory (``peak_mem_bytes`` 0).

Connection failures (and 502/503/504 while a server starts) are retried with exponential
backoff, ``BackendConfig.max_retries`` times; other 4xx/5xx replies are not retried. Every
failure is a :class:`~h2mt.errors.ModelError` that names the server and says what to do. The
API key is read from the environment variable ``BackendConfig.api_key_env`` at each request;
it is never logged, shown or stored.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..config import BackendConfig, PrefillConfig
from ..counting import TokenCounter
from ..errors import ModelError
from ..extras import require
from ..types import GenerationStats
from .tokens import chat_template_ids

__all__ = ["OpenAIBackend", "iter_sse"]

log = logging.getLogger(__name__)

_RETRY_STATUS = (502, 503, 504)  # a server still starting, or a proxy in front of one
_BACKOFF_S = 0.25  # first retry delay; doubles each time
_MAX_STOP = 4  # the OpenAI API accepts at most four stop strings
_FALLBACK_CONTEXT = 4096


def iter_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """JSON payloads of the ``data:`` events of a server-sent-event stream, up to ``[DONE]``."""
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):  # an SSE comment (keep-alive)
            continue
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            continue
        if line.strip() or not data:
            continue
        payload, data = "\n".join(data), []  # a blank line ends the event
        if payload == "[DONE]":
            return
        yield _json(payload)
    if data and "\n".join(data) != "[DONE]":
        yield _json("\n".join(data))


def _json(payload: str) -> dict[str, Any]:
    try:
        out = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ModelError(f"The server sent an event that is not JSON: {payload[:200]!r}") from exc
    if isinstance(out, dict) and "error" in out:  # an error reported inside the stream
        raise ModelError(f"The server reported an error while streaming: {_error_text(out)}")
    return out if isinstance(out, dict) else {}


def _error_text(body: Any) -> str:
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        return str(err.get("message") or err)
    return str(err)[:300]


class OpenAIBackend:
    """An OpenAI-compatible chat server behind the :class:`~h2mt.backends.Backend` protocol."""

    takes_messages = True  # generate() hands this backend the prompt's messages, not token ids

    def __init__(self, cfg: BackendConfig, tokenizer: Any) -> None:
        httpx = require("httpx", "The OpenAI-compatible server backend")
        assert cfg.base_url is not None  # BackendConfig(kind="openai") checks it
        self.base_url = cfg.base_url.rstrip("/")
        self.cfg = cfg
        self.tokenizer = tokenizer
        self._tok_lock = threading.Lock()
        self.counter = TokenCounter(tokenizer, lock=self._tok_lock)  # budgets count the local tokenizer's tokens
        limit = cfg.context_window or getattr(tokenizer, "model_max_length", None)
        self.context_window = int(limit) if isinstance(limit, int) and 0 < limit < 10**7 else _FALLBACK_CONTEXT
        self._model = cfg.model  # None: the server's first listed model, asked on first use
        self.name = f"{cfg.model or 'server'} @ {self.base_url}"
        timeout = httpx.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s)
        self._client = httpx.Client(timeout=timeout)
        self._httpx = httpx

    @classmethod
    def from_config(cls, cfg: BackendConfig) -> OpenAIBackend:
        """The server backend of ``cfg`` with the local tokenizer it counts tokens with."""
        from .loading import load_tokenizer

        local = BackendConfig(model=cfg.tokenizer, cache_dir=cfg.cache_dir, trust_remote_code=cfg.trust_remote_code)
        return cls(cfg, load_tokenizer(local))  # a server's tokens are counted by its local tokenizer

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self._model!r})"  # never the key

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # -- tokens (local) -----------------------------------------------------------------------
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text with the local tokenizer of the served model."""
        return self.counter(texts)

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """The messages in the local tokenizer's chat template (for budgets; the server templates itself)."""
        with self._tok_lock:
            return chat_template_ids(self.tokenizer, messages)

    def prefill_logits(self, input_ids: Sequence[int]) -> tuple[Any, float]:
        """Not available: a server returns text, not logits."""
        raise ModelError("An OpenAI-compatible server does not return prefill logits; use a local backend for that.")

    # -- HTTP ---------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.cfg.api_key_env, "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _down(self, exc: Exception) -> ModelError:
        return ModelError(
            f"Cannot reach the server at {self.base_url} ({type(exc).__name__}) after {self.cfg.max_retries} "
            "retries: start it (e.g. `vllm serve MODEL` or `python -m llama_cpp.server --model FILE`) or fix --server."
        )

    def _rejected(self, status: int, body: Any) -> ModelError:
        text = _error_text(body)
        if status == 404 or "model" in text.lower() and "not" in text.lower():
            return ModelError(f"The server at {self.base_url} rejected the model {self._model!r} ({status}: {text}); "
                              f"give a served model name (GET {self.base_url}/models lists them).")
        if status in (401, 403):
            return ModelError(f"The server at {self.base_url} refused the request ({status}: {text}); "
                              f"set the API key in ${self.cfg.api_key_env}.")
        return ModelError(f"The server at {self.base_url} rejected the request ({status}: {text}).")

    def _send(self, method: str, path: str, payload: dict[str, Any] | None, stream: bool) -> Any:
        """One request, retried on connection failures and 502/503/504; returns the open response."""
        httpx = self._httpx
        url = f"{self.base_url}{path}"
        for attempt in range(self.cfg.max_retries + 1):
            try:
                req = self._client.build_request(method, url, json=payload, headers=self._headers())
                resp = self._client.send(req, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if attempt == self.cfg.max_retries:
                    raise self._down(exc) from exc
            except httpx.TimeoutException as exc:
                raise self._timeout(exc) from exc
            else:
                if resp.status_code < 400:
                    return resp
                body = self._body(resp)
                if resp.status_code not in _RETRY_STATUS or attempt == self.cfg.max_retries:
                    raise self._rejected(resp.status_code, body)
            delay = _BACKOFF_S * 2**attempt
            log.info("server %s not ready (attempt %d); retrying in %.2fs", self.base_url, attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _timeout(self, exc: Exception) -> ModelError:
        return ModelError(f"The server at {self.base_url} did not answer within {self.cfg.timeout_s:g}s "
                          f"({type(exc).__name__}); raise BackendConfig.timeout_s or check the server's load.")

    @staticmethod
    def _body(resp: Any) -> Any:
        try:
            resp.read()
            return resp.json()
        except Exception:  # noqa: BLE001 - an error body that is not JSON is shown as text
            return getattr(resp, "text", "")[:300]
        finally:
            resp.close()

    def model_name(self) -> str:
        """The served model: ``BackendConfig.model``, else the first one the server lists."""
        if self._model is None:
            resp = self._send("GET", "/models", None, stream=False)
            data = resp.json().get("data") or []
            if not data:
                raise ModelError(f"The server at {self.base_url} lists no models; give --server-model NAME.")
            self._model = str(data[0]["id"])
            self.name = f"{self._model} @ {self.base_url}"
        return self._model

    # -- generation ---------------------------------------------------------------------------
    def _payload(self, cfg: PrefillConfig) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name(), "stream": self.cfg.streaming,
            "max_tokens": cfg.max_new_tokens, "temperature": cfg.temperature, "top_p": cfg.top_p,
        }
        if self.cfg.streaming:
            body["stream_options"] = {"include_usage": True}
        if cfg.stop:
            body["stop"] = list(cfg.stop[:_MAX_STOP])
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        return body  # repetition_penalty is not an OpenAI parameter: the server's default applies

    def stream_messages(self, messages: Sequence[Mapping[str, str]], cfg: PrefillConfig,
                        stats: GenerationStats) -> Iterator[str]:
        """Send ``messages`` to ``/chat/completions`` and yield the reply's text pieces as they arrive.

        The request is sent before this returns, so a server that is down or rejects the request
        raises :class:`~h2mt.errors.ModelError` here, not on the first piece."""
        t0 = time.perf_counter()
        payload = {**self._payload(cfg), "messages": [dict(m) for m in messages]}
        return self._reply(self._send("POST", "/chat/completions", payload, stream=self.cfg.streaming), stats, t0,
                           chat=True)

    def stream(self, input_ids: Sequence[int], cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        """Templated ids (from :meth:`chat_ids`) as text to ``/completions``: for callers that hold ids only."""
        t0 = time.perf_counter()
        with self._tok_lock:
            prompt = self.tokenizer.decode(list(input_ids), skip_special_tokens=False)
        payload = {**self._payload(cfg), "prompt": prompt}
        return self._reply(self._send("POST", "/completions", payload, stream=self.cfg.streaming), stats, t0,
                           chat=False)

    def _reply(self, resp: Any, stats: GenerationStats, t0: float, *, chat: bool) -> Iterator[str]:
        stats.prompt_tokens = stats.completion_tokens = None  # only what the server reports
        stats.prefill_ms = None
        stats.peak_mem_bytes = 0
        stats.finish_reason = ""
        return self._pieces(resp, stats, t0, chat) if self.cfg.streaming else self._whole(resp, stats, t0, chat)

    def _whole(self, resp: Any, stats: GenerationStats, t0: float, chat: bool) -> Iterator[str]:
        """A non-streamed reply: one piece; its arrival is its first token."""
        try:
            body = resp.json()
        except ValueError as exc:
            raise ModelError(f"The server at {self.base_url} sent a reply that is not JSON") from exc
        finally:
            resp.close()
        stats.total_ms = stats.first_token_ms = (time.perf_counter() - t0) * 1000.0
        self._usage(body, stats)
        for choice in body.get("choices") or []:
            stats.finish_reason = "length" if choice.get("finish_reason") == "length" else "stop"
            text = (choice.get("message") or {}).get("content") if chat else choice.get("text")
            if text:
                yield text
            break

    @staticmethod
    def _usage(event: dict[str, Any], stats: GenerationStats) -> None:
        usage = event.get("usage")
        if isinstance(usage, dict):
            stats.prompt_tokens = usage.get("prompt_tokens")
            stats.completion_tokens = usage.get("completion_tokens")

    def _pieces(self, resp: Any, stats: GenerationStats, t0: float, chat: bool) -> Iterator[str]:
        first = True
        try:
            for event in iter_sse(resp.iter_lines()):
                self._usage(event, stats)
                for choice in event.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                    if choice.get("finish_reason"):
                        stats.finish_reason = "length" if choice["finish_reason"] == "length" else "stop"
                    if piece:
                        if first:
                            stats.first_token_ms = (time.perf_counter() - t0) * 1000.0
                            first = False
                        yield piece
        except self._httpx.TimeoutException as exc:
            raise self._timeout(exc) from exc
        except self._httpx.TransportError as exc:
            raise ModelError(f"The connection to {self.base_url} broke while streaming ({type(exc).__name__}); "
                             "the answer is incomplete: retry.") from exc
        finally:
            resp.close()
            stats.total_ms = (time.perf_counter() - t0) * 1000.0
            if first:
                stats.first_token_ms = stats.total_ms  # an empty reply: its end is its first token
