"""The generated text -> the answer's text: a leaked instruction is cut, an echo of the question is no answer.

A small model sometimes copies its instruction ("The exact name, value or phrase from the context
is $? expand to.") or only repeats the question's own words ("What does PROMPT_COMMAND do?" ->
``PROMPT_COMMAND``). Neither is supported by the kept text, and the prompt promises an answer the
context does not support says so: :func:`clean_answer` returns :data:`NOT_FOUND` then.

1. **Cut a leaked instruction**: every run of :data:`LEAK_RUN` or more consecutive words of the
   system message or of any task's instruction (or a prompt label such as ``Short answer:``) is
   removed, with the glue words right after it ("is", "the").
2. **A short answer must say something the question does not**: when every content word left is
   one of the question's (and the question offers no choice such as "A or B", whose answer is
   one of its own words), or nothing is left, the answer is :data:`NOT_FOUND`; a mark of
   punctuation alone (``,``, ``.``) is left to answer a question asking for a character or a
   symbol (:func:`h2mt.query.symbols.asks_for_symbol`), not counted as the question's own
   punctuation.

3. **The model's own "not found"** ("The context does not say.", "...is not mentioned in the
   context") becomes :data:`NOT_FOUND`.

A brief answer (``task="brief"``) gets all three steps; explanations and chat turns only steps 1
and 3 (an explanation may well repeat the question's names).

Under ``task="auto"`` a short answer is checked before it is shown (:func:`retry_reason`): one
that is no answer by the rules above, whose words are not in the kept text (:func:`supported_by`),
or, for a lookup in reference docs ("which variable...", "the default value of..."), that is not
in the kept passage matching the question best (:func:`rank_passages`: a name or value is defined
in one entry, and a small model otherwise picks a neighbouring entry's name), is asked again once
in the brief layout over :func:`focus_sources` (the two best-matching passages, the best one last,
nearest the question; every brief answer under ``task="auto"`` reads these). If that is no answer either,
the answer is :data:`NOT_FOUND` (the engine does this, :meth:`h2mt.engine.H2MT.stream`).
A short answer that is a bare number gets the unit the kept text writes it with (:func:`with_unit`:
"60" -> "60 seconds"): a duration or a size without its unit is no answer a user can act on.
A generated answer to a yes/no question that restates the question without a "yes" or "no" gets
the verdict it states first (:func:`with_verdict`: "No, glob.glob('*') does not pick up
dotfiles."). A sentence after the first that only says what the context lacks is dropped before
any cut (its instruction words cut would leave "...provide any information about...").
Two kinds of question skip free generation under ``task="auto"``: a symbol question
(:mod:`h2mt.query.symbols`: a symbol of the kept text, chosen by constrained decoding; checked
here without the entry rule) and a yes/no or "what happens" question whose answer a kept sentence
states (:mod:`h2mt.query.evidence`: that sentence, quoted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..config import TASK_SYSTEM_PROMPTS, AnswerTask, PrefillConfig
from ..types import ScoredNode
from .evidence import rank_sentences, split_sentences
from .symbols import asks_for_symbol
from .task import asks_yes_no, main_clause, plain_question, resolve_task
from .words import GLUE_WORDS, STOP_WORDS, stems

__all__ = ["NOT_FOUND", "ECHO_REASON", "LEAK_RUN", "clean_answer", "leaked_instruction_cut", "supported_by",
           "retry_reason", "is_lookup", "rank_passages", "rank_sources", "passage_text", "rerank", "lead_passage",
           "focus_sources", "with_unit", "with_verdict", "FOCUS", "PASSAGE_RRF_K", "RESTATES_SHARE", "VERDICT_WORDS"]

NOT_FOUND = "Not found in the indexed documents."  # the answer when the kept text does not support one
ECHO_REASON = "echo of the question"  # retry_reason's reason for a short answer that only repeats the question
LEAK_RUN = 4  # this many consecutive instruction words in an answer are a leak, not an answer
SUPPORT_SHARE = 2 / 3  # a short answer is supported when this share of its content words is in the kept text
RESTATES_SHARE = 2 / 3  # a yes/no answer restates its question when it holds this share of the question's words
_LABELS = ("Short answer:", "Brief answer:", "Question:", "Context:", "Answer:")
_SAYS_NOT_FOUND = re.compile(
    r"^(?:the )?context (?:does not|doesn't|did not) (?:say|contain|mention|provide|specify|state)|"
    r"^(?:the )?context (?:does not|doesn't) (?:contain|provide|include) (?:the|an|any) (?:answer|information)|"
    r"\bnot (?:mentioned|found|given|provided|specified|stated) in the (?:context|documents?|text)\b|"
    r"^(?:i (?:do not|don't) know|no information|unknown)\b", re.IGNORECASE)
_QUOTES = "`'\"\u2018\u2019\u201c\u201d"
_LOOKUP = re.compile(r"\b(?:default|variable|parameter|option|setting|operator|function|method|exception|command|"
                     r"builtin|module|class|decorator|characters?|keyword|flag|syntax)s?\b", re.IGNORECASE)
FOCUS = 2  # a brief answer (task="auto") reads this many best-matching kept leaves
PASSAGE_RRF_K = 5  # rank_passages' reciprocal-rank constant: about the number of leaves a budget keeps
_WORD = re.compile(r"[A-Za-z0-9_$?@#*.-]+")
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve")


def _norm(word: str) -> str:
    return word.lower().strip(".,;:!?\"'`()[]")


def _spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, normalised word) of every word of ``text``."""
    return [(m.start(), m.end(), _norm(m.group())) for m in _WORD.finditer(text) if _norm(m.group())]


