"""Which answer task a question asks for: a name or value (short) or what something does (brief).

``PrefillConfig.task="auto"`` (the default) is resolved here, per question, by rules that cost
nothing and are tested on a table of questions (``tests/test_answer_task.py``):

* **brief** (one or two sentences) when the question asks what something does or means, how or
  why: "what does X do / mean / expand to / control" (or any verb: "what does the -N test check",
  not "what does X default to"), "how does...", "why...", "what happens...",
  "explain...", "describe...", "what is a/an X", "what is X used for", "what changes / what do I
  get / what's the point / what kind of object..." (what something does, asked by its outcome), and yes/no questions
  ("Does TRUNCATE scan the tables?"), whose bare "yes" or "no" a small model gets wrong far more
  often than the sentence that says why (under ``auto`` the engine quotes that sentence when the
  kept text has one that matches well: :mod:`h2mt.query.evidence`);
* **short** otherwise: "which variable...", "what is the default...", "who / when / where / how
  many / how long...", "what is the name / value / port...", and yes/no questions comparing two
  named things ("Are both X and Y in Michigan?", "Were X and Y of the same nationality?", "...older
  than..."), whose answer is a bare "yes" or "no" drawn from two facts rather than one sentence.

The choice is a pure function of the question, so every step of the question path (prompt,
generation limits and stops, answer cleaning) resolves it the same way on its own.
:func:`choose_task` also says which rule decided; the engine records it in the answer's
accounting (``Accounting.task``, ``Accounting.task_reason``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..config import AnswerTask, PrefillConfig

__all__ = ["TaskChoice", "choose_task", "resolve_task", "asks_yes_no", "plain_question", "main_clause",
           "asks_for_default", "asks_what_is_assumed", "in_first_person", "names_code", "about_own_work",
           "UNMATCHED_REASON"]

UNMATCHED_REASON = "default"  # choose_task's reason when no rule recognises the question (a short answer)

# The values a "what is the <noun>" question asks for: answered by a name or a value.
_VALUE_NOUNS = (
    "default", "value", "name", "number", "size", "limit", "maximum", "minimum", "max", "min", "port", "path",
    "file", "filename", "directory", "extension", "unit", "units", "type", "format", "syntax", "operator", "symbol",
    "character", "keyword", "command", "option", "flag", "variable", "parameter", "setting", "function", "method",
    "class", "module", "exception", "error", "code", "status", "version", "protocol", "year", "date", "time",
    "timeout", "length", "count", "range", "prefix", "suffix", "separator", "delimiter", "encoding", "address",
    "url", "key", "id", "title", "author", "capital", "population",
)
_AUX_WORDS = "does|do|did|is|are|am|was|were|can|could|will|would|should|has|have|must|may"
_AUX = rf"(?:{_AUX_WORDS})"  # the auxiliary a yes/no question opens with
_BRIEF_RULES: tuple[tuple[str, str], ...] = (
    ("what-does", r"^what (?:does|do|did)\b.*\b(?:do|does|mean|means|expand|expands|control|controls|specify|"
                  r"specifies|determine|determines|return|returns|cause|causes|affect|affects|mean|stand for|"
                  r"represent|represents|allow|allows|enable|enables|prevent|prevents|change|changes)\b|"
                  r"^what (?:effect|impact) (?:does|do|did|will|would|has|have)\b|"  # "what effect does X have"
                  r"^what (?:value|values|result|results) (?:does|do|did|will|would)\b.*\b(?:compute|return|produce|"
                  r"give|yield|hold|evaluate)s?\b"),  # "what value does cume_dist() compute": what it does
    ("how", r"^how (?:does|do|did|is|are|can|should|would|to)\b"),
    ("why", r"^why\b"),
    ("what-happens", r"^what happens\b"),
    ("explain", r"^(?:explain|describe|summari[sz]e)\b"),
    ("purpose", r"^what (?:is|are) (?:the )?(?:purpose|meaning|difference|role|effect|use)\b"),
    ("used-for", r"^what (?:is|are)\b.*\b(?:used for\b|for\??$)"),  # "what is X (used) for?"
    ("definition", r"^what (?:is|are) an? [^ ]+(?: [^ ]+){0,2}\??$"),
    # "what changes when I pass strict=False...", "what do I get when I yank afterwards?", "what's the point of
    # cdable_vars?", "what kind of objects end up in gc.garbage?": what something does, asked by its outcome
    ("what-changes", r"^what(?: changes|(?:'s| is) different|(?:'s| is) the point| (?:do|does|did|will|would|should) "
                     r"(?:i|you|we|it|they) (?:get|gain|see)| (?:kind|sort|type) of (?:thing|object|objects|result|"
                     r"information)s?)\b"),
    ("yes-no", rf"^{_AUX}\b"),  # _YES_NO
)
# "what does the -N file test check?", "what does shield() guard it against?": what X does, in any verb; not
# "what do I write...", a symbol or a name to type, nor "what does X default to", a value (nor, in choose_task, a
# question asking what holds when something is left out: asks_what_is_assumed)
_WHAT_DOES_ANY_VERB = re.compile(r"^what (?:does|did) (?!(?:i|you|we|it)\b)(?!.*\bdefaults? to\b)")
_SHORT_RULES: tuple[tuple[str, str], ...] = (
    ("which", r"^(?:which|who|whom|whose|when|where)\b"),
    ("how-much", r"^how (?:many|much|long|often|big|large|old|far)\b"),
    ("value", r"^what(?:'s| is| are| was)? (?:the |a |an )?(?:\w+ ){0,2}(?:" + "|".join(_VALUE_NOUNS) + r")s?\b"),
    ("what-noun", r"^what (?:" + "|".join(_VALUE_NOUNS) + r")s?\b"),
    ("name-it", r"^(?:name|list|give|tell me)\b"),
)
# "both", "the same" of two named things ("Are both X and Y...?"), or a comparative with "than" ("older than");
# "more than one row" is a quantity and "a shorter list" or "the larger the range" no two things compared
_YES_NO_START = r"^(?:does|do|did|is|are|was|were|can|could|will|would|has|have)\b.*"
_COMPARE = _YES_NO_START + (r"\b(?:(?:older|younger|larger|smaller|longer|shorter|bigger|earlier|later|higher|lower) "
                            r"than)\b")
_ALIKE = _YES_NO_START + r"\b(?:both|same|either|neither|each other)\b"
# ...the two things named: capitalised names joined by "and" ("Scott Derrickson and Ed Wood"); without them "the
# same" or "both" asks about one behaviour ("...in the same order I wrote them?", "do both modifiers apply?"), which
# a quote answers (docs/benchmarks.md, stop 51)
_TWO_NAMES = re.compile(r"\b[A-Z][\w.'-]*(?: [A-Z][\w.'-]*)* and [A-Z][\w.'-]*")
_YES_NO = re.compile(rf"^{_AUX}\b")
_LEAD = re.compile(r"^(?:(?:so|and|ok|okay|please|hi|hello),?\s+)+")
# where the asking clause starts after a statement: "...; which", "...dir. What", "...: does" (not "i.e. is")
_ASKING = re.compile(r"(?:[;:]|(?<![.\s]\w)(?<=\w)[.!?])\s+"
                     r"(?=(?:which|what|who|whom|whose|how|when|where|why|does|do|did|is|are|can|will|should)\b)")
_LEADS = r"^(?:if|when|with|without|in|for|after|before|once|unless|given|by default|outside|inside|within|during|on)\b"
_CONDITION = re.compile(_LEADS + r"[^,?]*,\s*(?=\w)")
# "in a tuple, list or set display, which symbol...": the question starts at its wh-word, past the phrase's commas
_CONDITION_WH = re.compile(_LEADS + r"[^?]*?,\s*(?=(?:which|what|who|whom|whose|how|when|where|why|does|do|did|is|"
                           r"are|can|will|should)\b)")

# "as an ordinary user, am I allowed to...?", "using X with its defaults, could two files...?": a yes/no
# question after a leading phrase (one that asks nothing itself) starts at its auxiliary
# (not "..., is written by someone born in what year?": a wh-word later asks for something else)
_PHRASE_YES_NO = re.compile(rf"^(?!(?:which|what|who|whom|whose|how|when|where|why|{_AUX_WORDS})\b)[^?]*?,\s*"
                            rf"(?={_AUX} \w)(?![^?]*\b(?:what|which|who|whom|whose)\b)")


# "the default ...", and what users write for it: "if I don't set one", "when I leave X alone", "without passing",
# "unless I change it", "out of the box"
_ASKS_DEFAULT = re.compile(
    r"\bdefault|\b(?:if|when) (?:i|you|we) (?:don't|do not|never|didn't) (?:set|pass|give|specify|provide|supply|"
    r"change|say|use|name)\b|\b(?:if|when) (?:i|you|we) (?:leave|omit)\b|\bwithout (?:passing|setting|giving|"
    r"specifying|providing|saying|naming)\b|\bleft (?:unset|alone|out)\b|\bunless (?:i|you|we) (?:change|set|"
    r"override|configure|touch)\b|\bout of the box\b|\bif (?:i|you|we) (?:leave|keep) (?:it|them|that|this) "
    r"(?:alone|as is|unset)\b", re.IGNORECASE)

# What users write for "what is used when I leave it out", beyond asks_for_default: "without the symbol argument",
# "and leave out INITCOND", "with no file descriptor number", "neither LIMIT TO nor EXCEPT", "never set",
# "an empty value"
_ASKS_ASSUMED = re.compile(
    r"\bwithout\b|\bomit|\bleav(?:e|ing) (?:\S+ ){0,4}?(?:out|off|unset|empty|alone|blank)\b|"
    r"\bleft (?:out|off|unset|empty|blank)\b|\bnever (?:set|give|pass|specify|mention)|"
    r"\b(?:don't|do not|didn't|doesn't|does not) (?:set|pass|give|specify|provide|supply|include|add|write|use|name|"
    r"say|declare|type|mention|put)\b|\bwith no\b|\bno (?:\S+ ){0,2}(?:argument|option|clause|value|parameter|name|"
    r"list|number|keyword|flag)s?\b|\bneither\b|\bunset\b|\bnot (?:set|given|specified|passed|supplied)\b|"
    r"\b(?:is|as) none\b|\bempty\b", re.IGNORECASE)


def asks_for_default(question: str) -> bool:
    """Whether ``question`` asks for a default ("the default value of X", "by default, how many...",
    "what fillfactor does a table get if I don't set one?", "...if I leave the cutoff alone?")."""
    return _ASKS_DEFAULT.search(question) is not None


def asks_what_is_assumed(question: str) -> bool:
    """Whether ``question`` asks what holds when something is left out: a default
    (:func:`asks_for_default`) or what is used "without the symbol argument", when the user "leaves
    out INITCOND", writes a redirection "with no file descriptor number", passes "neither LIMIT TO
    nor EXCEPT"."""
    return asks_for_default(question) or _ASKS_ASSUMED.search(question) is not None


