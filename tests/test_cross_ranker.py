"""The cross-encoder re-ranking of the kept sentences: its head's inputs, its order, training on
candidates, the adapters on disk (merged when loaded, the same scores), and the engine using it.

A tiny random BERT with the embedded encoder's tokenizer stands in for all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import shutil

import pytest
from h2mt.errors import ConfigError
from h2mt.query.cross_ranker import (
    CROSS_TOP,
    CrossRanker,
    cross_ranker_path,
    extra_features,
    load_cross_ranker,
)
from h2mt.query.evidence import Sentence, split_sentences

from .test_sentence_ranker import _engine

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    """A 6-layer BERT of width 32 with the embedded encoder's tokenizer, saved as a base model folder."""
    from h2mt.errors import ModelNotFoundError
    from h2mt.index.encoders.names import default_encoder_path

    try:
        src = default_encoder_path()
    except ModelNotFoundError:
        pytest.skip("the embedded encoder (its tokenizer) is not installed")
    folder = tmp_path_factory.mktemp("tiny_bert")
    tok = transformers.AutoTokenizer.from_pretrained(src)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=6,
                                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    transformers.BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _groups(n: int, seed: int):
    """Synthetic questions whose evidence is the one quotable candidate, placed at a random rank."""
    import random

    from h2mt.train.cross_ranker import CrossGroup

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = 8
        at = rng.randrange(1, k)
        texts = tuple(f"Entry {rng.randrange(100)} line {i}" for i in range(k))
        quotable = tuple(i == at for i in range(k))
        out.append(CrossGroup("Which entry says it?", texts, quotable, quotable))
    return out


def _first_right(model_or_ranker, groups) -> int:
    right = 0
    for g in groups:
        if hasattr(model_or_ranker, "order"):
            s = model_or_ranker.scores(g.question, g.texts, g.quotable)
        else:
            with torch.no_grad():
                s = model_or_ranker.scores(g.question, g.texts, g.quotable, range(len(g.texts))).numpy()
        right += bool(g.evidence[int(s.argmax())])
    return right


def test_the_heads_inputs_follow_the_fused_order():
    assert extra_features([True, False, True]) == [[1.0, 1.0], [5 / 6, 0.0], [5 / 7, 1.0]]


def _ranker_with_head(tiny_base, weight_rank: float, weight_quotable: float = 0.0, top: int = CROSS_TOP):
    model = transformers.AutoModel.from_pretrained(tiny_base).eval()
    head = torch.zeros(model.config.hidden_size + 2)
    head[-2], head[-1] = weight_rank, weight_quotable
    return CrossRanker(model, transformers.AutoTokenizer.from_pretrained(tiny_base), head, torch.zeros(1), top)


def test_a_head_that_weighs_only_the_fused_rank_keeps_the_fused_order_and_a_reversed_one_reverses_its_top(tiny_base):
    sents = [Sentence(0, i, f"Sentence number {i} says something.", 1.0, 0.5) for i in range(30)]
    contexts = ["Heading"] * 30
    assert _ranker_with_head(tiny_base, 1.0).order("a question?", sents, contexts) == list(range(30))
    reversed_top = _ranker_with_head(tiny_base, -1.0, top=5).order("a question?", sents, contexts)
    assert reversed_top == [4, 3, 2, 1, 0] + list(range(5, 30))  # the rest keep the fusion's order
    with pytest.raises(ValueError, match="quotable"):
        _ranker_with_head(tiny_base, 1.0).scores("q?", ["a", "b"], [True])


def test_training_learns_the_evidence_and_the_saved_adapters_merge_to_the_same_scores(tiny_base, tmp_path):
    from h2mt.train.cross_ranker import CrossTraining, save_cross_ranker, train_cross_ranker

    train, held = _groups(48, 0), _groups(40, 1)
    cfg = CrossTraining(epochs=2, questions_per_step=4, warmup_steps=2, head_lr=5e-2, lr=1e-3)
    model = train_cross_ranker(train, tiny_base, cfg, progress=False)
    before = sum(g.evidence[0] for g in held)  # the fusion's first is never the evidence here
    assert before == 0 and _first_right(model, held) >= 35
    folder = save_cross_ranker(model, tmp_path / "cr", {"trained_on": "synthetic"})
    card = json.loads((folder / "card.json").read_text())
    assert card["trained_on"] == "synthetic" and card["groups"] == 48 and card["extra"] == ["fused_rank", "quotable"]
    loaded = load_cross_ranker("enc", folder, base_path=tiny_base)
    assert loaded is not None
    g = held[0]
    with torch.no_grad():
        unmerged = model.scores(g.question, g.texts, g.quotable, range(len(g.texts))).numpy()
    assert abs(loaded.scores(g.question, g.texts, g.quotable) - unmerged).max() < 1e-4
    with pytest.raises(ValueError, match="nothing to train"):
        train_cross_ranker([type(g)(g.question, g.texts, g.evidence, (True,) * len(g.texts)) for g in train[:3]],
                           tiny_base, cfg, progress=False)


