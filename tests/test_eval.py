"""h2mt.eval: metrics, dataset construction, LongBench loader, niah generator, method budgets."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from h2mt import H2MT, ChunkConfig, H2MTConfig
from h2mt.errors import InputError
from h2mt.eval import best_f1, bootstrap_ci, normalize_answer, qa_f1_score, titles_kept
from h2mt.eval.datasets.hotpot import gold_depths, hotpot_corpus_dataset, hotpot_long_dataset
from h2mt.eval.datasets.longbench import (
    MAX_NEW_TOKENS,
    PROMPTS,
    build_prompt,
    load_longbench,
    truncate_middle,
    truncate_prompt,
)
from h2mt.eval.datasets.niah import NiahSpec, insert_at_depth, make_niah
from h2mt.eval.datasets.types import BenchDataset, length_label, parse_length
from h2mt.eval.methods.base import GroupView
from h2mt.eval.methods.registry import make_methods
from h2mt.index.chunking import SimpleTokenCounter
from h2mt.index.encoders.base import HashingEncoder

from tests._docs import manual

WORDS = ("river castle album singer film novel city war bridge team league mountain poet physicist island "
         "company river band director song").split()


def write_hotpot(path, n_questions=16, seed=0, words=(25, 60)):
    """A synthetic HotpotQA JSONL in the shared-data format (2 gold + 8 distractor paragraphs each)."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n_questions):
            paras = []
            for j in range(10):
                ws = [rng.choice(WORDS) for _ in range(rng.randint(*words))]
                half = len(ws) // 2
                paras.append({"title": f"Title {i}-{j}",
                              "sentences": [" ".join(ws[:half]) + ". ", " ".join(ws[half:]) + "."]})
            gold = [paras[2]["title"], paras[7]["title"]]
            f.write(json.dumps({"id": f"q{i}",
                                "question": f"Which {WORDS[i % len(WORDS)]} links {gold[0]} and {gold[1]}?",
                                "answer": f"answer {i}", "type": "bridge", "level": "hard", "supporting_titles": gold,
                                "supporting_facts": [[gold[0], 0]], "paragraphs": paras}) + "\n")
    return path


# ---- metrics --------------------------------------------------------------------------------------
def test_qa_f1_score_matches_longbench_definition():
    assert qa_f1_score("The Eiffel Tower!", "eiffel tower") == 1.0
    assert qa_f1_score("Paris, France", "Paris") == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert qa_f1_score("a an the", "the") == 0.0  # only articles: nothing left to match
    assert qa_f1_score("no overlap", "something else") == 0.0
    assert qa_f1_score("yes yes", "yes") == pytest.approx(2 * 0.5 * 1 / 1.5)  # multiset, not set
    assert normalize_answer("  The  Quick, brown   fox. ") == "quick brown fox"
    assert best_f1("Barack Obama", ["Obama", "Barack Obama", "x"]) == 1.0
    assert best_f1("anything", []) == 0.0


def test_bootstrap_ci_is_deterministic_and_brackets_the_mean():
    vals = [0, 1, 1, 0, 1, 1, 1, 0, 1, 1]
    m, lo, hi = bootstrap_ci(vals)
    assert m == pytest.approx(0.7) and lo <= m <= hi and 0 <= lo and hi <= 1
    assert bootstrap_ci(vals) == (m, lo, hi)
    assert bootstrap_ci([3.0]) == (3.0, 3.0, 3.0)
    assert all(x != x for x in bootstrap_ci([]))  # NaNs


def test_titles_kept_all_and_any():
    assert titles_kept(["a", "b"], {"a", "b", "c"}) == (True, True)
    assert titles_kept(["a", "b"], {"a"}) == (False, True)
    assert titles_kept(["a", "b"], set()) == (False, False)