@dataclass(frozen=True)
class TaskChoice:
    """The task chosen for a question and the rule that chose it (``forced`` when not ``auto``)."""

    task: AnswerTask
    reason: str


def plain_question(question: str) -> str:
    """The question as the rules read it: lower-cased, code quotes dropped (a semicolon or colon
    inside them too: `for x; do ...; done` ends no clause), a greeting or "so," at
    its start removed, a statement before the asking clause dropped ("my prompt is huge; which
    variable...", "I use cmdhist. Which option..."), and a leading condition ("if nullglob is set,
    ...") dropped."""
    q = re.sub(r"`[^`]*`", lambda m: re.sub(r"[;:]", " ", m.group()), question.strip().lower())  # code: `for x; do`
    q = re.sub(r"[`\u2018\u2019\u201c\u201d\"]", "", q)
    q = _ASKING.split(" ".join(q.split()))[-1]
    q = _LEAD.sub("", q)
    q, skipped = _CONDITION_WH.subn("", q, count=1)  # "in a tuple, list or set display, which..."
    if not skipped:
        q, skipped = _PHRASE_YES_NO.subn("", q, count=1)  # "as a non-root user, am i allowed..."
    return q if skipped else main_clause(q)  # "if nullglob is set, what happens...": the main clause


def main_clause(sentence: str) -> str:
    """``sentence`` (lower-cased) without a leading condition ("if nullglob is set, the word is
    removed" -> "the word is removed"; "when you pass neither -H nor -S, both are changed" ->
    "both are changed")."""
    return _CONDITION.sub("", sentence.lower())


