"""Memory-token prefill: kept nodes enter the generator as their HMT memories, not as raw text.

The prompt is the usual chat prompt whose context lists, in document order, each kept node
as a short title line followed by one marker token; the marker's input embedding is replaced
by the node's HMT memory (``Prompt.soft``, one position per node). ``hybrid`` keeps the
``text_leaves`` best-scoring leaves as raw text under their breadcrumb. As HMT does for its
last segment, one leading memory P = recall(S_question, memories of the kept nodes) (the
learned initial memory when nothing is kept) is placed before the prompt; positions start at 0.

:class:`MemoryReader` is the query-time side of an index's node memories on a loaded HMT: the
question's summary S_q, memory-search keys for routing (:func:`h2mt.query.routing.route`'s
``memory``) and the soft tokens of a prompt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from ...config import PrefillConfig, PrefillMode
from ...errors import ConfigError, ModelError
from ...index.memories import aggregate_node, check_memories
from ...types import GenerationStats, Node, ScoredNode, SoftTokens
from ..prompt import Prompt, build_messages, format_context
from .base import PromptTools

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

    from ...backends.base import Backend
    from ...index.index import Index

__all__ = ["MEMORY_SHOWN", "MemoryReader", "MemoryPrefill", "STRATEGY", "soft_marker", "memory_layout",
           "text_leaf_ids", "build_memory_prompt", "build_titles_prompt"]

MEMORY_SHOWN = "[memory]"  # how a memory position is shown in ``Prompt.context``
MakeMessages = Callable[[str, str], list[dict[str, str]]]


def soft_marker(tokenizer: Any, avoid: Sequence[int] = ()) -> tuple[str, int]:
    """A special token (text, id) that tokenizes to one id and is not an end-of-turn token; its
    positions in the prompt are the ones whose embedding is replaced."""
    eos = {tokenizer.eos_token_id, *avoid}
    names = [tokenizer.unk_token, tokenizer.pad_token, tokenizer.bos_token, *tokenizer.all_special_tokens]
    for name in names:
        if not name:
            continue
        ids = tokenizer(name, add_special_tokens=False)["input_ids"]
        if len(ids) == 1 and ids[0] not in eos:
            return name, int(ids[0])
    raise ModelError("the generator's tokenizer has no spare special token to carry memory embeddings")


def _short_title(node: Node) -> str:
    """The node's own title, else the last part of its breadcrumb."""
    if node.title:
        return node.title
    return next((p for p in reversed(node.path) if p), "")


def memory_layout(kept: Sequence[ScoredNode], text_ids: set[int], marker: str, breadcrumbs: bool = True) -> str:
    """Context over ``kept`` (document order): leaves in ``text_ids`` as text under breadcrumbs,
    every other node as ``title: MARKER`` (one line each), in the one context layout
    (:func:`h2mt.query.prompt.format_context`)."""

    def line_for(n: Node) -> str | None:
        if n.id in text_ids:
            return None
        return f"{_short_title(n)}: {marker}" if _short_title(n) else marker

    return format_context([k.node for k in kept], breadcrumbs, line_for)


def text_leaf_ids(kept: Sequence[ScoredNode], cfg: PrefillConfig) -> set[int]:
    """Which kept leaves stay raw text under ``cfg.mode``: all (text), none (memory), the top
    ``text_leaves`` by score (hybrid)."""
    if cfg.mode == PrefillMode.TEXT:
        return {k.node.id for k in kept}
    if cfg.mode == PrefillMode.MEMORY or cfg.text_leaves == 0:
        return set()
    best = sorted(kept, key=lambda k: (-k.score, k.node.id))[: cfg.text_leaves]
    return {k.node.id for k in best}


