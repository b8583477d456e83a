"""The generator's own attention ranking the kept sentences (in-context re-ranking), measured, not built.

The candidate rows are those ``scripts/cross_ranker_train.py collect`` writes: per question, the kept
sentences the fusion (BM25 with heading and entry name, fused with the encoder's cosine) ranks best,
in that order, each with its context and whether it is part of the evidence sentence.

``collect``: the default generator reads the best ``--top`` candidates as a lettered list
(``[A] context: sentence``, each cut to 60 words), then the question, then "Which sentence answers the
question? Reply with its letter." and the opening ``[`` of the reply. The list is prefilled once;
the question's suffix and a content-free one (``N/A``) are each run on it with eager attention.
Per candidate and per layer it writes:

- ``q``: the attention mass from the question's tokens to the candidate's tokens, summed over heads;
- ``last``: the same from the suffix's last token (the one that writes the letter);
- ``choice``: the log-probability of the candidate's letter as that next token.

``score``: where the evidence sentence lands among the candidates under the fusion's order and under
each attention order (all layers; middle; late; one layer at a time; the calibrated score subtracts
the content-free suffix's; the letter's log-probability; each fused with the fusion's order by
reciprocal rank, k = 5), with the paired bootstrap interval of the difference against the fusion.

    (cd scripts && ../.venv/bin/python cross_ranker_train.py collect --rows /tmp/c.jsonl --index-dir $IDX \
        /tmp/d8694.jsonl)
    .venv/bin/python scripts/attention_rank_probe.py collect --rows /tmp/c.jsonl --out /tmp/att.jsonl
    .venv/bin/python scripts/attention_rank_probe.py score /tmp/att.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

LETTERS = [chr(ord("A") + i) for i in range(26)]
HEAD = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nSentences from a manual:\n"
ASK = "\nWhich sentence answers the question? Reply with its letter.<|im_end|>\n<|im_start|>assistant\n["
CONTENT_FREE = "N/A"
WORDS = 60  # a candidate is cut to this many words
RRF_K = 5


def collect(rows_path: Path, out_path: Path, top: int, part: int, parts: int) -> None:
    """One JSON line per question (module docstring); appended, so a run resumes."""
    import torch
    from h2mt.backends.resolve import resolve_model
    from h2mt.config import BackendConfig
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(BackendConfig()).path
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()
    letter_ids = [tok.encode(c, add_special_tokens=False)[0] for c in LETTERS]
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    done = set()
    if out_path.exists():
        done = {json.loads(line)["id"] for line in out_path.read_text(encoding="utf-8").splitlines() if line.strip()}
    todo = [r for r in rows[part::parts] if r["id"] not in done]

    def encode(text: str) -> list[int]:
        return tok.encode(text, add_special_tokens=False)

    with out_path.open("a", encoding="utf-8") as out, torch.no_grad():
        for r in tqdm(todo, desc="questions"):
            t0 = time.perf_counter()
            cands = r["cands"][:top]
            ids = encode(HEAD)
            spans = []  # (start, end) of each candidate's tokens in the prompt
            for i, c in enumerate(cands):
                ids += encode(f"[{LETTERS[i]}] ")
                placed = (f"{c['context']}: " if c.get("context") else "") + " ".join(c["text"].split()[:WORDS])
                body = encode(placed + "\n")
                spans.append((len(ids), len(ids) + len(body)))
                ids += body
            ids += encode("\nQuestion:")
            n_prefix = len(ids)
            cache = model(torch.tensor([ids]), use_cache=True).past_key_values
            res: dict[str, Any] = {}
            for name, question in (("q", r["question"]), ("na", CONTENT_FREE)):
                asked = encode(" " + question)
                suffix = torch.tensor([asked + encode(ASK)])  # (1, S)
                positions = torch.arange(n_prefix, n_prefix + suffix.shape[1])[None]  # (1, S)
                o = model(suffix, cache=cache, position_ids=positions, output_attentions=True, use_cache=True)
                att = torch.stack([a[0] for a in o.attentions])  # (L, H, S, P + S)
                from_question = att[:, :, : len(asked), :].sum(dim=(1, 2))  # (L, P + S)
                from_last = att[:, :, -1, :].sum(dim=1)  # (L, P + S)
                logp = torch.log_softmax(o.logits[0, -1].float(), dim=-1)  # (V,)
                res[name] = {
                    "q": [[float(from_question[layer, a:b].sum()) for a, b in spans] for layer in range(att.shape[0])],
                    "last": [[float(from_last[layer, a:b].sum()) for a, b in spans] for layer in range(att.shape[0])],
                    "choice": [float(logp[letter_ids[i]]) for i in range(len(cands))],
                }
                cache.crop(-suffix.shape[1])
            out.write(json.dumps({"id": r["id"], "type": r["type"], "set": r.get("set"),
                                  "ev": [i for i, c in enumerate(cands) if c["evidence"]],
                                  "lens": [b - a for a, b in spans], "res": res,
                                  "seconds": time.perf_counter() - t0}) + "\n")
            out.flush()


def places(scores: Sequence[float]) -> list[int]:
    """Scores (higher better) -> each candidate's place, from 0 (ties by position)."""
    from h2mt.query.fusion import ranks

    return [int(p) for p in ranks(list(scores))]


