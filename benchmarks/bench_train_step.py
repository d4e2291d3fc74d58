"""Train-step and evaluation (generate) time of the tiny and a "small" Mr. BLIP, each against a baseline measured
in the same run.

    python benchmarks/bench_train_step.py                                   # grad checkpointing on vs off; beams
    torchrun --nproc_per_node=2 benchmarks/bench_train_step.py --parallel   # FSDP vs DDP (2 ranks; gloo on CPU)

Single process: a train step (forward, backward, AdamW) with activation checkpointing on, against off
(``ratio`` = on / off: its compute price); evaluation = ``model.predict`` with Mr. BLIP's 5 beams against greedy
decoding. ``--parallel``: the same train step and evaluation under ``run.parallel: fsdp`` against DDP, same
seed, same batch (ratio = FSDP / DDP). Times are medians of ``--steps`` repetitions after a warm-up, base and
other alternating.

Configs. ``tiny``: the tiny preset (everything trained, random weights). ``small``: Mr. BLIP's structure and
training regime (frozen ViT, frozen Q-Former, frozen T5 + LoRA r=8, ``ln_vision`` and the projection trained)
with widths and depths scaled so that the estimated share of a train step's compute per part is close to the real
model's: ViT forward only (no grad), Q-Former and T5 forward + input-gradient backward (x2; LoRA's weight
gradients are negligible). Forward FLOPs per part = 2 x parameters x tokens + attention (4 x tokens x keys x
width per layer); the script prints both models' shares.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "models"))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_memory import Arch  # noqa: E402

SMALL_FRAMES, SMALL_IMG = 8, 112
SMALL = {
    "vision": {
        "img_size": SMALL_IMG,
        "patch_size": 14,
        "width": 256,
        "depth": 8,
        "num_heads": 4,
        "mlp_ratio": 4.3637,
        "precision": "fp32",
    },
    "qformer": {
        "num_query_tokens": 16,
        "hidden_size": 80,
        "num_layers": 4,
        "num_heads": 4,
        "intermediate_size": 320,
        "cross_attention_freq": 2,
    },
    "llm": {
        "tokenizer": "tiny",
        "arch": {
            "d_model": 256,
            "d_kv": 32,
            "d_ff": 640,
            "num_layers": 4,
            "num_decoder_layers": 4,
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
SMALL_ARCH = Arch(
    img=SMALL_IMG,
    patch=14,
    vit_width=256,
    vit_depth=8,
    vit_heads=4,
    vit_mlp=int(256 * 4.3637),
    q_hidden=80,
    q_layers=4,
    q_heads=4,
    q_inter=320,
    q_queries=16,
    q_cross_freq=2,
    d_model=256,
    d_inner=256,
    heads=8,
    d_ff=640,
    enc_layers=4,
    dec_layers=4,
    vocab=1000,
    frames=SMALL_FRAMES,
    ts_tokens=3,
    prompt_tokens=30,
    target_tokens=10,
)


def step_flops(arch: Arch) -> dict[str, float]:
    """Estimated FLOPs of one train step per part (per sample); see the module docstring."""
    sv, w = arch.vit_tokens, arch.vit_width
    vit = arch.frames * arch.vit_depth * (2 * sv * (4 * w * w + 2 * w * arch.vit_mlp) + 4 * sv * sv * w)
    h, nq = arch.q_hidden, arch.q_queries
    n_cross = -(-arch.q_layers // arch.q_cross_freq)
    q_layer = 2 * nq * (4 * h * h + 2 * h * arch.q_inter) + 4 * nq * nq * h
    q_cross = 2 * nq * 2 * h * h + 2 * sv * 2 * w * h + 4 * nq * sv * h
    qformer = arch.frames * (arch.q_layers * q_layer + n_cross * q_cross)
    le, ld, d, di, ff = arch.enc_tokens, arch.target_tokens, arch.d_model, arch.d_inner, arch.d_ff
    enc = 2 * le * (4 * d * di + 3 * d * ff) + 4 * le * le * di
    dec = 2 * ld * (8 * d * di + 3 * d * ff) + 2 * le * 2 * d * di + 4 * ld * (ld + le) * di
    llm = arch.enc_layers * enc + arch.dec_layers * dec + 2 * ld * d * arch.vocab
    return {"vit": vit, "qformer": 2 * qformer, "llm": 2 * llm}


def shares(arch: Arch) -> str:
    f = step_flops(arch)
    total = sum(f.values())
    return " : ".join(f"{k} {100 * v / total:.0f}%" for k, v in f.items())


def build(name: str):
    import torch
    from model_helpers import fake_batch, tiny_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "tiny":
            model = tiny_model()
            batch = fake_batch(batch=2, frames=4, size=32)
        else:
            model = tiny_model(**SMALL)
            batch = fake_batch(batch=2, frames=SMALL_FRAMES, size=SMALL_IMG)
    torch.manual_seed(0)
    return model, batch


def compare(base, other, steps: int, before_base=None, before_other=None) -> tuple[float, float]:
    """Median seconds of ``base()`` and ``other()``, run alternately (one warm-up each) so that load from other
    processes on the machine hits both alike. ``before_*`` switch the model between the two settings."""
    times: dict[str, list[float]] = {"base": [], "other": []}
    for i in range(steps + 1):
        for name, fn, before in (("base", base, before_base), ("other", other, before_other)):
            if before is not None:
                before()
            t0 = time.perf_counter()
            fn()
            if i:  # the first round warms up
                times[name].append(time.perf_counter() - t0)
    return statistics.median(times["base"]), statistics.median(times["other"])


def train_step_fn(model, runner_model, batch):
    import torch

    opt = torch.optim.AdamW(model.optimizer_param_groups(0.05), lr=1e-5)
    model.train()

    def step():
        loss = runner_model(batch)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def eval_fn(model, batch, beams: int):
    import torch

    from lavis.common.config import GenerationConfig

    gen = GenerationConfig(num_beams=beams, max_new_tokens=20, min_new_tokens=20)  # same length for both

    def run():
        model.eval()
        with torch.no_grad():
            model.predict(batch, gen)

    return run


def row(label: str, base: float, other: float, what: str) -> str:
    return f"{label:34}{base * 1000:>12.1f}{other * 1000:>12.1f}{other / base:>9.2f}   {what}"


HEADER = f"{'measurement':34}{'base ms':>12}{'other ms':>12}{'ratio':>9}"


def encoder_length(model, batch) -> float:
    templates = model.token_templates(batch)
    return sum(len(t) for t in templates) / len(templates)


def single(configs: list[str], steps: int) -> None:
    model, batch = build("small")
    le = encoder_length(model, batch)
    arch = dataclasses.replace(
        SMALL_ARCH, ts_tokens=0, prompt_tokens=round(le - SMALL_FRAMES * SMALL_ARCH.q_queries)
    )
    print(f"estimated train-step compute -- Mr. BLIP: {shares(Arch())};  small: {shares(arch)}")
    print(HEADER)
    for name in configs:
        model, batch = build(name)
        step = train_step_fn(model, model, batch)
        off, on = compare(
            step,
            step,
            steps,
            before_base=functools.partial(model.set_grad_checkpointing, False),
            before_other=functools.partial(model.set_grad_checkpointing, True),
        )
        model.set_grad_checkpointing(False)
        print(row(f"{name}: train step", off, on, "grad checkpointing on / off"), flush=True)
        greedy, beams = compare(eval_fn(model, batch, 1), eval_fn(model, batch, 5), steps)
        print(row(f"{name}: evaluate (predict)", greedy, beams, "5 beams / greedy"), flush=True)


def parallel(configs: list[str], steps: int) -> None:
    import torch
    from torch.nn.parallel import DistributedDataParallel as DDP

    from lavis.common import dist
    from lavis.runners.parallel import apply_fsdp, set_eval_mode

    dist.init_distributed("cpu")
    main = dist.is_main_process()
    if main:
        print(f"{dist.get_world_size()} ranks ({torch.distributed.get_backend()}); ratio = FSDP / DDP")
        print(HEADER)
    for name in configs:
        model, batch = build(name)
        twin = copy.deepcopy(model)
        ddp = DDP(model, broadcast_buffers=False)
        apply_fsdp(twin)
        t_ddp, t_fsdp = compare(train_step_fn(model, ddp, batch), train_step_fn(twin, twin, batch), steps)
        set_eval_mode(twin, True)  # as the runner evaluates under FSDP: weights gathered once, up front
        e_ddp, e_fsdp = compare(eval_fn(model, batch, 5), eval_fn(twin, batch, 5), steps)
        set_eval_mode(twin, False)
        if main:
            print(row(f"{name}: train step", t_ddp, t_fsdp, "FSDP / DDP"), flush=True)
            print(row(f"{name}: evaluate (5 beams)", e_ddp, e_fsdp, "FSDP / DDP"), flush=True)
    dist.destroy()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["tiny", "small"], choices=["tiny", "small"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--parallel", action="store_true", help="FSDP vs DDP (launch with torchrun)")
    args = ap.parse_args(argv)
    (parallel if args.parallel else single)(args.configs, args.steps)


if __name__ == "__main__":
    main()
