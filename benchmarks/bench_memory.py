"""Memory estimator for Mr. BLIP training per GPU (24 / 40 / 80 GB), with and without each memory switch.

    python benchmarks/bench_memory.py                 # the table (parameter counts from the meta-device model)
    python benchmarks/bench_memory.py --validate      # + the activation formula against measured saved tensors

Mr. BLIP: EVA ViT-g (39 blocks, frozen, fp16), Q-Former (12 layers, 32 queries, frozen), Flan-T5-XL (frozen,
LoRA r=8 on every Linear), ``ln_vision`` + ``t5_proj`` + LoRA trained; 60 frames of 224 px per sample.

Per-GPU memory = weights + gradients + AdamW states + activations (+ transient working sets), in bytes:

* **weights**: Σ parameters × bytes of their dtype. ViT fp16 (its preset); Q-Former and frozen T5 fp32 by
  default, bf16 with ``frozen16`` (``model.llm.precision: bf16``); trainable tensors fp32. ``cache`` (the frozen
  feature cache) drops the ViT. ``fsdp N``: every sharded group holds 1/N, plus two gathered blocks (the one
  running and the one prefetched) of the largest unit; the root group (embeddings, ``lm_head``, projections) is
  also 1/N but is gathered for the whole step, so it counts in full.
* **gradients**: trainable × 4 (fp32); **AdamW**: trainable × 8 (``exp_avg`` + ``exp_avg_sq``); both / N under FSDP.
* **activations** (tensors saved for backward, per sample, summed over layers; formula below, validated by
  ``--validate``) + the forward working set of the frozen ViT (it runs without grad: nothing saved, but one
  chunk's block intermediates and every frame's output are live) + one layer's backward working set.
* a fixed 1.0 GB (CUDA context, cuBLAS workspace) and 10 % allocator fragmentation on top.

Activation formula (``a`` = bytes of the autocast dtype: 2 on GPU; 4 in fp32; ``p`` = dropout on/off), per
sample, with ``Nf`` frames, ``Sv = (224/14)² + 1 = 257`` ViT tokens, ``w`` ViT width, ``Nq`` queries:

* ``ln_vision`` (trained, fp32): its fp32 input ``Nf·Sv·w·4``; what the frozen Q-Former needs for the
  gradient to reach ``ln_vision``: each cross-attention layer's K/V inputs are that same tensor (saved once)
  plus SDPA's K, V (``2·Nf·Sv·h``) and its output/log-sum-exp.
* Q-Former (frozen weights, gradient flowing through): per layer ``Nf·Nq·(c_q·h + 2·I)`` (queries side) plus the
  cross-attention terms above on every ``cross_attention_freq``-th layer.
* T5 encoder (``Le`` tokens = Nf·(Nq + timestamp tokens) + prompt), per layer: ``--attn eager`` (the original
  code's) keeps the fp32 softmax output, its dropout mask and the dropped probabilities, ``H·Le²·(4 + p + p·a)``;
  ``sdpa`` (this project's default; the GPU's memory-efficient kernel, dropout from the RNG state) keeps its
  output and log-sum-exp, ``Le·(di·a + 4·H)``, and per layer the float mask transformers builds from the position bias and the padding, ``H·Le²·a`` per
  sample;
  plus ``Le·(c_d·d + c_f·ff)`` for q/k/v/o, the LayerNorms (fp32), LoRA's dropout copies and masks, and the
  gated FFN; decoder layers add their cross-attention over ``Le`` (K/V LoRA dropout copies of the encoder
  output) — ``Le·d·c_x`` per layer.
* activation checkpointing of a part keeps only each layer's input (``tokens·width·a``) and recomputes one
  layer at a time in backward (its activations count once, as the working set).

The coefficients ``c_*`` count the saved tensors of each layer type exactly as PyTorch's autograd saves them
(``--validate`` counts them with ``torch.autograd.graph.saved_tensors_hooks`` on a Mr. BLIP-shaped small
model on the CPU and prints predicted vs measured per part).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "models"))

GB = 1024**3
GPUS = (24, 40, 80)
CONTEXT_GB = 1.0
FRAGMENTATION = 1.10


@dataclass
class Arch:
    """What the formula needs to know of the model (defaults: Mr. BLIP on Flan-T5-XL)."""

    img: int = 224
    patch: int = 14
    vit_width: int = 1408
    vit_depth: int = 39
    vit_heads: int = 16
    vit_mlp: int = 6144
    q_hidden: int = 768
    q_layers: int = 12
    q_heads: int = 12
    q_inter: int = 3072
    q_queries: int = 32
    q_cross_freq: int = 2
    d_model: int = 2048
    d_inner: int = 2048  # heads × d_kv
    heads: int = 32
    d_ff: int = 5120
    enc_layers: int = 24
    dec_layers: int = 24
    vocab: int = 32128
    lora_r: int = 8
    t5_dropout: bool = True  # Flan-T5's dropout_rate 0.1
    lora_dropout: bool = True  # Mr. BLIP's LoRA dropout 0.05
    attn: str = "sdpa"  # the T5's attn_implementation (sdpa: the project's default; eager: the original's)
    frames: int = 60
    ts_tokens: int = 3  # timestamp tokens after each frame's queries (seconds_integers, 2-3 digits + '>')
    prompt_tokens: int = 45
    target_tokens: int = 16

    @property
    def vit_tokens(self) -> int:
        return (self.img // self.patch) ** 2 + 1

    @property
    def enc_tokens(self) -> int:
        return self.frames * (self.q_queries + self.ts_tokens) + self.prompt_tokens


@dataclass
class Switches:
    frozen16: bool = False  # Q-Former and the frozen T5 weights in bf16 (model.llm.precision: bf16)
    ckpt_vit: bool = False
    ckpt_qformer: bool = False
    ckpt_llm: bool = False
    cache: bool = False  # frozen-feature cache: ViT features read from disk, no ViT
    fsdp: int = 1  # ranks

    def label(self) -> str:
        parts = [
            name
            for name in ("frozen16", "ckpt_vit", "ckpt_qformer", "ckpt_llm", "cache")
            if getattr(self, name)
        ]
        if self.fsdp > 1:
            parts.append(f"fsdp{self.fsdp}")
        return " + ".join(parts) or "baseline"


@dataclass
class Params:
    """Parameter counts per part (from the meta-device model when it builds)."""

    vit: int = 985_894_528
    qformer: int = 105_162_240  # Q-Former + query tokens
    llm_frozen: int = 2_783_959_040
    trainable: int = 19_545_856  # LoRA + t5_proj + ln_vision
    largest_unit: int = 88_080_384  # the largest FSDP unit (a T5 decoder block with its LoRA)
    root: int = 134_000_000  # parameters outside the FSDP units (embeddings, lm_head, projections, ...)
    source: str = "built-in Mr. BLIP counts"


def count_params() -> Params:
    """Exact counts from the published architecture on the meta device (falls back to the built-in ones)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from model_helpers import real_size_meta_model

            model = real_size_meta_model()
    except Exception as err:  # noqa: BLE001 - an estimate still works without it
        print(f"(meta model unavailable: {err}; using built-in counts)")
        return Params()
    n = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    units = model.fsdp_units()
    in_units = sum(n(u) for u in units)
    return Params(
        vit=n(model.visual_encoder),
        qformer=n(model.Qformer) + model.query_tokens.numel(),
        llm_frozen=sum(p.numel() for p in model.t5_model.parameters() if not p.requires_grad),
        trainable=trainable,
        largest_unit=max(n(u) for u in units),
        root=n(model) - in_units,
        source="meta-device model of configs/models/blip2_mr/pretrain_flant5xl.yaml",
    )


