"""Coarse-to-fine beam routing over the tree under a token budget.

From the root, the children of the beam are scored (dense cosine fused with
lexical BM25, plus a share of the parent's score); the best ``beam_width``
internal branches are descended into and the rest are pruned unscored below.
Scored leaves go to a candidate pool. If the pool holds less than
``overfetch * budget`` tokens, the best pruned branches are reopened
(best-first) until it does. The ``lexical_leaves`` best leaves by leaf-level BM25 (postings of
the question's terms only) join the pool, scored like any leaf (their parent's own score scored
when the beam never reached it), so a leaf whose words match competes even when the beam pruned
its branch for a weak aggregate. A command named with an option (``set -x``, ``shopt -s nullglob``)
lifts, by ``title_bonus``, the leaves of the sections titled by the command that hold the option (and the
leaf after one ending on the option's term line), however long the entry. Then titles are
followed (:mod:`h2mt.index.titles`): the leaves of sections the question names by title join the
pool with ``title_bonus``, and the leaves of sections named in the text of the best
``link_sources`` candidates join with ``link_weight`` of the naming leaf's score
(cross-references, bridge entities of multi-hop questions), wherever the beam went. Each title
match counts in proportion to the section's agreement a in [0, 1] with its title
(:mod:`h2mt.index.agreement`, ``title_agreement``): a leaf joins at ``own + a * (lifted - own)``,
so a heading its own text contradicts (a = 0) lifts nothing. Last, the pool is re-ranked greedily
so that the budget goes to leaves that add something (``novelty``: a leaf whose question terms the
better leaves already hold sinks; ``mmr``: so does a near-duplicate of a better leaf; ``coverage``: a
leaf that adds question terms they lack, e.g. another key of a multi-key question, rises; a question
asking for every instance, "What are all the X ...?", ``list_questions``, sinks neither a leaf adding a
question term by MMR nor a leaf holding every question term the first-ranked leaf holds by novelty: such
leaves are its parts; a strong leaf taking more than ``list_fill`` of what is left is cut to an excerpt, so
that the last parts still fit, and a leaf strong after the re-ranking counts as strong too), and the best
leaves that fit the budget are kept. A leaf that no longer fits what is left of the budget, and that
was among the ``excerpt_top`` best before the re-ranking, is kept as an excerpt instead of being
skipped: its sentences holding at least ``excerpt_share`` of the question's terms (idf-weighted),
when they fit (:mod:`h2mt.query.excerpt`; ``excerpt_fill`` < 1 also cuts a leaf that would take more
than that share of what is left). With ``flat_fusion`` the re-ranked pool is ordered once more
before selection (:mod:`h2mt.query.fusion`): the ``flat_keep`` best leaves the route would keep stay first,
and the rest go by reciprocal-rank fusion of the route's order with every leaf's flat cosine and flat BM25
ranks, so a leaf whose own text matches best is not lost to its section's weak aggregate. Scores are higher-is-better.

With ``RouteConfig.memory_weight`` w > 0 every node score becomes ``(1 - w) * fused + w * mem``,
where ``mem`` is HMT's memory-search similarity cos(S_q W_q, M W_k) between the question's
summary and the node's memory (a :class:`MemorySearch`, e.g. :class:`h2mt.query.prefill.memory.MemoryReader`);
w = 0 is exactly the dense + lexical routing.
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..config import FusionMode, RouteConfig
from ..errors import BudgetError, ConfigError, InputError
from ..index.encoders.base import Encoder
from ..index.index import Index
from ..index.lexical import analyze
from ..types import Node, NodeKind, RouteResult, ScoredNode
from .excerpt import QuestionTerms, excerpt
from .fusion import flat_ranks, fuse_flat
from .select import Excerpter, select_leaves

if TYPE_CHECKING:
    import numpy as np

__all__ = ["route", "asks_for_every", "command_options", "Scorer", "MemorySearch"]


class MemorySearch(Protocol):
    """Memory-search similarity of nodes with a question (HMT node memories)."""

    @property
    def keys(self) -> np.ndarray:
        """(N, H) unit-norm node keys."""
        ...

    def query(self, question: str) -> np.ndarray:
        """(H,) unit-norm question query; ``keys @ query`` is each node's cosine."""
        ...


