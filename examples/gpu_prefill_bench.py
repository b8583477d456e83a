"""GPU prefill cost: full context vs h2mt (routing + pruned prefill), bf16 / NF4 / int8.

    python examples/gpu_prefill_bench.py --shape llama-3.1-8b --quant nf4,bf16,int8 \
        --lengths 8192,32768,131072 --budgets 1024,2048,4096 --out results/gpu

Cost does not depend on weight values, so models are randomly initialised with the real
shapes (saved once in bf16, then loaded through h2mt's backend with the requested
quantization). Each (quantization, method, length/budget) run happens in a fresh process;
times come from CUDA events after a warm-up and memory from ``torch.cuda.max_memory_allocated``.
The h2mt row's TTFT = routing over a real h2mt index of the same length (hashing encoder
for the tree walk, plus the forward time of a MiniLM-shaped query encoder) + the prefill of
the pruned prompt. On CPU (``--device cpu --shape tiny``) the script runs end to end for testing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SHAPES = {  # real configurations of the families h2mt users run
    "llama-3.1-8b": dict(model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                         num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         max_position_embeddings=131072, rope_theta=500000.0),
    "qwen2.5-1.5b": dict(model_type="qwen2", vocab_size=151936, hidden_size=1536, intermediate_size=8960,
                         num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                         max_position_embeddings=131072, rope_theta=1000000.0, tie_word_embeddings=True),
    "qwen2.5-0.5b": dict(model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
                         num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         max_position_embeddings=131072, rope_theta=1000000.0, tie_word_embeddings=True),
    "tiny": dict(model_type="llama", vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096),
}
PROMPT_OVERHEAD = 160  # chat template, breadcrumbs and question around the kept leaves


def prefill_flops(shape: dict, tokens: int) -> float:
    """Forward FLOPs of a prefill: 2 x params x T for the matmuls plus causal attention scores."""
    h, layers, inter = shape["hidden_size"], shape["num_hidden_layers"], shape["intermediate_size"]
    kv = h * shape["num_key_value_heads"] // shape["num_attention_heads"]
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * inter  # q,o + k,v + gate/up/down
    attn = 2 * 2 * layers * h * tokens * tokens / 2  # QK^T and AV, causal half
    return 2.0 * layers * per_layer * tokens + attn + 2.0 * h * shape["vocab_size"]  # last-position head only


def ensure_model(shape_name: str, cache: Path) -> Path:
    """A randomly initialised model of the named shape, saved once in bf16."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = cache / f"random-{shape_name}"
    if (folder / "config.json").exists():
        return folder
    shape = dict(SHAPES[shape_name])
    config = AutoConfig.for_model(shape.pop("model_type"), **shape)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    _word_tokenizer().save_pretrained(tmp)
    os.replace(tmp, folder)
    return folder