def choose_task(question: str, task: AnswerTask | str = AnswerTask.AUTO) -> TaskChoice:
    """The answer task for ``question``: ``task`` itself unless it is ``auto``, else the first
    matching rule of the module docstring (short when none matches)."""
    task = AnswerTask(task)
    if task != AnswerTask.AUTO:
        return TaskChoice(task, "forced")
    q = plain_question(question)
    for name, pattern in _SHORT_RULES[:2]:  # which / who / how many: a name or an amount, whatever follows
        if re.search(pattern, q):
            return TaskChoice(AnswerTask.SHORT, name)
    if re.search(_COMPARE, q) or (re.search(_ALIKE, q) and _TWO_NAMES.search(question)):  # a bare yes or no
        return TaskChoice(AnswerTask.SHORT, "compare")  # drawn from two facts: "are both X and Y...?"
    for name, pattern in _BRIEF_RULES:
        if re.search(pattern, q):
            return TaskChoice(AnswerTask.BRIEF, name)
    if _WHAT_DOES_ANY_VERB.search(q) and not asks_what_is_assumed(question):
        return TaskChoice(AnswerTask.BRIEF, "what-does")
    for name, pattern in _SHORT_RULES[2:]:
        if re.search(pattern, q):
            return TaskChoice(AnswerTask.SHORT, name)
    if re.match(r"^what (?:is|are) [^ ]+(?: [^ ]+)?\??$", q):  # "what is PROMPT_COMMAND?": a definition
        return TaskChoice(AnswerTask.BRIEF, "definition")
    return TaskChoice(AnswerTask.SHORT, UNMATCHED_REASON)


