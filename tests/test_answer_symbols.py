"""Answers issue 25 left weak: a symbol question answered by a symbol of the kept text (constrained
decoding), a yes/no or "what happens" question answered by quoting the kept sentence that states
it, and a comparison of two things asked for a bare yes or no."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from h2mt import H2MT, H2MTConfig, PrefillConfig
from h2mt.config import AnswerTask
from h2mt.query.evidence import evidence_quote, rank_sentences, split_sentences
from h2mt.query.symbols import (
    _runs,
    asks_for_symbol,
    choose_span,
    evidence_symbols,
    named_symbols,
    respective_symbol,
    symbol_candidates,
)
from h2mt.query.task import choose_task
from h2mt.query.words import stem_list, stems
from h2mt.types import GenerationStats, Node, NodeKind, ScoredNode


@pytest.mark.parametrize("question, asks", [
    ("Which operator raises x to the power y?", True),
    ("Which redirection operator allows a string to be used as the standard input?", True),
    ("Which special parameter expands to the process ID of the shell?", True),
    ("Which characters begin an SQL comment?", True),
    ("What is the exponent operator in Python?", True),
    ("which symbol marks a comment", True),
    ("Which event designator refers to the previous command?", True),
    ("In a tuple, list or set display, which symbol denotes iterable unpacking?", True),
    ("Instead of typing.Union[X, Y], which operator can I write between two types?", True),  # after a phrase
    ("Inside [[ ]], which operator do I use to match a regular expression?", True),
    ("Which printf format specifier prints an argument quoted for reuse as shell input?", True),
    ("In a def statement, which token introduces the return annotation?", True),
    ("What do I put after the variable name in ${var} to lowercase its value?", True),
    ("When calling a function with named arguments, what goes between the parameter name and its value?", True),
    ("What letter do I put before the opening quote of an escape string?", False),  # a letter is no symbol
    ('When I type a bytea literal in hex format, what has to come in front of the hex digits?', True),
    ('What do I append to a table name to declare a variable that holds one whole row?', True),
    ('Which history modifier do I append to !$ to drop the last component?', True),
    ("What glob syntax expresses 'anything but these'?", True),
    ('Which quantifier matches as little text as possible?', True),
    ('Which placeholder quotes a value as an SQL literal?', True),
    ('Which jobspec points at the previous job?', True),
    ('What cast do I apply to show an OID as a table name?', True),
    ('Which brackets around the points make an open path?', True),
    ('Which prefix before the opening quote makes a bit-string constant?', True),
    ('What is the syntax of the CREATE TABLE command?', False),  # "the syntax of X" asks for a statement
    ("What do I put in my inputrc to turn on vi mode?", False),  # nothing to type between or after
    ("Which token did the server send first?", False),
    ("Which parameter expansion assigns a default to an unset variable?", True),
    ("Which expansion happens first?", False),
    ("Which variable sets the history size?", False),
    ("Which character set does the server use by default?", False),
    ("Which character did Tom Hanks play in Big?", False),
    ("What does `$?` expand to?", False),
    ("What is the default value of PS2?", False),
    ("I want the time in my prompt; which prompt escape does that?", True),  # "does that": no role
    ("Which PS1 escape shows the history number?", True),
    ("Which ${parameter@operator} transformation converts the value to uppercase?", True),
    ("Which datetime format code prints the microseconds?", True),
    ("Which escape did the prisoner plan?", False),
])
def test_which_questions_ask_for_a_symbol(question, asks):
    assert asks_for_symbol(question) is asks


def test_symbol_candidates_are_operator_runs_not_words_or_punctuation():
    text = ("($?) Expands to the status of the last pipeline: a non-interactive shell, snake_case names, "
            "a/b paths. Use a || b, ‘<<<’ or --; x ~~ y. Really?")
    assert symbol_candidates(text) == ["$?", "||", "<<<", "--", "~~"]
    assert symbol_candidates("x // y and x ** y and -1", limit=1) == ["//"]
    assert symbol_candidates("($0) Expands to the name of the shell; $# counts.") == ["$0", "$#"]  # the digit too
    assert symbol_candidates("The semicolon (;) ends a command; a colon: no.") == [";"]  # bracketed: a symbol
    assert symbol_candidates("text !~* text\n'thomas' !~* 'T.*ma' and ‘**’") == ["!~*", "**"]  # not the literal's *


@pytest.mark.parametrize("text, forms", [
    ("%TYPE provides the data type of a variable or table column.", ["%", "%TYPE"]),  # the run, then its form
    ("For example, ‘%ce’ refers to a stopped job whose command name begins with ‘ce’.", ["%ce"]),
    ("Flags: '!s' which calls str() on the value, '!r' which calls repr().", ["!s", "!r"]),
    ("psql has commands \\dAc, \\dAf, and \\dAo, which provide more.", ["\\", "\\dAc", "\\dAf", "\\dAo"]),
    ('Pass ":memory:" to open a connection to a database in RAM.', [":memory:"]),
    ("A word of the form {varname} may precede a redirection; ${identifier} is the same.", ["{varname}", "$",
                                                                                          "${identifier}"]),
    ("If the <(list) form is used, the file is read.", ["<", "<(list)"]),
    ("End of data is a line holding just backslash-period (\\.).", ["\\."]),  # the bracket around it is prose
])
def test_a_code_form_written_as_one_word_is_a_symbol(text, forms):
    assert [c for c in symbol_candidates(text) if c not in named_symbols(text)] == forms


@pytest.mark.parametrize("text", [
    "If the -n option is supplied, wait waits for a non-interactive job (see above).",  # an option, brackets
    "Call dict.copy() or os.path.join() at https://docs.python.org/ with __hash__ set.",  # calls, an address
    "'thomas' matches 'T.*ma'; prices fall 50% [sic].",  # a literal's and a value's characters
    'Write $"hello, world" to translate it; see getopts [arg ...] too.',  # a quote or bracket closed in another word
])
def test_prose_words_and_literals_are_no_code_forms(text):
    assert symbol_candidates(text) == [c for _, c in _runs(text)]  # operator runs only, by their own rules


def test_a_group_form_is_one_symbol_and_an_example_prompt_none():
    text = ">>> import re\n... \n(?=...)\nMatches if ... matches next. (?P<name>...) too."
    assert symbol_candidates(text) == ["(?=...)", "(?P<name>...)"]  # not ">>>", "?=" or "..."
    assert symbol_candidates("The prompt is >>> by default.") == [">>>"]  # in prose: the symbol itself


def test_specifiers_and_quoted_characters_are_symbols():
    assert symbol_candidates("%q\nCauses printf to output the argument quoted.") == ["%q"]  # not "%" alone
    assert symbol_candidates("Escapes: \\n newline, \\t tab; 50% off") == ["\\n", "\\t", "%"]
    assert symbol_candidates("an inclusive bound is “[” while an exclusive bound is “(”.") == ["[", "("]
    assert symbol_candidates("The ‘,’ operator lowers; it (the value) is kept.") == [","]  # prose brackets are not
    assert symbol_candidates("\\D{format}\nThe format is passed to strftime.") == ["\\D{format}"]  # with its braces
    # a TIMEFORMAT escape with its optional parts in brackets is one specifier, not "%" alone
    assert symbol_candidates("%[p][l]U\nThe number of CPU seconds spent in user mode.") == ["%[p][l]U"]
    assert symbol_candidates("a[i] and 50% [sic]") == ["%"]  # a bracketed word after a percent sign is no part


def test_a_value_listed_under_an_operator_placeholder_heading_is_the_forms_operator():
    text = ("Each operator is a single letter:\n\nU\n\nThe expansion is the value with lowercase letters converted to "
            "uppercase.\n\nL\n\nThe expansion is the value with uppercase letters converted to lowercase.")
    q = "Which transformation gives the value with uppercase letters converted to lowercase?"
    assert evidence_symbols(q, [text], ["${parameter@operator}"]) == ["@L"]
    assert evidence_symbols(q, [text], ["${parameter:-word}"]) != ["@L"]  # no placeholder: no value to fill in


def test_a_word_of_the_evidence_asked_as_the_kind_of_symbol_still_ranks_it():
    """"Operator" names no evidence and is dropped before ranking; "wildcard" may be the evidence's own word."""
    texts = ["An underscore (_) in pattern stands for any single character; a percent sign (%) matches any sequence.",
             "SIMILAR TO uses _ and % as wildcard characters denoting any single character and any string, "
             "respectively.",
             "A pattern matches the whole string."]
    assert evidence_symbols("In a SIMILAR TO pattern, which wildcard character stands for any single character?",
                            texts) == ["_"]


