"""LongLLMLingua prompt compression (the ``llmlingua`` package) driven by the local generator.

The leaves of the h2mt index are LongLLMLingua's contexts (same chunking as every other
method); it ranks them by question-conditioned perplexity, drops whole contexts, then drops
tokens inside the kept ones until about ``budget`` tokens remain. Settings follow the
LongLLMLingua recipe of the llmlingua README, except ``reorder_context="original"`` so the
kept text stays in document order like every other method's.

Two adapters make llmlingua 0.2.2 run offline with transformers 5:
- its length accounting uses tiktoken's ``gpt-3.5-turbo`` BPE, which tiktoken downloads at run
  time; the generator's own tokenizer stands in (budgets are then in generator tokens, as for
  every other method);
- it slices the KV cache as legacy ``[(k, v), ...]`` lists, which transformers 5 models no
  longer return; a thin wrapper converts to and from ``DynamicCache``.
The context ranking does not depend on the budget, so it is cached per (contexts, question).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ...backends.kv import cache_keyword
from ...config import BackendConfig
from .base import GroupView, MethodBase, MethodUnavailable, Selection

__all__ = ["LongLLMLinguaMethod", "COMPRESS_KWARGS"]

COMPRESS_KWARGS: dict[str, Any] = {
    "rank_method": "longllmlingua",
    "condition_in_question": "after_condition",
    "reorder_context": "original",
    "dynamic_context_compression_ratio": 0.3,
    "condition_compare": True,
    "context_budget": "+100",
    "concate_question": False,
}


class _GeneratorTokenizer:
    """Stands in for tiktoken's encoder: ``encode(text)`` with the generator's tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str, **_: Any) -> list[int]:
        """Token ids without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])


class _LegacyCacheLM:
    """Calls a transformers-5 causal LM with/returning legacy ``[[k, v], ...]`` KV caches."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._cache_kw = cache_keyword(model)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def __call__(self, input_ids: Any, attention_mask: Any = None, past_key_values: Any = None,
                 use_cache: bool = True, **kw: Any) -> Any:
        from transformers import DynamicCache

        cache = None if past_key_values is None else DynamicCache(
            ddp_cache_data=[(k, v) for k, v in past_key_values])
        out = self._model(input_ids, attention_mask=attention_mask, use_cache=use_cache,
                          **{self._cache_kw: cache}, **kw)
        returned = out.get(self._cache_kw)
        if returned is not None:
            out["past_key_values"] = [[layer.keys, layer.values] for layer in returned.layers]
        return out


def _cached_rank(fn: Callable[..., Any]) -> Callable[..., Any]:
    memo: dict[Any, Any] = {}

    def wrapped(context: list[str], question: str, rank_method: str, condition_in_question: str,
                context_tokens_length: list[int]) -> Any:
        key = (tuple(context), question, rank_method, condition_in_question)
        if key not in memo:
            memo.clear()  # one question at a time: keep memory flat
            memo[key] = fn(context, question, rank_method, condition_in_question, context_tokens_length)
        return memo[key]

    return wrapped


def load_compressor(cfg: BackendConfig, device: str = "cpu") -> Any:
    """A ``PromptCompressor`` over the local generator's weights (its own float32 copy)."""
    try:
        from llmlingua.prompt_compressor import PromptCompressor
    except ImportError as e:
        raise MethodUnavailable(f"llmlingua is not installed ({e}); pip install llmlingua") from e
    from ...backends import load_tokenizer
    from ...backends.resolve import resolve_model

    path = str(resolve_model(cfg).path)
    c = PromptCompressor.__new__(PromptCompressor)  # __init__ would fetch tiktoken's BPE file online
    c.model_name, c.use_llmlingua2, c.open_api_config = path, False, {}
    c.retrieval_model, c.retrieval_model_name = None, None
    c.cache_bos_num, c.prefix_bos_num = 10, 100
    c.oai_tokenizer = _GeneratorTokenizer(load_tokenizer(cfg))
    try:
        c.load_model(path, device, {"trust_remote_code": False, "local_files_only": True})
    except Exception as e:  # noqa: BLE001 - report why the row is empty
        raise MethodUnavailable(f"llmlingua could not load {path}: {type(e).__name__}: {e}") from e
    c.model = _LegacyCacheLM(c.model)
    c.get_rank_results = _cached_rank(c.get_rank_results)
    return c


class LongLLMLinguaMethod(MethodBase):
    """LongLLMLingua over the index leaves, compressed to the token budget."""

    name, budgeted, needs_encoder = "llmlingua", True, False

    def __init__(self, backend: BackendConfig | None = None, max_doc_tokens: int = 16384,
                 device: str = "cpu") -> None:
        self.backend = backend or BackendConfig()
        self.max_doc_tokens = max_doc_tokens  # larger documents are skipped (cost), with the reason
        self.device = device
        self._compressor: Any = None
        self._failure: str | None = None

    def _get(self) -> Any:
        if self._failure:
            raise MethodUnavailable(self._failure)
        if self._compressor is None:
            try:
                self._compressor = load_compressor(self.backend, self.device)
            except MethodUnavailable as e:
                self._failure = str(e)
                raise
        return self._compressor

    def prepare(self, view: GroupView) -> None:
        """Load the compressor once (a failure is reported by :meth:`select`)."""
        if view.tokens_total <= self.max_doc_tokens:
            try:
                self._get()
            except MethodUnavailable:
                pass

    def select(self, view: GroupView, question: str, budget: int) -> Selection:
        """Compress all leaves (heading + text each) to about ``budget`` tokens."""
        from ...query.prompt import format_context

        if view.tokens_total > self.max_doc_tokens:
            raise MethodUnavailable(
                f"document has {view.tokens_total} tokens > llmlingua limit {self.max_doc_tokens}: "
                "LongLLMLingua runs the LM over every chunk for every question (hours on CPU); "
                "raise --llmlingua-max-tokens to run it")
        comp = self._get()
        contexts = [format_context([n]) for n in view.leaves]
        t0 = time.perf_counter()
        try:
            out = comp.compress_prompt(contexts, question=question, target_token=budget, **COMPRESS_KWARGS)
        except Exception as e:  # noqa: BLE001 - a failure inside llmlingua empties this row only
            raise MethodUnavailable(f"llmlingua failed: {type(e).__name__}: {e}") from e
        ms = (time.perf_counter() - t0) * 1000.0
        text = str(out["compressed_prompt"])
        tokens = len(comp.oai_tokenizer.encode(text))
        return Selection(None, text, tokens, len(view.leaves), ms)