def leaked_instruction_cut(text: str, instruction: str, run: int = LEAK_RUN) -> str:
    """``text`` without any run of ``run``+ consecutive words of ``instruction`` (case and
    punctuation ignored), nor the prompt's labels; glue words left at the edges are dropped."""
    for label in _LABELS:
        text = re.sub(re.escape(label), " ", text, flags=re.IGNORECASE)
    inst = [w for _, _, w in _spans(instruction)]
    grams = {tuple(inst[i:i + run]) for i in range(len(inst) - run + 1)}
    words = _spans(text)
    cut = [False] * len(words)
    for i in range(len(words) - run + 1):
        if tuple(w for _, _, w in words[i:i + run]) in grams:
            cut[i:i + run] = [True] * run
    if not any(cut):
        return text.strip()
    for i, c in enumerate(list(cut)):  # the glue a cut leaves behind: "... context] is $?" -> "$?"
        if c:
            j = i + 1
            while j < len(words) and not cut[j] and words[j][2] in GLUE_WORDS:
                cut[j] = True
                j += 1
    kept, pos = [], 0
    for (s, e, _), c in zip(words, cut, strict=True):
        if c:
            kept.append(text[pos:s])
            pos = e
    kept.append(text[pos:])
    return " ".join(" ".join(kept).split()).strip(" ,;:-")


_HEDGE = re.compile(r"\b(?:context|documents?|text|passage)s? (?:does not|doesn't|do not|don't|did not) "
                    r"(?:provide|mention|say|contain|specify|state|include|give|explain|describe)\b", re.IGNORECASE)


def _without_hedges(text: str) -> str:
    """``text`` without the sentences after its first that only say what the context lacks ("No,
    the shell does not exit. The context does not provide any information about..."): the answer
    is the first; such a trailer, once its instruction words are cut, would read as nonsense.
    Everything else is left as written (an explanation's lines and lists too)."""
    out = text.strip()
    for unit in split_sentences(out)[1:]:
        if _HEDGE.search(unit):
            out = out.replace(unit, "", 1)
    return out if out == text.strip() else re.sub(r"[ \t]*\n", "\n", re.sub(r"[ \t]{2,}", " ", out)).strip()


def _cut_instructions(text: str, cfg: PrefillConfig) -> str:
    """``text`` without a leaked run of the system message or of any task's instruction, nor a
    sentence after the first that only says what the context lacks."""
    out = _without_hedges(text)
    for inst in dict.fromkeys((cfg.system_message, *TASK_SYSTEM_PROMPTS.values())):
        out = leaked_instruction_cut(out, inst)
    return out


