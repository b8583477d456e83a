"""The HMT wrapper: a Hugging Face causal LM that reads long inputs segment by segment.

Per segment n with tokens H_n (shapes for batch b, hidden d, B new tokens, k sensory tokens):

1. :meth:`HMT.encode_summary` - backbone over ``[T, H_n[:j], T]`` -> summary S_n ``(b, d)``;
2. :meth:`HMT.recall` - softmax((S_n W_q)(M W_k)^T / sqrt(d_h)) M over the memory cache -> P_n;
3. :meth:`HMT.segment_step` - backbone over ``[P_n, E(sensory), E(H_n), P_n]`` -> logits of H_n;
4. :meth:`HMT.read_memory` - last-layer (post-norm) hidden state at the final position -> M_n.

No KV cache crosses a segment: the state between segments is only the memory cache and the
last k tokens (:class:`HMTState`). Everything runs on the backbone's device and dtype; the
memory search itself is computed in float32.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, InputError
from .adapt import is_lora_wrapped, prepare_backbone
from .config import HMTConfig
from .segments import SegmentLayout, segment_bounds, segment_layout

__all__ = ["HMT", "HMTOutput", "HMTState", "SegmentResult"]

log = logging.getLogger(__name__)


@dataclass
class HMTState:
    """What survives between segments: memory cache and the sensory (last k) token ids."""

    memories: list[Tensor] = field(default_factory=list)  # each (b, d), oldest first, at most N
    sensory: Tensor | None = None  # (b, <=k) token ids of the most recent tokens
    segments: int = 0  # segments read so far

    def detach(self) -> HMTState:
        """The same state cut from the autograd graph (truncated BPTT)."""
        return HMTState([m.detach() for m in self.memories], self.sensory, self.segments)


@dataclass
class SegmentResult:
    """Output of one :meth:`HMT.segment_step`."""

    logits: Tensor | None  # (b, s, V): logit i predicts the token after the segment's token i (None: not asked)
    memory: Tensor | None  # (b, d) new memory embedding M_n (None when memory is off)
    state: HMTState  # state after the segment
    layout: SegmentLayout


@dataclass
class HMTOutput:
    """Output of :meth:`HMT.forward` over a whole sequence."""

    logits: Tensor | None  # (b, T, V) standard causal-LM logits, or None with return_logits=False
    loss: Tensor | None  # mean cross-entropy over the counted targets (None without labels)
    nll_sum: float  # summed NLL of the counted targets (for perplexity over many calls)
    n_targets: int  # number of counted targets
    state: HMTState


class HMT(nn.Module):
    """Hierarchical Memory Transformer around a Hugging Face causal LM (Llama, Qwen2, SmolLM2, ...).

    ``HMT(backbone, config)`` adds the memory parameters (summary token T, initial memory,
    W_q, W_k) on the backbone's device; with ``config.trainable == "lora"`` the backbone is
    wrapped in place with peft LoRA adapters (``self.backbone`` is then the peft model).
    """

    def __init__(self, backbone: Any, config: HMTConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = prepare_backbone(backbone, config)
        emb = self.embedding.weight
        d = int(emb.shape[1])
        self.hidden_size = d
        std = float(emb.detach().float().std())
        gen = torch.Generator().manual_seed(config.seed)
        # learned 1 x d vectors initialised randn * std(E); fp32 master copies, cast at use
        self.summary_token = nn.Parameter((torch.randn(1, d, generator=gen) * std).to(emb.device))
        self.init_memory = nn.Parameter((torch.randn(1, d, generator=gen) * std).to(emb.device))
        self.w_q = nn.Linear(d, config.key_dim, bias=False, device=emb.device, dtype=torch.float32)
        self.w_k = nn.Linear(d, config.key_dim, bias=False, device=emb.device, dtype=torch.float32)
        with torch.no_grad():
            for lin in (self.w_q, self.w_k):
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) / math.sqrt(d))

    # ---------------------------------------------------------------- properties
    @property
    def embedding(self) -> nn.Embedding:
        """The backbone's input embedding E."""
        emb: nn.Embedding = self.backbone.get_input_embeddings()
        return emb

    @property
    def device(self) -> torch.device:
        """The backbone's device (never hard-coded)."""
        return self.embedding.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The backbone's compute dtype."""
        return self.embedding.weight.dtype

    def adapters_disabled(self) -> AbstractContextManager[Any]:
        """Context manager running the bare backbone (LoRA adapters off); a no-op without LoRA."""
        if is_lora_wrapped(self.backbone):
            ctx: AbstractContextManager[Any] = self.backbone.disable_adapter()
            return ctx
        return nullcontext()

    def release(self) -> Any:
        """Remove injected LoRA layers and return the plain backbone (unchanged base weights).

        Call it when the same loaded model must serve other methods after HMT; this HMT is
        unusable afterwards.
        """
        if is_lora_wrapped(self.backbone):
            return self.backbone.unload()
        return self.backbone

    def enable_gradient_checkpointing(self) -> None:
        """Recompute backbone activations in the backward pass (less memory, ~30% slower)."""
        self.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def _cache_kwarg(self) -> str:
        """Name of the KV-cache argument/output (see :func:`h2mt.backends.kv.cache_keyword`)."""
        from ..backends.kv import cache_keyword

        return cache_keyword(self.backbone.get_base_model() if is_lora_wrapped(self.backbone) else self.backbone)

    # ---------------------------------------------------------------- steps
    def _run(self, embeds: Tensor, hidden: bool, logits: bool = True) -> Any:
        # embeds (b, l, d); positions restart at 0 for every pass. logits=False: the LM head runs
        # on the final position only (out.logits (b, 1, V)); hidden states are unchanged
        extra = {} if logits else {"logits_to_keep": 1}
        return self.backbone(inputs_embeds=embeds, output_hidden_states=hidden, use_cache=False, **extra)

    def encode_summary(self, segment_ids: Tensor) -> Tensor:
        """Summary S_n ``(b, d)``: last-layer hidden state at the final T of ``[T, H_n[:j], T]``."""
        b = segment_ids.shape[0]
        j = min(self.config.summary_tokens, segment_ids.shape[1])
        t = self.summary_token.to(self.dtype).expand(b, 1, -1)  # (b, 1, d)
        x = torch.cat([t, self.embedding(segment_ids[:, :j]), t], dim=1)  # (b, j + 2, d)
        out = self._run(x, hidden=True, logits=False)
        return out.hidden_states[-1][:, -1]  # (b, d)

    def recall(self, summary: Tensor, memories: Sequence[Tensor]) -> Tensor:
        """Memory search P_n ``(b, d)`` in float32: attention of S_n over the last N memories."""
        m = torch.stack(list(memories)[-self.config.cache_size :], dim=1).float()  # (b, m, d)
        q = F.linear(summary.float(), self.w_q.weight)  # (b, d_h)
        k = F.linear(m, self.w_k.weight)  # (b, m, d_h)
        scores = torch.einsum("bh,bmh->bm", q, k) / math.sqrt(self.config.key_dim)  # (b, m)
        weights = torch.softmax(scores, dim=-1)  # (b, m) fp32
        return torch.einsum("bm,bmd->bd", weights, m)  # (b, d) fp32

    def memory_for(self, segment_ids: Tensor, state: HMTState) -> Tensor:
        """P_n ``(b, 1, d)`` in compute dtype: initial memory, previous memory (stage 1) or recall."""
        b = segment_ids.shape[0]
        if not state.memories:
            p = self.init_memory.expand(b, -1)  # (b, d)
        elif not self.config.memory_search:
            p = state.memories[-1]  # (b, d)
        else:
            p = self.recall(self.encode_summary(segment_ids), state.memories)  # (b, d)
        return p.to(self.dtype).unsqueeze(1)  # (b, 1, d)

    def read_memory(self, last_hidden: Tensor, layout: SegmentLayout) -> Tensor:
        """New memory M_n ``(b, d)``: post-norm last-layer hidden state at the read-out position."""
        assert layout.memory_out is not None
        # a copy, not a view: a view would keep the whole (b, l, d) hidden state of every cached segment alive
        return last_hidden[:, layout.memory_out].clone()

    def next_state(self, state: HMTState, segment_ids: Tensor, memory: Tensor | None) -> HMTState:
        """State after a segment: M_n appended (cache trimmed to N), sensory = last k tokens."""
        memories = list(state.memories)
        if memory is not None:
            memories = (memories + [memory])[-self.config.cache_size :]
        seen = segment_ids if state.sensory is None else torch.cat([state.sensory, segment_ids], dim=1)
        k = self.config.sensory_len
        sensory = seen[:, seen.shape[1] - k :] if k > 0 else seen[:, :0]
        return HMTState(memories, sensory, state.segments + 1)

    def _segment_inputs(self, segment_ids: Tensor, state: HMTState, read_out: bool) -> tuple[Tensor, SegmentLayout]:
        # -> inputs_embeds (b, l, d) = [P, E(sensory), E(H_n), P] and its layout
        if not self.config.use_memory:
            return self.embedding(segment_ids), segment_layout(segment_ids.shape[1], 0, False)
        sensory = state.sensory if state.sensory is not None else segment_ids[:, :0]
        layout = segment_layout(segment_ids.shape[1], sensory.shape[1], True, read_out=read_out)
        p = self.memory_for(segment_ids, state)  # (b, 1, d)
        parts = [p, self.embedding(sensory), self.embedding(segment_ids)] + ([p] if read_out else [])
        return torch.cat(parts, dim=1), layout

    def segment_step(self, segment_ids: Tensor, state: HMTState, logits: bool = True) -> SegmentResult:
        """Read one segment ``(b, s)``: logits of its tokens, the new memory and the next state.

        ``logits=False`` skips the LM head over the segment's tokens (``result.logits`` is None):
        reading into memory only, without the vocabulary projection of every token.
        """
        x, layout = self._segment_inputs(segment_ids, state, read_out=True)  # (b, l, d)
        out = self._run(x, hidden=self.config.use_memory, logits=logits)
        seg_logits = out.logits[:, layout.token_start : layout.token_end] if logits else None  # (b, s, V)
        memory = self.read_memory(out.hidden_states[-1], layout) if self.config.use_memory else None
        return SegmentResult(seg_logits, memory, self.next_state(state, segment_ids, memory), layout)

    # ---------------------------------------------------------------- whole sequences
    def _as_ids(self, input_ids: Tensor | Sequence[int]) -> Tensor:
        ids = input_ids if isinstance(input_ids, Tensor) else torch.tensor([list(input_ids)], dtype=torch.long)
        if ids.dim() == 1:
            ids = ids.unsqueeze(0)
        if ids.dim() != 2 or ids.shape[1] == 0:
            raise InputError(f"input_ids must be a non-empty (batch, tokens) tensor, got shape {tuple(ids.shape)}")
        return ids.to(self.device)

    def forward(
        self,
        input_ids: Tensor | Sequence[int],
        labels: Tensor | None = None,
        state: HMTState | None = None,
        return_logits: bool = True,
        loss_on: str | None = None,
        bptt_depth: int | None = None,
    ) -> HMTOutput:
        """Read ``input_ids`` ``(b, T)`` segment by segment (B tokens each).

        ``labels`` follow the Hugging Face convention (same shape as ``input_ids``, shifted
        inside, ``-100`` ignored). ``loss_on`` ("all"/"last", default from the config) picks the
        segments whose targets count; ``bptt_depth`` (default from the config) detaches the
        state every that many segments so gradients never cross more segment boundaries.
        ``return_logits=False`` keeps memory flat on very long inputs.
        """
        ids = self._as_ids(input_ids)
        state = state if state is not None else HMTState()
        loss_on = loss_on or self.config.loss_on
        depth = bptt_depth if bptt_depth is not None else self.config.bptt_depth
        if labels is not None:
            labels = labels.to(self.device)
            if labels.shape != ids.shape:
                raise InputError(f"labels shape {tuple(labels.shape)} != input_ids shape {tuple(ids.shape)}")
        bounds = segment_bounds(ids.shape[1], self.config.new_tokens)
        kept: list[Tensor] = []
        nll: list[Tensor] = []
        counts: list[int] = []
        for n, (a, e) in enumerate(bounds):
            if depth is not None and n > 0 and n % depth == 0:
                state = state.detach()
            res = self.segment_step(ids[:, a:e], state, logits=return_logits or labels is not None)
            state = res.state
            if return_logits:
                assert res.logits is not None
                kept.append(res.logits)
            if labels is not None:
                assert res.logits is not None
                targets = labels[:, a + 1 : e + 1]  # (b, <=s): the token after each segment token
                logits = res.logits[:, : targets.shape[1]].float()
                vocab = logits.shape[-1]
                nll.append(F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), reduction="sum"))
                counts.append(int((targets != -100).sum()))
        loss: Tensor | None = None
        nll_sum, n_targets = 0.0, 0
        if labels is not None:
            use = [i for i, c in enumerate(counts) if c > 0]
            if loss_on == "last" and use:
                use = use[-1:]
            n_targets = sum(counts[i] for i in use)
            if n_targets > 0:
                total = torch.stack([nll[i] for i in use]).sum()
                loss = total / n_targets
                nll_sum = float(total.detach())
        logits_all = torch.cat(kept, dim=1) if return_logits else None
        return HMTOutput(logits_all, loss, nll_sum, n_targets, state)

    @torch.no_grad()
    def read(self, input_ids: Tensor | Sequence[int], state: HMTState | None = None) -> HMTState:
        """Read a (long) input into the memory state only (no logits kept, no gradients)."""
        return self.forward(input_ids, state=state, return_logits=False).state

    @torch.no_grad()
    def stream_greedy(
        self,
        final_ids: Tensor | Sequence[int],
        state: HMTState,
        max_new_tokens: int,
        eos_token_id: int | Sequence[int] | None = None,
    ) -> Iterator[Tensor]:
        """Greedy decoding from the last segment ``final_ids`` after ``state``; yields ``(b,)`` ids.

        Inside this last segment a KV cache is used; decoding never rolls over into a new segment.
        Stops when every row produced an EOS (rows already done repeat their EOS).
        """
        ids = self._as_ids(final_ids)
        eos = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or [])
        x, _ = self._segment_inputs(ids, state, read_out=False)  # (b, l, d)
        out = self.backbone(inputs_embeds=x, use_cache=True)
        kw = self._cache_kwarg()
        done = torch.zeros(ids.shape[0], dtype=torch.bool, device=self.device)
        for _ in range(max_new_tokens):
            nxt = out.logits[:, -1].argmax(dim=-1)  # (b,)
            if done.any():
                nxt = torch.where(done, torch.full_like(nxt, min(eos) if eos else 0), nxt)
            yield nxt
            if eos:
                done = done | torch.isin(nxt, torch.tensor(sorted(eos), device=self.device))
                if bool(done.all()):
                    return
            past = getattr(out, kw, None)
            out = self.backbone(inputs_embeds=self.embedding(nxt[:, None]), use_cache=True, **{kw: past})

    @torch.no_grad()
    def generate(
        self,
        prompt_ids: Tensor | Sequence[int],
        max_new_tokens: int = 64,
        eos_token_id: int | Sequence[int] | None = None,
        state: HMTState | None = None,
    ) -> Tensor:
        """Greedy continuation ``(b, n)`` of a (long) prompt read segment by segment.

        All full segments but the last are read into the memory state; the last segment
        (the remaining prompt tokens) is prefilled once with a KV cache and decoded from.
        """
        if max_new_tokens < 0:
            raise ConfigError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        ids = self._as_ids(prompt_ids)
        bounds = segment_bounds(ids.shape[1], self.config.new_tokens)
        last_start = bounds[-1][0]
        state = state if state is not None else HMTState()
        if last_start > 0:
            state = self.read(ids[:, :last_start], state)
        steps = list(self.stream_greedy(ids[:, last_start:], state, max_new_tokens, eos_token_id))
        if not steps:
            return ids[:, :0]
        return torch.stack(steps, dim=1)
