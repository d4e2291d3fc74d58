"""Numerical parity with transformers' BLIP-2 and timm's EVA, through the key map real checkpoints use.

Tiny random configs in fp32, eval mode, dropout 0. The transformers weights reach our modules only through
``lavis.models.checkpoints`` (the HF → LAVIS rename table and the fused-bias split), so a wrong rule shows
up here as a numeric difference or a load error.
"""

from __future__ import annotations

import functools

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.models.blip2 import HF_BLIP2
from lavis.models.blip2_t5 import Blip2T5, Blip2T5Config
from lavis.models.checkpoints import (
    load_configured_weights,
    load_hf_blip2,
    load_state_into,
    map_state,
    rename_keys,
)
from lavis.models.components.qformer import QFormer, QFormerConfig
from lavis.models.components.tokenizer import build_tiny_t5_tokenizer
from lavis.models.components.vision import FP32LayerNorm, VisionConfig, build_vision_encoder
from lavis.models.convert import main as convert_main

transformers = pytest.importorskip("transformers")
from transformers import (  # noqa: E402
    Blip2Config,
    Blip2ForConditionalGeneration,
    Blip2QFormerConfig,
    Blip2QFormerModel,
    Blip2VisionConfig,
    Blip2VisionModel,
)

ATOL = 1e-5
VISION = VisionConfig(img_size=32, patch_size=8, width=64, depth=2, num_heads=4, mlp_ratio=2.0, precision="fp32")


def hf_vision_config() -> Blip2VisionConfig:
    return Blip2VisionConfig(
        hidden_size=VISION.width,
        intermediate_size=int(VISION.width * VISION.mlp_ratio),
        num_hidden_layers=VISION.depth,
        num_attention_heads=VISION.num_heads,
        image_size=VISION.img_size,
        patch_size=VISION.patch_size,
        layer_norm_eps=1e-6,
        hidden_act="gelu",
        qkv_bias=True,
        attention_dropout=0.0,
    )


def hf_qformer_config(**kw) -> Blip2QFormerConfig:
    args = dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        cross_attention_frequency=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        layer_norm_eps=1e-12, encoder_hidden_size=VISION.width,
    )
    return Blip2QFormerConfig(**{**args, **kw})


@torch.no_grad()
def randomize(module: nn.Module, seed: int) -> None:
    """Every weight random (LayerNorm gains around 1), and the ViT key bias zero as LAVIS/timm fix it."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        noise = torch.randn(p.shape, generator=g) * 0.1
        p.copy_(1.0 + noise if "norm" in name.lower() and name.endswith("weight") else noise)
        if name.endswith("self_attn.qkv.bias"):
            p[p.shape[0] // 3 : 2 * p.shape[0] // 3] = 0.0


class VisionPart(nn.Module):
    """Our ``visual_encoder`` + ``ln_vision``, named as inside a BLIP-2 model."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.visual_encoder = build_vision_encoder(VISION)
        self.ln_vision = FP32LayerNorm(VISION.width, eps=eps)