class MemoryReader:
    """An index's HMT node memories on a loaded HMT (checked to be the one that made them).

    ``lock`` serialises HMT passes with the generator's own forwards (they share the model).
    """

    def __init__(self, index: Index, hmt: Any, tokenizer: Any, lock: AbstractContextManager[Any] | None = None,
                 what: str = "memory prefill") -> None:
        check_memories(index, hmt, what)
        assert index.hmt_memory is not None and index.hmt_summary is not None
        self.index, self.hmt, self.tokenizer = index, hmt, tokenizer
        self.memory = index.hmt_memory
        self._lock = lock if lock is not None else nullcontext()
        self._cache: tuple[str, Tensor] | None = None
        self._keys: np.ndarray | None = None
        self._mutex = threading.Lock()

    def question_summary(self, question: str) -> Tensor:
        """S_q ``(d,)``: HMT's summary of the question's tokens (cached for the last question)."""
        import torch

        with self._mutex:
            if self._cache is not None and self._cache[0] == question:
                return self._cache[1]
        ids = [int(i) for i in self.tokenizer(question, add_special_tokens=False)["input_ids"]] or [0]
        x = torch.tensor([ids], dtype=torch.long, device=self.hmt.device)  # (1, T)
        with self._lock, torch.inference_mode():
            s = self.hmt.encode_summary(x)[0].float()  # (d,)
        with self._mutex:
            self._cache = (question, s)
        return s

    @property
    def keys(self) -> np.ndarray:
        """(N, d_h) unit-norm memory-search keys M W_k of every node (computed once)."""
        import numpy as np

        if self._keys is None:
            w_k = self.hmt.w_k.weight.detach().float().cpu().numpy()  # (d_h, d)
            k = self.memory.astype(np.float32) @ w_k.T  # (N, d_h)
            self._keys = (k / np.maximum(np.linalg.norm(k, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        return self._keys

    def query(self, question: str) -> np.ndarray:
        """(d_h,) unit-norm memory-search query S_q W_q (cosine with :attr:`keys` scores a node)."""
        import numpy as np

        w_q = self.hmt.w_q.weight.detach().float().cpu().numpy()  # (d_h, d)
        q = w_q @ self.question_summary(question).cpu().numpy()
        return (q / max(float(np.linalg.norm(q)), 1e-12)).astype(np.float32)

    def vectors(self, node_ids: Sequence[int]) -> np.ndarray:
        """(n, d) float32 memories of ``node_ids``."""
        import numpy as np

        return self.memory[np.asarray(list(node_ids), dtype=np.int64)].astype(np.float32)  # (n, d), n may be 0

    def lead(self, question: str, node_ids: Sequence[int]) -> np.ndarray:
        """(d,) P = recall(S_question, memories of ``node_ids``), or the initial memory when empty."""
        import torch

        with torch.inference_mode():
            if not node_ids:
                return self.hmt.init_memory.detach()[0].float().cpu().numpy()
            m = torch.as_tensor(self.vectors(node_ids)).to(self.hmt.device)  # (n, d)
            pooled, _ = aggregate_node(self.hmt, m, m, self.question_summary(question), "recall")
        return pooled.float().cpu().numpy()


def build_memory_prompt(
    question: str, kept: Sequence[ScoredNode], cfg: PrefillConfig,
    template: Callable[[Sequence[dict[str, str]]], list[int]], reader: MemoryReader,
    make_messages: MakeMessages | None = None,
) -> Prompt:
    """The memory/hybrid prompt for ``question`` over ``kept`` (document order); ``make_messages``
    (default: :func:`h2mt.query.prompt.build_messages` with ``cfg``) turns question + context into messages."""
    make = make_messages or (lambda q, c: build_messages(q, c, cfg))
    marker, marker_id = soft_marker(reader.tokenizer, template(make(question, "")))
    text_ids = text_leaf_ids(kept, cfg)
    mem_nodes = [k.node.id for k in kept if k.node.id not in text_ids]
    messages = make(question, memory_layout(kept, text_ids, marker, cfg.breadcrumbs))
    ids = template(messages)
    positions = [i for i, t in enumerate(ids) if t == marker_id]
    if len(positions) != len(mem_nodes):
        raise ModelError(
            f"the prompt holds {len(positions)} memory markers for {len(mem_nodes)} memory nodes (the question "
            f"or a title contains {marker!r}?); use the text prefill for this question."
        )
    soft = SoftTokens(positions, reader.vectors(mem_nodes), reader.lead(question, [k.node.id for k in kept]),
                      mem_nodes)
    context = memory_layout(kept, text_ids, MEMORY_SHOWN, cfg.breadcrumbs)
    mode = cfg.mode if cfg.mode != PrefillMode.TEXT else PrefillMode.HYBRID  # soft tokens: a memory strategy
    return Prompt(question, list(kept), context, messages, ids, soft, mode)


def build_titles_prompt(
    question: str, kept: Sequence[ScoredNode], cfg: PrefillConfig,
    template: Callable[[Sequence[dict[str, str]]], list[int]], make_messages: MakeMessages | None = None,
) -> Prompt:
    """The ablation of :func:`build_memory_prompt`: the same layout (text leaves, every other node
    as its title line) with no memory embedding at all, for the plain text forward. What
    memory/hybrid gain over it is what the memories carry beyond their titles."""
    make = make_messages or (lambda q, c: build_messages(q, c, cfg))
    layout = memory_layout(kept, text_leaf_ids(kept, cfg), "", cfg.breadcrumbs)
    messages = make(question, layout)
    return Prompt(question, list(kept), layout, messages, template(messages), None)


class MemoryPrefill:
    """Every kept node as its HMT memory embedding (one position each), under a leading memory P."""

    mode = PrefillMode.MEMORY

    def prompt(self, question: str, kept: Sequence[ScoredNode], cfg: PrefillConfig, tools: PromptTools) -> Prompt:
        """:func:`build_memory_prompt` with the index's memories (``tools.memory``)."""
        if tools.memory is None:
            raise ConfigError(f"the {cfg.mode.value} prefill needs an index with HMT memories and a local generator")
        reader = tools.memory(f"the {cfg.mode.value} prefill")
        return build_memory_prompt(question, kept, cfg, tools.template, reader)

    def stream(self, backend: Backend, prompt: Prompt, cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        """``backend.stream`` with the prompt's soft tokens; a backend without embedding input is refused."""
        import inspect

        if getattr(backend, "takes_messages", False) or "soft" not in inspect.signature(backend.stream).parameters:
            raise ConfigError(
                f"{backend.name} cannot prefill memory embeddings (PrefillConfig.mode={cfg.mode.value!r}); "
                "use a local transformers generator, or mode='text'."
            )
        return backend.stream(prompt.ids, cfg, stats, soft=prompt.soft)  # type: ignore[call-arg]


STRATEGY = MemoryPrefill()