def test_evidence_and_answer_containment_use_the_design_normalisation():
    from h2mt.eval.metrics import answer_contained, evidence_kept, normalise

    assert normalise("  The `PIPESTATUS` array--holds\nexit Status!  ") == "the pipestatus array holds exit status"
    kept = "## Bash > Variables\n\nPIPESTATUS: an array variable (see Arrays) holding exit-status values."
    assert evidence_kept("PIPESTATUS:  an ARRAY variable", kept)
    assert not evidence_kept("PIPESTATUS is an array", kept)
    assert answer_contained(["exit status"], kept)  # "exit-status" normalises to "exit status"
    assert not answer_contained(["array var"], kept)  # whole words only: "var" is not "variable"
    assert not answer_contained(["", "!!"], kept)  # answers that normalise to nothing never match
    assert answer_contained(["nope", "Arrays"], kept)  # any gold answer is enough


def test_manuals_dataset_reads_the_qa_file_and_explains_missing_manuals(tmp_path, monkeypatch):
    from h2mt.eval.datasets.manuals import INSTALL_HINT, manuals_dataset

    bash = tmp_path / "bashref.html"
    bash.write_text("<html><body><h1>Bash</h1><p>PIPESTATUS holds exit statuses.</p></body></html>")
    qa = tmp_path / "qa.jsonl"
    rows = [{"id": f"b{i}", "manual": "bash-reference-manual", "question": f"q{i}?", "answers": ["a"],
             "evidence": "PIPESTATUS holds"} for i in range(3)]
    rows.append({"id": "p0", "manual": "postgresql-15-docs", "question": "q?", "answers": ["b"], "evidence": "e"})
    qa.write_text("\n".join(json.dumps(r) for r in rows))
    monkeypatch.setenv("H2MT_BASH_MANUAL", str(bash))
    ds = manuals_dataset(str(qa), subset="bash")
    assert [q.id for q in ds.questions] == ["b0", "b1", "b2"] and list(ds.groups) == ["bash"]
    assert ds.questions[0].evidence == ["PIPESTATUS holds"] and ds.questions[0].meta["part"] == "bash"
    assert manuals_dataset(str(qa), subset="bash").to_json() == ds.to_json()  # deterministic
    monkeypatch.setenv("H2MT_POSTGRES_DOCS", str(tmp_path / "missing"))
    with pytest.raises(InputError, match="apt-get install"):
        manuals_dataset(str(qa))
    assert "postgresql-doc-15" in INSTALL_HINT
    with pytest.raises(InputError, match="Unknown manual"):
        manuals_dataset(str(qa), subset="zsh")


def test_prompt_reserve_grows_with_the_window():
    from h2mt.eval.datasets.types import PROMPT_RESERVE, prompt_reserve

    assert prompt_reserve(4096) == prompt_reserve(8192) == PROMPT_RESERVE
    assert prompt_reserve(32768) == PROMPT_RESERVE + int(24576 * 0.03)
    assert prompt_reserve(131072) > prompt_reserve(32768)


def test_lengths():
    assert parse_length("8k") == 8192 and parse_length("32K") == 32768 and parse_length(6000) == 6000
    assert length_label(8192) == "8k" and length_label(5000) == "5000"
    with pytest.raises(InputError):
        parse_length("eight")


# ---- data paths ------------------------------------------------------------------------------------
def test_data_dir_comes_from_the_option_or_the_environment(tmp_path, monkeypatch):
    from h2mt.eval.datasets.hotpot import load_hotpot
    from h2mt.eval.datasets.paths import DATA_ENV, HOTPOT_FILE, data_dir, data_file

    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(InputError, match=r"pass --data DIR or set H2MT_DATA") as e:
        data_dir(None)
    assert "\n" not in str(e.value) and "hotpotqa/ and manuals/" in str(e.value)
    with pytest.raises(InputError, match="does not exist"):
        data_dir(tmp_path / "missing")
    (tmp_path / "hotpotqa").mkdir()
    write_hotpot(tmp_path / HOTPOT_FILE, n_questions=3)
    assert data_dir(str(tmp_path)) == tmp_path and data_file(tmp_path, HOTPOT_FILE) == tmp_path / HOTPOT_FILE
    assert len(load_hotpot(str(tmp_path))) == 3  # --data DIR
    single = write_hotpot(tmp_path / "one.jsonl", n_questions=2)
    assert len(load_hotpot(str(single))) == 2  # one input file
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_dir(None) == tmp_path and len(load_hotpot()) == 3  # $H2MT_DATA


