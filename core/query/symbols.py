"""Symbol answers: a question asking for an operator or a symbol is answered by a symbol of the kept text.

Asked "Which operator gives the floored quotient of x and y?", a small model answers with the
neighbouring name in the same table row (``divmod`` for ``//``, ``pow`` for ``**``, ``LIKE`` for
``~``): names are what it has learnt to answer with. Under ``task="auto"`` such a question
(:func:`asks_for_symbol`: "which operator / symbol / character / special parameter...") is
answered by **constrained decoding**: the answer must be one of the symbols of the kept text
(:func:`symbol_candidates`: runs of operator characters such as ``//``, ``$?``, ``~~``, ``<<<``),
and the generator picks it, token by token, over the same short-answer prompt: at each step only
the next tokens of the candidates still alive are allowed, and a complete candidate ends when the
model's end-of-answer token scores above every continuation (:func:`choose_span`). This costs one
forward pass over the prompt per token of the chosen symbol (usually one or two), none of which
streams text, and it never invents a symbol the documents do not have.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..types import GenerationStats
from .evidence import rank_sentences, split_sentences
from .generate import Generation
from .prompt import Prompt
from .task import plain_question
from .words import stems

__all__ = ["asks_for_symbol", "symbol_candidates", "named_symbols", "evidence_symbols", "respective_symbol",
           "choose_span", "symbol_generation", "MAX_CANDIDATES"]

SYNTAX_MAX_WORDS = 6  # an entry's syntax line ("set < other") is at most this many words
MAX_CANDIDATES = 64  # at most this many distinct symbols of the kept text compete (first occurrences first)
_KIND_WORDS = (r"operators?|symbols?|characters?|sigils?|punctuation|special parameters?|designators?|terminators?|"
               r"metacharacters?|redirections?")
_KIND_NOUNS = rf"(?:{_KIND_WORDS})"  # the kind of answer asked for: no word of its evidence
_NOUNS = (rf"(?:{_KIND_WORDS}|tokens?|markers?|specifiers?|separators?|delimiters?|wildcards?|"
          r"parameter expansions?|escapes?|escape sequences?|transformations?|format codes?|directives?|"
          r"presentation types?|syntax(?! of\b)|quantifiers?|placeholders?|modifiers?|prefix|prefixes|"
          r"jobspecs?|cast|brackets?|quotes?)")  # a symbol is asked for
_NOT_SYMBOL = (r"(?! (?:set|sets|encoding|encodings|class|classes|string|strings|type|types|limit|length|count|"
               r"did|does(?! (?:that|this|it)\b)|do\b(?! (?:i|you|we)\b)|was|were|played|plays|voiced|portrayed|in the|"
               r"from the))")  # a role
# the question's clause that asks: its start, or after a leading phrase ("instead of X, which operator...")
_ASKS = re.compile(
    r"(?:^|, )(?:which|what)(?:'s| is| are)? (?:the |a |an )?(?:[\w-]+ |\$\{\S+\} ){0,2}" + _NOUNS + r"\b"
    + _NOT_SYMBOL)  # "which ${parameter@operator} transformation..." too
# "what do I put between the name and the word...", "what goes between the parameter name and its value"
_ASKS_TO_TYPE = re.compile(
    r"(?:^|, )what (?:(?:do|should|must|can) (?:i|you|we) (?:put|write|add|type|place|insert)|goes|"
    r"(?:has|needs) to (?:come|go)) (?:[^?]* )?(?:between|after|before|in front of|at the end of)\b|"
    r"(?:^|, )what (?:do|should|must|can) (?:i|you|we) (?:append|prepend|attach|wrap)\b")
_OPERATOR_RUN = r"[!#$%&*+\-/:;<=>?@\\^_|~]+"  # a run of operator characters
_RUN = re.compile(r"\$\d(?!\d)|" + _OPERATOR_RUN)  # a positional parameter ($0, $1) is a symbol too
_CLOSE = ")]'\"\u2019"  # closing quotes and brackets
_PROSE = set(".,;:?!")  # a run of these right after a word is the sentence's punctuation


def asks_for_symbol(question: str) -> bool:
    """Whether ``question`` asks for an operator, a symbol, a character, a specifier or a special
    parameter ("Which operator raises x to the power y?", "Which special parameter expands
    to...", "Instead of typing.Union[X, Y], which operator..."), or for what to type between,
    after or before something ("What do I put between the name and the word...?")."""
    q = plain_question(question)
    return _ASKS.search(q) is not None or _ASKS_TO_TYPE.search(q) is not None


def symbol_candidates(text: str, limit: int = MAX_CANDIDATES) -> list[str]:
    """The distinct symbols of ``text`` in order of first occurrence (at most ``limit``): runs of
    operator characters and ``$`` with one digit (``$0``), except a run inside a word
    (``non-interactive``, ``snake_case``, ``a/b``), underscores or hyphens alone, and a sentence's
    own punctuation (``word:``, ``word?``); a dash operator on its own syntax line (``-nt`` of
    ``file1 -nt file2``, ``-e`` of ``-e file``: the test operators); a format specifier or an escape
    of one letter (``%q``, ``\\n``); a parameter expansion's operator (``:+`` of
    ``${parameter:+word}``, not its ``$``); a regular expression's group form written with an ellipsis
    (``(?=...)``, ``(?P<name>...)``); any one character quoted alone (``‘(’``, ``“[”``); and a code
    form written as one word (:func:`_code_tokens`: ``%TYPE``, ``${identifier}``, ``<(list)``,
    ``‘%ce’``, ``'!r'``, ``\\dAf``), after the runs it holds (``%`` before ``%TYPE``). An interactive
    prompt opening an example line (``>>>``, ``...``) is no symbol of the text."""
    specifiers = [(m.start(), m.group()) for m in _SPECIFIER.finditer(text)]
    forms = list(_EXPANSION.finditer(text))
    groups = [(m.start(), m.group()) for m in _GROUP_FORM.finditer(text)]
    taken = {s for s, _ in specifiers} | {m.start() for m in forms}  # "%q" and "${" are no runs of their own
    inside = {i for s, g in groups for i in range(s, s + len(g))}  # "?=" and "..." of "(?=...)": the form's
    code = [(s, w) for s, w in _code_tokens(text) if s not in inside and s not in taken]  # not "${parameter:+word}"
    found = sorted([*((m.start(1), m.group(1)) for m in _DASH_OPERATOR.finditer(text)), *specifiers, *groups,
                    *((m.start(1), m.group(1)) for m in forms),
                    *((s, r) for s, r in _runs(text) if s not in taken and s not in inside),
                    *((m.start(1), m.group(1)) for m in _QUOTED_CHAR.finditer(text)), *code])
    return list(dict.fromkeys(c for _, c in found))[:limit]


# a heading whose form has an operator placeholder, its entries the operator's values: "${parameter@operator}"
_PLACEHOLDER = re.compile(r"\$\{\w+([^\w\s}]+)operator\}")
_PLACEHOLDER_VALUE = re.compile(r"[A-Za-z]{1,2}")  # "U", "L", "Q": a value of the placeholder, on its own line
# a heading of expansion forms: "${parameter:+word}", "${parameter%word}, ${parameter%%word}"
_FORMS = re.compile(r"\$\{[^}]*\}(?:,\s*\$\{[^}]*\})*")
# a parameter expansion's operator: ":+" of ${parameter:+word}, "%%" of ${var%%pattern}, ",," of ${name,,}
_EXPANSION = re.compile(r"\$\{[#!]?\w+(?:\[[^\]]*\])?([^\w\s}\[]+)")
# %q, %s, \n, \D{format}: one letter; %[p][l]U: with its optional parts in brackets (TIMEFORMAT)
_SPECIFIER = re.compile(r"(?<![\w%\\])[%\\](?:\[\w\])*[A-Za-z](?:\{\w*\})?(?!\w)")
_QUOTED_CHAR = re.compile("[\u2018\u201c'\"]([^\\w\\s])[\u2019\u201d'\"]")  # ‘(’ “[” ‘,’
_GROUP_FORM = re.compile(r"\(\?[^\s()]{0,16}?\.\.\.\)")  # (?=...), (?<!...), (?P<name>...): a group's syntax
_PROMPT = re.compile(r"(?:>>>|\.\.\.)(?= |$)")  # the interactive prompt at an example line's start
_DASH_OPERATOR = re.compile(r"^[ \t]*(?:[\w$]+[ \t]+)?(-[a-z]{1,3})[ \t]+[\w$]+[ \t]*$", re.MULTILINE)


# a code form's own characters: one of them makes a word code ("%TYPE", "<N>", "{varname}")
_CODE_CHARS = frozenset("!#$%&*+-/:;<=>?@\\^_|~{}[]()`")
_OPENING_QUOTES = {"\u2018": "\u2019", "\u201c": "\u201d", "'": "'", '"': '"', "`": "`"}
_RUN_ONLY = re.compile(_OPERATOR_RUN)  # operator characters alone: _runs' (its own rules)
_OPTION = re.compile(r"--?\w[\w-]*")  # "-n", "--norc": an option in prose (on its syntax line: _DASH_OPERATOR)
_BRACKETED_WORD = re.compile(r"\[\w+\]|\(\w+\)")  # "[sic]", "(optional)": prose in brackets ("{varname}" is code)
_CALL = re.compile(r"[A-Za-z_][\w.]*\(.*\)")  # "dict.copy()", "array(typecode)": a name, not a symbol
CODE_MAX_CHARS = 24  # a code form is at most this long ("${section:option}"); longer is an example, not a form


def _code_tokens(text: str) -> list[tuple[int, str]]:
    """(position, form) of every word of ``text`` written as code: a whitespace-delimited word,
    less a sentence's trailing punctuation or the quotes around it (``‘%ce’`` -> ``%ce``; a quote
    must close in the same word) or a bracket it does not open or close (``\\dAf,`` loses the
    comma; one around it alone: ``(\\.)`` -> ``\\.``), of 2 to :data:`CODE_MAX_CHARS` characters
    and starting with one of :data:`_CODE_CHARS` (not a literal's letters, ``'T.*ma'``, nor a
    value's, ``50%``); never operator characters alone (:func:`_runs` keeps those by its own rules),
    an option in prose (``-n``), a word in brackets (``[sic]``), an identifier (``__hash__``), a call
    (``dict.copy()``) or an address (``://``)."""
    out: list[tuple[int, str]] = []
    for m in re.finditer(r"\S+", text):
        word = m.group()
        close = _OPENING_QUOTES.get(word[0])
        if close is not None:  # ‘%ce’, '!r', ":memory:", with what follows the closing quote cut off
            body = word[1:].rstrip(".,;:)")
            if len(body) < 2 or not body.endswith(close):
                continue
            word = body[:-1]
        else:
            word = word.rstrip(".,;:!?")
            if word.endswith(")") and word.count(")") > word.count("("):
                word = word[:-1]  # "(see <(list))": the sentence's bracket
            elif word.startswith("(") and word.count("(") > word.count(")"):
                word = word[1:]
            elif word.startswith("(") and word.endswith(")") and not word.startswith("(?") and word.count("(") == 1:
                word = word[1:-1]  # "backslash-period (\\.)": the bracket around it, not a group "(?P=name)"
        if any(c in _QUOTE_CHARS for c in word) or any(word.count(a) != word.count(b) for a, b in ("()", "[]", "{}")):
            continue  # "$"hello,", "[arg": a quote or a bracket opened in this word and closed in another
        if not 2 <= len(word) <= CODE_MAX_CHARS or word[0] not in _CODE_CHARS or _RUN_ONLY.fullmatch(word):
            continue  # "T.*ma", "50%": a literal's or a value's characters; "||": a run, kept by _runs
        if any(p.fullmatch(word) for p in (_OPTION, _BRACKETED_WORD, _CALL)) or "://" in word:
            continue
        if word.strip("_").isidentifier():
            continue
        out.append((m.start(), word))
    return out


def _runs(text: str) -> list[tuple[int, str]]:
    """(position, symbol) of every operator-character run :func:`symbol_candidates` keeps."""
    out: list[tuple[int, str]] = []
    for m in _RUN.finditer(text):
        run, s, e = m.group(), m.start(), m.end()
        before = text[s - 1] if s else " "
        after = text[e] if e < len(text) else " "
        if before.isalnum() and after.isalnum():
            continue  # inside a word
        if set(run) <= {"_", "-"} and (before.isalnum() or after.isalnum()):
            continue  # an identifier's underscore, a hyphen, an option's dash
        ends_clause = not after.strip().strip(_CLOSE)
        if set(run) <= _PROSE and (before.isalnum() or before in _CLOSE) and ends_clause:
            continue  # "word:" "pipeline?" "end;"
        if len(run) > 1 and run[-1] in ",;" and run[-2] != run[-1] and ends_clause:
            run = run[:-1]  # "--;" at a clause's end: the clause's punctuation is not the symbol's
        if (s == 0 or text[s - 1] == "\n") and _PROMPT.match(text, s):
            continue  # ">>> import re": an example's prompt
        if _in_literal(text, s, e):
            continue  # inside a quoted literal with text: a pattern's characters ('T.*ma'), not an operator
        if len(run) == 1 and run in ";:" and not (before in "(\u2018\u201c'\"`" and after in ")\u2019\u201d'\"`"):
            continue  # a lone ; or : is punctuation, unless quoted or bracketed: "the semicolon (;)"
        out.append((s, run))
    return out


_QUOTE_CHARS = "'\"\u2018\u2019\u201c\u201d"


def _in_literal(text: str, s: int, e: int) -> bool:
    """Whether ``text[s:e]`` sits in a quoted word that also holds letters or digits (``'T.*ma'``,
    ``'%abc%'``): a literal's characters. A quoted symbol alone (``‘**’``) is the symbol."""
    a = text.rfind(" ", 0, s) + 1
    b = text.find(" ", e)
    word = text[a:b if b >= 0 else len(text)].rstrip(".,;:)")
    return (len(word) > 2 and word[0] in _QUOTE_CHARS and word[-1] in _QUOTE_CHARS
            and any(c.isalnum() for c in word))


# a symbol the text names in words: "separated by a slash", "Backslash will escape ‘&’"
_SYMBOL_NAMES: dict[str, str] = {
    "slash": "/", "forward slash": "/", "backslash": "\\", "colon": ":", "semicolon": ";", "comma": ",",
    "hyphen": "-", "minus sign": "-", "underscore": "_", "ampersand": "&", "asterisk": "*", "tilde": "~",
    "caret": "^", "circumflex": "^", "vertical bar": "|", "at sign": "@", "at-sign": "@", "number sign": "#",
    "hash sign": "#", "percent sign": "%", "dollar sign": "$", "exclamation mark": "!", "exclamation point": "!",
    "question mark": "?", "equals sign": "=", "equal sign": "=", "plus sign": "+", "backquote": "`",
    "backtick": "`", "back quote": "`", "apostrophe": "'", "double quote": '"',
}
_NAMED = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SYMBOL_NAMES), key=len, reverse=True)) + r")s?\b",
                    re.IGNORECASE)


