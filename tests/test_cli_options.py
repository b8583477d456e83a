"""CLI options: a bad value fails in one line with the usage exit code, every cheap check runs before any
model loads, errors name CLI options, help texts keep their brackets, defaults come from the dataclasses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from h2mt import PrefillConfig, errors
from h2mt.cli.main import app
from typer.testing import CliRunner

from tests._tiny import make_tiny_model_dir

GUIDE = """# Guide

Intro paragraph about the guide and what it covers in general terms.

## Redirections

Redirect output to a file with a greater-than sign. Here strings feed a word to standard input.

## Signals

The trap builtin runs a command when the shell receives a signal. A fatal signal N gives exit status 128+N.
"""

USAGE_EXIT = 2  # click's usage error


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny) -> Path:
    folder = tmp_path_factory.mktemp("idx")
    (folder / "guide.md").write_text(GUIDE)
    out = folder / "guide.h2mt"
    r = CliRunner().invoke(
        app,
        [
            "build",
            str(folder / "guide.md"),
            "-o",
            str(out),
            "--encoder",
            "hashing",
            "--model",
            str(tiny),
            "--max-tokens",
            "32",
        ],
    )
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture()
def no_model(monkeypatch):
    """Any generator or tokenizer load fails the test: the command must decide before loading one."""
    import h2mt.backends

    def boom(*_a, **_k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(h2mt.backends, "load_backend", boom)
    monkeypatch.setattr(h2mt.backends, "load_counter", boom)


def invoke(*args: object, **kw) -> typer.testing.Result:
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="h2mt", **kw)


def assert_one_error_line(err: str, option: str) -> None:
    """A short usage block (usage line, help hint) with exactly one error line, which names ``option``."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errs) == 1, err
    assert option in errs[0], err
    assert len(lines) <= 3 and lines[0].startswith("Usage: h2mt"), err
    assert "Traceback" not in err


BAD_VALUES = [
    (["ask", "{index}", "q", "--task", "bogus"], "--task"),
    (["ask", "{index}", "q", "--prefill", "bogus"], "--prefill"),
    (["ask", "{index}", "q", "--quantization", "bogus"], "--quantization"),
    (["ask", "{index}", "q", "--device", "bogus"], "--device"),
    (["ask", "{index}", "q", "--device", "cuda:x"], "--device"),
    (["ask", "{index}", "q", "--model", "nosuchmodel"], "--model"),
    (["build", "{source}", "-o", "x.h2mt", "--encoder", "bogus"], "--encoder"),
    (["build", "{source}", "-o", "x.h2mt", "--encoder-backend", "bogus"], "--encoder-backend"),
    (["build", "{source}", "-o", "x.h2mt", "--memories", "bogus"], "--memories"),
    (["build", "{source}", "-o", "x.h2mt", "--memory-aggregate", "bogus"], "--memory-aggregate"),
    (["build", "{source}", "-o", "x.h2mt", "--model", "nosuchmodel"], "--model"),
    (["bench", "--dataset", "bogus"], "--dataset"),
    (["bench", "--encoder", "bogus"], "--encoder"),
    (["bench", "--device", "bogus"], "--device"),
    (["bench", "--model", "nosuchmodel"], "--model"),
    (["bench-prefill", "--source", "bogus"], "--source"),
    (["bench-prefill", "--shape", "bogus"], "--shape"),
    (["bench-prefill", "--device", "bogus"], "--device"),
    (["hmt", "train", "--trainable", "bogus"], "--trainable"),
    (["hmt", "train", "--loss-on", "bogus"], "--loss-on"),
    (["hmt", "train", "--dtype", "bogus"], "--dtype"),
    (["hmt", "train", "--device", "bogus"], "--device"),
    (["hmt", "train", "--model", "nosuchmodel"], "--model"),
    (["hmt", "eval", "--methods", "hmt,bogus"], "--methods"),
    (["hmt", "eval", "--device", "bogus"], "--device"),
]


