"""``OpenAIBackend``: generation on an OpenAI-compatible server (vLLM, llama.cpp, TGI, OpenAI).

The server applies its own chat template, so this backend takes the prompt's **messages**
(``takes_messages``; :func:`h2mt.query.generate.generate` calls :meth:`OpenAIBackend.stream_messages`).
Token budgets are counted locally with the tokenizer of the same model (``BackendConfig.tokenizer``,
default: the default generator's). Requests go through the official ``openai`` SDK, which parses
the server-sent events, applies the timeouts and retries. Time to first token is measured here at
the client; token usage comes from the server's final usage chunk (``stream_options.include_usage``)
and stays ``None`` when the server sends none (``BackendConfig.streaming=False``: one non-streamed
request, whose usage every server reports, and whose first token arrives with the whole reply).
Prefill time is not visible to a client (``None``), nor is the server's memory (``peak_mem_bytes`` 0).

Retries follow the SDK's policy, ``BackendConfig.max_retries`` times with exponential backoff
(0.5 s, 1 s, 2 s ... with jitter, or the server's ``Retry-After``): connection failures,
timeouts, 408/409/429 and 5xx replies (a server still loading its model answers 503). Other 4xx
replies are not retried. Every failure is a :class:`~h2mt.errors.ModelError` that names the server
and says what to do. The API key is read from the environment variable ``BackendConfig.api_key_env``
at each request (unset: no ``Authorization`` header); it is never logged, shown or stored.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..config import BackendConfig, PrefillConfig
from ..counting import TokenCounter
from ..errors import ModelError
from ..extras import require
from ..types import GenerationStats
from .tokens import LocalTokenizer

__all__ = ["OpenAIBackend"]

log = logging.getLogger(__name__)

_MAX_STOP = 4  # the OpenAI API accepts at most four stop strings
_FALLBACK_CONTEXT = 4096


def _error_text(body: Any) -> str:
    """The message of an error body (``{"error": {"message": ...}}``, ``{"message": ...}`` or text)."""
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)[:300]
    return str(err)[:300]


def _finish(reason: Any) -> str:
    return "length" if reason == "length" else "stop"


class OpenAIBackend(LocalTokenizer):
    """An OpenAI-compatible chat server behind the :class:`~h2mt.backends.Backend` protocol.

    ``count_tokens`` and ``chat_ids`` (from :class:`~h2mt.backends.tokens.LocalTokenizer`) use
    the local tokenizer, for budgets; the server templates and tokenizes the messages itself.
    """

    takes_messages = True  # generate() hands this backend the prompt's messages, not token ids

    def __init__(self, cfg: BackendConfig, tokenizer: Any) -> None:
        openai = require("openai", "The OpenAI-compatible server backend")
        assert cfg.base_url is not None  # BackendConfig(kind="openai") checks it
        self.base_url = cfg.base_url.rstrip("/")
        self.cfg = cfg
        self.tokenizer = tokenizer
        self._tok_lock = threading.Lock()
        self.counter = TokenCounter(tokenizer, lock=self._tok_lock)  # budgets count the local tokenizer's
        limit = cfg.context_window or getattr(tokenizer, "model_max_length", None)
        if not (isinstance(limit, int) and 0 < limit < 10**7):
            limit = _FALLBACK_CONTEXT
        self.context_window = int(limit)
        self._model = cfg.model  # None: the server's first listed model, asked on first use
        self.name = f"{cfg.model or 'server'} @ {self.base_url}"
        self._openai = openai
        self._client = openai.OpenAI(
            api_key="set-per-request",  # never sent: each request carries the key of that moment (_headers)
            base_url=self.base_url,
            timeout=openai.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s),
            max_retries=cfg.max_retries,
        )

    @classmethod
    def from_config(cls, cfg: BackendConfig) -> OpenAIBackend:
        """The server backend of ``cfg`` with the local tokenizer it counts tokens with."""
        from .loading import load_tokenizer

        local = BackendConfig(model=cfg.tokenizer, cache_dir=cfg.cache_dir,
                              trust_remote_code=cfg.trust_remote_code)
        return cls(cfg, load_tokenizer(local))  # a server's tokens are counted by its local tokenizer

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self._model!r})"  # never the key

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def prefill_logits(self, input_ids: Sequence[int]) -> tuple[Any, float]:
        """Not available: a server returns text, not logits."""
        raise ModelError("An OpenAI-compatible server does not return prefill logits; "
                         "use a local backend for that.")

    # -- requests -----------------------------------------------------------------------------
    def _headers(self) -> dict[str, Any]:
        """The key of ``$api_key_env`` now, or no ``Authorization`` header at all when it is unset."""
        key = os.environ.get(self.cfg.api_key_env, "")
        return {"Authorization": f"Bearer {key}" if key else self._openai.Omit()}

    def _call(self, send: Callable[..., Any], **kwargs: Any) -> Any:
        """One SDK request (retried by the SDK); a failure becomes a :class:`ModelError`."""
        openai = self._openai
        try:
            return send(**kwargs, extra_headers=self._headers())
        except openai.APITimeoutError as exc:
            raise self._timeout(exc) from exc
        except openai.APIConnectionError as exc:
            raise ModelError(
                f"Cannot reach the server at {self.base_url} ({self._cause(exc)}) after "
                f"{self.cfg.max_retries} retries: start it (e.g. `vllm serve MODEL` or "
                "`python -m llama_cpp.server --model FILE`) or fix --server."
            ) from exc
        except openai.APIStatusError as exc:
            raise self._rejected(exc.status_code, exc.body if exc.body is not None else exc.message) from exc
        except openai.APIError as exc:  # a reply the SDK cannot read
            raise ModelError(f"The server at {self.base_url} sent a reply that is not an OpenAI API answer "
                             f"({exc.message}); check that --server points at its /v1 root.") from exc

    @staticmethod
    def _cause(exc: BaseException) -> str:
        """The transport's own error name (ConnectError, RemoteProtocolError...) under the SDK's."""
        return type(exc.__cause__ or exc).__name__

    def _timeout(self, exc: BaseException) -> ModelError:
        return ModelError(f"The server at {self.base_url} did not answer within {self.cfg.timeout_s:g}s "
                          f"({self._cause(exc)}); raise BackendConfig.timeout_s or check the server's load.")

    def _rejected(self, status: int, body: Any) -> ModelError:
        text = _error_text(body)
        if status == 404 or "model" in text.lower() and "not" in text.lower():
            return ModelError(f"The server at {self.base_url} rejected the model {self._model!r} "
                              f"({status}: {text}); "
                              f"give a served model name (GET {self.base_url}/models lists them).")
        if status in (401, 403):
            return ModelError(f"The server at {self.base_url} refused the request ({status}: {text}); "
                              f"set the API key in ${self.cfg.api_key_env}.")
        if status >= 500 or status == 429:
            return ModelError(f"The server at {self.base_url} failed ({status}: {text}) after "
                              f"{self.cfg.max_retries} retries; check its log, or raise "
                              "BackendConfig.max_retries while it starts.")
        return ModelError(f"The server at {self.base_url} rejected the request ({status}: {text}).")

    def model_name(self) -> str:
        """The served model: ``BackendConfig.model``, else the first one the server lists."""
        if self._model is None:
            data = list(getattr(self._call(self._client.models.list), "data", None) or [])
            if not data:
                raise ModelError(f"The server at {self.base_url} lists no models; give --server-model NAME.")
            self._model = str(data[0].id)
            self.name = f"{self._model} @ {self.base_url}"
            log.debug("server %s serves %s", self.base_url, self._model)
        return self._model

    # -- generation ---------------------------------------------------------------------------
    def _payload(self, cfg: PrefillConfig) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name(), "stream": self.cfg.streaming,
            "max_tokens": cfg.answer_tokens, "temperature": cfg.temperature, "top_p": cfg.top_p,
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
        reply = self._call(self._client.chat.completions.create,
                           messages=[dict(m) for m in messages], **self._payload(cfg))
        return self._reply(reply, stats, t0, chat=True)

    def stream(self, input_ids: Sequence[int], cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        """Templated ids (from :meth:`chat_ids`) as text to ``/completions``, for callers holding ids only."""
        t0 = time.perf_counter()
        with self._tok_lock:
            prompt = self.tokenizer.decode(list(input_ids), skip_special_tokens=False)
        reply = self._call(self._client.completions.create, prompt=prompt, **self._payload(cfg))
        return self._reply(reply, stats, t0, chat=False)

    def _reply(self, reply: Any, stats: GenerationStats, t0: float, *, chat: bool) -> Iterator[str]:
        stats.prompt_tokens = stats.completion_tokens = None  # only what the server reports
        stats.prefill_ms = None
        stats.peak_mem_bytes = 0
        stats.finish_reason = ""
        if self.cfg.streaming:
            return self._pieces(reply, stats, t0, chat)
        stats.total_ms = stats.first_token_ms = (time.perf_counter() - t0) * 1000.0  # it arrived whole
        return self._whole(reply, stats, chat)

    @staticmethod
    def _usage(reply: Any, stats: GenerationStats) -> None:
        usage = getattr(reply, "usage", None)
        if usage is not None:
            stats.prompt_tokens = getattr(usage, "prompt_tokens", None)
            stats.completion_tokens = getattr(usage, "completion_tokens", None)

    @staticmethod
    def _text(choice: Any, chat: bool, part: str) -> str | None:
        """The text of a choice: ``choice.<part>.content`` of a chat reply, ``choice.text`` otherwise."""
        if chat:
            return getattr(getattr(choice, part, None), "content", None)
        return getattr(choice, "text", None)

    def _whole(self, reply: Any, stats: GenerationStats, chat: bool) -> Iterator[str]:
        """A non-streamed reply: one piece."""
        self._usage(reply, stats)
        for choice in getattr(reply, "choices", None) or []:
            stats.finish_reason = _finish(getattr(choice, "finish_reason", None))
            text = self._text(choice, chat, "message")
            if text:
                yield text
            break

    def _pieces(self, reply: Any, stats: GenerationStats, t0: float, chat: bool) -> Iterator[str]:
        openai = self._openai
        first = True
        try:
            for chunk in reply:
                self._usage(chunk, stats)
                for choice in getattr(chunk, "choices", None) or []:
                    if getattr(choice, "finish_reason", None):
                        stats.finish_reason = _finish(choice.finish_reason)
                    piece = self._text(choice, chat, "delta")
                    if piece:
                        if first:
                            stats.first_token_ms = (time.perf_counter() - t0) * 1000.0
                            first = False
                        yield piece
        except openai.APITimeoutError as exc:
            raise self._timeout(exc) from exc
        except openai.APIConnectionError as exc:
            raise ModelError(f"The connection to {self.base_url} broke while streaming ({self._cause(exc)}); "
                             "the answer is incomplete: retry.") from exc
        except openai.APIError as exc:  # an error event inside the stream
            raise ModelError(f"The server reported an error while streaming: {exc.message}") from exc
        except json.JSONDecodeError as exc:
            raise ModelError(f"The server at {self.base_url} sent an event that is not JSON ({exc.msg}); "
                             "the answer is incomplete: check the server's log.") from exc
        finally:
            reply.close()
            stats.total_ms = (time.perf_counter() - t0) * 1000.0
            if first:
                stats.first_token_ms = stats.total_ms  # an empty reply: its end is its first token