def named_symbols(text: str) -> list[str]:
    """The symbols ``text`` names in words, in order of first mention ("separated by a slash" ->
    ``/``; "Backslash will escape ‘&’" -> ``\\``): documents often write the name, not the mark."""
    return list(dict.fromkeys(_SYMBOL_NAMES[m.group(1).lower()] for m in _NAMED.finditer(text)))


def evidence_symbols(question: str, texts: Sequence[str], titles: Sequence[str] = (),
                     before: Sequence[str | None] = ()) -> list[str]:
    """The symbols a symbol question's answer is chosen from, nearest the evidence first.

    ``texts`` are the kept leaves (whole, not excerpts), ``titles[i]`` the heading of ``texts[i]``
    and ``before[i]`` the text of the leaf before it in its section (``None``: none). The sentence
    (or table cell) matching the question best (:func:`h2mt.query.evidence.rank_sentences`; the
    kind of answer asked for, "operator", "special parameter", is not a word of the evidence) gives
    its symbols, then those it names in words (:func:`named_symbols`: "separated by a slash"); when
    it pairs several symbols with several descriptions "respectively", only the symbol whose
    description the question names (:func:`respective_symbol`). When it has none:

    1. the line right before it (reference docs name an entry, a table row its operator, before
       describing it; for a leaf's first line, the last line of the leaf before), then the line
       right after it; after a sentence ending with a colon ("C-style block comments can be
       used:") the line after it first;
    2. the leaf's own heading, when the heading is a symbol and nothing else (an entry named ``!#``
       whose text is "The entire command line typed so far."), an operator's syntax line (an entry
       named ``file1 -nt file2``) or expansion forms (``${parameter:+word}``); it comes before the
       lines of step 1 when the sentence is its leaf's first (the line before it is then another
       entry's);
    3. its whole leaf.

    When the leaf's heading is a form with an operator placeholder (``${parameter@operator}``) and
    the sentence (with no symbol of its own) describes the value named on the line before it
    (``L``), the answer is the form's operator with that value (``@L``).

    When the sentence holds several symbols and is the first of an entry whose syntax line comes
    right before it ("set < other" above "Test whether the set is a proper subset of other, that
    is, set <= other and set != other"), the syntax line's symbols are the candidates: the entry
    explains its operator with others. A symbol the question itself writes ("the remainder of
    x / y", "a literal ampersand") is never a candidate. Empty when no sentence shares a word with the
    question."""
    # "operator" names no evidence; "wildcard" or "separator" may ("uses _ and % as wildcard characters")
    ranked = rank_sentences(re.sub(_KIND_NOUNS, " ", question, flags=re.IGNORECASE), texts)
    if not ranked or ranked[0].score <= 0:
        return []
    best = ranked[0]
    units = split_sentences(texts[best.leaf])
    earlier = split_sentences(before[best.leaf] or "") if best.leaf < len(before) else []
    prev = units[best.index - 1] if best.index > 0 else (earlier[-1] if earlier else "")
    after = units[best.index + 1] if best.index + 1 < len(units) else ""
    near = (after, prev) if best.text.rstrip().endswith(":") else (prev, after)
    # "the remainder of x / y", "a literal ampersand": the question's own symbol is no answer
    asked = {*symbol_candidates(question), *named_symbols(question)}

    def fresh(text: str, named: bool = False) -> list[str]:  # the symbols written in ``text`` (and named in words)
        return [c for c in dict.fromkeys([*symbol_candidates(text), *(named_symbols(text) if named else ())])
                if c not in asked]

    title = titles[best.leaf].strip() if best.leaf < len(titles) else ""
    # an entry named by a symbol ("!#"), an operator's syntax ("file1 -nt file2") or expansion forms
    # ("${parameter:+word}")
    named = symbol_candidates(title) == [title] or _DASH_OPERATOR.fullmatch(title) or _FORMS.fullmatch(title)
    heading = fresh(title) if named else []
    own = respective_symbol(question, best.text, fresh) or fresh(best.text, named=True)
    value = _PLACEHOLDER.fullmatch(title)
    if not own and value and _PLACEHOLDER_VALUE.fullmatch(prev.strip()):
        return [value.group(1) + prev.strip()]  # "${parameter@operator}" lists its operators: "L" -> "@L"
    if len(own) > 1 and best.index > 0 and _syntax_line(prev) and fresh(prev):
        return fresh(prev)  # "set < other" / "Test whether ... proper subset, that is, set <= other and set != other"
    if not own and best.index == 0 and heading:
        return heading  # the leaf's first sentence explains its heading's entry, not the leaf before's last line
    return own or fresh(near[0]) or fresh(near[1]) or heading or fresh(texts[best.leaf])