@pytest.mark.parametrize("argv, option", BAD_VALUES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD_VALUES])
def test_a_bad_value_is_one_usage_error(argv, option, index, no_model):
    args = [a.format(index=index, source=index.parent / "guide.md") for a in argv]
    r = invoke(*args)
    assert r.exit_code == USAGE_EXIT, r.output
    assert_one_error_line(r.stderr, option)
    assert r.stdout == ""


@pytest.mark.parametrize(
    "args, option",
    [
        (["ask", "missing.h2mt", "q", "--task", "bogus"], "--task"),
        (["ask", "missing.h2mt", "q", "--device", "bogus"], "--device"),
        (["ask", "missing.h2mt", "q", "--model", "nosuchmodel"], "--model"),
        (["build", "missing.md", "-o", "x.h2mt", "--memories", "bogus"], "--memories"),
    ],
)
def test_a_bad_value_is_one_usage_error_in_a_real_process(args, option, tmp_path):
    exe = Path(sys.executable).with_name("h2mt")
    p = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == USAGE_EXIT, p.stderr
    assert_one_error_line(p.stderr, option)


def test_an_unknown_model_lists_the_presets(index, no_model):
    from h2mt.backends.presets import PRESETS

    r = invoke("ask", index, "q", "--model", "nosuchmodel")
    assert r.exit_code == USAGE_EXIT
    assert "nosuchmodel" in r.stderr and all(name in r.stderr for name in PRESETS)
    assert invoke("route", index, "trap", "--model", str(index.parent)).exit_code != 0  # route takes no model


def test_a_model_path_that_exists_is_accepted_as_is(tiny, tmp_path, no_model):
    (tmp_path / "empty.md").write_text("")  # stops the build after the options were accepted
    r = invoke(
        "build", tmp_path / "empty.md", "-o", tmp_path / "x.h2mt", "--encoder", "hashing", "--model", tiny
    )
    assert r.exit_code == errors.ParseError.exit_code, r.output


# ---- cheap checks before any model loads (no_model turns a load into a failure) -----------------------


def test_an_empty_question_fails_before_the_model_loads(index, no_model):
    for cmd in ("ask", "route"):
        r = invoke(cmd, index, "   ")
        assert r.exit_code == errors.InputError.exit_code, r.output
        assert r.stderr.startswith("error: ") and "empty" in r.stderr


def test_a_missing_source_to_add_fails_before_the_model_loads(index, tmp_path, no_model):
    r = invoke("add", index, tmp_path / "missing.md")
    assert r.exit_code == errors.InputError.exit_code, r.output
    assert "missing.md" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_bad_source_fails_before_the_tokenizer_loads(tmp_path, no_model):
    (tmp_path / "empty.md").write_text("   \n")
    r = invoke("build", tmp_path / "empty.md", "-o", tmp_path / "x.h2mt", "--encoder", "hashing")
    assert r.exit_code == errors.ParseError.exit_code, r.output
    r = invoke("build", tmp_path / "nope.md", "-o", tmp_path / "x.h2mt", "--encoder", "hashing")
    assert r.exit_code == errors.InputError.exit_code and "nope.md" in r.stderr, r.output
    assert not (tmp_path / "x.h2mt").exists()


def test_a_memory_prefill_without_memories_fails_before_the_model_loads(index, no_model):
    r = invoke("ask", index, "trap", "--prefill", "memory")
    assert r.exit_code == errors.ConfigError.exit_code, r.output
    assert "--prefill memory" in r.stderr and "--memories hmt" in r.stderr