def test_a_parameter_expansions_operator_is_a_symbol_not_its_dollar():
    assert symbol_candidates("${parameter:+word}") == [":+"]
    assert symbol_candidates("${parameter%word}, ${parameter%%word}") == ["%", "%%"]
    assert symbol_candidates("${parameter,,pattern} lowers; ${name[@]:-x}") == [",,", "@", ":-"]
    assert symbol_candidates("costs $5; $$ is the shell") == ["$5", "$$"]  # a $ run outside ${...} as before


def test_a_leafs_first_sentence_takes_its_headings_symbol_not_the_leaf_befores():
    texts = ["If parameter is null or unset, nothing is substituted, otherwise the expansion of word is substituted."]
    q = "Which parameter expansion operator substitutes a word only when the variable is set and non-null?"
    before = ["If parameter is unset or null, the expansion of word (or a message) is written; ${var:=x} too."]
    assert evidence_symbols(q, texts, ["${parameter:+word}"], before) == [":+"]
    assert evidence_symbols(q, texts, ["Parameter Expansion"], before) == [":="]  # a heading of words: as before


def test_an_entrys_syntax_line_gives_the_operator_its_sentence_explains_with_others():
    entry = ("set <= other\nTest whether every element in the set is in other.\n"
             "set < other\nTest whether the set is a proper subset of other, that is, set <= other and set != other.")
    assert evidence_symbols("Which operator tests whether one set is a proper subset of another?", [entry]) == ["<"]
    assert evidence_symbols("Which operator tests whether every element in the set is in other?", [entry]) == ["<="]
    prose = "Sets compare by inclusion.\nThe test set <= other and set != other gives a proper subset."
    assert evidence_symbols("Which operators give a proper subset?", [prose]) == ["<=", "!="]  # no syntax line before