def test_missing_or_mismatched_weights(tiny_base, tmp_path):
    assert load_cross_ranker("enc", tmp_path / "missing", base_path=tiny_base) is None
    assert load_cross_ranker("hashing-256") is None  # no weights for another encoder
    assert cross_ranker_path("all-MiniLM-L6-v2:onnx-int8") == cross_ranker_path("all-MiniLM-L6-v2")
    from h2mt.train.cross_ranker import CrossTraining, save_cross_ranker, train_cross_ranker

    model = train_cross_ranker(_groups(4, 0), tiny_base, CrossTraining(epochs=1), progress=False)
    folder = save_cross_ranker(model, tmp_path / "cr")
    (folder / "card.json").write_text(json.dumps({"extra": ["cosine"]}))
    with pytest.raises(ConfigError, match="retrain"):
        load_cross_ranker("enc", folder, base_path=tiny_base)
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "head.safetensors").unlink()
    with pytest.raises(ConfigError, match="no head"):
        load_cross_ranker("enc", broken, base_path=tiny_base)


def test_the_engine_quotes_in_the_cross_rankers_order_only_when_it_is_on(tmp_path, encoder, counter, tiny_base):
    question = "What happens to old database snapshots?"
    off = _engine(tmp_path, encoder, counter).answer(question)
    on_eng = _engine(tmp_path, encoder, counter, cross_ranker=True)
    assert on_eng.cross_ranker is None  # no weights for the hashing encoder: the fused order stands
    assert on_eng.answer(question).text == off.text
    on_eng._cross_ranker = _ranker_with_head(tiny_base, -1.0, top=2)  # swaps the fused first two
    on = on_eng.answer(question)
    assert "by the cross-encoder sentence ranker" in on.accounting.task_reason
    assert "cross-encoder" not in off.accounting.task_reason
    assert on.accounting.sentence_rerank_ms > 0 and off.accounting.sentence_rerank_ms == 0
    first, second, third = split_sentences(off.text)
    assert split_sentences(on.text) == [second, first, third]
    # both rankers on: the cross-encoder orders, the linear ranker is not consulted
    both = _engine(tmp_path, encoder, counter, cross_ranker=True, sentence_ranker=True)
    both._cross_ranker = on_eng._cross_ranker
    both._sentence_ranker = None
    assert both.answer(question).text == on.text


def test_the_shipped_weights_read_what_a_question_asks():
    """The weights shipped for the default encoder (the real all-MiniLM-L6-v2 underneath)."""
    try:
        ranker = load_cross_ranker("all-MiniLM-L6-v2:onnx-int8")
    except ConfigError:
        pytest.skip("the embedded encoder is not installed")
    assert ranker is not None and ranker.card["extra"] == ["fused_rank", "quotable"]
    assert ranker.card["trained_on"] == "answer sets 1-85"  # blind sets 86 and later are not in it
    question = "Does bash drop a glob pattern that matches no file when I turn on nullglob?"
    texts = ["failglob: If set, patterns which fail to match filenames during filename expansion result in an "
             "expansion error.",
             "nocaseglob: If set, Bash matches filenames in a case-insensitive fashion when performing filename "
             "expansion.",
             "nullglob: If set, filename expansion patterns which match no files expand to a null string, rather "
             "than themselves."]
    assert int(ranker.scores(question, texts, [True] * 3).argmax()) == 2  # fused last, read first
    question = "If I never set PS2, what does bash show when a command continues on the next line?"
    texts = ["PS2: The value of this parameter is expanded as with PS1 and used as the secondary prompt string.",
             "PS2: The default value is '> '."]
    described, default = ranker.scores(question, texts, [True, True])
    assert default > described  # the sentence stating the default, though the fusion put the description first