def test_an_empty_question_needs_no_model_in_a_real_process(index, tmp_path):
    env = {**os.environ, "H2MT_MODEL": str(tmp_path / "no-such-model")}
    p = subprocess.run(
        [sys.executable, "-m", "h2mt.cli.main", "ask", str(index), " "],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == errors.InputError.exit_code, p.stderr
    assert p.stderr.strip().splitlines() == [
        "error: The question is empty: ask something about the indexed documents"
    ]


def test_a_folder_given_as_the_index_says_so_and_names_an_index_file(index, tmp_path, no_model):
    r = invoke("route", tmp_path, "trap")  # a folder without an index
    assert r.exit_code == errors.IndexFileError.exit_code
    assert f"{tmp_path} is a folder" in r.stderr and f"-o {tmp_path.name}.h2mt" in r.stderr
    r = invoke("ask", index.parent, "trap")  # a folder holding one
    assert r.exit_code == errors.IndexFileError.exit_code
    assert "is a folder" in r.stderr and str(index) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# ---- errors name the CLI option ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, option, api",
    [
        (["ask", "{index}", "q", "--beam", "0"], "--beam", "RouteConfig"),
        (["route", "{index}", "q", "--memory-weight", "2"], "--memory-weight", "RouteConfig"),
        (["ask", "{index}", "q", "--max-new-tokens", "-1"], "--max-new-tokens", "PrefillConfig"),
        (["ask", "{index}", "q", "--text-leaves", "-1"], "--text-leaves", "PrefillConfig"),
        (["ask", "{index}", "q", "--rerank-leaves", "-1"], "--rerank-leaves", "PrefillConfig"),
        (["ask", "{index}", "q", "--focus-sentences", "-1"], "--focus-sentences", "PrefillConfig"),
        (["ask", "{index}", "q", "--server", "localhost:8000"], "--server", "BackendConfig"),
        (["build", "{source}", "-o", "x.h2mt", "--max-tokens", "4"], "--max-tokens", "ChunkConfig"),
        (
            ["build", "{source}", "-o", "x.h2mt", "--encoder", "hashing", "--encoder-backend", "onnx"],
            "--encoder-backend",
            "EncoderConfig",
        ),
        (["hmt", "train", "--segment-len", "2"], "--segment-len", "HMTConfig"),
    ],
)
def test_config_errors_name_the_cli_option(args, option, api, index, no_model):
    r = invoke(*[a.format(index=index, source=index.parent / "guide.md") for a in args])
    assert r.exit_code == errors.ConfigError.exit_code, r.output
    assert r.stderr.startswith(f"error: {option}") and api not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_budget_error_names_the_option(index, no_model):
    r = invoke("route", index, "q", "--budget", "0")
    assert r.exit_code == errors.BudgetError.exit_code
    assert "--budget 1024" in r.stderr and "budget=" not in r.stderr


# ---- help texts ----------------------------------------------------------------------------------------


