"""Mr. BLIP train-step time with a warm frozen-feature cache (level ``vit``) against no cache, same run.

The "small" model keeps Mr. BLIP's shape and its ViT : Q-Former : LLM compute split: every width is the real
one / 4 (ViT 1408 → 352, Q-Former 768 → 192, Flan-T5-XL 2048 → 512, feed-forward sizes alike; head size
kept), every depth / 8 (ViT 39 → 5 blocks, Q-Former 12 → 2 layers, T5 24 + 24 → 3 + 3), the token counts
per frame are the real ones (224 px / patch 14 → 257 ViT tokens, 32 queries), and what trains is what
Mr. BLIP trains (``ln_vision``, ``t5_proj``, LoRA r=8; ViT, Q-Former and T5 frozen, gradients flow back
through T5 and the Q-Former). Scaling every width by one factor and every depth by another keeps the FLOP
split (printed for both: ViT 67 %, Q-Former 3-4 %, LLM 29 %). Widths / 4 rather than / 8 because narrow
matrices run far below peak on a CPU while LoRA's and the T5's element-wise work does not shrink with them:
at widths / 8 (depths / 4) the ViT measured ~51 % of a step instead of ~57 %, and the ratio was 2.0-2.2x.
Frames per sample: 8 by default (Mr. BLIP: 60; the split is per sample, so it barely depends on it).

Both variants run the same model and batch; steps alternate (cache, no cache, ...) so that load from
other processes affects both alike. The cache is filled once before timing (as ``python -m lavis.cache
build`` would), so every cached step reads features from disk (page cache) instead of running the ViT.

    OMP_NUM_THREADS=1 python benchmarks/bench_feature_cache.py [--frames 8] [--batch 2] [--steps 5] [--dtype bf16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from lavis.common.config import merge_with_schema
from lavis.datasets.frame_sources import FrameSource
from lavis.models.mr_blip import Blip2MR, Blip2MRConfig
from lavis.processors.video_processors import VideoEvalProcessor, VideoProcessorConfig

SMALL = {
    "vision": {
        "img_size": 224,
        "patch_size": 14,
        "width": 352,
        "depth": 5,
        "num_heads": 4,
        "mlp_ratio": 4.3637,
        "precision": "fp32",
    },
    "qformer": {
        "num_query_tokens": 32,
        "hidden_size": 192,
        "num_layers": 2,
        "num_heads": 3,
        "intermediate_size": 768,
        "cross_attention_freq": 2,
        "dropout": 0.1,
    },
    "llm": {
        "tokenizer": "tiny",
        "arch": {
            "d_model": 512,
            "d_kv": 64,
            "d_ff": 1280,
            "num_layers": 3,
            "num_decoder_layers": 3,
            "num_heads": 8,
            "feed_forward_proj": "gated-gelu",
            "tie_word_embeddings": False,
            "dropout_rate": 0.1,
        },
    },
    "lora": {"enabled": True, "r": 8, "alpha": 8, "dropout": 0.05},
    "freeze_vit": True,
    "freeze_qformer": True,
    "freeze_llm": True,
    "train_ln_vision": True,
}


REAL = {  # Mr. BLIP's published sizes (lavis/configs/models/blip2_mr/pretrain_flant5xl.yaml): the FLOP split
    "vision": {"img_size": 224, "patch_size": 14, "width": 1408, "depth": 39, "mlp_ratio": 4.3637},
    "qformer": {
        "num_query_tokens": 32,
        "hidden_size": 768,
        "num_layers": 12,
        "intermediate_size": 3072,
        "cross_attention_freq": 2,
    },
    "llm": {
        "arch": {
            "d_model": 2048,
            "d_kv": 64,
            "d_ff": 5120,
            "num_layers": 24,
            "num_decoder_layers": 24,
            "num_heads": 32,
        }
    },
}


def flop_split(cfg: dict, frames: int, text_tokens: int = 40, target_tokens: int = 20) -> dict[str, float]:
    """Approximate FLOPs (2 per multiply-add) of one sample's train step: the frozen ViT forward; the Q-Former
    forward plus the backward to ``ln_vision`` (~1x forward); T5 forward plus the backward to LoRA and
    ``t5_proj`` (~1x forward: input gradients only, the base weights are frozen)."""
    v, q, t = cfg["vision"], cfg["qformer"], cfg["llm"]["arch"]
    n, w, mlp = (v["img_size"] // v["patch_size"]) ** 2 + 1, v["width"], int(v["width"] * v["mlp_ratio"])
    vit = frames * v["depth"] * (2 * n * (4 * w * w + 2 * w * mlp) + 4 * n * n * w)
    nq, h, inner = q["num_query_tokens"], q["hidden_size"], q["intermediate_size"]
    cross_layers = -(-q["num_layers"] // q["cross_attention_freq"])
    qf = q["num_layers"] * (2 * nq * (4 * h * h + 2 * h * inner) + 4 * nq * nq * h)
    qf += cross_layers * (2 * (2 * nq * h * h + 2 * n * w * h) + 4 * nq * n * h)
    d, a, ff = t["d_model"], t["d_kv"] * t["num_heads"], t["d_ff"]
    enc, dec = frames * (nq + 3) + text_tokens, target_tokens  # queries + ~3 timestamp tokens per frame
    llm = t["num_layers"] * (2 * enc * (4 * d * a + 3 * d * ff) + 4 * enc * enc * a)
    llm += t["num_decoder_layers"] * (
        2 * dec * (6 * d * a + 3 * d * ff) + 4 * enc * d * a + 4 * dec * enc * a
    )
    return {"vit": float(vit), "qformer": 2.0 * frames * qf, "llm": 2.0 * llm}


def small_model(cache_root: Path, dtype: str) -> Blip2MR:
    overrides = OmegaConf.create(
        {**SMALL, "feature_cache": {"root": str(cache_root), "level": "vit", "dtype": dtype}}
    )
    cfg = merge_with_schema(Blip2MRConfig, overrides, path="model", source="bench_feature_cache")
    torch.manual_seed(0)
    return Blip2MR(OmegaConf.to_object(cfg))


def batch(video: Path, size: int, frames: int) -> dict:
    g = torch.Generator().manual_seed(0)
    proc = VideoEvalProcessor(VideoProcessorConfig(image_size=224))
    duration = 150.0
    return {
        "video": torch.randn(size, frames, 3, 224, 224, generator=g),
        "frame_mask": torch.ones(size, frames, dtype=torch.bool),
        "timestamps": torch.linspace(1.0, duration - 1.0, frames).repeat(size, 1),
        "duration": [duration] * size,
        "query": [f"a person opens the door number {i}" for i in range(size)],
        "relevant_windows": [[[30.0, 52.0], [90.0, 104.0]] for _ in range(size)],
        "frame_source": [
            FrameSource.of(video, list(range(i * 1000, i * 1000 + frames)), proc) for i in range(size)
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=8, help="frames per sample (Mr. BLIP: 60)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument(
        "--steps", type=int, default=5, help="timed steps per variant (after one warm-up each)"
    )
    parser.add_argument(
        "--dtype", default="bf16", choices=["bf16", "fp16", "fp32"], help="cache storage dtype"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_feature_cache_"))
    video = work / "video.mp4"
    video.write_bytes(b"stand-in: the cache keys a file by its path, size and mtime")
    model = small_model(work / "features", args.dtype)
    model.train()
    samples = batch(video, args.batch, args.frames)
    uncached = {k: v for k, v in samples.items() if k != "frame_source"}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def step(inputs: dict) -> float:
        start = time.perf_counter()
        loss = model(inputs)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    model.fill_feature_cache(samples)  # warm cache, as `python -m lavis.cache build` does
    frames = samples["video"].flatten(0, 1)

    def vit_alone() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            model.vit_features(frames)
        return time.perf_counter() - start

    step(uncached), step(samples), vit_alone()  # warm-up
    hits_before = model.feature_cache.stats.hits
    plain, cached, vit = [], [], []
    for _ in range(args.steps):  # interleaved: load from other processes hits both variants alike
        plain.append(step(uncached))
        cached.append(step(samples))
        vit.append(vit_alone())
    hits = model.feature_cache.stats.hits - hits_before
    assert hits == args.steps * args.batch, f"every cached step must hit ({hits} hits)"
    plain_s, cached_s, vit_s = (statistics.median(x) for x in (plain, cached, vit))
    entries, size = model.feature_cache.disk_usage()
    real_video = 60 * 257 * 1408 * (4 if args.dtype == "fp32" else 2)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(
        f"small Mr. BLIP, batch {args.batch} x {args.frames} frames, {trainable:,} trainable parameters, "
        f"{torch.get_num_threads()} thread(s), medians of {args.steps} interleaved steps"
    )
    for name, cfg, n in (
        ("real Mr. BLIP, 60 frames", REAL, 60),
        (f"small, {args.frames} frames", SMALL, args.frames),
    ):
        split = flop_split(cfg, n)
        total = sum(split.values())
        shares = ", ".join(f"{k} {v / total:.0%}" for k, v in split.items())
        print(f"  FLOP split of a train step ({name}): {shares}; {total / 1e12:.3g} TFLOP per sample")
    print(f"  measured: frozen ViT forward {vit_s:.3f} s = {vit_s / plain_s:.0%} of an uncached step")
    print(f"  train step without cache:            {plain_s:.3f} s")
    print(f"  train step with a warm cache ({args.dtype}):  {cached_s:.3f} s")
    print(f"  ratio without / with cache: {plain_s / cached_s:.2f}x")
    print(
        f"  cache: {size / max(entries, 1) / 2**10:.0f} KiB per {args.frames}-frame sample here; "
        f"{real_video / 2**20:.0f} MiB per 60-frame video at the real ViT-g size"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