def test_sentence_first_selection_keeps_the_leaf_the_cross_encoder_ranks_first(tmp_path, encoder, counter, tiny_base):
    """``sentence_pool``: a head reversing the fused order moves the budget to the fused-last sentence's leaf."""
    from h2mt.engine import _Signals
    from h2mt.query.evidence import rank_sentences

    from .test_sentence_first import QUESTION
    from .test_sentence_first import _engine as ops_engine

    eng = ops_engine(tmp_path, encoder, counter, sentence_pool=8.0, cross_ranker=True)
    wide = eng.route(QUESTION, budget=8 * 20)
    fused = rank_sentences(QUESTION, [s.node.text for s in wide.kept],
                           **_Signals(eng, QUESTION, wide.kept, True, 0, True).placed(wide.kept, always=True))
    plain = eng.answer(QUESTION, budget=20)  # no weights for the hashing encoder: the fused order stands
    assert [s.node.id for s in plain.sources] == [wide.kept[fused[0].leaf].node.id]
    eng._cross_ranker = _ranker_with_head(tiny_base, -1.0)
    ans = eng.answer(QUESTION, budget=20)
    last_leaf = wide.kept[fused[-1].leaf].node.id  # the reversed order's first
    assert last_leaf != plain.sources[0].node.id
    assert [s.node.id for s in ans.sources] == [last_leaf]
    assert ans.accounting.sentence_rerank_ms > 0


def test_quotes_scope_orders_a_quotes_sentences_but_not_what_decides_or_what_a_generated_answer_reads(
        tmp_path, encoder, counter, tiny_base):
    """``cross_ranker_scope="quotes"``: the quote is taken in the cross-encoder's order once the fused
    order has decided to quote; the decision, the focus a generated answer reads and a default's
    sentence stay the fused order's."""
    from h2mt.engine import _Signals

    question = "What happens to old database snapshots?"
    off = _engine(tmp_path, encoder, counter).answer(question)
    eng = _engine(tmp_path, encoder, counter, cross_ranker=True, cross_ranker_scope="quotes")
    eng._cross_ranker = _ranker_with_head(tiny_base, -1.0, top=2)  # swaps the fused first two
    on = eng.answer(question)
    first, second, third = split_sentences(off.text)
    assert split_sentences(on.text) == [second, first, third]  # the quote: the cross-encoder's order
    assert "by the cross-encoder sentence ranker" in on.accounting.task_reason
    assert on.accounting.sentence_rerank_ms > 0

    kept = eng.route(question).kept
    cfg = eng.config.prefill
    scoped = _Signals(eng, question, kept, True, 0, True, cross=True, cross_scope="quotes")
    everywhere = _Signals(eng, question, kept, True, 0, True, cross=True, cross_scope="all")
    fused = _Signals(eng, question, kept, True, 0, True)
    assert "rerank" not in scoped.placed(kept, always=True) and "rerank" in scoped.placed(kept, always=True, quote=True)
    assert "rerank" in everywhere.placed(kept, always=True)
    assert scoped.learned(kept) is None and fused.learned(kept) is None
    assert scoped.learned(kept, quote=True) is not None
    # what a generated answer reads (focus_sentences ranks with placed(kept, always=True)): the fused order under
    # "quotes", the cross-encoder's under "all"
    from h2mt.query.evidence import rank_sentences

    texts = [s.node.text for s in kept]
    order = [s.text for s in rank_sentences(question, texts, **scoped.placed(kept, always=True))]
    assert order == [s.text for s in rank_sentences(question, texts, **fused.placed(kept, always=True))]
    crossed = [s.text for s in rank_sentences(question, texts, **everywhere.placed(kept, always=True))]
    assert crossed[:2] == order[:2][::-1] and crossed[2:] == order[2:]
    assert [s.node.text for s in eng._read(question, kept, cfg, scoped)] == [
        s.node.text for s in eng._read(question, kept, cfg, fused)]
    # the decision is the fused order's: no quote there, no second take and no cross-encoder forward
    calls: list[bool] = []
    assert scoped.quote(lambda q: calls.append(q)) is None and calls == [False]
    # a quote the cross-encoder's order cannot give keeps the fused one
    assert scoped.quote(lambda q: None if q else "fused") == "fused"
    assert scoped.by_ranker == ""  # the note does not claim the cross-encoder's order for the fused quote
    assert scoped.quote(lambda q: "cross" if q else "fused") == "cross"
    assert "cross-encoder" in scoped.by_ranker
    assert everywhere.quote(lambda q: "cross" if q else "fused") == "fused"  # "all": one take, already re-ranked


def test_the_scope_is_checked():
    from h2mt.config import PrefillConfig

    with pytest.raises(ConfigError, match="cross_ranker_scope"):
        PrefillConfig(cross_ranker_scope="leaves")  # type: ignore[arg-type]