def _word_tokenizer():  # noqa: ANN202 - a small offline tokenizer; token ids, not words, drive the cost
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "[UNK]"]
    vocab = {w: i for i, w in enumerate(specials + [chr(c) for c in range(33, 127)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    return fast


def timed_prefill(backend, ids: list[int], device: str) -> tuple[float, int]:
    """(ms, peak bytes) of one prefill after a warm-up on the same length."""
    import torch

    backend.prefill_logits(ids)  # warm-up: kernels, allocator
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        backend.prefill_logits(ids)
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end), int(torch.cuda.max_memory_allocated())
    t = time.perf_counter()
    backend.prefill_logits(ids)
    import resource

    return (time.perf_counter() - t) * 1000, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def route_ms(length: int, budget: int, device: str) -> tuple[float, int, int]:
    """Routing over a real h2mt index of ``length`` tokens, plus a MiniLM-shaped query encoder forward."""
    import torch
    from h2mt import H2MT, ChunkConfig, H2MTConfig, ParsedDocument, Section
    from h2mt.chunking import SimpleTokenCounter
    from h2mt.encoders import HashingEncoder
    from transformers import BertConfig, BertModel

    words = "shell server memory buffer signal trap redirect variable history config index cache".split()
    text, sections, n = "", [], 0
    for s in range(length // 400):
        start = len(text)
        body = " ".join(words[(s * 7 + i) % len(words)] + f"{i % 50}" for i in range(400)) + "."
        text += body + "\n\n"
        sections.append(Section(f"{s} section", (f"{s // 20} chapter", f"{s} section"), 2, start, start + len(body)))
        n += 400
    eng = H2MT.build([ParsedDocument("synthetic", "doc", text, sections)], H2MTConfig(chunk=ChunkConfig(max_tokens=192)),
                     encoder=HashingEncoder(384), token_counter=SimpleTokenCounter())
    eng.route("signal trap memory", budget=budget)
    r = min((eng.route("signal trap memory", budget=budget) for _ in range(5)), key=lambda r: r.route_ms)
    enc = BertModel(BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)).to(device).eval()
    q = torch.randint(0, 30000, (1, 24), device=device)
    with torch.inference_mode():
        enc(q)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        enc(q)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return r.route_ms + (time.perf_counter() - t) * 1000, r.nodes_scored, r.nodes_total


def worker(a: argparse.Namespace) -> dict:
    import torch
    from h2mt import BackendConfig
    from h2mt.backends import load_backend

    folder = ensure_model(a.shape, Path(a.cache))
    quant = "none" if a.quant == "bf16" else a.quant
    dtype = "bfloat16" if a.device.startswith("cuda") else "float32"
    backend = load_backend(BackendConfig(model=str(folder), device=a.device, dtype=dtype, quantization=quant))  # type: ignore[arg-type]
    vocab = SHAPES[a.shape]["vocab_size"]
    tokens = a.length if a.method == "full" else a.budget + PROMPT_OVERHEAD
    ids = torch.randint(10, vocab, (tokens,), generator=torch.Generator().manual_seed(0)).tolist()
    ms, peak = timed_prefill(backend, ids, a.device)
    row = {"shape": a.shape, "quant": a.quant, "method": a.method, "length": a.length, "budget": a.budget,
           "prompt_tokens": tokens, "prefill_ms": ms, "peak_mem_bytes": peak, "route_ms": 0.0,
           "flops": prefill_flops(SHAPES[a.shape], tokens)}
    if a.method == "h2mt":
        row["route_ms"], row["nodes_scored"], row["nodes_total"] = route_ms(a.length, a.budget, a.device)
    row["ttft_ms"] = row["prefill_ms"] + row["route_ms"]
    if a.device.startswith("cuda"):
        row["gpu"], row["cuda"] = torch.cuda.get_device_name(), torch.version.cuda
    row["torch"] = torch.__version__
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="llama-3.1-8b", choices=sorted(SHAPES))
    ap.add_argument("--quant", default="nf4,bf16,int8")
    ap.add_argument("--lengths", default="8192,32768,131072")
    ap.add_argument("--budgets", default="1024,2048,4096")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak of the GPU (H100 SXM: 989)")
    ap.add_argument("--cache", default=os.environ.get("H2MT_BENCH_CACHE", "/tmp/h2mt-gpu-models"))
    ap.add_argument("--out", default="results/gpu")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--length", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a)))
        return
    Path(a.cache).mkdir(parents=True, exist_ok=True)
    ensure_model(a.shape, Path(a.cache))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    lengths = [int(x) for x in a.lengths.split(",")]
    for quant in a.quant.split(","):
        runs = [("full", n, 0) for n in lengths] + [("h2mt", n, b) for n in lengths for b in map(int, a.budgets.split(","))]
        for method, length, budget in runs:
            cmd = [sys.executable, __file__, "--worker", "--shape", a.shape, "--quant", quant, "--device", a.device,
                   "--cache", a.cache, "--method", method, "--length", str(length), "--budget", str(budget)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            row = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {
                "shape": a.shape, "quant": quant, "method": method, "length": length, "budget": budget,
                "error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"}
            row["limit_ms"] = row.get("flops", 0) / (a.peak_tflops * 1e12) * 1000
            print(json.dumps(row), flush=True)
            rows.append(row)
    (out / "gpu_prefill.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(table(rows))


def table(rows: list[dict]) -> str:
    """Markdown: TTFT and peak memory per run, the full/h2mt ratios, and the share of the FLOP limit."""
    full = {(r["quant"], r["length"]): r for r in rows if r["method"] == "full" and "error" not in r}
    lines = ["| quant | length | method | budget | prompt tok | route ms | prefill ms | TTFT ms | peak GiB | "
             "TTFT full/h2mt | mem full/h2mt | FLOP-limit ms (% of it reached) |", "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['quant']} | {r['length']} | {r['method']} | {r['budget']} | error: {r['error'][:80]} |||||||||")
            continue
        f = full.get((r["quant"], r["length"]))
        ratio_t = f"{f['ttft_ms'] / r['ttft_ms']:.1f}x" if f and r["method"] == "h2mt" else ""
        ratio_m = f"{f['peak_mem_bytes'] / r['peak_mem_bytes']:.2f}x" if f and r["method"] == "h2mt" else ""
        eff = 100 * r["limit_ms"] / r["prefill_ms"] if r["prefill_ms"] else 0
        lines.append(f"| {r['quant']} | {r['length']} | {r['method']} | {r['budget'] or ''} | {r['prompt_tokens']} | "
                     f"{r['route_ms']:.1f} | {r['prefill_ms']:.1f} | {r['ttft_ms']:.1f} | {r['peak_mem_bytes'] / 2**30:.2f} | "
                     f"{ratio_t} | {ratio_m} | {r['limit_ms']:.2f} ({eff:.0f}%) |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
