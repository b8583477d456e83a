"""Answer metrics: robust containment and ROUGE-L against hand-computed values."""

from __future__ import annotations

import pytest
from h2mt.eval.metrics import answer_correct, best_rouge_l


@pytest.mark.parametrize(
    ("prediction", "answers", "question", "expected"),
    [
        ("It is FUNCNEST.", ["FUNCNEST"], "Which variable limits nesting?", True),
        ("funcnest", ["FUNCNEST"], "", True),  # normalised
        ("FUNCNESTING", ["FUNCNEST"], "", False),  # whole words only
        ("The default is 5 minutes.", ["5min", "five minutes", "5 minutes"], "", True),  # any accepted spelling
        ("The default is 4MB.", ["four megabytes", "4MB"], "", True),
        ("What does PIPESTATUS contain?", ["PIPESTATUS"], "What does PIPESTATUS contain?", False),  # restated
        ("PIPESTATUS: see PIPESTATUS", ["PIPESTATUS"], "What does PIPESTATUS contain?", True),  # said again
        ("The context does not say.", ["work_mem"], "What is work_mem?", False),
        ("", ["x"], "", False),
    ],
)
def test_answer_correct(prediction, answers, question, expected):
    assert answer_correct(prediction, answers, question) is expected


def test_rouge_l_is_the_lcs_f_measure_best_over_answers():
    # "the default is five minutes" vs "five minutes": LCS 2, P = 2/5, R = 2/2 -> F = 2PR/(P+R) = 4/7
    assert best_rouge_l("the default is five minutes", ["five minutes", "5min"]) == pytest.approx(4 / 7)
    assert best_rouge_l("five minutes", ["five minutes"]) == pytest.approx(1.0)
    assert best_rouge_l("nothing here", ["five minutes"]) == 0.0
    assert best_rouge_l("anything", []) == 0.0


def test_rouge_scorer_is_built_once(monkeypatch):
    from h2mt.eval import metrics
    from rouge_score import rouge_scorer

    built = []

    class Counting(rouge_scorer.RougeScorer):
        def __init__(self, *a, **kw):
            built.append(a)
            super().__init__(*a, **kw)

    monkeypatch.setattr(rouge_scorer, "RougeScorer", Counting)
    metrics._rouge_l_scorer.cache_clear()
    try:
        scores = [best_rouge_l("five minutes", ["five minutes"]) for _ in range(3)]
        scores.append(best_rouge_l("the default is five minutes", ["five minutes", "5min"]))
    finally:
        metrics._rouge_l_scorer.cache_clear()  # the next caller builds the real scorer
    assert scores == pytest.approx([1.0, 1.0, 1.0, 4 / 7]) and len(built) == 1