@dataclass
class Scorer:
    """Scores candidate nodes for one query."""

    index: Index
    query_emb: np.ndarray  # (D,)
    lex_cols: Any  # CSR (N, Q): node term counts for the query terms
    lex_weights: np.ndarray  # (Q,) idf of the query terms
    cfg: RouteConfig
    memory_keys: np.ndarray | None = None  # (N, H) unit keys M W_k (memory_weight > 0 only)
    memory_query: np.ndarray | None = None  # (H,) unit query S_q W_q

    def __call__(self, ids: list[int]) -> np.ndarray:
        """Higher-is-better scores of ``ids`` (before parent mixing): fused dense + lexical,
        mixed with the memory search when ``memory_weight`` > 0."""
        fused = self.fused(ids)
        w = self.cfg.memory_weight
        if w <= 0 or self.memory_keys is None or self.memory_query is None:
            return fused
        mem = self.memory_keys[ids] @ self.memory_query  # (C,) cosine
        return ((1 - w) * fused + w * mem).astype(fused.dtype)

    def fused(self, ids: list[int]) -> np.ndarray:
        """Dense cosine fused with lexical BM25 per ``cfg.fusion``."""
        import numpy as np

        dense = self.index.embeddings[ids] @ self.query_emb  # (C,)
        mode = self.cfg.fusion
        if mode == FusionMode.DENSE or self.lex_weights.size == 0:
            return dense.astype(np.float32)
        c = self.cfg
        lex = self.index.lexical.scores(self.lex_cols, self.lex_weights, ids, c.bm25_k1, c.bm25_b)
        if mode == FusionMode.LEXICAL:
            return lex
        if mode == FusionMode.RRF:
            rd = np.argsort(np.argsort(-dense))
            rl = np.argsort(np.argsort(-lex))
            return (1.0 / (60 + rd) + 1.0 / (60 + rl)).astype(np.float32)
        return ((1 - c.lexical_weight) * dense + c.lexical_weight * lex).astype(np.float32)


_LIST_QUESTION = re.compile(
    r"^\s*(?:(?:what|which|who)\s+(?:are|were)\s+(?:all|every)|(?:find|list|name|give|show)\s+(?:me\s+)?(?:all|every))\b",
    re.IGNORECASE,
)
_COMMAND_OPTION = re.compile(r"(?<![\w-])([A-Za-z_][\w.-]*)\s+(--?[A-Za-z][\w-]*)(?:\s+([A-Za-z_][\w-]*))?")


def command_options(question: str) -> list[tuple[str, list[str]]]:
    """The commands a question names with an option, and the option's terms: ``"What does `set -x` do?"``
    -> ``[("set", ["-x"])]``, ``"`shopt -s nullglob`"`` -> ``[("shopt", ["-s", "nullglob"])]`` (a word after the
    option counts only inside the same code span)."""
    out: list[tuple[str, list[str]]] = []
    spans = [m.span() for m in re.finditer(r"`[^`]*`", question)]
    for m in _COMMAND_OPTION.finditer(question):
        if not analyze(m.group(1)):
            continue  # a stopword before a flag ("set at build time with --with-blocksize") is no command
        terms = [m.group(2).lower()]
        if m.group(3) and any(a <= m.start() and m.end() < b for a, b in spans):
            terms.append(m.group(3).lower())
        out.append((m.group(1), terms))
    return out


def _ends_on_term(text: str, term: str) -> bool:
    """Whether ``text``'s last line names ``term`` first (a definition list's term line: ``-b``, ``-o option``)."""
    last = text.rstrip().rsplit("\n", 1)[-1].strip().lower()
    return last == term or last.startswith(term + " ")


def asks_for_every(question: str) -> bool:
    """Whether ``question`` asks for every instance of something: "What are all the X ...?", "List all ...",
    "Find all ..." (not "Which option matches all files?": that asks for one option)."""
    return bool(_LIST_QUESTION.search(question))


def _inherit(weight: float, source: float) -> Callable[[float], float]:
    """Score of a section named by a leaf scoring ``source``: mostly the leaf's, a little its own."""
    return lambda own: weight * source + (1 - weight) * own


def _weighed(lifted: Callable[[float], float], a: float) -> Callable[[float], float]:
    """A title lift counted at agreement ``a``: ``own + a * (lifted(own) - own)``."""
    return lambda own: own + a * (lifted(own) - own)


