"""Training-step time of the LLM with ``model.llm.attn_implementation: sdpa`` against ``eager``, in the same run.

    python benchmarks/bench_attention.py                         # small T5 and LLaMA-style models, fp32, CPU
    python benchmarks/bench_attention.py --kinds causal --seq 1024 --batch 2 --device cuda --repeats 10

Builds each model twice from the same seed (only the attention kernel differs), runs forward + backward on
the same random batch, interleaved (eager, sdpa, eager, ...) so a shared machine slows both alike, and prints
the median step time, the ratio eager / sdpa (> 1: sdpa is faster) and the largest logit difference.
``--checkpointing`` adds the same model with activation checkpointing (memory for compute: expect < 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lavis.models.components.llm import LanguageModel, LLMArch, LLMConfig  # noqa: E402

ARCHS = {  # small, but with the real models' shapes: head size 64, gated FFN
    "causal": LLMArch(
        model_type="llama",
        hidden_size=512,
        intermediate_size=1376,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=8,
        max_position_embeddings=4096,
    ),
    "t5": LLMArch(
        d_model=512,
        d_kv=64,
        d_ff=1024,
        num_layers=4,
        num_decoder_layers=4,
        num_heads=8,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
    ),
}


def build(kind: str, impl: str, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    llm = LanguageModel.build(
        LLMConfig(kind=kind, tokenizer="tiny", arch=ARCHS[kind], attn_implementation=impl)
    )
    return llm.model.to(device).train()


def step(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    out = model(**batch)
    out.loss.backward()
    return out.logits.detach()


def timed(model, batch, device) -> tuple[torch.Tensor, float, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    logits = step(model, batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return logits, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", nargs="+", default=["t5", "causal"], choices=sorted(ARCHS))
    parser.add_argument("--seq", type=int, default=128, help="tokens per sample (encoder and decoder for T5)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--checkpointing", action="store_true", help="also time sdpa with activation checkpointing"
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    print(f"device: {device}  batch: {args.batch}  tokens: {args.seq}  rounds: {args.repeats}  fp32")
    print(
        f"{'model':<8}{'attention':<26}{'wall ms':>9}{'ratio':>8}{'cpu ms':>9}{'cpu ratio':>10}  max |logits - eager|"
    )
    for kind in args.kinds:
        models = {"eager": build(kind, "eager", device), "sdpa": build(kind, "sdpa", device)}
        if args.checkpointing:
            models["sdpa + checkpointing"] = build(kind, "sdpa", device)
            models["sdpa + checkpointing"].gradient_checkpointing_enable()
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(3, 1000, (args.batch, args.seq), generator=g)
        mask = torch.ones_like(ids)
        mask[0, args.seq // 2 :] = 0  # one padded row: the mask path is part of the work
        batch = {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}
        if kind == "t5":
            batch["labels"] = torch.randint(3, 1000, (args.batch, args.seq), generator=g)
        batch = {k: v.to(device) for k, v in batch.items()}
        for model in models.values():  # warm-up
            step(model, batch)
        walls = {name: [] for name in models}
        cpus = {name: [] for name in models}
        logits = {}
        for _ in range(args.repeats):
            for name, model in models.items():
                logits[name], wall, cpu = timed(model, batch, device)
                walls[name].append(wall)
                cpus[name].append(cpu)
        base, base_cpu = statistics.median(walls["eager"]), statistics.median(cpus["eager"])
        for name in models:
            wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
            diff = (logits[name] - logits["eager"]).abs().max().item()
            print(
                f"{kind:<8}{name:<26}{wall * 1e3:>9.1f}{base / wall:>7.2f}x{cpu * 1e3:>9.1f}{base_cpu / cpu:>9.2f}x"
                f"  {diff:.1e}"
            )
    print(
        "ratio = eager step time / this step time (> 1: faster than eager); cpu: the same with process CPU time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
