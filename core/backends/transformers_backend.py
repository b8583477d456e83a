"""``TransformersBackend``: a local Hugging Face causal LM behind the :class:`Backend` protocol.

One prefill forward over the prompt (last-position logits only, KV cache kept), then a manual
decode loop with explicit ``position_ids``. A prompt with soft tokens (memory prefill,
``stream(..., soft=...)``) is prefilled from ``inputs_embeds``: the ids' embeddings with the soft
vectors substituted, after an optional leading memory; text prompts run exactly as before,
with an attached HMT's LoRA adapters switched off (:meth:`TransformersBackend.attach_memory`).
Model calls are serialised by a per-backend lock, so one loaded backend can serve several threads
(each stream keeps its own KV cache).
"""

from __future__ import annotations

import gc
import inspect
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch

from ..config import BackendConfig, PrefillConfig
from ..counting import TokenCounter
from ..errors import BudgetError, InputError
from ..resources import peak_memory_bytes, reset_peak_memory
from ..types import SoftTokens
from .base import GenerationStats
from .decoding import IncrementalText, choose_next_token, collect_eos_ids, only_tokens, without_tokens
from .kv import cache_keyword
from .loading import load_model, load_tokenizer_from, plan_load
from .oom import oom_guard
from .resolve import resolve_model
from .tokens import LocalTokenizer

__all__ = ["TransformersBackend", "load_backend"]

_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
_FALLBACK_CONTEXT = 2048