def _says_not_found(text: str) -> bool:
    return _SAYS_NOT_FOUND.search(text.strip().strip(_QUOTES + " ")) is not None


def _offers_a_choice(question: str) -> bool:
    return re.search(r"\bor\b|\bwhether\b", question, flags=re.IGNORECASE) is not None


def clean_answer(text: str, question: str, cfg: PrefillConfig) -> str:
    """The answer's text from the generated ``text`` for ``question`` under ``cfg`` (module docstring;
    ``task="auto"`` is resolved for ``question`` first)."""
    cfg = resolve_task(question, cfg)
    out = _cut_instructions(text, cfg)
    if _says_not_found(text) or _says_not_found(out):
        return NOT_FOUND
    if cfg.task not in (AnswerTask.SHORT, AnswerTask.BRIEF):
        return out if out or not text.strip() else NOT_FOUND
    content = (({w for _, _, w in _spans(out)} - STOP_WORDS) | (_symbols(out) - _symbols(question))
               | (_marks(out) - _marks(question)))
    asked = {w for _, _, w in _spans(question)}
    if not content:
        # a symbol is an answer: ‘> ’, ||, ~; so is a lone ‘,’ or ‘.’ to "which character...?"
        if out.strip(_QUOTES + " .,;:!") or (out.strip(_QUOTES + " ") and asks_for_symbol(question)):
            return out
        return NOT_FOUND if text.strip() else ""
    if content <= asked and not _offers_a_choice(question):
        return NOT_FOUND
    return out


_UNITS = (r"(?:ms|milliseconds?|s|secs?|seconds?|min|minutes?|h|hours?|days?|weeks?|[kMGT]B|bytes?|kilobytes?|"
          r"megabytes?|gigabytes?|blocks?|pages?|percent)")  # and "%", which ends no word
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def with_unit(answer: str, context: str, question: str = "") -> str:
    """A bare number answer with the unit the kept ``context`` gives it: "60" -> "60 seconds" when
    the context says "The default value is 60 seconds.", "5" -> "five seconds" for "Default five
    seconds.", "200" -> "200ms". ``answer`` as is when it is not a bare number or the context never
    writes that number (or its word) with a unit of time, size or share (:data:`_UNITS`), or the
    ``question`` asks "how many" (a count needs none)."""
    a = answer.strip().rstrip(".").strip(_QUOTES + " ")
    if not _NUMBER.fullmatch(a) or re.search(r"\bhow many\b", question, flags=re.IGNORECASE):
        return answer
    spellings = [re.escape(a)]
    if a.isdigit() and int(a) < len(_NUMBER_WORDS):
        spellings.append(_NUMBER_WORDS[int(a)])  # "five seconds" for "5"
    pattern = rf"(?<![\w.])(?:{'|'.join(spellings)})(?:\s?{_UNITS}\b|\s?%)"
    m = re.search(pattern, context, flags=re.IGNORECASE)
    return m.group() if m else answer


_NEGATION = re.compile(r"\b(?:not|never|cannot|no|nor|neither|none|nothing)\b|n[’']t\b", re.IGNORECASE)
_VERDICT = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
VERDICT_WORDS = ("Yes", "No")  # the first words a yes/no question's brief answer chooses between (verdict_first)