@pytest.mark.data
def test_tests_find_the_shared_data_through_the_environment():
    from h2mt.eval.datasets.paths import DATA_ENV, HOTPOT_FILE
    from h2mt.eval.datasets.registry import load_dataset

    if not (Path(os.environ[DATA_ENV]) / HOTPOT_FILE).is_file():
        pytest.skip("../shared/data is not beside the checkout")
    ds = load_dataset("hotpotqa-corpus", SimpleTokenCounter())
    assert ds.name == "hotpotqa-corpus" and len(ds.questions) == 50


# ---- hotpotqa --------------------------------------------------------------------------------------
def test_hotpot_long_is_deterministic_within_target_and_spreads_gold(tmp_path):
    path = write_hotpot(tmp_path / "h.jsonl")
    count = SimpleTokenCounter()
    a = hotpot_long_dataset(str(path), 1400, count, seed=0)
    b = hotpot_long_dataset(str(path), 1400, count, seed=0)
    c = hotpot_long_dataset(str(path), 1400, count, seed=1)
    assert a.to_json() == b.to_json()
    assert [g.fingerprint for g in a.groups.values()] != [g.fingerprint for g in c.groups.values()]
    assert a.name == "hotpotqa-long-1400" and a.task == "hotpotqa" and a.max_new_tokens == 32
    depths = []
    for q in a.questions:
        doc = a.groups[q.group].sources[0]
        titles = [s.title for s in doc.sections]
        assert set(q.gold_titles) <= set(titles)  # gold paragraphs are in the haystack
        assert len(titles) > 10  # mixed with other questions' paragraphs
        cost = sum(count([f"## haystack > {s.title}\n\n{doc.text[s.start:s.end]}" for s in doc.sections]))
        assert cost <= 1400 - 384
        depths += q.meta["gold_depths"]
    quartiles = {min(3, int(d * 4)) for d in depths}
    assert quartiles == {0, 1, 2, 3}  # gold spread over every quarter of the haystacks
    assert all(abs(x - y) > 0.2 for x, y in [gold_depths(i, 2) for i in range(20)])


def test_hotpot_corpus_pools_distinct_paragraphs(tmp_path):
    path = write_hotpot(tmp_path / "h.jsonl", n_questions=5)
    ds = hotpot_corpus_dataset(str(path))
    assert len(ds.groups) == 1 and len(ds.questions) == 5
    doc = next(iter(ds.groups.values())).sources[0]
    assert len(doc.sections) == 50 and all(q.group == "hotpot:corpus" for q in ds.questions)


def test_dataset_json_round_trip_and_limit(tmp_path):
    ds = hotpot_long_dataset(str(write_hotpot(tmp_path / "h.jsonl", 4)), 1000, SimpleTokenCounter())
    ds.save(tmp_path / "d.json")
    back = BenchDataset.load(tmp_path / "d.json")
    assert back.to_json() == ds.to_json()
    small = back.limited(2)
    assert len(small.questions) == 2 and set(small.groups) == {q.group for q in small.questions}


# ---- longbench ---------------------------------------------------------------------------------------
def test_longbench_loader_prompts_and_truncation(tmp_path):
    items = [{"input": "Who wrote it?", "context": "Para one.\n\nThe book was written by Ann Smith.\n\nPara three.",
              "answers": ["Ann Smith"], "length": 12, "_id": "x1"},
             {"input": "Where?", "context": "It happened in Rome.", "answers": ["Rome"], "_id": "x2"}]
    f = tmp_path / "qasper.jsonl"
    f.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    ds = load_longbench(f)
    assert ds.name == "longbench-qasper" and ds.task == "qasper" and ds.max_new_tokens == 128
    assert [q.id for q in ds.questions] == ["x1", "x2"] and ds.questions[0].answers == ["Ann Smith"]
    assert "Ann Smith" in ds.groups[ds.questions[0].group].sources[0].text
    assert MAX_NEW_TOKENS["narrativeqa"] == 128 and MAX_NEW_TOKENS["hotpotqa"] == 32
    p = build_prompt("hotpotqa", "CTX", "Q?")
    assert p.startswith("Answer the question based on the given passages.")
    assert "CTX" in p and p.endswith("Question: Q?\nAnswer:")
    assert set(PROMPTS) >= {"narrativeqa", "qasper", "hotpotqa"}
    assert truncate_middle(list(range(10)), 4) == [0, 1, 8, 9]
    assert truncate_middle([1, 2, 3], 8) == [1, 2, 3]
    with pytest.raises(InputError):
        load_longbench(tmp_path / "missing.jsonl")
    (tmp_path / "weird.jsonl").write_text(json.dumps(items[0]) + "\n")
    with pytest.raises(InputError):
        load_longbench(tmp_path / "weird.jsonl")  # unknown task without --task
    assert load_longbench(tmp_path / "weird.jsonl", task="narrativeqa").task == "narrativeqa"