def test_an_entry_named_by_a_symbol_gives_its_heading():
    texts = ["Refer to the previous command.", "The entire command line typed so far."]
    assert evidence_symbols("Which event designator stands for the entire command line typed so far?", texts,
                            ["!!", "!#"]) == ["!#"]
    assert evidence_symbols("Which event designator stands for the entire command line typed so far?", texts,
                            ["Previous", "Line so far"]) == []  # a heading of words is no symbol


def test_the_questions_own_symbol_is_no_candidate():
    row = "x % y\nremainder of x / y\n(2)"
    assert evidence_symbols("Which operator gives the remainder of x / y?", [row]) == ["%"]  # not its "/"


@pytest.mark.parametrize("text, named", [
    ("It is printed as two hexadecimal numbers, separated by a slash; for example, 16/B374D848.", ["/"]),
    ("Backslash will escape ‘&’ in string; the backslash is removed.", ["\\"]),
    ("A colon-separated list of directories. Use a semicolon on Windows.", [":", ";"]),
    ("Lines starting with an at sign or a number sign are comments.", ["@", "#"]),
    ("The period of the timer, in seconds; a star rating.", []),  # words that also name no mark
])
def test_the_symbols_a_text_names_in_words(text, named):
    assert named_symbols(text) == named


def test_a_symbol_the_evidence_names_in_words_is_a_candidate_unless_the_question_names_it():
    pg = ("The pg_lsn data type can be used to store LSN data. It is printed as two hexadecimal numbers of up to 8 "
          "digits each, separated by a slash; for example, 16/B374D848.")
    assert evidence_symbols("When PostgreSQL prints a pg_lsn value, what character separates its two hexadecimal "
                            "halves?", [pg]) == ["/"]  # not the "/" inside 16/B374D848, a word of its own
    bash = ("If the patsub_replacement shell option is enabled, any unquoted instances of ‘&’ in string are replaced "
            "with the matching portion of pattern. Backslash will escape ‘&’ in string; the backslash is removed in "
            "order to permit a literal ‘&’ in the replacement string.")
    assert evidence_symbols("With patsub_replacement on, what do I put in front of an ampersand in the replacement to "
                            "get a literal ampersand?", [bash]) == ["\\"]  # the question names "&": no answer