def _context_window(model: Any, tokenizer: Any) -> int:
    config: Any = getattr(model, "config", None)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for key in _CONTEXT_KEYS:
        value = getattr(text_config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**7 else _FALLBACK_CONTEXT


class TransformersBackend(LocalTokenizer):
    """A loaded causal LM + tokenizer implementing :class:`h2mt.backends.Backend`."""

    def __init__(self, model: Any, tokenizer: Any, *, name: str, device: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.context_window = _context_window(model, tokenizer)
        self.eos_ids = collect_eos_ids(tokenizer, model)
        self._input_device = getattr(model, "device", torch.device(device))
        params = inspect.signature(model.forward).parameters
        self._logits_to_keep = "logits_to_keep" in params
        self._cache_position = "cache_position" in params
        self._cache_kw = cache_keyword(model)
        self._lock = threading.Lock()  # one forward at a time on the shared model
        self._tok_lock = threading.Lock()  # the Rust tokenizer is not safe under concurrent use
        self.counter = TokenCounter(tokenizer, name, lock=self._tok_lock)  # budgets count these tokens
        self._text_context: Callable[[], AbstractContextManager[Any]] = nullcontext  # around text forwards

    @property
    def model_lock(self) -> threading.Lock:
        """The lock every forward on the shared model holds (HMT passes on it take it too)."""
        return self._lock

    @contextmanager
    def exclusive(self) -> Iterator[Any]:
        """Run forwards on the model directly (kv prefill): holds the model lock, inference mode,
        the OOM guard and, with an HMT attached, its adapters off (the bare generator text forwards
        see); yields the model."""
        with oom_guard(f"running {self.name}", self.device), self._lock, torch.inference_mode(), self._text_context():
            yield self.model

    def attach_memory(self, text_context: Callable[[], AbstractContextManager[Any]]) -> None:
        """An HMT now wraps this model: text forwards run inside ``text_context()`` (the HMT's
        ``adapters_disabled``), so text prompts see the bare generator; soft-token prompts run
        with the adapters on."""
        self._text_context = text_context

    @classmethod
    def from_config(cls, cfg: BackendConfig) -> TransformersBackend:
        """Resolve (converting GGUF once), then load tokenizer and weights per ``cfg``."""
        plan = plan_load(cfg, torch.cuda.is_available())  # decided once; fails fast on an impossible device
        resolved = resolve_model(cfg)
        tokenizer = load_tokenizer_from(resolved, cfg)
        model, device = load_model(resolved, cfg, plan)
        return cls(model, tokenizer, name=resolved.name, device=device)

    # count_tokens and chat_ids: LocalTokenizer (tokens.py), shared with the server backend

    # -- forward passes ----------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize(self._input_device)

    def _forward(
        self, ids: torch.Tensor | None, start: int, past: Any, embeds: torch.Tensor | None = None, soft: bool = False,
        around: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> tuple[torch.Tensor, Any]:
        """Forward ``ids`` (1, T) — or ``embeds`` (1, T, D) — at positions start..start+T-1;
        returns ((V,) last logits, cache). ``soft``: a memory-prefill run (adapters stay on);
        ``around``: the context the forward runs in instead (kv prefill's adapter)."""
        length = embeds.shape[1] if embeds is not None else ids.shape[1]  # type: ignore[union-attr]
        position_ids = torch.arange(start, start + length, device=self._input_device).unsqueeze(0)  # (1, T)
        kwargs: dict[str, Any] = {
            ("inputs_embeds" if embeds is not None else "input_ids"): embeds if embeds is not None else ids,
            "position_ids": position_ids,  # (1, T)
            self._cache_kw: past,
            "use_cache": True,
        }
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        if self._cache_position:
            kwargs["cache_position"] = position_ids[0]  # (T,)
        adapters = around() if around is not None else nullcontext() if soft else self._text_context()
        with oom_guard(f"running {self.name}", self.device), self._lock, torch.inference_mode(), adapters:
            out = self.model(**kwargs)
        return out.logits[0, -1], out.get(self._cache_kw)  # (V,)

    def _soft_embeds(self, input_ids: Sequence[int], soft: SoftTokens) -> torch.Tensor:
        """(1, T', D) inputs_embeds: [lead?, E(ids) with ``soft.vectors`` at ``soft.positions``]."""
        emb = self.model.get_input_embeddings()
        ids = torch.tensor([list(input_ids)], dtype=torch.long, device=emb.weight.device)  # (1, T)
        with self._lock, torch.inference_mode():
            x = emb(ids).clone()  # (1, T, D)
            if soft.positions:
                vec = torch.as_tensor(soft.vectors, device=x.device).to(x.dtype)  # (n, D)
                x[0, torch.tensor(soft.positions, device=x.device)] = vec
            if soft.lead is not None:
                lead = torch.as_tensor(soft.lead, device=x.device).to(x.dtype).view(1, 1, -1)  # (1, 1, D)
                x = torch.cat([lead, x], dim=1)  # (1, T + 1, D)
        return x.to(self._input_device)

    def _prefill(self, input_ids: Sequence[int], soft: SoftTokens | None = None) -> tuple[torch.Tensor, Any, float]:
        ids = torch.tensor([list(input_ids)], dtype=torch.long, device=self._input_device)  # (1, T)
        embeds = self._soft_embeds(input_ids, soft) if soft is not None else None
        self._sync()
        start = time.perf_counter()
        logits, past = self._forward(ids, 0, None, embeds, soft is not None)
        self._sync()
        return logits, past, (time.perf_counter() - start) * 1000.0

    def prefill_logits(self, input_ids: Sequence[int]) -> tuple[torch.Tensor, float]:
        """One forward pass; returns (last-position logits, 1-D float32 on CPU, ms)."""
        ids = self._check_prompt(input_ids, 0)
        logits, past, ms = self._prefill(ids)
        del past
        return logits.float().cpu(), ms

    def continuation_logprobs(
        self, prefixes: Sequence[Sequence[int]], continuation: Sequence[int], batch: int | None = None
    ) -> tuple[list[list[float]], float]:
        """The log-probability of each token of ``continuation`` after each of ``prefixes``
        (teacher forcing), and the milliseconds the forwards took.

        Rows run ``batch`` at a time (``None``: one on a CPU, where padding only costs, eight on
        a GPU), left-padded so that the continuation takes the last positions of every row:
        positions count from each row's first real token, padding is masked, and only the
        continuation's logits are computed (``logits_to_keep``)."""
        batch = batch or (1 if self.device == "cpu" else 8)
        tail = [int(i) for i in continuation]
        if not tail:
            raise InputError("continuation_logprobs: the continuation is empty")
        rows = [[int(i) for i in p] + tail for p in prefixes]
        if any(len(r) == len(tail) for r in rows):
            raise InputError("continuation_logprobs: every prefix needs at least one token")
        longest = max((len(r) for r in rows), default=0)
        if longest > self.context_window:
            raise BudgetError(f"a prefix and continuation of {longest} tokens exceed the context window "
                              f"({self.context_window}); shorten the prefixes")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else tail[0]
        target = torch.tensor(tail, device=self._input_device)  # (Q,)
        out: list[list[float]] = []
        self._sync()
        start = time.perf_counter()
        for b in range(0, len(rows), batch):
            chunk = rows[b:b + batch]
            width = max(len(r) for r in chunk)
            ids = torch.tensor([[pad] * (width - len(r)) + r for r in chunk], device=self._input_device)  # (B, L)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in chunk],
                                device=self._input_device)  # (B, L)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, L): 0 at each row's first real token
            kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "position_ids": positions,
                                      "use_cache": False}
            if self._logits_to_keep:
                kwargs["logits_to_keep"] = len(tail) + 1
            with oom_guard(f"running {self.name}", self.device), self._lock, torch.inference_mode(), \
                    self._text_context():
                logits = self.model(**kwargs).logits[:, -len(tail) - 1:-1].float()  # (B, Q, V): predicts tail
            logp = torch.log_softmax(logits, -1)  # (B, Q, V)
            picked = logp.gather(2, target.view(1, -1, 1).expand(len(chunk), -1, 1))[..., 0]  # (B, Q)
            out.extend(picked.cpu().tolist())
        self._sync()
        return out, (time.perf_counter() - start) * 1000.0

    def _check_prompt(self, input_ids: Sequence[int], max_new_tokens: int) -> list[int]:
        ids = [int(i) for i in input_ids]
        if not ids:
            raise InputError("The prompt is empty (no input ids); give at least one token.")
        if len(ids) + max_new_tokens > self.context_window:
            raise BudgetError(
                f"The prompt is {len(ids)} tokens plus {max_new_tokens} new tokens, but {self.name} "
                f"accepts {self.context_window}; lower the context budget or max_new_tokens."
            )
        return ids

    # -- generation --------------------------------------------------------------------------
    def stream(
        self, input_ids: Sequence[int], cfg: PrefillConfig, stats: GenerationStats, soft: SoftTokens | None = None
    ) -> Iterator[str]:
        """Prefill ``input_ids`` once, then yield text pieces as tokens are decoded.

        ``soft`` (memory prefill) replaces the embeddings at its positions and may add a leading
        memory position. Raises :class:`BudgetError` immediately (not on first ``next``) when prompt
        plus ``cfg.answer_tokens`` exceeds the context window. ``stats`` is filled as it runs;
        ``completion_tokens`` counts every sampled token, a final EOS included.
        """
        extra = soft.extra_positions if soft is not None else 0
        ids = self._check_prompt(input_ids, cfg.answer_tokens + extra)
        if soft is not None and any(not 0 <= p < len(ids) for p in soft.positions):
            raise InputError(f"soft-token positions {soft.positions[:5]}... fall outside the {len(ids)} prompt ids")
        return self._generate(ids, cfg, stats, time.perf_counter(), soft)

    def stream_prefilled(
        self, start: Callable[[], tuple[torch.Tensor, Any]], positions: int, cfg: PrefillConfig, stats: GenerationStats,
        around: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> Iterator[str]:
        """Decode after a prefill the caller runs: ``start()`` returns ((V,) last logits, the KV cache of
        ``positions`` positions) — kv prefill joins stored blocks instead of prefilling them. It runs on
        the first ``next`` and is timed as the prefill (its own forwards take :meth:`exclusive`).
        ``around``: the context every decoding forward runs in (kv prefill's adapter switched on)."""
        if positions + cfg.answer_tokens > self.context_window:
            raise BudgetError(
                f"The prompt is {positions} tokens plus {cfg.answer_tokens} new tokens, but {self.name} "
                f"accepts {self.context_window}; lower the context budget or max_new_tokens."
            )
        return self._generate([], cfg, stats, time.perf_counter(), start=(start, positions), around=around)

    def _sampler(self, cfg: PrefillConfig) -> torch.Generator | None:
        if cfg.temperature <= 0:
            return None
        generator = torch.Generator(device=self._input_device)
        if cfg.seed is None:
            generator.seed()
        else:
            generator.manual_seed(cfg.seed)
        return generator

    def first_token_ids(self, words: Sequence[str]) -> list[int]:
        """The first token id of each of ``words`` (``PrefillConfig.first_words``), as the reply's first
        token would spell it; raises :class:`InputError` for a word the tokenizer makes no token of."""
        ids = []
        for word in words:
            spelled = self.encode(word)
            if not spelled:
                raise InputError(f"PrefillConfig.first_words: {word!r} has no token in {self.name}'s tokenizer")
            ids.append(spelled[0])
        return ids

    def _reset_memory(self) -> None:
        reset_peak_memory(self._input_device if self.device.startswith("cuda") else "cpu")

    def _peak_memory(self) -> int:
        return peak_memory_bytes(self._input_device if self.device.startswith("cuda") else "cpu")

    def _run_start(self, start: Callable[[], tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, Any, float]:
        self._sync()
        began = time.perf_counter()
        logits, past = start()
        self._sync()
        return logits, past, (time.perf_counter() - began) * 1000.0

    def _generate(
        self,
        ids: list[int],
        cfg: PrefillConfig,
        stats: GenerationStats,
        t0: float,
        soft: SoftTokens | None = None,
        start: tuple[Callable[[], tuple[torch.Tensor, Any]], int] | None = None,
        around: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> Iterator[str]:
        if start is not None:
            stats.prompt_tokens = start[1]  # positions of the prompt (kv prefill reports how many it reused)
        else:
            stats.prompt_tokens = len(ids) + (soft.extra_positions if soft is not None else 0)  # positions prefilled
        stats.completion_tokens = 0
        stats.finish_reason = ""
        self._reset_memory()
        text = IncrementalText(self.tokenizer, cfg.stops)
        sampler = self._sampler(cfg)
        first = self.first_token_ids(cfg.first_words)  # the first token's choices; [] = any
        banned = self.first_token_ids(cfg.not_first_words)  # tokens the reply may not start with
        past: Any = None
        try:
            if start is not None:
                logits, past, stats.prefill_ms = self._run_start(start[0])
            else:
                logits, past, stats.prefill_ms = self._prefill(ids, soft)
            position = stats.prompt_tokens
            finish = "length"
            generated: list[int] = []
            for step in range(cfg.answer_tokens):
                if step == 0 and first:
                    logits = only_tokens(logits, first)  # (V,): -inf outside the first words' tokens
                if step == 0 and banned:
                    logits = without_tokens(logits, banned)  # (V,): -inf at the banned first tokens
                token = choose_next_token(
                    logits, cfg.temperature, cfg.top_p, sampler, generated, cfg.repetition_penalty
                )
                generated.append(token)
                stats.completion_tokens += 1
                is_eos = token in self.eos_ids
                piece = ""
                if not is_eos:
                    with self._tok_lock:
                        piece = text.push(token)
                if step == 0:
                    stats.first_token_ms = (time.perf_counter() - t0) * 1000.0
                if piece:
                    yield piece
                if is_eos or text.stopped:
                    finish = "stop"
                    break
                if step + 1 < cfg.answer_tokens:
                    next_ids = torch.tensor([[token]], dtype=torch.long, device=self._input_device)  # (1, 1)
                    logits, past = self._forward(next_ids, position, past, soft=soft is not None, around=around)
                    position += 1
            with self._tok_lock:
                tail = text.finish()
            if tail:
                yield tail
            stats.finish_reason = finish
        finally:
            del past
            self._release()
            stats.peak_mem_bytes = self._peak_memory()
            stats.total_ms = (time.perf_counter() - t0) * 1000.0

    def _release(self) -> None:
        if self.device.startswith("cuda"):
            gc.collect()
            torch.cuda.empty_cache()


def load_backend(cfg: BackendConfig) -> TransformersBackend:
    """Load the generator described by ``cfg`` (default: embedded SmolLM2-135M-Instruct)."""
    return TransformersBackend.from_config(cfg)
