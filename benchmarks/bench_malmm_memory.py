"""Peak memory and time of one MA-LMM forward + backward over T frames: memory banks (MBC) vs concatenation.

The claim being checked (MA-LMM §3.3, Table 8): reading frames online with memory banks of fixed length keeps
the LLM input at Nq tokens and only the last step differentiated, so memory stays flat in T; InstructBLIP's
concatenation (``memory_bank_length: 0``, the baseline) feeds T·Nq tokens and back-propagates through every
frame, so memory grows with T. Same tiny-but-not-trivial config for both (ViT and LLM frozen, Q-Former
trained); T = 8, 16, 32, 64; MBC with M = 4.

Each measurement runs in a fresh process. On a GPU the peak is ``torch.cuda.max_memory_allocated`` during the
step; on a CPU it is the rise of the process' peak resident set size over its size just before the step
(the model, the inputs and a warm-up step are already resident). Times are the median of ``--repeats``
steps after the warm-up.

    python benchmarks/bench_malmm_memory.py [--frames 8 16 32 64] [--memory 4] [--batch 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's lavis, whatever is installed

CONFIG = {
    "vision": {
        "img_size": 64,
        "patch_size": 8,
        "width": 256,
        "depth": 2,
        "num_heads": 4,
        "mlp_ratio": 2.0,
        "precision": "fp32",
    },
    "qformer": {
        "num_query_tokens": 16,
        "hidden_size": 256,
        "num_layers": 4,
        "num_heads": 4,
        "intermediate_size": 512,
        "cross_attention_freq": 2,
        "dropout": 0.0,
        "use_text_input": True,
        "vocab_size": 512,
        "max_position_embeddings": 128,
        "tokenizer": "tiny",
    },
    "llm": {
        "kind": "causal",
        "tokenizer": "tiny",
        "precision": "fp32",
        "arch": {
            "model_type": "llama",
            "hidden_size": 256,
            "intermediate_size": 512,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "max_position_embeddings": 2048,
        },
    },
    "lora": {"enabled": False},
    "freeze_vit": True,
    "freeze_qformer": False,
    "freeze_llm": True,
    "max_txt_len": 32,
    "max_target_len": 8,
    "max_num_frames": 128,
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode: str, frames: int, memory: int, batch: int, repeats: int) -> dict:
    import torch
    from omegaconf import OmegaConf

    from lavis.common.config import merge_with_schema
    from lavis.models.malmm import Blip2VicunaInstructMALMM

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    cfg = dict(CONFIG, memory_bank_length=memory if mode == "mbc" else 0, compression="mbc")
    merged = merge_with_schema(
        Blip2VicunaInstructMALMM.Config, OmegaConf.create(cfg), path="model", source="bench"
    )
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Blip2VicunaInstructMALMM(OmegaConf.to_object(merged)).train()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    size = CONFIG["vision"]["img_size"]
    g = torch.Generator().manual_seed(0)
    samples = {
        "video": torch.randn(batch, frames, 3, size, size, generator=g).to(device),
        "text_input": ["Question: what colour did the video start with? Short answer:"] * batch,
        "text_output": ["red"] * batch,
    }

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(samples)["loss"].backward()

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        base = rss_mb()
        step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {
        "mode": mode,
        "frames": frames,
        "peak_mb": peak,
        "seconds": sorted(times)[len(times) // 2],
        "device": device.type,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--memory", type=int, default=4, help="MBC memory bank length M")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(args.child[0], int(args.child[1]), args.memory, args.batch, args.repeats)
        print(json.dumps(result))
        return 0
    rows = []
    for mode in ("mbc", "concat"):
        for t in args.frames:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                mode,
                str(t),
                "--memory",
                str(args.memory),
                "--batch",
                str(args.batch),
                "--repeats",
                str(args.repeats),
            ]
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return proc.returncode
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(
                f"{r['mode']:<7} T={r['frames']:<3} peak +{r['peak_mb']:8.1f} MB  {r['seconds'] * 1000:8.0f} ms"
                f"  ({r['device']})",
                flush=True,
            )
    print()
    print(
        f"forward + backward, batch {args.batch}; MBC with M = {args.memory}; baseline: concatenation (M = 0)"
    )
    print(f"{'T':>4}{'MBC peak MB':>14}{'concat peak MB':>16}{'MBC ms':>10}{'concat ms':>11}")
    by = {(r["mode"], r["frames"]): r for r in rows}
    for t in args.frames:
        m, c = by[("mbc", t)], by[("concat", t)]
        print(
            f"{t:>4}{m['peak_mb']:>14.1f}{c['peak_mb']:>16.1f}{m['seconds'] * 1000:>10.0f}{c['seconds'] * 1000:>11.0f}"
        )
    if 16 in args.frames and 64 in args.frames:
        for mode, name in (("mbc", "MBC"), ("concat", "concatenation")):
            a, b = by[(mode, 16)]["peak_mb"], by[(mode, 64)]["peak_mb"]
            print(f"{name}: peak memory T=16 → 64: {a:.1f} → {b:.1f} MB ({(b / a - 1) * 100:+.0f} %)")
        a, b = by[("mbc", 16)]["peak_mb"], by[("mbc", 64)]["peak_mb"]
        print(f"MBC growth < 15 %: {'yes' if b < 1.15 * a else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