def with_verdict(answer: str, question: str) -> str:
    """A generated answer to a yes/no ``question`` that restates the question without saying
    "yes" or "no" ("glob.glob('*') does not pick up dotfiles." for "Does glob.glob('*') pick up
    dotfiles?"), with the verdict it states put first: "No, glob.glob('*') does not pick up...".
    The verdict is the answer's own: "no" when its first sentence and the question differ in
    negation (an odd number of "not", "never", "n't"... between their main clauses: a condition such
    as "if the clause matches no rows," is not what is asked; nor is a subordinate clause, "...if it
    is not found"), else "yes". ``answer`` as is when the question asks for no yes or no
    (:func:`h2mt.query.task.asks_yes_no`; "Is it A or B?" neither), or when its first sentence
    holds less than :data:`RESTATES_SHARE` of the question's content words (it then says
    something else: "y is evaluated only once" for "is y evaluated twice?").

    An answer that already starts with "yes" or "no" keeps it unless the clause after it restates
    the question with the other verdict ("No, those 60 still end up in the array" for "do those 60
    still end up in the array?"): then it gets the clause's verdict, as a small model's "yes" or
    "no" is a habit more often than its copied clause is."""
    text, plain = answer.strip(), plain_question(question)
    if not text or text == NOT_FOUND or not asks_yes_no(question) or re.search(r"\bor\b", plain):
        return answer
    said = _VERDICT.match(text)
    body = text[said.end():].lstrip(",.!:;*_ ") if said else text
    if not body:
        return answer
    first = split_sentences(body)[0]
    asked = stems(plain)
    if not asked or len(asked & stems(first)) < RESTATES_SHARE * len(asked):
        return answer
    flips = len(_NEGATION.findall(_asserted(main_clause(first)))) + len(_NEGATION.findall(_asserted(plain)))
    verdict = "No" if flips % 2 else "Yes"
    if said:
        return answer if said.group(1).lower() == verdict.lower() else f"{verdict}, {body}"
    return f"{verdict}, {text[0].lower() + text[1:] if _lower_ok(text) else text}"


_SUBORDINATE = re.compile(r"\b(?:if|unless|when|whenever|because|since|although|though|as long as)\b")


def _asserted(clause: str) -> str:
    """``clause`` up to its first subordinate clause: what it asserts ("bash will not look in the
    current directory if it is not found" -> "bash will not look in the current directory")."""
    cut = _SUBORDINATE.search(clause)
    return clause[:cut.start()] if cut and cut.start() > 0 else clause


def _lower_ok(text: str) -> bool:
    """Whether ``text``'s first word may be lower-cased after a verdict ("The range..." ->
    "the range..."), not a name written with a capital ("Python", "NULL", "EXPLAIN")."""
    word = text.split(maxsplit=1)[0]
    return word.istitle() and word.lower() in {"the", "a", "an", "it", "this", "that", "these", "those", "there",
                                               "when", "if", "in", "with", "you", "your", "based", "since",
                                               "according", "by", "after", "before", "once", "unless"}


def supported_by(answer: str, context: str) -> bool:
    """Whether a short ``answer`` is in the kept ``context``: verbatim as whole words (quotes and a
    final period dropped, case ignored; a symbol such as ``> `` or ``$?`` too; a number also as
    its word, "3" as "three"), or by at least :data:`SUPPORT_SHARE` of its content words."""
    a = answer.strip().rstrip(".").strip(_QUOTES + " ")
    if not a:
        mark = answer.strip().strip(_QUOTES + " ")
        return bool(mark) and mark in context  # a period alone, the answer to "which character...?"
    if _verbatim(a, context):
        return True
    if a.isdigit() and int(a) < len(_NUMBER_WORDS) and _verbatim(_NUMBER_WORDS[int(a)], context):
        return True  # "3" for "The default is three."
    words = [w for _, _, w in _spans(a) if w not in STOP_WORDS]
    if not words:
        return False
    have = {w for _, _, w in _spans(context)}
    return sum(w in have for w in words) >= SUPPORT_SHARE * len(words)


def is_lookup(question: str) -> bool:
    """Whether ``question`` looks up a name or value defined in reference docs (a variable, a
    parameter, an operator, a default value...): its answer sits in one entry."""
    return _LOOKUP.search(question) is not None