class _Search:
    """State of one routing run."""

    def __init__(self, index: Index, scorer: Scorer, cfg: RouteConfig, encoder: Encoder) -> None:
        self.index = index
        self.scorer = scorer
        self.cfg = cfg
        self.encoder = encoder
        self.score: dict[int, float] = {}
        self.pool: dict[int, float] = {}
        self.pool_tokens = 0
        self.pruned: list[tuple[float, int]] = []  # max-heap via negated scores
        self.scored = 0

    def descend(self, frontier: list[int]) -> None:
        """Beam search from ``frontier`` down to the leaves."""
        nodes = self.index.nodes
        pw = self.cfg.parent_weight
        while frontier:
            cands = [c for f in frontier for c in nodes[f].children]
            parents = [f for f in frontier for _ in nodes[f].children]
            raw = self.scorer(cands)
            self.scored += len(cands)
            internal: list[tuple[float, int]] = []
            for c, p, s in zip(cands, parents, raw.tolist(), strict=True):
                ps = self.score.get(p)
                s = s if ps is None else (1 - pw) * s + pw * ps
                self.score[c] = s
                if nodes[c].kind == NodeKind.LEAF:
                    self.pool[c] = s
                    self.pool_tokens += nodes[c].tokens
                else:
                    internal.append((s, c))
            internal.sort(reverse=True)
            best = internal[0][0] if internal else 0.0
            keep = [c for s, c in internal[: self.cfg.beam_width] if s >= best - self.cfg.prune_margin]
            for s, c in internal[len(keep) :]:
                heapq.heappush(self.pruned, (-s, c))
            frontier = keep

    def leaves_under(self, nid: int) -> list[int]:
        """The leaves of ``nid``'s subtree, or none when it has more than ``title_leaves``:
        a named chapter is left to the descent, only small named sections are lifted whole."""
        nodes = self.index.nodes
        out: list[int] = []
        stack = [nid]
        while stack:
            n = nodes[stack.pop()]
            if n.kind == NodeKind.LEAF:
                out.append(n.id)
                if len(out) > self.cfg.title_leaves:
                    return []
            else:
                stack.extend(n.children)
        return sorted(out)

    def lift(self, section: int, rescore: Callable[[float], float]) -> None:
        """Put ``section``'s leaves in the pool at ``rescore(own score)`` unless they already score higher."""
        self.join(self.leaves_under(section), rescore)

    def join(self, leaves: list[int], rescore: Callable[[float], float]) -> None:
        """Put ``leaves`` in the pool at ``rescore(own score)`` (scored now when never scored) unless they
        already score higher."""
        fresh = [c for c in leaves if c not in self.score]
        if fresh:
            for c, s in zip(fresh, self.scorer(fresh).tolist(), strict=True):
                self.score[c] = s
            self.scored += len(fresh)
        for c in leaves:
            s = rescore(self.score[c])
            old = self.pool.get(c)
            if old is None:
                self.pool_tokens += self.index.nodes[c].tokens
            if old is None or s > old:
                self.pool[c] = s

    def pull_up(self) -> None:
        """The best leaves by leaf-level BM25 join the pool, scored like any leaf: their fused score with
        ``parent_weight`` of their parent's own score (scored now when the beam never reached it)."""
        sc, cfg, nodes = self.scorer, self.cfg, self.index.nodes
        top = self.index.lexical.top_rows(sc.lex_cols, sc.lex_weights, self.index.leaf_mask, cfg.lexical_leaves,
                                          cfg.bm25_k1, cfg.bm25_b)
        fresh = [c for c in top if c not in self.score]
        if not fresh:
            return
        parents = list(dict.fromkeys(p for c in fresh if (p := nodes[c].parent) not in self.score))
        raw = sc(fresh + parents).tolist()
        self.scored += len(fresh) + len(parents)
        own_parent = dict(zip(parents, raw[len(fresh):], strict=True))
        pw = cfg.parent_weight
        for c, s in zip(fresh, raw[: len(fresh)], strict=True):
            p = nodes[c].parent
            ps = self.score.get(p, own_parent.get(p))
            s = s if ps is None else (1 - pw) * s + pw * ps
            self.score[c] = s
            self.pool[c] = s
            self.pool_tokens += nodes[c].tokens

    def agreement(self, sections: list[int]) -> dict[int, float]:
        """Each section's agreement with its title (all 1 when ``title_agreement`` is off)."""
        if not self.cfg.title_agreement or not sections:
            return dict.fromkeys(sections, 1.0)
        return self.index.agreement.of(sections, self.encoder)

    def lift_agreed(self, sections: list[int], lifted: Callable[[float], float]) -> None:
        """Lift ``sections`` at ``own + a * (lifted(own) - own)``, a = the section's agreement (a = 0: not lifted)."""
        agree = self.agreement(sections)
        for sec in sections:
            if agree[sec] > 0:
                self.lift(sec, _weighed(lifted, agree[sec]))

    def lift_options(self, question: str) -> None:
        """A command named with an option (``set -x``): its option leaves (:meth:`option_leaves`) join the pool
        with ``title_bonus``, however large the command's section is. A reference entry lists its options inside
        one long section whose aggregate says little about any one option."""
        bonus = self.cfg.title_bonus
        if bonus <= 0:
            return
        for command, terms in command_options(question):
            self.join(self.option_leaves(command, terms[-1]), lambda own: own + bonus)

    def option_leaves(self, command: str, term: str) -> list[int]:
        """The leaves under the sections titled by ``command`` that hold the option's most specific ``term`` (the
        last: ``nullglob`` of ``shopt -s nullglob``), and the leaf after one that ends on the term's line."""
        import numpy as np

        nodes, lexical = self.index.nodes, self.index.lexical
        sections = set(self.index.commands.get(command, []))
        term_id = lexical.vocab.get(term)
        if not sections or term_id is None:
            return []

        def inside(c: int) -> bool:
            return any(a.id in sections for a in self.index.ancestors(c))

        holders = lexical.columns(np.array([term_id]))[:, 0].nonzero()[0].tolist()  # nodes holding the term
        leaves = [c for c in holders if nodes[c].kind == NodeKind.LEAF and inside(c)]
        after = [self._next_leaf(c) for c in leaves if _ends_on_term(nodes[c].text, term)]
        return leaves + [c for c in after if c is not None and c not in leaves and inside(c)]

    def _next_leaf(self, c: int) -> int | None:
        """The leaf after leaf ``c`` in document order (ids are pre-order), or None."""
        nodes = self.index.nodes
        for j in range(c + 1, len(nodes)):
            if nodes[j].kind == NodeKind.LEAF:
                return j
        return None

    def follow_titles(self, question: str) -> None:
        """Sections named by the question, then sections named by the best candidates."""
        cfg, titles = self.cfg, self.index.titles
        if not len(titles):
            return
        if cfg.title_bonus > 0:
            self.lift_agreed(titles.named_in(question), lambda own: own + cfg.title_bonus)
        if cfg.link_weight > 0 and cfg.link_sources > 0:
            w = cfg.link_weight
            best = heapq.nlargest(cfg.link_sources, self.pool.items(), key=lambda kv: (kv[1], -kv[0]))
            for leaf, src in best:
                own_path = {a.id for a in self.index.ancestors(leaf)}
                named = [s for s in titles.named_in(self.index.nodes[leaf].text) if s not in own_path]
                if len(named) > cfg.link_fanout:
                    continue  # a list or an index page names everything: it points nowhere in particular
                self.lift_agreed(named, _inherit(w, src))

    def rerank(self, every: bool = False) -> None:
        """Re-rank the pool before selection so that the budget goes to leaves that add something: first by
        maximal marginal relevance (:meth:`_greedy` with ``s - mmr * c``, c = a leaf's best cosine with the
        leaves ranked before it), then by novelty and coverage (``s * (1 - novelty * r) + coverage * f``, r = the
        idf share of its question terms that the leaves ranked before it already hold, 1 for a leaf without any;
        f = the idf share of all the question's terms that it adds to them). With ``every`` (the question asks for
        every instance) a leaf adding a question term the leaves before it lack has c = 0, and a *parallel* leaf,
        one holding every question term the first-ranked leaf holds, has r = 0: the second "magic number for
        amber-glacier", or the entry next to the first one, is another part of the answer, not a repeat."""
        import numpy as np

        cfg, w = self.cfg, self.scorer.lex_weights
        if cfg.mmr > 0 and len(self.pool) > 1:
            ids = self._ranked()
            emb = self.index.embeddings[ids]  # (P, D) unit rows
            best = np.zeros(len(ids))
            # a list question's parts may be near-duplicates (adjacent entries): one adding a question term the
            # leaves before it lack is not one
            terms = (self.scorer.lex_cols[ids].toarray() > 0) if every and w.size else np.zeros((len(ids), 0), bool)
            seen = np.zeros(terms.shape[1], dtype=bool)

            def marginal(base: np.ndarray) -> np.ndarray:
                adds = (terms & ~seen[None, :]).any(1)  # (P,)
                return base - cfg.mmr * np.where(adds, 0.0, best)

            def near(i: int) -> None:
                best[:] = np.maximum(best, emb @ emb[i])
                seen[:] |= terms[i]

            self._greedy(ids, marginal, near)
        if (cfg.novelty > 0 or cfg.coverage > 0) and w.size and len(self.pool) > 1:
            ids = self._ranked()
            has = (self.scorer.lex_cols[ids].toarray() > 0) * w[None, :]  # (P, Q) idf of the terms held
            mass = has.sum(1)
            covered = np.zeros(w.size, dtype=bool)
            parallel = np.zeros(len(ids), dtype=bool)  # (P,) holds every term of the first pick (``every`` only)
            total = float(w.sum())

            def novel(base: np.ndarray) -> np.ndarray:
                fresh = (has * ~covered[None, :]).sum(1)
                held = np.where(mass > 0, 1.0 - fresh / np.maximum(mass, 1e-12), 1.0)
                held = np.where(parallel, 0.0, held)
                return base * (1.0 - cfg.novelty * held) + cfg.coverage * fresh / max(total, 1e-12)

            def cover(i: int) -> None:
                if every and not covered.any() and mass[i] > 0:
                    parallel[:] = ((has > 0) >= (has[i] > 0)[None, :]).all(1)
                covered[:] |= has[i] > 0

            self._greedy(ids, novel, cover)

    def _ranked(self) -> list[int]:
        return sorted(self.pool, key=lambda c: (-self.pool[c], c))

    def _greedy(self, ids: list[int], adjust: Callable[[np.ndarray], np.ndarray], take: Callable[[int], None]) -> None:
        """Pick the best ``adjust``-ed leaf of ``ids`` again and again (``take`` updates what ``adjust`` sees);
        the pool's scores become the picked values, kept non-increasing."""
        import numpy as np

        base = np.array([self.pool[c] for c in ids], dtype=np.float64)
        left = np.ones(len(ids), dtype=bool)
        out: dict[int, float] = {}
        prev = np.inf
        for _ in range(len(ids)):
            adj = adjust(base)
            i = int(np.argmax(np.where(left, adj, -np.inf)))
            prev = min(prev, float(adj[i]))
            out[ids[i]] = prev
            left[i] = False
            take(i)
        self.pool = out

    def fuse_flat(self, select: Callable[[dict[int, float]], list[ScoredNode]]) -> None:
        """Re-rank the pool with flat search (:mod:`h2mt.query.fusion`): the ``flat_keep`` best leaves that
        ``select`` keeps stay first, the rest go by reciprocal-rank fusion of the pool's order with every
        leaf's flat cosine and BM25 ranks."""
        if len(self.pool) < 2:
            return
        sc, cfg = self.scorer, self.cfg
        kept = [k.node.id for k in sorted(select(self.pool), key=lambda k: (-k.score, k.node.id))]
        dense, lexical = flat_ranks(self.index, sc.query_emb, sc.lex_cols, sc.lex_weights, cfg.bm25_k1, cfg.bm25_b)
        self.pool = fuse_flat(self.pool, kept[: cfg.flat_keep], dense, lexical)

    def backfill(self, need: float) -> None:
        """Reopen the best pruned branches until the pool holds ``need`` tokens."""
        while self.pool_tokens < need and self.pruned:
            _, c = heapq.heappop(self.pruned)
            self.descend([c])


