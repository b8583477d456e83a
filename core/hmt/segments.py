"""Pure segment bookkeeping: where segments start and end, and the layout of one segment pass.

No torch: every rule here is unit-testable on plain integers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SegmentLayout", "segment_bounds", "segment_layout"]


def segment_bounds(n_tokens: int, new_tokens: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each segment of ``new_tokens`` (B) tokens; the last one may be shorter."""
    if new_tokens < 1:
        raise ValueError(f"new_tokens must be >= 1, got {new_tokens}")
    return [(s, min(s + new_tokens, n_tokens)) for s in range(0, n_tokens, new_tokens)]


@dataclass(frozen=True)
class SegmentLayout:
    """Positions inside one segment pass ``[P, sensory, tokens, P]`` (positions restart at 0).

    ``token_start:token_end`` are the segment's own tokens; the logit at position
    ``token_start + i`` predicts the token after ``tokens[i]``. ``memory_in`` / ``memory_out``
    are the positions of the leading memory embedding and of the trailing read-out position
    (``None`` when memory is off).
    """

    memory_in: int | None
    sensory: int  # number of sensory tokens actually present
    token_start: int
    token_end: int
    memory_out: int | None
    length: int  # total positions of the pass


def segment_layout(n_tokens: int, n_sensory: int, use_memory: bool, read_out: bool = True) -> SegmentLayout:
    """Layout of a pass over ``n_tokens`` new tokens after ``n_sensory`` sensory tokens.

    ``read_out=False`` drops the trailing memory position (generation does not need it).
    """
    if not use_memory:
        return SegmentLayout(None, 0, 0, n_tokens, None, n_tokens)
    start = 1 + n_sensory
    end = start + n_tokens
    out = end if read_out else None
    return SegmentLayout(0, n_sensory, start, end, out, end + (1 if read_out else 0))