TABLE = ("Operation\n\nResult\n\nx // y\n\nfloored quotient of x and y\n\n(1)\n\n"
         "divmod(x, y)\n\nthe pair (x // y, x % y)\n\n(2)\n\nx ** y\n\nx to the power y\n\n(5)")


def test_the_symbol_beside_the_best_matching_table_cell_is_the_candidate():
    """A table row's operator sits in the cell before its description: the neighbouring
    function's row (divmod) does not compete."""
    assert evidence_symbols("Which operator gives the floored quotient of x and y?", ["Intro.", TABLE]) == ["//"]
    assert evidence_symbols("Which operator raises x to the power y?", [TABLE]) == ["**"]
    assert evidence_symbols("Which operator is stored on the moon?", ["Nothing here matches."]) == []


def test_the_line_before_a_description_names_it_then_the_line_after():
    """A term line (or a table row's operator cell) comes before its description: of the two
    neighbouring entries only the one above competes."""
    sets = "issubset(other)\nset <= other\n\nTest whether every element in the set is in other.\n\nset < other\n\n" \
           "Test whether the set is a proper subset of other."
    assert evidence_symbols("Which operator tests whether every element of a set is in the other?", [sets]) == ["<="]
    intro = "-- This is a standard SQL comment\n\nAlternatively, C-style block comments can be used:\n\n/* multiline */"
    assert evidence_symbols("What characters begin a C-style block comment?", [intro]) == ["/*", "*/"]  # after ":"
    assert evidence_symbols("Which operator tests whether every element of a set is in the other?",
                            ["Test whether every element in the set is in other."], before=["isdisjoint\nset <= other"]
                            ) == ["<="]  # a leaf's first line: the last line of the leaf before


def test_a_respectively_sentence_gives_the_symbol_of_the_item_asked_about():
    similar = ("Also like LIKE, SIMILAR TO uses _ and % as wildcard characters denoting any single character and "
               "any string, respectively (these are comparable to . and .* in POSIX regular expressions).")
    assert respective_symbol("Which wildcard character stands for any single character?", similar) == ["_"]
    assert respective_symbol("Which wildcard character stands for any string?", similar) == ["%"]
    neg = "There are also !~~ and !~~* operators that represent NOT LIKE and NOT ILIKE, respectively."
    assert respective_symbol("Which operator represents NOT ILIKE?", neg) == ["!~~*"]
    assert evidence_symbols("Which operator represents NOT ILIKE?", [neg]) == ["!~~*"]
    assert respective_symbol("Which operator represents NOT ILIKE?", neg.replace(", respectively", "")) == []
    assert respective_symbol("Which one is it?", neg) == []  # no item named: no choice made here
    assert respective_symbol("Which operator means LIKE?", "The ~~ operator means LIKE, respectively.") == []


def test_a_bm25_tie_goes_to_the_sentence_sharing_the_questions_word_pairs():
    rows = "x | y\nbitwise or of x and y\nx & y\nbitwise and of x and y"
    ranked = rank_sentences("Which operator gives the bitwise and of x and y?", [rows])
    assert ranked[0].score == ranked[1].score and ranked[0].text == "bitwise and of x and y"
    assert evidence_symbols("Which operator gives the bitwise and of x and y?", [rows]) == ["&"]
    assert evidence_symbols("Which operator gives the bitwise or of x and y?", [rows]) == ["|"]


def _encode(text: str) -> list[int]:
    return [ord(c) for c in text]


END = 0


def _logits(prefs: Mapping[tuple[int, ...], Mapping[int, float]], prompt_len: int, calls: list[int]) -> Any:
    """Next-token scores after the chosen tokens (missing tokens score -100)."""
    def score(ids: list[int]) -> list[float]:
        calls.append(len(ids))
        out = [-100.0] * 256
        for tok, s in prefs.get(tuple(ids[prompt_len:]), {}).items():
            out[tok] = s
        return out
    return score