# --------------------------------------------------------------------------------------------------
# activations (bytes per sample) -- the formula; see the module docstring
# --------------------------------------------------------------------------------------------------


def activation_parts(arch: Arch, a: int, a_qformer: int, mask: int = 1) -> dict[str, dict[str, float]]:
    """Per part, bytes per sample: ``saved`` (all layers, no checkpointing), ``layer`` (one layer: the backward
    working set), ``inputs`` (each layer's input: what checkpointing keeps). ``mask``: bytes of a dropout mask
    element (1 on GPU, where dropout saves a bool mask; the activation dtype on CPU)."""
    nf, sv, w = arch.frames, arch.vit_tokens, arch.vit_width
    h, inter, nq = arch.q_hidden, arch.q_inter, arch.q_queries
    le, ld, d, di, hd, ff, r = (
        arch.enc_tokens,
        arch.target_tokens,
        arch.d_model,
        arch.d_inner,
        arch.heads,
        arch.d_ff,
        arch.lora_r,
    )
    pd = 1 if arch.t5_dropout else 0
    pl = 1 if arch.lora_dropout else 0
    aq = a_qformer
    out: dict[str, dict[str, float]] = {}

    # ln_vision (trained, fp32): its input; the frozen K/V Linears of the Q-Former do not save their input
    out["ln_vision"] = {"saved": nf * sv * w * 4, "layer": 0, "inputs": nf * sv * w * 4}

    # Q-Former, frozen weights, the gradient flowing back to ln_vision. Nothing is saved before the first
    # cross-attention (no input needs a gradient there). Self-attention block: q, k, v, SDPA output, LayerNorm
    # input (5 h); cross-attention block: q, output, LayerNorm input (3 h) per query + SDPA's K and V over the
    # image tokens (2 Sv h); FFN: GELU input + LayerNorm input (I + h). (Frozen Linears save no input.)
    self_blk, cross_blk, ffn = nq * 5 * h, nq * 3 * h + 2 * sv * h, nq * (inter + h)
    n_cross = -(-arch.q_layers // arch.q_cross_freq)
    per_frame = (arch.q_layers - 1) * self_blk + n_cross * cross_blk + arch.q_layers * ffn
    widest = self_blk + cross_blk + ffn
    out["qformer"] = {
        "saved": nf * per_frame * aq,
        "layer": nf * widest * aq,
        "inputs": nf * (arch.q_layers * nq * h + n_cross * 2 * sv * h) * aq,  # + K/V recomputed per layer
    }

    # T5 (frozen base, LoRA on q,k,v,o,wi_0,wi_1,wo; Flan-T5 dropout 0.1, LoRA dropout 0.05). Per token of a
    # self-attention sublayer: the fp32 RMSNorm input (4 d), LoRA's dropout outputs (a) and masks of q,k,v,o,
    # the residual dropout mask, q, k, v (3 di a), and the attention itself. eager: per head and key the fp32
    # softmax output, the attention dropout mask and the dropped probabilities (H Le (4 + mask + a)). sdpa (the
    # GPU's memory-efficient kernel, dropout by RNG state): its output (di a) and log-sum-exp (H 4) per token,
    # and the float mask it reads (below). FFN sublayer: RMSNorm input (4 d), LoRA
    # dropout outputs and masks of wi_0, wi_1 (d) and wo (ff), the residual mask, and GELU input, GELU output,
    # wi_1 output (3 ff a) + the FFN dropout mask. LoRA's rank-r intermediates: 7 r a. Frozen Linears save no input.
    lora = pl * (a + mask)
    attn_tok = 4 * d + (3 * d + di) * lora + d * pd * mask + 3 * di * a
    ffn_tok = 4 * d + 2 * d * lora + ff * lora + d * pd * mask + 3 * ff * a + ff * pd * mask + 7 * r * a
    eager = arch.attn == "eager"
    # sdpa: transformers builds each layer's float mask (position bias where the padding mask allows) per
    # layer, (B, H, L, L) for a padded batch: a bytes per head and key pair, per sample
    probs = 4 + pd * (mask + a) if eager else a
    sdpa_tok = 0 if eager else di * a + hd * 4
    attn_tok += sdpa_tok
    enc_layer = le * (attn_tok + ffn_tok) + hd * le * le * probs
    # decoder layer: self-attention and FFN over its Ld tokens + cross-attention: on the decoder side as a
    # self-attention sublayer, on the encoder side the LoRA dropout outputs and masks of K/V's input (2 Le d)
    # and K, V themselves (2 Le di a), probabilities H Ld Le
    cross_enc = le * (2 * d * lora + 2 * di * a + 2 * r * a)
    dec_layer = ld * (2 * attn_tok + ffn_tok) + cross_enc + hd * ld * (ld + le) * probs
    head = ld * arch.vocab * (a + 4)  # logits and their fp32 log-softmax
    out["llm"] = {
        "saved": arch.enc_layers * enc_layer + arch.dec_layers * dec_layer + head,
        "layer": enc_layer,
        "inputs": (arch.enc_layers * le + arch.dec_layers * ld) * d * a + head,
        # checkpointed: the bias is built before the first block and handed to every block (kept once)
        "per_batch_ckpt": 0 if eager else hd * le * le * a,
    }
    return out


def vit_forward_bytes(arch: Arch, images: int, a: int, chunk: int = 0) -> float:
    """The frozen ViT's live memory in forward (no grad): every frame's output (twice: chunks + their
    concatenation) + one chunk's block working set (input, qkv, SDPA output, MLP hidden and its GELU)."""
    c = chunk or images
    s, w, m = arch.vit_tokens, arch.vit_width, arch.vit_mlp
    return images * s * w * a * 2 + c * s * (5 * w + 2 * m) * a


@dataclass
class Estimate:
    weights: float
    grads: float
    optimizer: float
    activations: float
    transient: float

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer + self.activations + self.transient

    @property
    def needed_gb(self) -> float:
        return self.total * FRAGMENTATION / GB + CONTEXT_GB


def estimate(arch: Arch, params: Params, sw: Switches, batch: int) -> Estimate:
    a = 2  # bf16 / fp16 autocast on GPU
    frozen = 2 if sw.frozen16 else 4
    weights = (0 if sw.cache else params.vit * 2) + params.qformer * frozen + params.llm_frozen * frozen
    weights += params.trainable * 4
    grads, optim = params.trainable * 4, params.trainable * 8
    if sw.fsdp > 1:
        root = params.root * frozen
        weights = (weights - root) / sw.fsdp + root + 2 * params.largest_unit * frozen
        grads, optim = grads / sw.fsdp, optim / sw.fsdp
    parts = activation_parts(arch, a, a_qformer=2)  # run.amp bf16 covers the Q-Former
    act, layer_ws = 0.0, 0.0
    for name, part in parts.items():
        ckpt = {"qformer": sw.ckpt_qformer, "llm": sw.ckpt_llm}.get(name, False)
        act += batch * (part["inputs"] if ckpt else part["saved"])
        act += part.get("per_batch_ckpt", 0) if ckpt else 0
        layer_ws = max(layer_ws, batch * part["layer"])
    vit = 0.0 if sw.cache else vit_forward_bytes(arch, batch * arch.frames, 2)
    cached = batch * arch.frames * arch.vit_tokens * arch.vit_width * 2 if sw.cache else 0.0
    # the ViT's working set is gone before backward starts; the backward one comes on top of what is saved
    transient = max(vit, layer_ws * 2) + cached
    return Estimate(weights, grads, optim, act, transient)


def table(arch: Arch, params: Params, rows: list[Switches], batches=(1, 8)) -> str:
    head = f"{'configuration':52}" + "".join(
        f"{f'b={b} GB':>10}" + "".join(f"{f'{g}G':>5}" for g in GPUS) for b in batches
    )
    lines = [head, "-" * len(head)]
    for sw in rows:
        line = f"{sw.label():52}"
        for b in batches:
            need = estimate(arch, params, sw, b).needed_gb
            line += f"{need:>10.1f}" + "".join(f"{('yes' if need <= g else 'no'):>5}" for g in GPUS)
        lines.append(line)
    return "\n".join(lines)


def breakdown(arch: Arch, params: Params, sw: Switches, batch: int) -> str:
    e = estimate(arch, params, sw, batch)
    return (
        f"{sw.label()}, batch {batch}: weights {e.weights / GB:.1f} + grads {e.grads / GB:.2f} + AdamW "
        f"{e.optimizer / GB:.2f} + activations {e.activations / GB:.1f} + transient {e.transient / GB:.1f} GB "
        f"= {e.total / GB:.1f} GB (x{FRAGMENTATION} + {CONTEXT_GB} GB context = {e.needed_gb:.1f} GB)"
    )


DEFAULT_ROWS = [
    Switches(),
    Switches(frozen16=True),
    Switches(ckpt_vit=True),
    Switches(ckpt_qformer=True),
    Switches(ckpt_llm=True),
    Switches(cache=True),
    Switches(fsdp=2),
    Switches(fsdp=8),
    Switches(frozen16=True, ckpt_llm=True),
    Switches(frozen16=True, ckpt_qformer=True, ckpt_llm=True),
    Switches(frozen16=True, ckpt_qformer=True, ckpt_llm=True, cache=True),
    Switches(frozen16=True, ckpt_qformer=True, ckpt_llm=True, fsdp=2),
    Switches(frozen16=True, ckpt_qformer=True, ckpt_llm=True, cache=True, fsdp=8),
]


# --------------------------------------------------------------------------------------------------
# validation: count the tensors autograd saves on a Mr. BLIP-shaped small model (CPU, fp32)
# --------------------------------------------------------------------------------------------------

SMALL = {
    "vision": {
        "img_size": 56,
        "patch_size": 14,
        "width": 128,
        "depth": 2,
        "num_heads": 4,
        "mlp_ratio": 4.3637,
        "precision": "fp32",
    },
    "qformer": {
        "num_query_tokens": 8,
        "hidden_size": 64,
        "num_layers": 4,
        "num_heads": 4,
        "intermediate_size": 256,
        "cross_attention_freq": 2,
    },
    "llm": {
        "tokenizer": "tiny",
        "arch": {
            "d_model": 128,
            "d_kv": 16,
            "d_ff": 320,
            "num_layers": 2,
            "num_decoder_layers": 2,
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


def measure_saved(model, batch) -> dict[str, int]:
    """Bytes of the tensors autograd saves for backward in one training forward, per part (each storage once;
    parameters excluded), attributed to the innermost of visual_encoder / Qformer / t5_model running."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    stack = ["other"]
    parts = {"visual_encoder": "vit", "Qformer": "qformer", "t5_model": "llm", "ln_vision": "ln_vision"}
    handles = []
    for name, part in parts.items():
        mod = getattr(model, name)
        handles.append(mod.register_forward_pre_hook(lambda m, i, part=part: stack.append(part)))
        handles.append(mod.register_forward_hook(lambda m, i, o: (stack.pop(), None)[1]))
    seen: dict[int, tuple[str, int]] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and ptr not in seen:
            seen[ptr] = (stack[-1], t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(batch)["loss"]
    for h in handles:
        h.remove()
    loss.backward()
    out: dict[str, int] = {}
    for part, nbytes in seen.values():
        out[part] = out.get(part, 0) + nbytes
    return out


def validate_one(attn: str, dropout: float) -> dict[str, tuple[float, float]]:
    """Predicted and measured saved-tensor bytes per part (and ``total``) of the small model on the CPU (fp32),
    with the T5's ``attn_implementation`` and dropout rate given (LoRA dropout 0.05 in both)."""
    import copy

    import torch
    from model_helpers import fake_batch, tiny_model

    cfg = copy.deepcopy(SMALL)
    cfg["llm"]["attn_implementation"] = attn
    cfg["llm"]["arch"]["dropout_rate"] = dropout
    model = tiny_model(**cfg)
    model.train()
    frames, batch_size = 8, 2
    batch = fake_batch(batch=batch_size, frames=frames, size=56)
    batch["query"][1] += " and then, much later, the same circle turns blue"  # a padded batch, as in training
    with torch.no_grad():  # the (padded) encoder length of this batch
        le = max(len(t) for t in model.token_templates(batch))
    arch = Arch(
        img=56,
        patch=14,
        vit_width=128,
        vit_depth=2,
        vit_heads=4,
        vit_mlp=int(128 * 4.3637),
        q_hidden=64,
        q_layers=4,
        q_heads=4,
        q_inter=256,
        q_queries=model.cfg.qformer.num_query_tokens,
        q_cross_freq=2,
        d_model=128,
        d_inner=128,
        heads=8,
        d_ff=320,
        enc_layers=2,
        dec_layers=2,
        vocab=len(model.tokenizer),
        frames=frames,
        ts_tokens=0,
        t5_dropout=dropout > 0,
        attn=attn,
    )
    arch = dataclasses.replace(arch, prompt_tokens=int(round(le - frames * arch.q_queries)))
    target = model.llm.target_ids(model.target_texts(batch), model.cfg.max_target_len, torch.device("cpu"))
    arch = dataclasses.replace(arch, target_tokens=int(target.ids.shape[1]))
    measured = measure_saved(model, batch)
    parts = activation_parts(arch, a=4, a_qformer=4, mask=4)
    predicted = {k: v["saved"] * batch_size for k, v in parts.items()}
    print(
        f"validation: CPU, fp32, T5 attention {attn}, dropout {dropout}; {frames} frames x batch {batch_size}; "
        f"encoder length {le:.0f}"
    )
    print(f"  {'part':12}{'predicted MB':>14}{'measured MB':>14}{'ratio':>8}")
    for part in ("ln_vision", "qformer", "llm", "vit", "other"):
        p, m = predicted.get(part, 0.0) / 2**20, measured.get(part, 0) / 2**20
        ratio = f"{p / m:.2f}" if m else "-"
        print(f"  {part:12}{p:>14.2f}{m:>14.2f}{ratio:>8}")
    tp, tm = sum(predicted.values()) / 2**20, sum(measured.values()) / 2**20
    print(f"  {'total':12}{tp:>14.2f}{tm:>14.2f}{tp / tm:>8.2f}")
    result = {part: (predicted.get(part, 0.0), float(measured.get(part, 0))) for part in predicted}
    result["total"] = (sum(predicted.values()), float(sum(measured.values())))
    return result


def validate() -> dict[str, dict[str, tuple[float, float]]]:
    """Both attention paths. On the CPU, SDPA with dropout falls back to the math kernel (which keeps the
    probabilities, like eager); without dropout it saves what the GPU's memory-efficient kernel saves."""
    return {"eager": validate_one("eager", 0.1), "sdpa": validate_one("sdpa", 0.0)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--validate", action="store_true", help="check the activation formula on a small model")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa", help="the T5's attn_implementation")
    args = ap.parse_args(argv)
    params = count_params()
    arch = Arch(frames=args.frames, attn=args.attn)
    print(
        f"Mr. BLIP, {arch.frames} frames of {arch.img} px, T5 attention {arch.attn}; parameters: {params.source}"
    )
    print(
        f"  ViT {params.vit / 1e6:.0f}M, Q-Former {params.qformer / 1e6:.0f}M, frozen T5 {params.llm_frozen / 1e6:.0f}M, "
        f"trainable {params.trainable / 1e6:.1f}M; T5 encoder length {arch.enc_tokens} tokens"
    )
    print(f"  fits = estimate x {FRAGMENTATION} + {CONTEXT_GB} GB <= GPU memory\n")
    print(table(arch, params, DEFAULT_ROWS))
    print(
        "  ckpt_vit changes nothing for Mr. BLIP: the frozen ViT runs without grad and saves no activations."
    )
    print(
        "  cache assumes a fully built cache and no ViT on the GPU; today's model keeps the ViT (2 GB fp16) for misses."
    )
    if arch.attn == "eager":
        print("  eager T5 attention keeps its probabilities, H x Le^2 per layer and sample: they dominate.")
    else:
        print(
            "  sdpa T5 attention keeps no probabilities, but each layer's float mask (bias + padding), H x Le^2."
        )
    print()
    for sw in (Switches(), DEFAULT_ROWS[-3]):
        for b in (1, 8):
            print(breakdown(arch, params, sw, b))
    if args.validate:
        print()
        validate()


if __name__ == "__main__":
    main()