def _memory_terms(cfg: RouteConfig, memory: MemorySearch | None, question: str) -> dict[str, Any]:
    """Scorer fields of the memory search (none when ``memory_weight`` is 0)."""
    if cfg.memory_weight <= 0:
        return {}
    if memory is None:
        raise ConfigError(
            f"RouteConfig.memory_weight={cfg.memory_weight} routes with HMT memory search, but no node memories "
            "were given; build the index with `h2mt build --memories hmt`, or set memory_weight=0."
        )
    return {"memory_keys": memory.keys, "memory_query": memory.query(question)}


def _excerpter(
    index: Index, question: str, cfg: RouteConfig, *rankings: dict[int, float]
) -> Excerpter | None:
    """The excerpts of strong leaves the budget no longer fits whole: the ``excerpt_top`` best leaves of each of
    ``rankings`` (the scores before the re-ranking; for a list question also after it) (None when
    ``excerpt_share`` or ``excerpt_top`` is 0)."""
    if cfg.excerpt_share <= 0 or cfg.excerpt_top <= 0:
        return None
    terms = QuestionTerms.of(question, index.lexical)
    strong = {c for r in rankings for c in heapq.nsmallest(cfg.excerpt_top, r, key=lambda c: (-r[c], c))}

    def cut(leaf: Node, room: int) -> Node | None:
        return excerpt(leaf, terms, room, cfg.excerpt_share) if leaf.id in strong else None

    return cut


