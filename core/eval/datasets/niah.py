"""``niah``: RULER-style needle-in-a-haystack questions over real text.

The haystack is a contiguous run of real sections (default: the Bash Reference Manual),
trimmed to a token length; a needle "One of the special magic numbers for KEY is VALUE."
is inserted at a sentence boundary at a chosen depth (0-100%). Multi-key questions add
distractor needles with other keys at random depths. Gold evidence is the needle.

RULER's needle reads "... is: VALUE."; the colon is left out because a chunker that ends units at
": " (h2mt's does, for definition lists) can cut the needle between two leaves, so that no method
could keep the evidence whole (before: 1 of the 44 niah-8k needles, 6 of the RULER 4k-32k needles).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ...counting import CountFn
from ...errors import InputError
from ...types import ParsedDocument
from .manuals import manual_source
from .paths import is_data_dir
from .types import (
    BenchDataset,
    BenchQuestion,
    DocGroup,
    doc_fingerprint,
    length_label,
    prompt_reserve,
    sections_document,
)

__all__ = ["NEEDLE", "NiahSpec", "make_niah", "niah_dataset", "insert_at_depth", "real_parts", "cut_haystack",
           "magic_keys"]

_ADJ = ("quiet amber brisk clever dusty eager fancy gentle hollow icy jolly keen lively mellow noble "
        "odd plain rapid silent tidy").split()
_NOUN = ("river falcon lantern meadow harbor pebble canyon willow comet orchard beacon glacier tunnel "
         "violin maple saddle crystal thistle anchor summit").split()
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
NEEDLE = "One of the special magic numbers for {key} is {value}."  # RULER's, without the colon (above)


@dataclass(frozen=True)
class NiahSpec:
    """What to generate."""

    length: int = 8192  # haystack context tokens (before the prompt reserve)
    depths: tuple[float, ...] = tuple(d / 10 for d in range(11))  # needle depths, 0..1
    keys: tuple[int, ...] = (1, 4)  # needles per haystack: 1 = single key, >1 = multi-key
    repeats: int = 2  # haystacks per (depth, keys) pair
    seed: int = 0


def insert_at_depth(parts: list[tuple[str, str]], sentence: str, depth: float) -> str:
    """Insert ``sentence`` at the sentence boundary nearest ``depth`` of the bodies' characters.

    Modifies ``parts`` in place; returns the title of the section that received it.
    """
    sizes = [len(b) for _, b in parts]
    goal = depth * sum(sizes)
    i, before = 0, 0
    while i < len(parts) - 1 and before + sizes[i] < goal:
        before += sizes[i]
        i += 1
    title, body = parts[i]
    local = goal - before
    cuts = [0] + [m.end() for m in _BOUNDARY.finditer(body)] + [len(body)]
    at = min(cuts, key=lambda c: abs(c - local))
    sep_l = "" if at == 0 or body[at - 1].isspace() else " "
    sep_r = "" if at == len(body) else " "
    parts[i] = (title, f"{body[:at]}{sep_l}{sentence}{sep_r}{body[at:]}")
    return title


def magic_keys(rng: random.Random, k: int) -> list[str]:
    """``k`` distinct needle keys such as ``"quiet-river"``."""
    return rng.sample([f"{a}-{n}" for a in _ADJ for n in _NOUN], k)


def real_parts(docs: Sequence[ParsedDocument], count: CountFn, limit: int) -> list[tuple[str, str, int]]:
    """Every non-empty section of ``docs`` as (title, body, tokens), those over ``limit`` tokens left out."""
    parts = []
    for d in docs:
        for s in d.sections:
            body = d.text[s.start:s.end].strip()
            if body:
                parts.append((s.title or d.title, body))
    if not parts:
        raise InputError("The niah haystack source has no text")
    costs = count([f"## {t}\n\n{b}" for t, b in parts])
    out = [(t, b, n) for (t, b), n in zip(parts, costs, strict=True) if n <= limit]
    if not out:
        raise InputError(f"No section of the niah source is small enough ({limit} tokens) for this length; "
                         "use a longer --length or another source")
    return out


def cut_haystack(parts: list[tuple[str, str, int]], target: int, rng: random.Random) -> list[tuple[str, str]]:
    """A contiguous run of ``parts`` (wrapping around) from a random start, at most ``target`` tokens."""
    start = rng.randrange(len(parts))
    out, total = [], 0
    for k in range(len(parts)):
        t, b, n = parts[(start + k) % len(parts)]
        if total + n > target:
            if total:
                break
            continue
        out.append((t, b))
        total += n
    return out


def make_niah(docs: Sequence[ParsedDocument], count: CountFn, spec: NiahSpec) -> BenchDataset:
    """Needle questions over haystacks cut from ``docs`` (see :class:`NiahSpec`)."""
    target = max(64, spec.length - prompt_reserve(spec.length))
    pool = real_parts(docs, count, max(32, target // 4))
    rng = random.Random(f"niah:{spec.seed}")
    questions, groups = [], {}
    for rep in range(spec.repeats):
        for nkeys in spec.keys:
            for depth in spec.depths:
                qid = f"niah-k{nkeys}-d{round(depth * 100):03d}-r{rep}"
                parts = cut_haystack(pool, target, rng)
                keys = magic_keys(rng, nkeys)
                values = [str(rng.randint(1_000_000, 9_999_999)) for _ in keys]
                needles = [NEEDLE.format(key=k, value=v) for k, v in zip(keys, values, strict=True)]
                for extra in needles[1:]:
                    insert_at_depth(parts, extra, rng.random())
                insert_at_depth(parts, needles[0], depth)
                doc = sections_document(f"niah:{qid}", "haystack", parts)
                key = f"niah:{qid}"
                groups[key] = DocGroup(key, [doc], doc_fingerprint([doc]), qid)
                q = f"What is the special magic number for {keys[0]} mentioned in the provided text?"
                questions.append(BenchQuestion(qid, q, [values[0]], key, evidence=[needles[0]],
                                               meta={"depth": depth, "keys": nkeys}))
    note = (f"{len(questions)} haystacks of <= {target} tokens, depths "
            f"{', '.join(f'{round(d * 100)}%' for d in spec.depths)}, keys {spec.keys}, seed {spec.seed}")
    return BenchDataset(f"niah-{length_label(spec.length)}", questions, groups, "niah", 32, [note])


def niah_dataset(source: str | None, length: int, count: CountFn, seed: int = 0) -> BenchDataset:
    """``niah`` over ``source`` (any file/folder h2mt parses; default, also when ``source`` is the
    benchmark data folder: the Bash manual)."""
    from ...index.parse import parse_path  # the parsers load only when a haystack is built

    docs = parse_path(source if source and not is_data_dir(source) else manual_source("bash"))
    return make_niah(docs, count, NiahSpec(length=length, seed=seed))