def test_constrained_decoding_follows_the_model_among_the_candidates_only():
    prompt = [1, 2, 3]
    calls: list[int] = []
    # the model prefers "L" (a word) most, but only candidates' tokens are allowed: "~" wins, then the end
    prefs = {(): {ord("L"): 9.0, ord("~"): 5.0, ord("!"): 1.0}, (ord("~"),): {END: 3.0, ord("*"): 2.0}}
    got = choose_span(prompt, ["~", "~*", "!~"], _encode, _logits(prefs, 3, calls), [END])
    assert got == ("~", 2) and calls == [3, 4]
    prefs[(ord("~"),)] = {END: 1.0, ord("*"): 2.0}  # now the continuation beats the end
    assert choose_span(prompt, ["~", "~*", "!~"], _encode, _logits(prefs, 3, []), [END]) == ("~*", 2)
    assert choose_span(prompt, ["//"], _encode, _logits({}, 3, []), [END]) == ("//", 0)  # one candidate: no pass
    assert choose_span(prompt, [], _encode, _logits({}, 3, []), [END]) == (None, 0)


class LogitBackend:
    """Scripted replies for generation; next-token scores that favour ``favour``'s first
    character for constrained decoding (character-level ids)."""

    name = "logits"
    context_window = 100_000
    eos_ids = frozenset({END})

    def __init__(self, reply: str, favour: str = "") -> None:
        self.reply, self.favour = reply, favour
        self.calls = self.forwards = 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        return [5] * sum(len(m["content"].split()) for m in messages)

    def encode(self, text: str) -> list[int]:
        return _encode(text)

    def prefill_logits(self, input_ids: Sequence[int]) -> tuple[Any, float]:
        self.forwards += 1
        out = [0.0] * 256
        for i, c in enumerate(reversed(self.favour)):
            out[ord(c)] = 10.0 + i
        out[END] = 5.0
        return out, 1.0

    def stream(self, input_ids: Sequence[int], cfg: PrefillConfig, stats: GenerationStats) -> Iterator[str]:
        self.calls += 1
        stats.prompt_tokens, stats.completion_tokens = len(input_ids), len(self.reply.split())
        yield self.reply


OPS = {"ops.md": f"# Numeric operations\n\n## Table\n\n{TABLE}\n\n## Comparisons\n\nx < y means x is less than y.\n"}
NULLGLOB = {"glob.md": "# Filename Expansion\n\n## Globbing\n\nIf no matching filenames are found, and the shell "
                       "option nullglob is disabled, the word is left unchanged. If the nullglob option is set, and "
                       "no matches are found, the word is removed.\n\n## Cache\n\nEntries expire after 4 minutes.\n"}


def _build(tmp_path, files, encoder, counter, backend, task: str = "auto") -> H2MT:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    cfg = H2MTConfig(prefill=PrefillConfig(task=task))
    return H2MT.build([tmp_path], cfg, encoder=encoder, token_counter=counter, backend=backend)


def test_a_symbol_question_is_answered_by_a_symbol_of_the_kept_text(tmp_path, encoder, counter):
    be = LogitBackend("divmod")
    ans = _build(tmp_path, OPS, encoder, counter, be).answer("Which operator gives the floored quotient of x and y?")
    assert ans.text == "//" and be.calls == 0  # never the neighbouring row's function name
    assert ans.accounting.task == "short" and "constrained" in str(ans.accounting.task_reason)
    assert ans.accounting.answer_kind == "constrained"
    forced = _build(tmp_path, OPS, encoder, counter, be, task="short").answer(
        "Which operator gives the floored quotient of x and y?")
    assert forced.text == "divmod" and forced.accounting.answer_kind == "generated"  # as generated
    assert be.calls == 1


def test_several_symbols_are_chosen_between_by_the_generator(tmp_path, encoder, counter):
    be = LogitBackend("ignored", favour="*")
    eng = _build(tmp_path, {"ops.md": "# Ops\n\n## Power\n\nThe power operator is ** and * is multiplication.\n"},
                 encoder, counter, be)
    ans = eng.answer("Which operator is the power operator?")
    assert ans.text == "**" and be.calls == 0 and be.forwards == 2  # "*" (both alive), then "*" over the end


