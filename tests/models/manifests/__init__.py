"""Key manifests (name → shape) of the published checkpoints, written from the reference, not from the files.

``*.json`` hold the LAVIS BLIP-2 files; :func:`mr_blip_checkpoint_shapes` spells out a Mr. BLIP fine-tuned
checkpoint (the original runner's ``checkpoint_best.pth``: trainable tensors only) at any size.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_manifest(name: str) -> dict[str, list[int]]:
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))["keys"]


def mr_blip_checkpoint_shapes(
    *,
    d_model: int,
    inner: int,
    d_ff: int,
    vocab: int,
    encoder_layers: int,
    decoder_layers: int,
    r: int,
    qformer_hidden: int,
    vision_width: int,
) -> dict[str, list[int]]:
    """The ``model`` entry of a Mr. BLIP checkpoint: ``ln_vision``, ``t5_proj`` and LoRA A/B of every T5 Linear.

    Names follow peft's wrapping of ``T5ForConditionalGeneration`` (``t5_model.base_model.model.<...>.lora_A.
    default.weight``); LoRA A is [r, in], B is [out, r]. ``inner`` = num_heads * d_kv.
    """
    shapes = {
        "ln_vision.weight": [vision_width],
        "ln_vision.bias": [vision_width],
        "t5_proj.weight": [d_model, qformer_hidden],
        "t5_proj.bias": [d_model],
    }

    def lora(name: str, fan_in: int, fan_out: int) -> None:
        shapes[f"{name}.lora_A.default.weight"] = [r, fan_in]
        shapes[f"{name}.lora_B.default.weight"] = [fan_out, r]

    t5 = "t5_model.base_model.model."
    for stack, layers in (("encoder", encoder_layers), ("decoder", decoder_layers)):
        attentions = ["SelfAttention"] if stack == "encoder" else ["SelfAttention", "EncDecAttention"]
        for i in range(layers):
            for j, attention in enumerate(attentions):
                prefix = f"{t5}{stack}.block.{i}.layer.{j}.{attention}."
                for proj in ("q", "k", "v"):
                    lora(prefix + proj, d_model, inner)
                lora(prefix + "o", inner, d_model)
            ff = f"{t5}{stack}.block.{i}.layer.{len(attentions)}.DenseReluDense."
            lora(ff + "wi_0", d_model, d_ff)
            lora(ff + "wi_1", d_model, d_ff)
            lora(ff + "wo", d_ff, d_model)
    lora(t5 + "lm_head", d_model, vocab)
    return shapes


def instructblip_trimmed_shapes(*, proj: str, llm_hidden: int, layers: int = 12, hidden: int = 768,
                                ffn: int = 3072, queries: int = 32, vision_width: int = 1408,
                                cross_every: int = 2, vocab: int = 30523) -> dict[str, list[int]]:
    """LAVIS' ``instruct_blip_*_trimmed.pth`` as the reference describes it: the trainable parts only.

    The instruction-aware Q-Former with its text embeddings and text FFNs (and BERT's ``position_ids``
    buffer), the query tokens, ``ln_vision`` and the LLM projection (``t5_proj`` / ``llm_proj``); no ViT, no LLM.
    """
    q = "Qformer.bert."
    shapes = {
        f"{q}embeddings.word_embeddings.weight": [vocab, hidden],
        f"{q}embeddings.position_embeddings.weight": [512, hidden],
        f"{q}embeddings.position_ids": [1, 512],
        f"{q}embeddings.LayerNorm.weight": [hidden],
        f"{q}embeddings.LayerNorm.bias": [hidden],
        "query_tokens": [1, queries, hidden],
        "ln_vision.weight": [vision_width],
        "ln_vision.bias": [vision_width],
        f"{proj}.weight": [llm_hidden, hidden],
        f"{proj}.bias": [llm_hidden],
    }

    def linear(name: str, fan_in: int, fan_out: int) -> None:
        shapes[f"{name}.weight"] = [fan_out, fan_in]
        shapes[f"{name}.bias"] = [fan_out]

    def norm(name: str) -> None:
        shapes[f"{name}.weight"] = [hidden]
        shapes[f"{name}.bias"] = [hidden]

    for i in range(layers):
        layer = f"{q}encoder.layer.{i}."
        attentions = [("attention", hidden)] + ([("crossattention", vision_width)] if i % cross_every == 0 else [])
        for attention, kv_width in attentions:
            linear(f"{layer}{attention}.self.query", hidden, hidden)
            linear(f"{layer}{attention}.self.key", kv_width, hidden)
            linear(f"{layer}{attention}.self.value", kv_width, hidden)
            linear(f"{layer}{attention}.output.dense", hidden, hidden)
            norm(f"{layer}{attention}.output.LayerNorm")
        for suffix in ("", "_query"):
            linear(f"{layer}intermediate{suffix}.dense", hidden, ffn)
            linear(f"{layer}output{suffix}.dense", ffn, hidden)
            norm(f"{layer}output{suffix}.LayerNorm")
    return shapes
