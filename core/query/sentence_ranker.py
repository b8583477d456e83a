"""A learned re-ranking of the kept sentences: which of the best-ranked ones states the answer.

:func:`h2mt.query.evidence.rank_sentences` ranks the kept sentences in their places by reciprocal-
rank fusion of BM25 and the encoder's cosine. Re-weighting those two signals, or adding a third
(the leaf's routing score, its cosine), changes nothing (docs/benchmarks.md, stop 44). What the
fusion cannot see is *what kind* of sentence a question wants: a "what is the default..."
question wants the sentence stating a value, a "which variable..." question the entry's own
sentence, a "what does X do" question a sentence of prose, not a heading or a table cell.

A :class:`SentenceRanker` re-scores the :attr:`SentenceRanker.top` sentences the fusion ranks best
(the rest keep their order behind them)::

    score_i = w . f_i + b + sum_r (q . U[:, r]) (s_i . V[:, r])

- ``f_i`` (:data:`FEATURES`): the sentence's cosine with the question (read in its place), its
  BM25 score over the best of the ``top`` candidates, its coverage of the question words'
  weight, the fusion's ``1 / (5 + rank)``, whether it can be quoted (prose that says something
  itself), ``log(1 + words)``, ``1 / (1 + its leaf's position among the kept leaves)``, and
  whether it has a context (a heading or an entry name);
- ``q`` (D,) the question's unit embedding and ``s_i`` (D,) the sentence's, read in its place
  (the index's own encoder: the same vectors the cosine came from);
- ``U``, ``V`` (D, R): a low-rank bilinear term, how the question's kind weighs the sentence's kind.

The weights are trained on the repository's answer sets (``scripts/sentence_ranker_train.py``:
for every question whose evidence sentence is among the candidates, the softmax cross-entropy of
the evidence over the candidates) and shipped per encoder under
``h2mt/query/weights/sentence_ranker/<encoder>.safetensors``, with a JSON card of what they were
trained on. :func:`load_sentence_ranker` finds them; an index built with another encoder gets
none, and the fusion's order stands.

Measured (docs/benchmarks.md, stop 45): on blind questions the evidence sentence ranks first more
often (+0.071 on sets 47–52), but the quotes, which take the three best quotable sentences, are
not more often right; ``PrefillConfig.sentence_ranker`` is off by default.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .evidence import Sentence, is_quotable

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FEATURES", "RANKER_TOP", "SentenceRanker", "features", "load_sentence_ranker", "ranker_path",
           "WEIGHTS_DIR"]

FEATURES = ("cosine", "bm25_share", "coverage", "fused_rank", "quotable", "log_words", "leaf_position", "has_context")
RANKER_TOP = 16  # the fusion's best this many sentences are re-scored; the rest follow in the fusion's order
WEIGHTS_DIR = Path(__file__).parent / "weights" / "sentence_ranker"


def features(sentences: Sequence[Sentence], contexts: Sequence[str], cosines: Sequence[float]) -> np.ndarray:
    """(n, len(FEATURES)) float32: the features of ``sentences`` (the fusion's best first; ``contexts``
    and ``cosines`` aligned with them; module docstring)."""
    import numpy as np

    best = max((s.score for s in sentences), default=0.0) or 1.0
    rows = [(cos, s.score / best, s.coverage, 1.0 / (5 + rank), float(is_quotable(s.text)),
             math.log1p(len(s.text.split())), 1.0 / (1 + s.leaf), float(bool(ctx)))
            for rank, (s, ctx, cos) in enumerate(zip(sentences, contexts, cosines, strict=True))]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURES))


@dataclass(frozen=True)
class SentenceRanker:
    """Trained weights of the re-ranking (module docstring). ``weights`` (F,), ``u`` and ``v`` (D, R)."""

    weights: Any  # (F,) float32
    bias: float
    u: Any  # (D, R) float32
    v: Any  # (D, R) float32
    top: int = RANKER_TOP
    card: dict[str, Any] = field(default_factory=dict, compare=False)  # what the weights were trained on

    def __post_init__(self) -> None:
        if self.weights.shape != (len(FEATURES),):
            raise ConfigError(f"sentence ranker weights have shape {self.weights.shape}, expected ({len(FEATURES)},)")
        if self.u.shape != self.v.shape or self.u.ndim != 2:
            raise ConfigError(f"sentence ranker U {self.u.shape} and V {self.v.shape} must both be (D, R)")

    @property
    def dim(self) -> int:
        """D: the encoder's embedding size the weights expect."""
        return int(self.u.shape[0])

    def scores(self, feats: np.ndarray, asked: np.ndarray, placed: np.ndarray) -> np.ndarray:
        """(n,) scores of ``n`` sentences: ``feats`` (n, F), ``asked`` (D,) the question's unit
        embedding, ``placed`` (n, D) the sentences' (read in their places)."""
        import numpy as np

        if asked.shape != (self.dim,) or placed.shape[1:] != (self.dim,):
            raise ConfigError(f"sentence ranker expects {self.dim}-d embeddings, got {asked.shape} and {placed.shape}")
        gate = asked.astype(np.float32) @ self.u  # (R,)
        kind = placed.astype(np.float32) @ self.v  # (n, R)
        return feats @ self.weights + self.bias + kind @ gate  # (n,)

    def order(self, feats: np.ndarray, asked: np.ndarray, placed: np.ndarray) -> list[int]:
        """The new order of ``n`` sentences (indices, best first): the first ``top`` by :meth:`scores`
        (ties keep the fusion's order), then the rest as they were."""
        import numpy as np

        head = min(self.top, len(feats))
        s = self.scores(feats[:head], asked, placed[:head])  # (head,)
        return [int(i) for i in np.argsort(-s, kind="stable")] + list(range(head, len(feats)))

    def save(self, path: str | Path) -> None:
        """Write ``<path>.safetensors`` (the tensors) and ``<path>.json`` (the card: features, top, training)."""
        import numpy as np
        from safetensors.numpy import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"weights": np.asarray(self.weights, np.float32), "bias": np.asarray([self.bias], np.float32),
                   "u": np.asarray(self.u, np.float32), "v": np.asarray(self.v, np.float32)}
        save_file(tensors, str(path.with_suffix(".safetensors")))
        card = {**self.card, "features": list(FEATURES), "top": self.top, "dim": self.dim, "rank": int(self.u.shape[1])}
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def ranker_path(encoder: str) -> Path:
    """Where the weights for ``encoder`` are shipped, without suffix: its recorded name less the
    runtime (``all-MiniLM-L6-v2:onnx-int8`` reads the same vectors as ``all-MiniLM-L6-v2``)."""
    model = encoder if encoder.startswith("st:") else encoder.split(":", 1)[0]
    return WEIGHTS_DIR / model.replace("/", "_").replace(":", "_")


def load_sentence_ranker(encoder: str, path: str | Path | None = None) -> SentenceRanker | None:
    """The shipped ranker for ``encoder`` (or the one at ``path``, without suffix); ``None`` when
    there are no weights for it. Raises :class:`~h2mt.errors.ConfigError` when the weights do not match
    :data:`FEATURES` (written by another version)."""
    import numpy as np
    from safetensors.numpy import load_file

    base = Path(path) if path is not None else ranker_path(encoder)
    tensors_file, card_file = base.with_suffix(".safetensors"), base.with_suffix(".json")
    if not tensors_file.is_file():
        return None
    card = json.loads(card_file.read_text(encoding="utf-8")) if card_file.is_file() else {}
    if card.get("features", list(FEATURES)) != list(FEATURES):
        raise ConfigError(f"{tensors_file} was trained on the features {card.get('features')}, this version "
                         f"computes {list(FEATURES)}: retrain it with scripts/sentence_ranker_train.py")
    t = load_file(str(tensors_file))
    return SentenceRanker(np.asarray(t["weights"]), float(t["bias"][0]), np.asarray(t["u"]), np.asarray(t["v"]),
                          int(card.get("top", RANKER_TOP)), card)