def rank_passages(question: str, passages: Sequence[str], similarity: Sequence[float] | None = None,
                  likelihood: Mapping[int, float] | None = None) -> list[int]:
    """Indices of ``passages`` (heading path + text of each kept leaf), best match to the question
    first.

    Without ``similarity``: most distinct question words first (:func:`h2mt.query.words.stems`:
    compared by their first five characters); ties keep the given order. With ``similarity`` (the
    cosine of each passage's embedding and the question's, the index's own encoder): three
    orders are fused by reciprocal rank (``1 / (PASSAGE_RRF_K + rank)`` summed): that one, the
    passages' best BM25 sentence (:func:`h2mt.query.evidence.rank_sentences`) and ``similarity``.
    A passage naming many question words, one sentence naming its rare words, and one about the
    same thing in other words each lead one order; the passage holding a question's evidence
    leads the fused order more often than it leads any one of them (docs/benchmarks.md).

    ``likelihood`` (passage index -> the generator's query likelihood,
    :func:`h2mt.query.likelihood.likelihoods`) re-ranks the passages it scores: they keep the
    places they hold in the order above, filled by the reciprocal-rank fusion of their order there
    and their likelihood order (:func:`rerank`)."""
    return rerank(_fused(question, passages, similarity), likelihood or {})


def rerank(order: Sequence[int], likelihood: Mapping[int, float]) -> list[int]:
    """``order`` with the items ``likelihood`` scores re-ranked among the places they hold:
    by ``1 / (PASSAGE_RRF_K + rank)`` summed over their order in ``order`` and their order by
    likelihood (highest first); the other items keep their places."""
    scored = [i for i in order if i in likelihood]
    if len(scored) < 2:
        return list(order)
    fused = dict.fromkeys(scored, 0.0)
    for ranking in (scored, sorted(scored, key=lambda i: -likelihood[i])):
        for rank, i in enumerate(ranking):
            fused[i] += 1.0 / (PASSAGE_RRF_K + rank)
    best = iter(sorted(scored, key=lambda i: -fused[i]))
    return [next(best) if i in likelihood else i for i in order]


def _fused(question: str, passages: Sequence[str], similarity: Sequence[float] | None) -> list[int]:
    """:func:`rank_passages` without the likelihood."""
    asked = stems(question)
    by_words = sorted(range(len(passages)), key=lambda i: -len(asked & stems(passages[i])))
    if similarity is None or len(passages) < 2:
        return by_words
    if len(similarity) != len(passages):
        raise ValueError(f"{len(similarity)} similarities for {len(passages)} passages")
    best: dict[int, float] = {}
    for s in rank_sentences(question, passages):  # best first: a passage's first is its best sentence
        best.setdefault(s.leaf, s.score)
    by_sentence = sorted(range(len(passages)), key=lambda i: -best.get(i, float("-inf")))
    by_meaning = sorted(range(len(passages)), key=lambda i: -float(similarity[i]))
    fused = [0.0] * len(passages)
    for order in (by_words, by_sentence, by_meaning):
        for rank, i in enumerate(order):
            fused[i] += 1.0 / (PASSAGE_RRF_K + rank)
    return sorted(range(len(passages)), key=lambda i: -fused[i])


def passage_text(s: ScoredNode) -> str:
    """A kept leaf as the passage rankings read it: its heading path, then its text."""
    return " ".join([*s.node.path, s.node.text])


def rank_sources(question: str, sources: Sequence[ScoredNode], similarity: Sequence[float] | None = None,
                 likelihood: Mapping[int, float] | None = None) -> list[int]:
    """:func:`rank_passages` of the kept leaves ``sources``, each read as its heading path + text."""
    return rank_passages(question, [passage_text(s) for s in sources], similarity, likelihood)


def lead_passage(question: str, sources: Sequence[ScoredNode], similarity: Sequence[float] | None = None,
                 likelihood: Mapping[int, float] | None = None) -> int | None:
    """The index of the kept leaf (heading path + text) matching ``question`` best
    (:func:`rank_passages`), or ``None`` when nothing is kept."""
    return rank_sources(question, sources, similarity, likelihood)[0] if sources else None