def test_truncate_prompt_keeps_head_and_tail():
    class Tok:  # whitespace tokenizer
        def __call__(self, s, add_special_tokens=False):
            return {"input_ids": s.split()}

        def decode(self, ids, skip_special_tokens=True):
            return " ".join(ids) + " "

    prompt = " ".join(f"w{i}" for i in range(20))
    assert truncate_prompt(Tok(), prompt, 6).split() == ["w0", "w1", "w2", "w17", "w18", "w19"]
    assert truncate_prompt(Tok(), prompt, 50) == prompt


# ---- niah -------------------------------------------------------------------------------------------
def test_insert_at_depth_uses_sentence_boundaries():
    parts = [("A", "One. Two. Three."), ("B", "Four. Five.")]
    assert insert_at_depth(parts, "NEEDLE.", 0.0) == "A" and parts[0][1].startswith("NEEDLE. One.")
    parts = [("A", "One. Two. Three."), ("B", "Four. Five.")]
    assert insert_at_depth(parts, "NEEDLE.", 1.0) == "B" and parts[1][1].endswith("Five. NEEDLE.")


def test_niah_generator_places_needles_by_depth():
    doc = manual()
    spec = NiahSpec(length=1000, depths=(0.0, 0.5, 1.0), keys=(1, 3), repeats=1)
    ds = make_niah([doc], SimpleTokenCounter(), spec)
    again = make_niah([doc], SimpleTokenCounter(), spec)
    assert ds.to_json() == again.to_json() and len(ds.questions) == 6 and ds.task == "niah"
    for q in ds.questions:
        text = ds.groups[q.group].sources[0].text
        needle = q.evidence[0]
        assert needle in text and q.answers[0] in needle and q.answers[0] not in text.replace(needle, "")
        pos = text.index(needle) / len(text)
        assert abs(pos - q.meta["depth"]) < 0.35
        assert text.count("special magic number") == q.meta["keys"]


# ---- methods ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def view():
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=48, min_tokens=8))
    eng = H2MT.build([manual()], cfg, encoder=HashingEncoder(256), token_counter=SimpleTokenCounter())
    return GroupView(eng)


@pytest.mark.parametrize("budget", [60, 150, 400])
def test_methods_respect_the_budget_and_document_order(view, budget):
    methods = make_methods(["truncation", "bm25", "dense", "rrf", "h2mt"], beams=[2, 4])
    assert [m.name for m in methods] == ["truncation", "bm25", "dense", "rrf", "h2mt-b2", "h2mt-b4"]
    for m in methods:
        m.prepare(view)
        sel = m.select(view, "How do I redirect output to a file?", budget)
        ids = [n.id for n in sel.nodes]
        assert ids == sorted(ids) and ids, m.name
        assert sel.tokens_kept == sum(n.tokens for n in sel.nodes) <= budget, m.name
        assert sel.text.count("##") >= 1 and sel.nodes[0].text in sel.text