def test_a_behaviour_question_is_answered_by_the_sentences_that_state_it(tmp_path, encoder, counter):
    be = LogitBackend("If the nullglob option is set, the word remains unchanged.")  # a small model's inversion
    eng = _build(tmp_path, NULLGLOB, encoder, counter, be)
    q = "If the nullglob option is set and no matches are found, what happens to the word?"
    ans = eng.answer(q)
    assert ans.text.startswith("If the nullglob option is set, and no matches are found, the word is removed. ")
    assert "ranked best in their places" in str(ans.accounting.task_reason)  # the two best, best first
    assert be.calls == 0 and ans.accounting.completion_tokens == 0 and ans.accounting.prefill_ms == 0.0
    eng.config = replace(eng.config, prefill=replace(eng.config.prefill, placed_sentences=False))
    ans = eng.answer(q)  # BM25 alone: the one best sentence, when it holds half the question
    assert ans.text == "If the nullglob option is set, and no matches are found, the word is removed."
    assert be.calls == 0 and ans.accounting.completion_tokens == 0 and ans.accounting.prefill_ms == 0.0
    assert ans.accounting.task == "brief" and "quoted" in str(ans.accounting.task_reason)
    assert ans.accounting.answer_kind == "quoted"
    assert ans.context.endswith("the word is removed.") and "left unchanged" not in ans.context
    yes_no = eng.answer("Is the word removed when the nullglob option is set and no matches are found?")
    assert yes_no.text.endswith("the word is removed.") and be.calls == 0


def test_no_quote_when_no_kept_sentence_states_the_answer(tmp_path, encoder, counter):
    be = LogitBackend("The context does not say whether audit logs are encrypted.")
    eng = _build(tmp_path, NULLGLOB, encoder, counter, be)
    ans = eng.answer("Are audit logs encrypted at rest?")
    assert be.calls == 1 and "quoted" not in str(ans.accounting.task_reason)
    assert ans.accounting.answer_kind == "generated"


def _leaf(text: str, i: int = 0) -> ScoredNode:
    return ScoredNode(Node(i, NodeKind.LEAF, "t", -1, [], 0, 0, len(text), len(text.split()), 1, ("Doc", "t"), text),
                      1.0)


def test_the_quote_needs_half_the_question_words_weight():
    src = [_leaf("Strings are sequences. Some collection classes are mutable.")]
    assert evidence_quote("Are Python strings mutable and hashable?", src, min_coverage=0.5) is None
    got = evidence_quote("Are Python strings mutable and hashable?", src, min_coverage=0.0)
    assert got is not None and got[1].node.text == got[0].text
    best = rank_sentences("Is TRUNCATE faster?", ["It scans. TRUNCATE does not scan, so it is faster."])[0]
    assert best.text == "TRUNCATE does not scan, so it is faster." and best.coverage == 1.0
    assert split_sentences("a\n\nOne. Two? (Three.)") == ["a", "One.", "Two?", "(Three.)"]


def test_sentences_are_ranked_by_textbook_bm25_over_stemmed_words():
    """bm25s scores equal idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg)) with k1=1.2, b=0.75."""
    import math

    texts = ["The operator concatenates strings. A string is text.", "Concatenation of two strings; strings again."]
    assert stem_list("Concatenation of two strings; strings again.") == ["conca", "two", "strin", "strin", "again"]
    assert stems("Which operator concatenates the strings?") == {"opera", "conca", "strin"}
    ranked = rank_sentences("Which operator concatenates strings?", texts)
    docs = [stem_list(s) for t in texts for s in split_sentences(t)]
    avg = sum(map(len, docs)) / len(docs)
    idf = {w: math.log(1 + (len(docs) - d + 0.5) / (d + 0.5))
           for w in ("opera", "conca", "strin") for d in [sum(w in s for s in docs)]}

    def bm25(doc: list[str]) -> float:
        norm = 1.2 * (1 - 0.75 + 0.75 * len(doc) / avg)
        return sum(idf[w] * doc.count(w) * 2.2 / (doc.count(w) + norm) for w in idf if w in doc)

    assert [(s.leaf, s.index) for s in ranked] == [(0, 0), (1, 0), (0, 1)]
    for s in ranked:
        assert s.score == pytest.approx(bm25(docs[[(0, 0), (0, 1), (1, 0)].index((s.leaf, s.index))]), rel=1e-9)
    assert ranked[0].coverage == 1.0 and ranked[2].coverage == pytest.approx(idf["strin"] / sum(idf.values()))
    assert [s.score for s in rank_sentences("Which one?", ["No words in common."])] == [0.0]