def test_vision_encoder_equals_transformers_and_timm():
    hf = Blip2VisionModel(hf_vision_config()).eval()
    randomize(hf, 1)
    state = {"vision_model." + k: v for k, v in hf.state_dict().items()}
    converted = rename_keys(state, HF_BLIP2)
    assert "visual_encoder.blocks.1.attn.q_bias" in converted and "ln_vision.weight" in converted
    # transformers applies post_layernorm with the ViT's eps (1e-6); LAVIS' ln_vision uses 1e-5. Same eps
    # here, so the comparison is about weights and names only.
    ours = VisionPart(eps=hf.config.layer_norm_eps).eval()
    report = load_state_into(ours, converted, "hf vision")
    assert report.ok and not report.dropped_by_design
    x = torch.randn(2, 3, VISION.img_size, VISION.img_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = hf(pixel_values=x).last_hidden_state
        got = ours.ln_vision(ours.visual_encoder.forward_features(x))
    assert got.shape == want.shape == (2, 1 + (VISION.img_size // VISION.patch_size) ** 2, VISION.width)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)

    # "equals timm's EVA": a plain timm Eva with the same arguments and the same converted weights.
    from timm.layers import LayerNorm
    from timm.models.eva import Eva

    timm_eva = Eva(
        img_size=VISION.img_size, patch_size=VISION.patch_size, embed_dim=VISION.width, depth=VISION.depth,
        num_heads=VISION.num_heads, mlp_ratio=VISION.mlp_ratio, qkv_bias=True, qkv_fused=True, num_classes=0,
        global_pool="", use_post_transformer_norm=False, norm_layer=functools.partial(LayerNorm, eps=1e-6),
    ).eval()
    vit_state = {k[len("visual_encoder."):]: v for k, v in converted.items() if k.startswith("visual_encoder.")}
    timm_eva.load_state_dict(vit_state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(ours.visual_encoder.forward_features(x), timm_eva.forward_features(x), atol=0, rtol=0)


def test_qformer_equals_transformers():
    # 3 layers with cross-attention every 2nd: layers 0 and 2 have it, layer 1 does not.
    hf = Blip2QFormerModel(hf_qformer_config(num_hidden_layers=3, cross_attention_frequency=2, encoder_hidden_size=48))
    hf.eval()
    randomize(hf, 2)
    converted = rename_keys({"qformer." + k: v for k, v in hf.state_dict().items()}, HF_BLIP2)
    assert "Qformer.bert.encoder.layer.0.crossattention.self.key.weight" in converted
    assert "Qformer.bert.embeddings.LayerNorm.weight" in converted
    ours = QFormer(
        QFormerConfig(num_query_tokens=4, hidden_size=64, num_layers=3, num_heads=4, intermediate_size=128,
                      cross_attention_freq=2, dropout=0.0),
        vision_width=48,
    ).eval()
    state = {k[len("Qformer."):]: v for k, v in converted.items()}
    report = load_state_into(ours, state, "hf qformer", drop=[r"^bert\.embeddings\.position_ids$"])
    assert report.ok
    g = torch.Generator().manual_seed(3)
    queries, image = torch.randn(2, 4, 64, generator=g), torch.randn(2, 17, 48, generator=g)
    with torch.no_grad():
        want = hf(query_embeds=queries, encoder_hidden_states=image,
                  encoder_attention_mask=torch.ones(2, 17, dtype=torch.long)).last_hidden_state
        got = ours(queries, image)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


# --- the whole image → text model ------------------------------------------------------------------


def our_tiny_config(**overrides) -> Blip2T5Config:
    preset = load_yaml(default_config_path("configs/models/blip2_t5/tiny.yaml"))
    # Flan-T5 is untied (distinct lm_head, no decoder-output scaling): test that case.
    preset.llm.arch.tie_word_embeddings = False
    merged = merge_with_schema(Blip2T5Config, preset, OmegaConf.create(overrides), path="model", source="test")
    return OmegaConf.to_object(merged)


def tiny_hf_blip2(tokenizer, seed: int = 4) -> Blip2ForConditionalGeneration:
    """A random transformers BLIP-2 with a T5 whose sizes match our tiny blip2_t5 preset."""
    ours = our_tiny_config()
    arch = dict(ours.llm.arch)
    text = dict(arch, vocab_size=len(tokenizer), dense_act_fn="gelu", decoder_start_token_id=0, pad_token_id=0,
                eos_token_id=1, model_type="t5")
    q = ours.qformer
    config = Blip2Config(
        vision_config=hf_vision_config().to_dict(),
        qformer_config=hf_qformer_config(
            hidden_size=q.hidden_size, num_hidden_layers=q.num_layers, num_attention_heads=q.num_heads,
            intermediate_size=q.intermediate_size, cross_attention_frequency=q.cross_attention_freq,
        ).to_dict(),
        text_config=text,
        num_query_tokens=q.num_query_tokens,
        image_token_index=tokenizer.convert_tokens_to_ids("<extra_id_9>"),
    )
    hf = Blip2ForConditionalGeneration(config).eval()
    randomize(hf, seed)
    with torch.no_grad():  # an untied output layer, as in Flan-T5
        hf.language_model.lm_head.weight = nn.Parameter(torch.randn_like(hf.language_model.shared.weight) * 0.1)
    return hf


def hf_inputs(hf, tokenizer, prompts: list[str]) -> dict:
    text = tokenizer(prompts, padding="longest", return_tensors="pt")
    n = hf.config.num_query_tokens
    b = len(prompts)
    image_ids = torch.full((b, n), hf.config.image_token_index, dtype=torch.long)
    return {
        "input_ids": torch.cat([image_ids, text.input_ids], dim=1),
        "attention_mask": torch.cat([torch.ones(b, n, dtype=torch.long), text.attention_mask], dim=1),
    }


def our_logits(model: Blip2T5, pixels, prompts, decoder_ids) -> torch.Tensor:
    embeds, mask = model.encoder_inputs({"image": pixels, "text_input": prompts})
    return model.t5_model(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=decoder_ids).logits


PROMPTS = ["a red circle", "the dog runs to the door and then sits"]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_t5_tokenizer()


@pytest.fixture(scope="module")
def hf_model(tokenizer):
    return tiny_hf_blip2(tokenizer)


@pytest.fixture(scope="module")
def hf_folder(hf_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf_blip2")
    hf_model.save_pretrained(folder)
    return folder


def fresh_ours(tokenizer, **overrides) -> Blip2T5:
    torch.manual_seed(123)
    model = Blip2T5(our_tiny_config(**overrides), tokenizer=tokenizer).eval()
    model.ln_vision.eps = 1e-6  # transformers' post_layernorm eps (see the vision test)
    return model


def compare(model: Blip2T5, hf, tokenizer) -> None:
    g = torch.Generator().manual_seed(5)
    pixels = torch.randn(2, 3, VISION.img_size, VISION.img_size, generator=g)
    decoder_ids = torch.randint(0, len(tokenizer), (2, 6), generator=g)
    decoder_ids[:, 0] = 0
    with torch.no_grad():
        want = hf(pixel_values=pixels, decoder_input_ids=decoder_ids, **hf_inputs(hf, tokenizer, PROMPTS)).logits
        got = our_logits(model, pixels, PROMPTS, decoder_ids)
    assert got.shape == want.shape == (2, 6, len(tokenizer))
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def test_blip2_t5_logits_equal_transformers(hf_model, tokenizer):
    ours = fresh_ours(tokenizer)
    mapped, missing_ok, drop = map_state(ours, hf_model.state_dict(), HF_BLIP2)
    report = load_state_into(ours, mapped, "hf blip2", missing_ok=missing_ok, drop=drop)
    assert report.ok and not report.missing_by_design
    # Flan-T5's untied output layer: tied in a model built from a config, untied to match the file.
    assert report.untied == ["t5_model.lm_head.weight"]
    assert ours.t5_model.lm_head.weight is not ours.t5_model.shared.weight
    compare(ours, hf_model, tokenizer)


def test_blip2_folder_loads_through_model_pretrained(hf_model, hf_folder, tokenizer):
    ours = fresh_ours(tokenizer)
    ours.cfg.pretrained = str(hf_folder)  # model.pretrained may name a transformers folder
    (report,) = load_configured_weights(ours)
    assert report.kind == "hf_blip2" and report.ok
    assert "visual_encoder.blocks.0.attn.v_bias" in report.loaded
    assert "Qformer.bert.encoder.layer.1.crossattention.self.value.weight" in report.loaded
    compare(ours, hf_model, tokenizer)


def test_blip2_folder_into_lora_model(hf_model, hf_folder, tokenizer):
    """With LoRA, base weights land on ``...q.base_layer.weight``; adapters are missing by design."""
    ours = fresh_ours(tokenizer, lora={"enabled": True, "r": 2, "alpha": 2, "dropout": 0.0})
    report = load_hf_blip2(ours, hf_folder)
    assert report.ok
    assert "t5_model.base_model.model.encoder.block.0.layer.0.SelfAttention.q.base_layer.weight" in report.loaded
    assert report.missing_by_design and all("lora_" in k for k in report.missing_by_design)
    compare(ours, hf_model, tokenizer)  # LoRA B starts at zero: the adapters change nothing yet


def test_convert_hf_folder_round_trip(hf_model, hf_folder, tokenizer, tmp_path, capsys):
    out = tmp_path / "converted"
    code = convert_main([
        "--input", str(hf_folder), "--output", str(out), "--arch", "blip2_t5", "--model-type", "tiny",
        "--options", "model.llm.arch.tie_word_embeddings=false",
    ])
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.yaml", "conversion_report.json"}
    cfg = OmegaConf.load(out / "config.yaml")
    assert cfg.model.pretrained == str((out / "model.safetensors").resolve())
    ours = fresh_ours(tokenizer)
    ours.cfg.pretrained = cfg.model.pretrained  # the converted file, through the same loader
    (report,) = load_configured_weights(ours)
    assert report.ok and report.kind == "lavis_blip2" and report.untied == ["t5_model.lm_head.weight"]
    compare(ours, hf_model, tokenizer)