def focus_sources(question: str, sources: Sequence[ScoredNode], k: int = FOCUS,
                  similarity: Sequence[float] | None = None,
                  likelihood: Mapping[int, float] | None = None) -> list[ScoredNode]:
    """The kept leaves a brief answer reads: the ``k`` passages matching the question best
    (:func:`rank_passages`, with ``similarity[i]`` the cosine of ``sources[i]`` and the question
    when given), in document order except the best one, which goes last, nearest the question.
    A small model explains from two passages far better than from a full budget of neighbouring
    entries (docs/benchmarks.md)."""
    order = rank_sources(question, sources, similarity, likelihood)
    if not order:
        return list(sources)
    keep = set(order[:k])
    return [s for i, s in enumerate(sources) if i in keep and i != order[0]] + [sources[order[0]]]


def _symbols(text: str) -> set[str]:
    """Runs of symbol characters (``>``, ``||``, ``~~``): an answer may be one."""
    return set(re.findall(r"[^\w\s.,;:!?'\"`\u2018\u2019\u201c\u201d()\[\]-]+", text))


def _marks(text: str) -> set[str]:
    """The marks standing alone in ``text`` (a whitespace-separated token of punctuation only, quotes
    and backticks around it dropped: ``:``, ``]``, ``--``): "The last argument must be a ]" says ``]``,
    and ``:`` is the answer to "which builtin does nothing?". A dash between clauses and a sentence's
    own punctuation (``.``, ``,``, ``?``) are no marks."""
    tokens = (t.strip(_QUOTES) for t in text.split())
    return {t for t in tokens if t and not any(c.isalnum() for c in t) and not set(t) <= set(".,;!?")
            and t not in {"-", "\u2013", "\u2014"}}


def _new_tokens(answer: str, question: str) -> list[str]:
    """The words and symbols of ``answer`` that the question does not already say (glue words dropped)."""
    asked = {w for _, _, w in _spans(question)} | _symbols(question)
    words = [w for _, _, w in _spans(answer) if w not in STOP_WORDS]
    return [t for t in [*words, *sorted(_symbols(answer))] if t not in asked]


def _verbatim(answer: str, text: str) -> bool:
    """``answer`` (quotes and a final period dropped) occurs in ``text`` as whole words, case ignored."""
    a = answer.strip().rstrip(".").strip(_QUOTES + " ").lower()
    return bool(a) and re.search(r"(?<![\w])" + re.escape(a) + r"(?![\w])", text.lower()) is not None


def retry_reason(text: str, question: str, context: str, cfg: PrefillConfig,
                 sources: Sequence[ScoredNode] = (), check_entry: bool = True,
                 similarity: Sequence[float] | None = None,
                 likelihood: Mapping[int, float] | None = None) -> str | None:
    """Why the short answer generated as ``text`` is not to be shown (``None``: it may be): it is
    empty, the model's "not found", an echo of the question or a leaked instruction, it is not
    in the kept ``context`` (:func:`supported_by`; a "yes" or "no" to a yes/no question is a
    verdict and need not be), or, for a lookup (unless ``check_entry`` is false: a symbol chosen
    from the best-matching sentence, :mod:`h2mt.query.symbols`), not in the kept leaf (of
    ``sources``, :func:`rank_passages` with ``similarity`` and ``likelihood``) matching the question
    best. ``cfg`` is the short task's configuration."""
    if not text.strip():
        return "empty"
    if _says_not_found(text):
        return "said not found"
    out = clean_answer(text, question, cfg)
    if out == NOT_FOUND:
        cut = _cut_instructions(text, cfg)
        return "said not found" if _says_not_found(cut) else ECHO_REASON if cut else "leaked instruction"
    if asks_yes_no(question) and re.match(r"(?:yes|no)\b", out.strip(_QUOTES + " "), flags=re.IGNORECASE):
        return None  # "Yes" to "Are both...?": a verdict, not a span of the kept text
    if not supported_by(out, context):
        return "not in the kept text"
    if check_entry and sources and is_lookup(question):
        best = sources[rank_sources(question, sources, similarity, likelihood)[0]].node
        entry = f"{best.path[-1] if best.path else ''} {best.text}".lower()  # the entry's name and text
        if not all(t in entry for t in _new_tokens(out, question)):  # a name or value is quoted from its entry
            return "not in the passage matching the question best"
    return None
