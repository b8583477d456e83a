"""Entries of reference docs in the kept text: a name with the text that defines it.

Reference docs are lists of entries: a configuration parameter (``random_page_cost (floating
point)`` and its paragraph), a shell option (``cdspell`` and the paragraph under it), a function
(``functools.reduce(function, iterable[, initializer])``), an exception (``exception NameError``).
A small model reading several neighbouring entries answers with a neighbour's name or value
(``autocd`` for ``cdspell``, ``seq_page_cost`` for ``random_page_cost``, ``work_mem``'s 4MB for
``maintenance_work_mem``) or explains the wrong entry. Under ``task="auto"`` the engine therefore
reads the kept text as entries:

0. **Join** (:func:`whole_entries`): a long list of entries is cut into leaves wherever the
   chunker's token limit falls, often inside an entry (``horizontal-scroll-mode`` / "This variable
   can be set to either ‘on’ or ‘off’." | "Setting it to ‘on’ means... By default, this variable
   is set to ‘off’."). A kept leaf that starts inside an entry gets the entry's start from the leaf
   before it in its section, and a kept leaf whose last entry runs to its end gets the rest from
   the leaf after it, so that every entry of the kept text is read whole.
1. **Split** (:func:`split_entries`): every kept leaf is cut into entries at its *terms*, a line
   that is an identifier-like name followed by more text (``cdspell``, ``-f``,
   ``hash [-r] [-p filename] [-dt] [name]``), and the lines before the first term belong to the
   leaf's own heading when that heading names an entry (``random_page_cost (floating point)``,
   ``exception NameError``, ``7.10. The continue statement``). An entry answers to its
   :func:`entry_keys` (``functools.reduce`` and ``reduce``; ``NameError``; ``continue``).
2. **"Which parameter / option / function ... <description>?"** (:func:`asks_for_name`;
   :func:`described_entries`): the
   kept sentences are ranked against the question by BM25 (:func:`h2mt.query.evidence.rank_sentences`);
   the entries holding the best-matching sentences (the best one holding enough of the question's
   words, or sitting in the kept leaf that matches the question best by words and meaning;
   within :data:`NAME_MARGIN` of the best, at most
   :data:`NAME_CANDIDATES`, none that the question already names) are the candidates. The first
   one's name is the answer, as is; the others are read with it, as its sources (the generator
   choosing among them, constrained to their names, picked the right one for 16 of 31 questions
   of sets 1–64 against 23 for the first: docs/benchmarks.md, stop 48). The answer is always an
   entry name of the kept text.
3. **"What does X do?" / "What is X (used) for?" / "the default value of X"** (:func:`named_entry`;
   a kind noun after the subject, "the command builtin", is not part of it): the entry the question
   names (its key is a word or identifier of the question; among several, the one whose name and
   heading path share most of the question's words, then one that starts in the kept text, then
   the most specific) is what the answer
   stands on. A "what does" question is answered with the entry's own opening sentences
   (:func:`opening`, nothing generated: the documents' words cannot be inverted), or, when it names
   one of the command's options ("What does `wait -n` do?"), with the entry's sentence on that
   option (:func:`option_sentence`); when the question asks about a detail beyond the entry ("...when
   I complete in the middle of a word?"), the entry's sentence on it follows (:func:`detail_sentence`);
   a default the
   entry states in so many words ("The default is 64MB.") is the answer to "what is the default
   of X" (:func:`stated_default`); another value question is answered by the generator reading
   that entry alone.
4. **"If I leave out X, what is used?"** (:func:`asks_what_is_assumed`; :func:`default_quote`): when
   the entry the question names states no default, the kept sentences ranked best in their places
   that state one ("If port is omitted, the standard IMAP4-over-SSL port (993) is used.", "The
   default is dtgvp.") are quoted, at most :data:`DEFAULT_QUOTE_SENTENCES`, best first. A small
   model asked for the bare value reads a neighbouring entry's number or echoes the question; the
   documents' sentence says the value together with the case it holds in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..types import ScoredNode
from .evidence import (
    Meaning,
    Rerank,
    Sentence,
    cut_to,
    is_prose,
    quotable_sentences,
    rank_sentences,
    split_sentences,
    with_text,
)
from .routing import command_options
from .task import asks_for_default, asks_what_is_assumed, plain_question
from .words import STOP_WORDS, stems

__all__ = ["Entry", "entry_keys", "whole_entries", "split_entries", "asks_for_name", "described_entries",
           "named_entry", "opening", "option_sentence", "detail_sentence",
           "asks_for_default", "stated_default", "sentence_default", "signature_default", "entry_source",
           "sentence_contexts", "asks_what_is_assumed", "default_quote",
           "DEFAULT_QUOTE_CANDIDATES", "DEFAULT_QUOTE_SENTENCES", "DEFAULT_QUOTE_MIN_COVERAGE",
           "NAME_MARGIN", "NAME_CANDIDATES",
           "OPENING_SENTENCES", "OPENING_MAX_WORDS", "DEFAULT_MAX_WORDS"]

NAME_MARGIN = 0.85  # entries whose best sentence scores this share of the best one's compete for a name answer
NAME_CANDIDATES = 3  # at most this many close entries are read; the first one's name is the answer
NAME_MIN_COVERAGE = 0.3  # the best sentence holds this share of the question words' weight, or its leaf leads
OPENING_SENTENCES = 2  # a "what does X do" answer quotes this many sentences of X's entry
OPENING_MAX_WORDS = 70  # ...and stops after the sentence that passes this many words
TERM_MAX_CHARS = 80  # a term line is at most this long...
TERM_MAX_WORDS = 10  # ...and this many words
# What a heading or term says before the name: "exception NameError", "class int(x=0)", "7.10. The ..."
_LEAD = re.compile(
    r"^(?:[A-Z]?\d*(?:\.\d+)+\.?\s+|\d+\.?\s+)?(?:(?:the|a|an)\s+)?(?:(?:exception|class|function|method|attribute|data|"
    r"classmethod|staticmethod|abstractmethod|async|await|coroutine|decorator|built-in function)\s+)?",
    re.IGNORECASE)
_IDENT = re.compile(r"^[-$@%]?[A-Za-z_][\w.$-]*$")
_TITLE_WORD = re.compile(r"^[A-Z][a-z]+$")  # "Synopsis", "Parameters": a section, not an entry
# Not a term: grammar, a doctest, an assignment, a table row, a shell prompt, an index line ("name: page"),
# an example call whose first argument is a literal ("IPv6Network('2001:db8::/96')"; a signature names its parameters)
_NOT_TERM = re.compile(r"::=|>>>|\s=\s|\s\|\s|^[#$>]\s|\w: |^[\w.]+\(\s*(?:['\"\d]|-\d)")
# The kinds of entry a question names ("which shopt option", "the command builtin")
_KINDS = "|".join(("variable", "parameter", "option", "setting", "function", "method", "exception", "command",
                   "builtin", "module", "class", "decorator", "keyword", "flag", "statement"))
_NAME_NOUNS = re.compile(
    r"\b(?:shell |special |configuration |server |environment |shopt |set |built-?in |functools |itertools )?"
    rf"(?:{_KINDS})(?:es|s)?\b", re.IGNORECASE)
_KIND = re.compile(rf"(?:{_KINDS}|clause)s?")
_ARTICLES = frozenset({"the", "a", "an", "what", "which", "does", "do", "is", "of"})
# "which shopt option...", "what inputrc setting...", "which contextlib helper...": a name asked for by its description
_ASKS_NAME = re.compile(rf"^(?:which|what) (?:[\w-]+ ){{0,2}}(?:{_KINDS}|helper|attribute|constant|directive|utility)"
                        r"s?\b")


@dataclass(frozen=True)
class Entry:
    """One entry of a kept leaf: its name as written, the keys it answers to, its sentences."""

    name: str  # "random_page_cost (floating point)", "cdspell", "hash [-r] [-p filename] [-dt] [name]"
    keys: tuple[str, ...]  # ("random_page_cost",), ("functools.reduce", "reduce")
    leaf: int  # index of its leaf in the kept leaves
    first: int  # index of its first sentence in the leaf's split_sentences (the term line itself for a term)
    last: int  # index one past its last sentence
    path: tuple[str, ...]  # heading path of its leaf
    term: bool  # a term line inside the leaf (False: the leaf's heading names it)
    whole: bool = True  # its text starts in this leaf (False: a leaf continuing its heading's section)


def entry_keys(name: str) -> tuple[str, ...]:
    """The identifiers an entry named ``name`` answers to: its first word without a signature
    (``functools.reduce(function, ...)`` -> ``functools.reduce`` and ``reduce``; ``exception
    NameError`` -> ``NameError``; ``random_page_cost (floating point)`` -> ``random_page_cost``;
    ``RESTART IDENTITY`` as is; ``7.10. The continue statement`` -> ``continue``). Empty when the
    name is not an identifier (``Synopsis``, ``3.7 Executing Commands``, ``D.3 Parameter Index``)
    or a plain word starts prose (``The list of options is:``)."""
    n = _LEAD.sub("", name.strip())
    words = n.split()
    if not words:
        return ()
    caps = [w for w in words[:3] if re.fullmatch(r"[A-Z][A-Z_]+", w)]
    if len(caps) >= 2 and caps == words[:len(caps)]:
        return (" ".join(caps),)  # RESTART IDENTITY, ON DELETE
    head = re.split(r"[\s(\[]", n, maxsplit=1)[0].rstrip(",:;")
    if not _IDENT.match(head) or _TITLE_WORD.match(head) or head.lower() in STOP_WORDS or len(head) < 2:
        return ()
    rest = n[len(head):]
    if not (re.search(r"[\W\d_]|[A-Z]", head.lstrip("-")) or "(" in rest or "[" in rest or len(rest.split()) <= 3):
        return ()  # "The list of options is:": a plain word starting prose, not a name
    head = head.rstrip(".").lstrip("@")  # "@functools.singledispatch": the decorator's name
    tail = head.rsplit(".", 1)[-1]
    return (head, tail) if tail != head and len(tail) > 1 else (head,)


def _is_term(unit: str, following: str | None) -> bool:
    """Whether the line ``unit`` names an entry whose text follows it (``following``, the next line)."""
    u = unit.strip()
    if following is None or not u or len(u) > TERM_MAX_CHARS or len(u.split()) > TERM_MAX_WORDS:
        return False
    if u[-1] in ".,:;?!" or _NOT_TERM.search(u):
        return False
    return bool(entry_keys(u)) and following.strip()[:1].isupper()


def _terms(units: Sequence[str]) -> list[int]:
    """The indices of the term lines among ``units`` (a leaf's :func:`h2mt.query.evidence.split_sentences`)."""
    return [j for j in range(len(units)) if _is_term(units[j], units[j + 1] if j + 1 < len(units) else None)]


def whole_entries(sources: Sequence[ScoredNode], before: Sequence[str | None] = (),
                  after: Sequence[str | None] = ()) -> list[ScoredNode]:
    """The kept leaves with the entries that a leaf boundary cut made whole (module docstring, step 0).

    ``before[i]`` / ``after[i]`` is the text of the leaf right before / after ``sources[i]`` in its
    section (``None``: none, or ``sources[i]`` is an excerpt, not its whole leaf):

    * a leaf that does not start with a term line, while the leaf before it has one, starts inside
      that leaf's last entry: the entry's term line and the text after it are put in front;
    * a leaf whose last entry runs to its end (it has a term line, was given one in front, or its
      heading names an entry) gets the sentences of the leaf after it up to that leaf's first term
      line.

    A leaf with nothing to join is returned as it is; a joined one keeps its node id, path and score,
    with its text and token count grown."""
    out: list[ScoredNode] = []
    for i, s in enumerate(sources):
        units = split_sentences(s.node.text)
        starts = _terms(units)
        prev = split_sentences(before[i] or "") if i < len(before) else []
        nxt = split_sentences(after[i] or "") if i < len(after) else []
        head: list[str] = []
        if units and prev and (not starts or starts[0] > 0):  # the leaf starts inside something
            if _is_term(prev[-1], units[0]):
                head = [prev[-1]]  # the term line closed the leaf before
            elif prev_terms := _terms(prev):
                head = prev[prev_terms[-1]:]  # the last entry of the leaf before runs on into this one
        title = s.node.path[-1] if s.node.path else ""
        tail: list[str] = []
        if nxt and (starts or head or entry_keys(title)):
            next_terms = _terms(nxt)
            tail = nxt[:next_terms[0] if next_terms else len(nxt)]
        if not head and not tail:
            out.append(s)
            continue
        out.append(with_text(s, "\n".join([*(u.strip() for u in head), s.node.text, *(u.strip() for u in tail)])))
    return out


def split_entries(sources: Sequence[ScoredNode], before: Sequence[str | None] = ()) -> list[Entry]:
    """The entries of the kept leaves, in order (module docstring, step 1). ``before[i]`` is the
    text of the leaf right before ``sources[i]`` in its section (``None``: none): a leaf that
    starts with an entry's text after its term line closed the leaf before (a long list cut into
    leaves) belongs to that term, not to the heading."""
    out: list[Entry] = []
    for i, s in enumerate(sources):
        units = split_sentences(s.node.text)
        starts = [j for j in range(len(units)) if _is_term(units[j], units[j + 1] if j + 1 < len(units) else None)]
        head = starts[0] if starts else len(units)
        prev = split_sentences(before[i] or "") if i < len(before) else []
        title = s.node.path[-1] if s.node.path else ""
        if head and prev and units and _is_term(prev[-1], units[0]):
            out.append(Entry(prev[-1].strip(), entry_keys(prev[-1]), i, 0, head, s.node.path, True))
        elif head and entry_keys(title):
            whole = i >= len(before) or before[i] is None  # no leaf before it in the section: the section's start
            out.append(Entry(title, entry_keys(title), i, 0, head, s.node.path, False, whole))
        for k, j in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(units)
            if end - j > 1:  # a term with text of its own (not an index line or a list of names)
                out.append(Entry(units[j].strip(), entry_keys(units[j]), i, j, end, s.node.path, True))
    return out


def sentence_contexts(sources: Sequence[ScoredNode], before: Sequence[str | None] = ()) -> list[list[str]]:
    """For every sentence of every kept leaf (:func:`h2mt.query.evidence.split_sentences`), the
    words that situate it: its section's heading and the name of the entry it belongs to
    (:func:`split_entries`; the name once when the heading is the entry). What
    :func:`h2mt.query.evidence.rank_sentences` reads a sentence with."""
    entries = split_entries(sources, before)
    out: list[list[str]] = []
    for i, s in enumerate(sources):
        heading = s.node.path[-1] if s.node.path else ""
        row = []
        for j in range(len(split_sentences(s.node.text))):
            entry = _entry_of(entries, i, j)
            name = entry.name if entry is not None and entry.name != heading else ""
            row.append(" ".join(w for w in (heading, name) if w))
        out.append(row)
    return out


def _entry_of(entries: Sequence[Entry], leaf: int, index: int) -> Entry | None:
    return next((e for e in entries if e.leaf == leaf and e.first <= index < e.last), None)


def _names(key: str, question: str) -> bool:
    """Whether ``question`` names ``key`` (as a whole word or identifier; case ignored except for
    an option such as ``-n``, which ``-N`` is not)."""
    flags = 0 if key.startswith("-") else re.IGNORECASE
    return re.search(r"(?<![\w$@.-])" + re.escape(key) + r"(?![\w-]|\.\w)", question, flags) is not None


def _code_words(question: str) -> list[str]:
    """The words of the question's code spans (`set -n`, ‘shopt -s nullglob’)."""
    spans = re.findall(r"`([^`]+)`|\u2018([^\u2019]+)\u2019", question)
    return [w for pair in spans for span in pair for w in span.split()]


def asks_for_name(question: str) -> bool:
    """Whether ``question`` asks for an entry's name by describing it ("Which shopt option
    corrects...", "Which exception is raised when...", "Which built-in function returns...")."""
    return _ASKS_NAME.search(plain_question(question)) is not None


def described_entries(question: str, sources: Sequence[ScoredNode], before: Sequence[str | None] = (),
                      lead: int | None = None) -> list[Entry]:
    """The entries a "which parameter ... <description>?" question is answered from (one per
    name), best first (module docstring, step 2); empty when the best-matching sentence is in no
    entry, or matches too little of the question (less than :data:`NAME_MIN_COVERAGE` of its
    words' weight) while its leaf is not ``lead`` (the index of the kept leaf matching the
    question best by words and meaning, :func:`h2mt.query.answer.rank_passages`): the answer is
    then generated as before."""
    entries = split_entries(sources, before)
    if not entries:
        return []
    asked = _NAME_NOUNS.sub(" ", question)  # "which parameter": the kind of answer, not a word of its entry
    ranked = rank_sentences(asked, [s.node.text for s in sources])
    if not ranked or ranked[0].score <= 0 or (ranked[0].coverage < NAME_MIN_COVERAGE and ranked[0].leaf != lead):
        return []
    out: list[Entry] = []
    for sent in ranked:
        if sent.score < NAME_MARGIN * ranked[0].score or len(out) >= NAME_CANDIDATES:
            break
        e = _entry_of(entries, sent.leaf, sent.index)
        if e is None:
            if not out:
                return []  # the best sentence is prose outside any entry: no name to take
            continue
        if any(_names(k, question) for k in e.keys):
            continue  # the question's own name is not its answer
        if e.keys[0] not in [x.keys[0] for x in out]:
            out.append(e)
    return out


def _without_kind(question: str) -> str:
    """``question`` without a kind noun that follows its subject ("the command builtin" -> "the
    command", "the listen_addresses parameter" -> "the listen_addresses"): only the subject names
    an entry (Bash has a ``builtin`` builtin; ``command`` is one too)."""
    words = question.split(" ")
    keep = [w for i, w in enumerate(words)
            if not (i and _KIND.fullmatch(w.strip("`?,.").lower()) and words[i - 1].lower() not in _ARTICLES)]
    return " ".join(keep)


def _said(e: Entry) -> set[str]:
    """The words of ``e``'s heading path and name, lower-cased (options such as ``-N`` as written)."""
    return {w if w.startswith("-") else w.lower() for w in re.findall(r"[\w$@.-]+", " ".join([*e.path, e.name]))}


def named_entry(question: str, sources: Sequence[ScoredNode], before: Sequence[str | None] = ()) -> Entry | None:
    """The kept entry ``question`` names (module docstring, step 3), or ``None``. When the question
    quotes code of several words (`set -n`), the entry's name and heading path hold every one, or failing
    that every one but the options (`wait -n`: the wait entry)."""
    code = [w if w.startswith("-") else w.lower() for w in _code_words(question)]
    question = _without_kind(question)
    q = {w.lower() for w in re.findall(r"[\w$@.-]+", question)} - STOP_WORDS
    entries = split_entries(sources, before)
    # every code word in the entry's name or path; failing that, every code word but the options (`wait -n`: the
    # wait entry, whose text speaks of -n; see option_sentence)
    for need in (set(code), {w for w in code if not w.startswith("-")}):
        scored: list[tuple[tuple[int, int, int, int, int], Entry]] = []
        for e in entries:
            keys = [k for k in e.keys if _names(k, question)]
            said = _said(e)
            if keys and (len(code) < 2 or need <= said):
                scored.append(((len(q & said), max(map(len, keys)), int(e.whole), -len(said - q), int(e.term)), e))
        if scored:
            return max(scored, key=lambda x: x[0])[1]
    return None


def opening(entry: Entry, sources: Sequence[ScoredNode]) -> str:
    """The first :data:`OPENING_SENTENCES` prose sentences of ``entry`` (a syntax line such as
    ``hash [-r] [-p filename]`` or ``continue_stmt ::= "continue"`` skipped), fewer when they pass
    :data:`OPENING_MAX_WORDS` words; empty when it has none or its start is not in the kept leaf
    (a leaf continuing a long section: its first sentences are not the entry's opening)."""
    if not entry.whole:
        return ""
    units = split_sentences(sources[entry.leaf].node.text)[entry.first:entry.last]
    out: list[str] = []
    for u in units:
        if not is_prose(u):
            continue
        out.append(u.strip())
        if len(out) >= OPENING_SENTENCES or sum(len(x.split()) for x in out) >= OPENING_MAX_WORDS:
            break
    return " ".join(out)


def option_sentence(entry: Entry, sources: Sequence[ScoredNode], question: str) -> str:
    """The sentence of ``entry`` on the option ``question`` gives the entry's command ("What does `wait -n` do?"
    -> "If the -n option is supplied, wait waits for a single job ..."): its first prose sentence naming the
    option, or the sentence after the option's own term line (``-x`` then "Print a trace ..."); empty when the
    question names no option of this entry's command, or the entry says nothing of it."""
    keys = {k.lower() for k in entry.keys}
    options = [t for command, terms in command_options(question) if command.lower() in keys
               for t in terms if t.startswith("-")]
    if not options:
        return ""
    units = [u.strip() for u in split_sentences(sources[entry.leaf].node.text)[entry.first:entry.last]]
    for opt in options:
        for i, u in enumerate(units):
            if (u == opt or u.startswith(opt + " ")) and not is_prose(u):  # the option's term line
                after = next((v for v in units[i + 1:] if is_prose(v)), "")
                if after:
                    return after
            elif is_prose(u) and _names(opt, u):
                return u
    return ""


# Words of "what does X <verb>?" that ask, not name what is asked about
_ASKING_WORDS = stems("mean means meaning change changes happen happens actually exactly really turn turning turned "
                      "enable enabling enabled use using used work works affect affects control controls set setting "
                      "sets value option parameter variable function method command builtin give gives get gets")


def detail_sentence(entry: Entry, sources: Sequence[ScoredNode], question: str, shown: str) -> str:
    """The sentence of ``entry`` on the detail ``question`` asks about beyond the entry itself
    ("What does huge_pages = try do at server start?" -> "With huge_pages set to try, the server
    will try to request huge pages, but fall back to the default if that fails."): among the
    entry's prose sentences not in ``shown`` (its opening), the one holding most of the question's
    words that are neither the entry's name nor asking words, when it holds one that ``shown``
    lacks; empty otherwise (a question naming only the entry: "What does PROMPT_COMMAND do?")."""
    asked = stems(question) - stems(" ".join(entry.keys)) - _ASKING_WORDS
    if not asked:
        return ""
    lacking = asked - stems(shown)
    best, most = "", 0
    for u in split_sentences(sources[entry.leaf].node.text)[entry.first:entry.last]:
        u = u.strip()
        if not is_prose(u) or u in shown or not (stems(u) & lacking):
            continue
        n = len(stems(u) & asked)
        if n > most:
            best, most = u, n
    return best


_QUOTED = r"\u2018[^\u2019]+\u2019|'[^']+'|\"[^\"]+\""  # a value in quotes: ‘audible’, 'UTF8', "big"
_VALUE = rf"(?P<v>{_QUOTED}|.+?)"
_DEFAULTS = (
    re.compile(r"\bthe default(?: value| setting)? (?:is|was)\s+" + _VALUE + r"(?=[.;,]\s|[.;,]?$)", re.IGNORECASE),
    re.compile(r"\bby default,?\s+(?:this|the|it)\b(?:\s+[\w-]+){0,2}?\s+(?:is|are)\s+(?:set to\s+)?" + _VALUE
               + r"(?=[.;,]\s|[.;,]?$)", re.IGNORECASE),  # "By default, this variable is set to ‘off’."
    re.compile(r"\bdefaults to\s+" + _VALUE + r"(?=[.;,)]\s|[.;,)]?$)", re.IGNORECASE),
    re.compile(rf"(?P<v>{_QUOTED}|\S+)\s*\(the default\)", re.IGNORECASE),
    re.compile(r"\(default:?\s+(?P<v>[^()]+?)\)", re.IGNORECASE),  # "cutoff (default 0.6)"
    # "100 (complete packing) is the default.", "VOLATILE is the default assumption."
    re.compile(rf"(?:^|[,;:]\s|\b(?:and|or|then)\s)(?!(?:this|that|it|which|there|one|each|both)\b)"
               rf"(?P<v>{_QUOTED}|[\w.$%-]+)(?:\s+\([^()]*\))?\s+is the default\b", re.IGNORECASE),
)
_VALUE_WORDS = stems("default defaults value values setting settings")
DEFAULT_MAX_WORDS = 6  # a stated default longer than this is a sentence, not a value


# A sentence stating what holds when nothing is given: "The default is dtgvp.", "If port is omitted, ...", "If it is
# not supplied then...", "If no column_expression is given, ...", "If factory is None, ...", "...; otherwise ...",
# and an option's own sentence naming what it replaces: "Read lines from file descriptor fd instead of the standard
# input.", "...rather than in pg_wal." (not an action it replaces: "...rather than being printed"; docs/benchmarks.md,
# stop 51)
_STATES_DEFAULT = re.compile(
    r"\bdefault(?:s|ed|ing)?\b|\bomitted\b|\bnot (?:specified|supplied|provided|given|set|present)\b|\bif no\b|"
    r"\bis None\b|\bunset\b|\bif (?:\w+ ){1,4}(?:is|are) not\b|\bwithout\b|\botherwise\b|\babsent\b|"
    r"\binstead of (?!\w+ing\b)|\brather than (?!\w+ing\b)",
    re.IGNORECASE)
DEFAULT_QUOTE_CANDIDATES = 8  # default_quote reads this many quotable sentences ranked best...
DEFAULT_QUOTE_SENTENCES = 2  # ...and quotes up to this many of them that state a default, best first...
DEFAULT_QUOTE_MIN_COVERAGE = 0.1  # ...when the best holds this share of the question words' weight


def default_quote(question: str, sources: Sequence[ScoredNode], contexts: Sequence[Sequence[str]] | None = None,
                  meaning: Meaning | None = None, candidates: int = DEFAULT_QUOTE_CANDIDATES,
                  k: int = DEFAULT_QUOTE_SENTENCES, min_coverage: float = DEFAULT_QUOTE_MIN_COVERAGE,
                  rerank: Rerank | None = None) -> tuple[list[Sentence], list[ScoredNode]] | None:
    """The kept sentences that say what ``question`` gets when something is left out, in the
    documents' words: among the ``candidates`` quotable sentences ranked best
    (:func:`h2mt.query.evidence.rank_sentences`, in their places with ``contexts``, ``meaning`` and
    ``rerank``), the first ``k`` that state a default ("The default is dtgvp.", "If port is omitted, the
    standard IMAP4-over-SSL port (993) is used.", "If factory is None, ..."), best first, each text
    once and no later one stating another value than the first ("The default value is ‘> ’." and
    a neighbouring entry's "The default value is ‘\\s-\\v\\$ ’." would contradict each other), with
    the leaves they come from cut down to them; ``None`` when the best quotable sentence holds less
    than ``min_coverage`` of the question words' weight or none of the candidates states a default."""
    chosen: list[Sentence] = []
    for sent in quotable_sentences(question, sources, contexts, meaning, min_coverage, rerank)[:candidates]:
        if len(chosen) == k:
            break
        if not _STATES_DEFAULT.search(sent.text) or any(sent.text == c.text for c in chosen):
            continue
        first = _stated_values([chosen[0].text]) if chosen else set()
        if first and _stated_values([sent.text]) - first:
            continue  # another value than the first sentence's: a neighbouring entry's default
        chosen.append(sent)
    return (chosen, cut_to(sources, chosen)) if chosen else None


def stated_default(entry: Entry, sources: Sequence[ScoredNode], question: str = "") -> str:
    """The default value ``entry``'s text states ("The default is 64 megabytes (64MB).", "If set to
    ‘audible’ (the default), ...", "... which defaults to 0"), as written; empty when it states
    none, or more than one, or one longer than :data:`DEFAULT_MAX_WORDS` words. When ``question``
    asks about a part of the entry ("the default byteorder of int.to_bytes()": words of the
    entry's text other than its name and "default"/"value"), only a sentence naming that part counts,
    unless none of those states a default (the words were the user's setting, "my long lines wrap")."""
    units = split_sentences(sources[entry.leaf].node.text)[entry.first:entry.last]
    part = stems(question) - stems(" ".join(entry.keys)) - _VALUE_WORDS  # a signature's parameters may be the part
    part &= stems(" ".join(units))
    found = _stated_values([u for u in units if part & stems(u)]) if part else set()
    if not found:
        found = _stated_values(units)
    return found.pop() if len(found) == 1 else ""


def _stated_values(units: Sequence[str]) -> set[str]:
    """The distinct default values ``units`` (sentences) state by :data:`_DEFAULTS`, each at most
    :data:`DEFAULT_MAX_WORDS` words."""
    found = {m.group("v").strip() for u in units for rx in _DEFAULTS for m in rx.finditer(u.strip())}
    return {v for v in found if v and len(v.split()) <= DEFAULT_MAX_WORDS}


DEFAULT_SENTENCES = 3  # a default stated outside any named entry is read from this many best-matching sentences
DEFAULT_FOLLOWING = 3  # ...or from this many sentences right after the best one in its leaf (its entry goes on)


_OPTIONAL_TAIL = re.compile(r"(?<=\S)\s*\[.*$")  # "port=0[, timeout]" -> "0" (not "[]": a value of its own)
_SIGNATURE = re.compile(r"^(?:[\w.]+ )?[A-Za-z_][\w.]*\((?P<params>.*)\)(?:\s*->.*)?$")


def _parameters(params: str) -> dict[str, str]:
    """``"dir, maxlevels=0, *, quiet=0[, offset]"`` -> {"maxlevels": "0", "quiet": "0"}: the defaults
    a signature writes, as written (commas inside brackets, quotes or calls do not split). The
    docs' notation is not Python (``iterable[, initializer]``), so Python's own parser would refuse
    many of them."""
    out: dict[str, str] = {}
    depth, start, quote = 0, 0, ""
    for i, ch in enumerate(params + ","):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            name, eq, value = params[start:i].partition("=")
            value = _OPTIONAL_TAIL.sub("", value.strip())  # "0[, timeout]": the optional group is not the value
            if eq and re.fullmatch(r"\s*\w+\s*", name) and value:
                out[name.strip()] = value
            start = i + 1
    return out


def signature_default(question: str, sources: Sequence[ScoredNode]) -> tuple[str, int] | None:
    """(value, leaf index) of the default a kept signature writes for the parameter ``question``
    asks about ("When I call compileall.compile_path() without passing maxlevels..." ->
    ``compileall.compile_path(skip_curdir=True, maxlevels=0, ...)`` -> ``0``): the signature is a
    kept leaf's heading or one of its term lines, the question names its function (a key,
    :func:`entry_keys`) and exactly one of its parameters that has a default; ``None`` otherwise,
    when kept signatures of that function disagree, or when the default is ``None`` (it stands for
    a rule the text states: "If max_workers is None or not given, it will default to...")."""
    found: dict[str, int] = {}
    for i, s in enumerate(sources):
        lines = [*(s.node.path[-1:] if s.node.path else ()), *s.node.text.splitlines()]
        for line in lines:
            m = _SIGNATURE.match(line.strip())
            if m is None or not any(_names(k, question) for k in entry_keys(line.strip())):
                continue
            asked = [v for p, v in _parameters(m.group("params")).items()
                     if re.search(rf"(?<![\w.]){re.escape(p)}(?!\w)", question)]
            if len(asked) == 1:
                found.setdefault(asked[0], i)
    return next(iter(found.items())) if len(found) == 1 and "None" not in found else None


def sentence_default(question: str, sources: Sequence[ScoredNode], ranked: Sequence[Sentence] | None = None,
                     ) -> tuple[str, int] | None:
    """The default value a kept sentence states (the patterns of :func:`stated_default`: "cutoff
    (default 0.6)", "spread (the default)", "VOLATILE is the default assumption"), with the index
    of its leaf in ``sources``: the first of the :data:`DEFAULT_SENTENCES` sentences matching
    ``question`` best (:func:`h2mt.query.evidence.rank_sentences`), then of the
    :data:`DEFAULT_FOLLOWING` sentences right after the best one in its leaf (an entry describes
    what it sets, then states its default: "...Setting to 0 disables. The default is 3 seconds."),
    that states exactly one value of at most :data:`DEFAULT_MAX_WORDS` words; ``None`` when none
    does. For a default question that names no kept entry ("How many threads does a
    ThreadPoolExecutor use when I don't pass max_workers?"), where a small model reads a
    neighbouring number. ``ranked``: the sentences of ``sources`` already ranked another way (the
    learned order, :mod:`h2mt.query.sentence_ranker`) instead of by BM25."""
    if ranked is None:
        ranked = rank_sentences(question, [s.node.text for s in sources])
    ranked = [sent for sent in ranked if sent.score > 0]
    if not ranked:
        return None
    best = ranked[0]
    following = split_sentences(sources[best.leaf].node.text)[best.index + 1:best.index + 1 + DEFAULT_FOLLOWING]
    for text, leaf in [*((s.text, s.leaf) for s in ranked[:DEFAULT_SENTENCES]), *((u, best.leaf) for u in following)]:
        found = _stated_values([text])
        if len(found) == 1:
            return found.pop(), leaf
    return None


def entry_source(entry: Entry, sources: Sequence[ScoredNode]) -> ScoredNode:
    """``entry``'s leaf cut down to the entry (its term line and text), as a kept source."""
    src = sources[entry.leaf]
    units = [u.strip() for u in split_sentences(src.node.text)[entry.first:entry.last]]
    if entry.term and units[:1] != [entry.name]:
        units.insert(0, entry.name)  # the term line closed the leaf before
    return with_text(src, "\n".join(units))