def _commands(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_help_text_keeps_its_brackets():
    from typer.main import get_command

    seen = 0
    for path, cmd in _commands(get_command(app)):
        texts = [p.help or "" for p in cmd.params] + [cmd.help or ""]
        wanted = {re.sub(r"\\\[", "[", m) for t in texts for m in re.findall(r"'?[\w.-]+\\?\[[\w,-]+\]'?", t)}
        if not wanted:
            continue
        r = invoke(*path, "--help", env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
        assert r.exit_code == 0, r.output
        for text in wanted:
            seen += 1
            assert text in r.stdout, (path, text)
    assert seen >= 1  # build --ray names the extra 'h2mt[ray]'


def test_build_help_names_the_ray_extra():
    r = invoke("build", "--help", env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
    assert "pip install 'h2mt[ray]'" in r.stdout


# ---- defaults come from the dataclasses ---------------------------------------------------------------


def _defaults(*path: str) -> dict[str, object]:
    from typer.main import get_command

    cmd = get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return {p.name: p.default for p in cmd.params}


def test_cli_defaults_are_the_dataclass_defaults():
    from dataclasses import fields

    from h2mt.config import (
        BackendConfig,
        ChunkConfig,
        EncoderConfig,
        MemoryConfig,
        PrefillConfig,
        RouteConfig,
    )
    from h2mt.eval.prefill_bench import PrefillBenchOptions
    from h2mt.eval.runner import BenchOptions
    from h2mt.hmt.config import HMTConfig

    def declared(cls):
        return {f.name: f.default for f in fields(cls)}

    ask, build = _defaults("ask"), _defaults("build")
    r, p, b = declared(RouteConfig), declared(PrefillConfig), declared(BackendConfig)
    assert (ask["budget"], ask["beam"], ask["memory_weight"]) == (
        r["budget"],
        r["beam_width"],
        r["memory_weight"],
    )
    assert (ask["task"], ask["prefill"]) == (p["task"].value, p["mode"].value)
    assert (ask["max_new_tokens"], ask["text_leaves"]) == (p["max_new_tokens"], p["text_leaves"])
    assert ask["rerank_leaves"] == p["rerank_leaves"]
    assert (ask["verdict_first"], ask["placed_sentences"]) == (p["verdict_first"], p["placed_sentences"])
    assert (ask["quote_defaults"], ask["quote_retries"]) == (p["quote_defaults"], p["quote_retries"])
    assert (ask["sentence_ranker"], ask["focus_sentences"]) == (p["sentence_ranker"], p["focus_sentences"])
    assert (ask["cross_ranker"], ask["sentence_pool"]) == (p["cross_ranker"], p["sentence_pool"])
    assert ask["echo_short_retry"] == p["echo_short_retry"]
    assert (ask["constrain_names"], ask["quote_unmatched"]) == (p["constrain_names"], p["quote_unmatched"])
    assert (ask["quote_non_names"], ask["quote_places"]) == (p["quote_non_names"], p["quote_places"])
    assert (ask["quantization"], ask["device"]) == (b["quantization"], b["device"])
    e, m = declared(EncoderConfig), declared(MemoryConfig)
    assert build["max_tokens"] == declared(ChunkConfig)["max_tokens"]
    assert (build["encoder"], build["encoder_backend"], build["encoder_batch_size"]) == (
        e["kind"],
        e["backend"],
        e["batch_size"],
    )
    assert (build["memories"], build["memory_aggregate"]) == (m["kind"], m["aggregate"])

    bench, bo = _defaults("bench"), BenchOptions()
    assert bench["budgets"] == ",".join(map(str, bo.budgets)) and bench["beams"] == ",".join(
        map(str, bo.beams)
    )
    assert bench["methods"] == ",".join(bo.methods) and bench["dataset"] == bo.dataset
    assert (bench["encoder"], bench["device"], bench["length"]) == (bo.encoder, bo.device, bo.length)
    assert bench["llmlingua_max_tokens"] == bo.llmlingua_max_tokens
    prefill, po = _defaults("bench-prefill"), PrefillBenchOptions()
    assert (prefill["source"], prefill["shape"], prefill["quant"]) == (
        po.source,
        po.shape,
        ",".join(po.quant),
    )

    train, h = _defaults("hmt", "train"), HMTConfig()
    for name in (
        "segment_len",
        "sensory_len",
        "cache_size",
        "key_dim",
        "trainable",
        "lora_r",
        "lora_alpha",
        "stage1_steps",
        "stage1_segments",
        "stage2_steps",
        "stage2_segments",
        "bptt_depth",
        "loss_on",
        "lr",
        "lr_step_size",
        "lr_gamma",
        "batch_size",
        "grad_checkpointing",
        "save_every",
        "seed",
    ):
        assert train[name] == getattr(h, name), name
    assert train["lora_targets"] == ",".join(h.lora_targets)


def test_build_min_tokens_follows_chunk_config(tmp_path, tiny, monkeypatch):
    """The CLI's leaf floor is ChunkConfig's (a quarter of --max-tokens at most), read, not restated."""
    from h2mt.config import ChunkConfig
    from h2mt.index.store import load_index

    # a changed ChunkConfig default must reach the CLI (the class's declared default, as fields() reads it)
    monkeypatch.setattr(ChunkConfig.__dataclass_fields__["min_tokens"], "default", 17)
    (tmp_path / "g.md").write_text(GUIDE)
    got = []
    for max_tokens in (32, 400):
        r = invoke(
            "build",
            tmp_path / "g.md",
            "-o",
            tmp_path / "g.h2mt",
            "--encoder",
            "hashing",
            "--model",
            tiny,
            "--max-tokens",
            max_tokens,
        )
        assert r.exit_code == 0, r.output
        got.append(load_index(tmp_path / "g.h2mt").meta["chunk"]["min_tokens"])
    assert got == [32 // 4, 17]


# ---- progress bars ---------------------------------------------------------------------------------------


def test_progress_bars_are_quiet_when_stderr_is_not_a_terminal(tmp_path, tiny):
    (tmp_path / "g.md").write_text(GUIDE)
    args = ["build", tmp_path / "g.md", "-o", tmp_path / "g.h2mt", "--encoder", "hashing", "--model", tiny]
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    assert "%|" not in r.stderr, r.stderr
    r = invoke(*args, "--progress")
    assert r.exit_code == 0 and "%|" in r.stderr


FOCUS = PrefillConfig().focus_sentences  # the default
CROSS = PrefillConfig().cross_ranker  # the default
POOL = PrefillConfig().sentence_pool  # the default
ECHO = PrefillConfig().echo_short_retry  # the default
SCOPE = PrefillConfig().cross_ranker_scope  # the default
NON_NAMES = PrefillConfig().quote_non_names  # the default
PLACES = PrefillConfig().quote_places  # the default


DEFAULTS = dict(placed=True, defaults=True, retries=False, ranker=False, focus=FOCUS, names=False, unmatched=True,
                cross=CROSS, pool=POOL, echo=ECHO, scope=SCOPE, non_names=NON_NAMES, places=PLACES)


def _expect(**changed: object) -> tuple[object, ...]:
    """The engine's prefill settings in the order the test reads them: the defaults, ``changed`` aside."""
    return tuple({**DEFAULTS, **changed}.values())


@pytest.mark.parametrize(("flag", "expect"), [
    ([], _expect()),
    (["--no-placed-sentences"], _expect(placed=False)),
    (["--no-quote-defaults"], _expect(defaults=False)),
    (["--quote-retries"], _expect(retries=True)),
    (["--sentence-ranker"], _expect(ranker=True)),
    (["--constrain-names"], _expect(names=True)),
    (["--no-quote-unmatched"], _expect(unmatched=False)),
    (["--focus-sentences", "6"], _expect(focus=6)),
    (["--cross-ranker"], _expect(cross=True)),
    (["--no-cross-ranker"], _expect(cross=False)),
    (["--sentence-pool", "4"], _expect(pool=4.0)),
    (["--echo-short-retry"], _expect(echo=True)),
    (["--no-quote-non-names"], _expect(non_names=False)),
    (["--quote-non-names"], _expect(non_names=True)),
    (["--cross-ranker", "--cross-ranker-scope", "quotes"], _expect(cross=True, scope="quotes")),
    (["--quote-places"], _expect(places=True)),
    (["--no-quote-places"], _expect(places=False)),
])
def test_ask_passes_placed_sentences_and_quote_defaults_to_the_engine(index, monkeypatch, flag, expect):
    import h2mt.engine

    seen = []

    def load(path, config=None, **kw):
        p = config.prefill
        seen.append((p.placed_sentences, p.quote_defaults, p.quote_retries, p.sentence_ranker, p.focus_sentences,
                     p.constrain_names, p.quote_unmatched, p.cross_ranker, p.sentence_pool, p.echo_short_retry,
                     p.cross_ranker_scope, p.quote_non_names, p.quote_places))
        raise SystemExit(0)  # the config is all this test reads

    monkeypatch.setattr(h2mt.engine.H2MT, "load", staticmethod(load))
    invoke("ask", index, "What does the guide say?", *flag)
    assert seen == [expect]