def _dropped(index: Index, kept: list[ScoredNode], score: dict[int, float]) -> list[ScoredNode]:
    """Every branch routing dropped, best first: the topmost internal nodes with no kept leaf below
    (pruned by the beam, or descended and then outscored). A branch never scored (it lay inside a
    pruned branch that a title lift opened) carries the score of its nearest scored ancestor."""
    nodes = index.nodes
    live: set[int] = set()  # nodes with a kept leaf below (or kept themselves)
    for k in kept:
        n = k.node.id
        while n >= 0 and n not in live:
            live.add(n)
            n = nodes[n].parent
    out: list[ScoredNode] = []
    stack = [index.root.id]
    while stack:
        for c in nodes[stack.pop()].children:
            if c in live:
                stack.append(c)
            elif nodes[c].kind != NodeKind.LEAF:
                a = c
                while a not in score and nodes[a].parent >= 0:
                    a = nodes[a].parent
                out.append(ScoredNode(nodes[c], score.get(a, 0.0)))
    return sorted(out, key=lambda x: x.score, reverse=True)


def route(
    index: Index, question: str, cfg: RouteConfig, encoder: Encoder, memory: MemorySearch | None = None
) -> RouteResult:
    """Route ``question`` through ``index``; kept leaves fit ``cfg.budget`` tokens. ``memory``
    (needed when ``cfg.memory_weight`` > 0) scores nodes by HMT memory search too."""
    if not question or not question.strip():
        raise InputError("The question is empty: ask something about the indexed documents")
    if cfg.budget < 1:
        raise BudgetError(f"The token budget is {cfg.budget}; it must be at least one leaf (e.g. --budget 1024)")
    t0 = time.perf_counter()
    qemb = encoder.encode([question])[0]
    qids, qw = index.lexical.query(question)
    scorer = Scorer(index, qemb, index.lexical.columns(qids), qw, cfg, **_memory_terms(cfg, memory, question))
    search = _Search(index, scorer, cfg, encoder)
    search.descend([index.root.id])
    search.backfill(cfg.overfetch * cfg.budget)
    search.pull_up()
    search.lift_options(question)
    search.follow_titles(question)
    relevance = dict(search.pool)
    every = cfg.list_questions and asks_for_every(question)
    search.rerank(every=every)
    excerpter = _excerpter(index, question, cfg, relevance, *([search.pool] if every else []))
    fill = min(cfg.excerpt_fill, cfg.list_fill) if every else cfg.excerpt_fill

    def select(pool: dict[int, float]) -> list[ScoredNode]:
        return select_leaves(index.nodes, pool, cfg.budget, cfg.min_score, excerpter, fill)

    if cfg.flat_fusion:
        search.fuse_flat(select)
    kept = select(search.pool)
    if not kept:
        smallest = min(index.nodes[i].tokens for i in search.pool)
        raise BudgetError(
            f"The token budget ({cfg.budget}) is smaller than the smallest candidate leaf "
            f"({smallest} tokens); raise the budget to at least {smallest}"
        )
    return RouteResult(
        question=question,
        kept=kept,
        pruned=_dropped(index, kept, search.score),
        budget=cfg.budget,
        tokens_total=index.tokens_total,
        tokens_kept=sum(k.node.tokens for k in kept),
        nodes_scored=search.scored,
        nodes_total=len(index.nodes),
        route_ms=(time.perf_counter() - t0) * 1000.0,
    )