def _syntax_line(line: str) -> bool:
    """Whether ``line`` is an entry's syntax (``set < other``, ``text !~ text → boolean``,
    ``[n]>>word``): at most :data:`SYNTAX_MAX_WORDS` words and no sentence's final period."""
    line = line.strip()
    return bool(line) and len(line.split()) <= SYNTAX_MAX_WORDS and not line.endswith((".", ":"))


_RESPECTIVELY = re.compile(r",?\s*\brespectively\b", re.IGNORECASE)
_ITEMS = re.compile(r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+")


def respective_symbol(question: str, sentence: str, fresh: Callable[[str], list[str]] = symbol_candidates) -> list[str]:
    """The one symbol of a "respectively" sentence that the question describes, or ``[]``.

    "SIMILAR TO uses _ and % as wildcard characters denoting any single character and any string,
    respectively": the symbols before "respectively" (``fresh`` of that part, in order) pair with
    the items of the list that follows the last of them, split at commas and "and"/"or"; the item
    holding the largest share of its own words that the question also has (stemmed,
    :func:`h2mt.query.words.stems`) gives the symbol. ``[]`` when the sentence has no
    "respectively", the counts of symbols and items differ, or two items tie."""
    m = _RESPECTIVELY.search(sentence)
    if m is None:
        return []
    head = sentence[:m.start()]
    symbols = fresh(head)
    if len(symbols) < 2:
        return []
    end = max(head.rfind(c) + len(c) for c in symbols)
    items = [x for x in _ITEMS.split(head[end:].strip()) if x.strip()]
    if len(items) != len(symbols):
        return []
    asked = stems(question)
    shares = [len(stems(x) & asked) / max(1, len(stems(x))) for x in items]
    top = max(shares)
    if top == 0 or shares.count(top) > 1:
        return []
    return [symbols[shares.index(top)]]


def choose_span(
    prompt_ids: Sequence[int],
    candidates: Sequence[str],
    encode: Callable[[str], list[int]],
    logits: Callable[[list[int]], Any],
    end_ids: Sequence[int],
) -> tuple[str | None, int]:
    """Greedy decoding constrained to ``candidates``: the candidate the model picks after
    ``prompt_ids``, and how many forward passes it took (``None`` when no candidate encodes).

    ``logits(ids)`` returns the next-token logits after ``ids`` (indexable by token id). At each
    step the allowed tokens are the next tokens of the candidates whose ids start with the tokens
    chosen so far; a candidate that is complete competes through ``end_ids`` (its best logit).
    Once one candidate is left it is the answer without another pass."""
    seqs = {c: encode(c) for c in candidates}
    alive = [c for c in candidates if seqs[c]]
    chosen: list[int] = []
    passes = 0
    while alive:
        if len(alive) == 1:
            return alive[0], passes
        scores = logits([*prompt_ids, *chosen])
        passes += 1
        at = len(chosen)
        complete = [c for c in alive if len(seqs[c]) == at]
        nexts: dict[int, list[str]] = {}
        for c in alive:
            if len(seqs[c]) > at:
                nexts.setdefault(seqs[c][at], []).append(c)
        end = max((float(scores[i]) for i in end_ids), default=float("-inf")) if complete else float("-inf")
        if not nexts:
            return complete[0], passes
        token = max(nexts, key=lambda t: float(scores[t]))
        if complete and end >= float(scores[token]):
            return complete[0], passes
        chosen.append(token)
        alive = nexts[token]
    return None, passes


def symbol_generation(backend: Any, prompt: Prompt, candidates: Sequence[str]) -> Generation:
    """A :class:`~h2mt.query.generate.Generation` whose one piece is the candidate that
    :func:`choose_span` picks over ``prompt`` (a text prompt) on ``backend`` (its ``encode``,
    ``prefill_logits`` and end-of-reply ids); it runs when first iterated."""
    stats = GenerationStats()
    started = time.perf_counter()
    if not prompt.ids:
        prompt.ids = backend.chat_ids(prompt.messages)
    encode = getattr(backend, "encode", None) or (lambda t: list(backend.tokenizer.encode(t, add_special_tokens=False)))
    end_ids = sorted(getattr(backend, "eos_ids", ()) or {backend.tokenizer.eos_token_id})
    spent: list[float] = []

    def forward(ids: list[int]) -> Any:
        out, ms = backend.prefill_logits(ids)
        spent.append(ms)
        return out

    def pieces() -> Iterator[str]:
        t0 = time.perf_counter()
        answer, _ = choose_span(prompt.ids, candidates, encode, forward, end_ids)
        stats.prompt_tokens = len(prompt.ids) * len(spent)  # positions prefilled, every pass
        stats.prefill_ms = sum(spent)
        stats.completion_tokens = len(encode(answer)) if answer else 0
        stats.first_token_ms = stats.total_ms = (time.perf_counter() - t0) * 1000.0 + (t0 - started) * 1000.0
        stats.finish_reason = "stop"
        if answer:
            yield answer

    return Generation(pieces(), stats, started)
