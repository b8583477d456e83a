"""Train the kv block-attention adapter of a generator preset on the CPU (resumable; docs/kv_cache.md).

  python scripts/kv_adapter_train.py examples --out kv-adapter-runs/qwen --count 240   # routed prompts + teacher
  python scripts/kv_adapter_train.py train    --out kv-adapter-runs/qwen --steps 600   # LoRA distillation
  python scripts/kv_adapter_train.py export   --out kv-adapter-runs/qwen                 # -> the shipped folder

Needs: bash scripts/setup.sh and apt-get install python3.11-doc. Every step is resumable: rerun the
same command after an interruption. ``--threads 1`` is fastest on a busy 2-core machine. On a GPU,
``--device cuda`` with ``--count 2000 --budgets 512,1024,2048`` and ``--steps 3000`` is the same recipe
at the scale of the Block-Attention / TurboRAG fine-tunes (not run here: no GPU was available).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def _backend(model: str, threads: int, device: str = "cpu"):  # type: ignore[no-untyped-def]
    import torch
    from h2mt.backends.transformers_backend import TransformersBackend
    from h2mt.config import BackendConfig

    torch.set_num_threads(threads)
    return TransformersBackend.from_config(BackendConfig(model=model, device=device))


def examples(args: argparse.Namespace) -> None:
    from h2mt.config import BackendConfig, H2MTConfig
    from h2mt.engine import H2MT
    from h2mt.train.kv_adapter import corpus_pages
    from h2mt.train.kv_examples import ExampleConfig, make_examples

    out = Path(args.out)
    backend = _backend(args.model, args.threads, args.device)
    out.mkdir(parents=True, exist_ok=True)
    index = out / "corpus.h2mt"
    cfg = H2MTConfig(backend=BackendConfig(model=args.model, device=args.device))
    if index.exists():
        eng = H2MT.load(index, cfg, backend=backend)
    else:
        eng = H2MT.build(corpus_pages(args.pages, args.seed), cfg, backend=backend, progress=True)
        eng.save(index)
    for part, count, seed in (("held", args.held, args.seed + 1000), ("train", args.count, args.seed)):
        budgets = tuple(int(b) for b in args.budgets.split(","))
        made = make_examples(eng, backend, out / part, count,
                             ExampleConfig(budgets=budgets, answer_tokens=args.answer_tokens, seed=seed))
        logging.info("%s: %d examples made now", part, made)


def train(args: argparse.Namespace) -> None:
    from h2mt.train.kv_adapter import AdapterTrainConfig, train_adapter

    out = Path(args.out)
    backend = _backend(args.model, args.threads, args.device)
    cfg = AdapterTrainConfig(steps=args.steps, lr=args.lr, lora_r=args.lora_r, lora_alpha=2 * args.lora_r,
                             max_minutes=args.max_minutes, ce_weight=args.ce_weight, answer_only=args.answer_only,
                             eval_every=args.eval_every)
    held = sorted((out / "held").glob("*.safetensors"))  # the train folder is re-read: examples may still come
    summary = train_adapter(backend.model, out / "train", held, out / args.run, cfg, generator=backend.name)
    json.dump(summary, sys.stdout, indent=1)


def export(args: argparse.Namespace) -> None:
    import shutil

    from h2mt.query.prefill.kv_adapter import WEIGHTS, adapter_digest
    from safetensors.torch import load_file, save_file

    folder = {"qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b-instruct", "smollm2-135m": "smollm2-135m-instruct"}[args.model]
    dest = WEIGHTS / folder / "kv_adapter"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(Path(args.out) / args.run / "final", dest)
    state = {k: v.half() for k, v in load_file(str(dest / "adapter_model.safetensors")).items()}  # shipped in fp16
    save_file(state, str(dest / "adapter_model.safetensors"))
    info = json.loads((dest / "h2mt_adapter.json").read_text())
    (dest / "h2mt_adapter.json").write_text(json.dumps({**info, "sha256": adapter_digest(state)}, indent=1))
    logging.info("exported to %s", dest)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("examples", "train", "export"):
        p = sub.add_parser(name)
        p.add_argument("--out", default="kv-adapter-runs/qwen")
        p.add_argument("--model", default="qwen2.5-coder-0.5b")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--device", default="cpu", help="cpu or cuda")
        if name == "examples":
            p.add_argument("--count", type=int, default=240)
            p.add_argument("--held", type=int, default=24)
            p.add_argument("--pages", type=int, default=40)
            p.add_argument("--seed", type=int, default=0)
            p.add_argument("--budgets", default="512,1024")
            p.add_argument("--answer-tokens", type=int, default=24)
        if name == "train":
            p.add_argument("--steps", type=int, default=600)
            p.add_argument("--lr", type=float, default=3e-4)
            p.add_argument("--lora-r", type=int, default=16)
            p.add_argument("--max-minutes", type=float, default=60.0)
            p.add_argument("--ce-weight", type=float, default=1.0)
            p.add_argument("--answer-only", action="store_true", help="KL at the answer positions only")
            p.add_argument("--eval-every", type=int, default=50)
        if name in ("train", "export"):
            p.add_argument("--run", default="run", help="run folder under --out")
    args = parser.parse_args()
    {"examples": examples, "train": train, "export": export}[args.cmd](args)


if __name__ == "__main__":
    main()