@pytest.mark.parametrize("question", [
    "Were Scott Derrickson and Ed Wood of the same nationality?",
    "Are both Elko Regional Airport and Gerald R. Ford International Airport located in Michigan?",
    "Are Ferocactus and Silene both types of plant?",
    "Is PostgreSQL older than MySQL?",
])
def test_a_comparison_of_two_things_gets_a_bare_yes_or_no(question):
    c = choose_task(question)
    assert (c.task, c.reason) == (AnswerTask.SHORT, "compare")


def test_a_yes_to_a_comparison_is_shown_not_retried(tmp_path, encoder, counter):
    """A bare "Yes" is never a span of the kept text; it is not retried as an explanation."""
    be = LogitBackend("Yes")
    files = {"plants.md": "# Plants\n\n## Ferocactus\n\nFerocactus is a genus of large barrel cacti.\n\n"
                          "## Silene\n\nSilene is a genus of flowering plants.\n"}
    ans = _build(tmp_path, files, encoder, counter, be).answer("Are Ferocactus and Silene both types of plant?")
    assert ans.text == "Yes" and be.calls == 1
    assert (ans.accounting.task, ans.accounting.task_reason) == ("short", "compare")


class ServerBackend(LogitBackend):
    """A server: it takes messages and returns text, never logits."""

    takes_messages = True

    def prefill_logits(self, input_ids: Sequence[int]) -> tuple[Any, float]:
        raise AssertionError("a server has no logits")

    def stream_messages(self, messages: Sequence[Mapping[str, str]], cfg: PrefillConfig,
                        stats: GenerationStats) -> Iterator[str]:
        return self.stream([], cfg, stats)


def test_a_server_backend_answers_a_symbol_question_without_logits(tmp_path, encoder, counter):
    power = {"ops.md": "# Ops\n\n## Power\n\nThe power operator is ** and * is multiplication.\n"}
    be = ServerBackend("**")
    ans = _build(tmp_path, power, encoder, counter, be).answer("Which operator is the power operator?")
    assert ans.text == "**" and be.calls == 1 and "constrained" not in str(ans.accounting.task_reason)
    one = ServerBackend("divmod")  # one candidate needs no logits: still the symbol
    eng = _build(tmp_path, OPS, encoder, counter, one)
    assert eng.answer("Which operator gives the floored quotient of x and y?").text == "//" and one.calls == 0


def test_symbol_candidates_come_from_the_whole_leaf_of_an_excerpt(tmp_path, encoder, counter):
    """An excerpt keeps the sentences matching the question; the symbol naming them may sit on the
    line before, which only the whole leaf has."""
    from dataclasses import replace

    eng = _build(tmp_path, OPS, encoder, counter, LogitBackend("x"))
    leaf = next(n for n in eng.index.nodes if n.kind == NodeKind.LEAF and "floored quotient" in n.text)
    cut = replace(leaf, text="floored quotient of x and y")
    assert eng._whole(cut) == leaf.text and eng._whole(replace(cut, path=("elsewhere",))) == cut.text
    assert evidence_symbols("Which operator gives the floored quotient of x and y?", [cut.text]) == []
    assert evidence_symbols("Which operator gives the floored quotient of x and y?", [eng._whole(cut)]) == ["//"]


def test_a_dash_operator_on_its_syntax_line_is_a_symbol():
    text = "file1 -nt file2\nTrue if file1 is newer than file2.\n-e file\nTrue if file exists."
    assert symbol_candidates(text) == ["-nt", "-e"]
    # an option in prose, or a hyphenated word, is none
    assert symbol_candidates("If the -n option is supplied, wait waits for a non-interactive job.") == []
    question = "In a bash test, which operator checks that one file is newer than another?"
    assert evidence_symbols(question, [text], [""], [None]) == ["-nt"]


def test_an_entry_named_by_an_operator_syntax_line_gives_its_operator():
    question = "Which operator checks that one file is newer than another?"
    leaf = "True if file1 is newer (according to modification date) than file2."
    assert evidence_symbols(question, [leaf], ["file1 -nt file2"], [None]) == ["-nt"]
    assert evidence_symbols(question, [leaf], ["Conditional Expressions"], [None]) == []