def test_rrf_fuses_the_bm25_and_dense_ranks_of_every_leaf(view):
    """The hybrid baseline keeps what reciprocal-rank fusion of the two flat rankings puts first: a
    leaf first in both is kept, and its fused score is the sum of the two 1 / (60 + rank)."""
    import numpy as np
    from h2mt.eval.methods.flat import RRF_K
    from h2mt.index.lexical import query_terms

    q = "How do I redirect output to a file?"
    bm25, dense, rrf = make_methods(["bm25", "dense", "rrf"], beams=[4])
    for m in (bm25, dense, rrf):
        m.prepare(view)
    lexical = np.asarray(view.bm25.get_scores(query_terms(q)))
    cosine = view.embeddings @ view.eng.encoder.encode([q])[0]
    ranks = [np.argsort(np.argsort(-s, kind="stable"), kind="stable") for s in (cosine, lexical)]
    fused = sum(1.0 / (RRF_K + r) for r in ranks)
    assert [n.id for n in rrf.select(view, q, 150).nodes] == [n.id for n in view.fill(fused.tolist(), 150)]
    best = int(np.argmax(fused))
    assert view.leaves[best].id in {n.id for n in rrf.select(view, q, 150).nodes}


def test_full_and_truncation_shapes(view):
    full, trunc = make_methods(["full", "truncation"], beams=[4])
    sel = full.select(view, "q", 0)
    assert [n.id for n in sel.nodes] == [n.id for n in view.leaves] and not full.budgeted
    t = trunc.select(view, "q", 200)
    head = [n for n in t.nodes if n.id <= view.leaves[len(view.leaves) // 2].id]
    assert t.nodes[0].id == view.leaves[0].id and t.nodes[-1].id == view.leaves[-1].id
    assert sum(n.tokens for n in head) <= 100


def test_unknown_method_is_a_clear_error():
    with pytest.raises(InputError, match="Unknown method") as e:
        make_methods(["nope"], beams=[4])
    msg = str(e.value)
    assert "\n" not in msg and "'nope'" in msg
    for known in ("full", "truncation", "bm25", "dense", "rrf", "llmlingua", "hmt", "h2mt-bK", "h2mt-memory",
                  "h2mt-hybridN", "h2mt-mwXX"):
        assert known in msg


DOCUMENTED_METHODS = ("full", "truncation", "bm25", "dense", "rrf", "llmlingua", "hmt", "h2mt-b8", "h2mt-memory",
                      "h2mt-hybrid", "h2mt-hybrid3", "h2mt-memory-titles", "h2mt-hybrid-titles",
                      "h2mt-hybrid2-titles", "h2mt-mw50")


@pytest.mark.parametrize("name", DOCUMENTED_METHODS)
def test_every_method_name_makes_its_method_with_every_hook(name):
    from h2mt.eval.methods.base import MethodBase

    (m,) = make_methods([name], beams=[4])
    assert m.name == name and isinstance(m, MethodBase)
    for hook in ("prepare", "select", "prepare_generation", "make_prompt", "answer"):
        assert callable(getattr(m, hook)), hook


def test_h2mt_expands_per_beam_and_bad_parameters_are_refused():
    names = [m.name for m in make_methods(["h2mt", "h2mt-b3"], beams=[2, 8])]
    assert names == ["h2mt-b2", "h2mt-b8", "h2mt-b3"]
    for bad in ("h2mt-b0", "h2mt-hybrid0", "h2mt-hybrid33", "h2mt-mw0", "h2mt-mw101", "h2mt-memory2",
                "h2mt-bx"):
        with pytest.raises(InputError, match=bad):
            make_methods([bad], beams=[4])


def test_a_new_method_is_one_class_plus_one_registry_entry(view, monkeypatch):
    """A method defining only ``select`` runs through the registry and the worker's hooks (defaults)."""
    from h2mt.eval.methods import registry
    from h2mt.eval.methods.base import MethodBase, nodes_selection

    class FirstLeaf(MethodBase):
        name = "first-leaf"

        def select(self, view, question, budget):
            return nodes_selection(view.leaves[:1], 1, 0.0)

    entry = registry.MethodEntry("first-leaf", "first-leaf", lambda m, s: [FirstLeaf()])
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, entry))
    (m,) = make_methods(["first-leaf"], beams=[4])
    m.prepare(view)
    m.prepare_generation(view, None)
    sel = m.select(view, "q", 10)
    assert sel.nodes == view.leaves[:1] and m.make_prompt(view, "q", sel, lambda q, c: [], None) is None
    assert m.answer(sel, "q", None, None) is None  # the generator answers the task's prompt
    assert "first-leaf" in registry.known_methods()