def resolve_task(question: str, cfg: PrefillConfig) -> PrefillConfig:
    """``cfg`` with ``task="auto"`` replaced by the task :func:`choose_task` picks for ``question``
    (``cfg`` itself when its task is already concrete)."""
    if cfg.task != AnswerTask.AUTO:
        return cfg
    return replace(cfg, task=choose_task(question).task)


# "my script...", "I run...", "...give me": a user describing their own task (a trivia question never does); "I"
# as a capital before a word or with its contraction (not an "-i" option)...
_FIRST_PERSON = re.compile(r"(?<![\w'-])I(?:'m|'ve|'d|'ll|\u2019m|\u2019ve|\u2019d|\u2019ll| (?=[a-z]))|"
                           r"(?i:\b(?:my|me|mine|myself)\b)")
_NAMED_BEFORE = re.compile(r"\w\W+[A-Z][\w.-]*\s+$")  # ...and not a numeral after a name inside a sentence ("War I")


def in_first_person(question: str) -> bool:
    """Whether ``question`` is written in the first person ("If I run bash -c 'echo $0' myname foo,
    what gets assigned to $0?", "...what state is my cluster left in?"): a user asking about their own
    task, not a trivia question ("The director of Big Stone Gap is based in what city?", "Which
    country did World War I start in?")."""
    return any(not (m.group().startswith("I") and _NAMED_BEFORE.search(question[:m.start()]))
               for m in _FIRST_PERSON.finditer(question))


# A code form written in prose: a backquote, snake_case, a call "f()", "$", an option "-e" / "--login", a dotted
# name or number "os.path", "3.11", a path "/dev/stdout", an assignment "x=", a tag "<x", a backslash escape.
_CODE_FORM = re.compile(r"`|\w_\w|\(\)|\$|(?:^|\s)--?\w|\w\.\w|/\w|\w=|<\w|\\")


def names_code(question: str) -> bool:
    """Whether ``question`` writes a code form ("After `set -P`, ...", "...hmac.digest(key, msg)...",
    "...pg_stat_progress_vacuum...", "...names /dev/stdout..."): a question about a program or its
    documentation, not a trivia question ("Who is older, Annie Morton or Terry Richardson?")."""
    return _CODE_FORM.search(question) is not None


def about_own_work(question: str) -> bool:
    """Whether ``question`` is a user's question about their own work or about code
    (:func:`in_first_person` or :func:`names_code`): what the documents state in so many words
    answers it, where a trivia question's answer is a name the generator composes from two passages."""
    return in_first_person(question) or names_code(question)


def asks_yes_no(question: str) -> bool:
    """Whether ``question`` is answered by "yes" or "no" ("Are both X and Y in Michigan?")."""
    return _YES_NO.search(plain_question(question)) is not None