def evidence_table(rows: Sequence[dict[str, Any]], orders: dict[str, Callable[[dict[str, Any]], list[float]]],
                   ) -> list[int]:
    """Print where each row's evidence (``row["ev"]``, candidate indices) lands under each order (a row's
    candidate scores, higher first): first, among the first three, each paired against the first order's
    (bootstrap interval of the difference). Returns the first order's place of the evidence per row."""
    from h2mt.eval.metrics import bootstrap_ci

    def at(r: dict[str, Any], scores: list[float]) -> int:
        placed = places(scores)
        return min((placed[i] for i in r["ev"]), default=len(placed))

    base = [at(r, next(iter(orders.values()))(r)) for r in rows]
    print(f"| order | first | paired vs {next(iter(orders))} | among the first three | paired |")
    print("|---|---|---|---|---|")
    for name, f in orders.items():
        where = [at(r, f(r)) for r in rows]
        cells = []
        for k in (1, 3):
            d, lo, hi = bootstrap_ci([float(a < k) - float(b < k) for a, b in zip(where, base, strict=True)])
            cells += [str(sum(a < k for a in where)), f"{d:+.3f} ({lo:+.3f} to {hi:+.3f})"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return base


def _attention(r: dict[str, Any], key: str, layers: Sequence[int] | None, calibrate: bool) -> list[float]:
    q = r["res"]["q"][key]
    chosen = range(len(q)) if layers is None else layers
    s = [sum(q[layer][i] for layer in chosen) for i in range(len(r["lens"]))]
    if calibrate:
        na = r["res"]["na"][key]
        s = [v - sum(na[layer][i] for layer in chosen) for i, v in enumerate(s)]
    return s


def _fused(r: dict[str, Any], scores: list[float]) -> list[float]:
    return [1 / (RRF_K + i + 1) + 1 / (RRF_K + p + 1) for i, p in enumerate(places(scores))]


def score(files: list[str]) -> None:
    """Where the evidence lands per order, against the fusion's (module docstring)."""
    rows = [json.loads(line) for f in files
            for line in Path(f).read_text(encoding="utf-8").splitlines() if line.strip()]
    n_layers = len(rows[0]["res"]["q"]["q"])
    third = n_layers // 3
    orders: dict[str, Callable[[dict[str, Any]], list[float]]] = {
        "fusion": lambda r: [-float(i) for i in range(len(r["lens"]))],
        "question->sentence, all layers, calibrated": lambda r: _attention(r, "q", None, True),
        "question->sentence, all layers": lambda r: _attention(r, "q", None, False),
        "question->sentence, middle third": lambda r: _attention(r, "q", range(third, 2 * third), True),
        "question->sentence, last third": lambda r: _attention(r, "q", range(2 * third, n_layers), True),
        "last token->sentence, all layers": lambda r: _attention(r, "last", None, True),
        "the letter's log-probability": lambda r: r["res"]["q"]["choice"],
        "the letter's log-probability, calibrated": lambda r: [
            a - b for a, b in zip(r["res"]["q"]["choice"], r["res"]["na"]["choice"], strict=True)],
    }
    for name in ("question->sentence, all layers, calibrated", "question->sentence, last third",
                 "the letter's log-probability"):
        orders[f"fusion + {name} (RRF)"] = lambda r, f=orders[name]: _fused(r, f(r))

    print(f"{len(rows)} questions; the evidence among the candidates: {sum(bool(r['ev']) for r in rows)}; "
          f"median {sorted(r['seconds'] for r in rows)[len(rows) // 2]:.1f} s per question")
    base = evidence_table(rows, orders)

    def in_three(r: dict[str, Any], scores: list[float]) -> bool:
        placed = places(scores)
        return any(placed[i] < 3 for i in r["ev"])

    per_layer = [sum(in_three(r, _attention(r, "q", [layer], True)) for r in rows) for layer in range(n_layers)]
    print(f"among the first three by one layer's calibrated question->sentence attention: {per_layer} "
          f"(fusion {sum(b < 3 for b in base)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="the attention of the generator over each question's candidates")
    c.add_argument("--rows", type=Path, required=True, help="cross_ranker_train.py collect's rows")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--top", type=int, default=24, help="candidates read (at most 26)")
    c.add_argument("--part", type=int, default=0, help="this process takes every PARTS-th row from PART")
    c.add_argument("--parts", type=int, default=1)
    s = sub.add_parser("score", help="where the evidence lands under each order")
    s.add_argument("files", nargs="+")
    a = ap.parse_args()
    if a.cmd == "collect":
        collect(a.rows, a.out, min(a.top, len(LETTERS)), a.part, a.parts)
    else:
        score(a.files)


if __name__ == "__main__":
    main()
