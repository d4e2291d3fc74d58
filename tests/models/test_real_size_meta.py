"""The published Mr. BLIP architecture, built on the meta device (no weights, no download)."""

import pytest
import torch
from omegaconf import OmegaConf

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.models.components.tokenizer import build_tiny_t5_tokenizer
from lavis.models.mr_blip import Blip2MR, Blip2MRConfig

# Flan-T5-XL (google/flan-t5-xl config.json)
FLAN_T5_XL = {
    "vocab_size": 32128, "d_model": 2048, "d_kv": 64, "d_ff": 5120, "num_layers": 24, "num_decoder_layers": 24,
    "num_heads": 32, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False,
}


@pytest.fixture(scope="module")
def real_model(request):
    preset = load_yaml(default_config_path("configs/models/blip2_mr/pretrain_flant5xl.yaml"))
    preset.llm.path = None
    preset.llm.tokenizer = None
    preset.vit_pretrained = None
    preset.pretrained = None
    preset.llm.arch = FLAN_T5_XL
    cfg = OmegaConf.to_object(merge_with_schema(Blip2MRConfig, preset, path="model", source="test"))
    tok = build_tiny_t5_tokenizer()  # the real vocabulary size comes from FLAN_T5_XL
    with torch.device("meta"):
        return Blip2MR(cfg, tokenizer=tok)


def count(model, prefix=None, trainable=None):
    return sum(
        p.numel()
        for n, p in model.named_parameters()
        if (prefix is None or n.startswith(prefix)) and (trainable is None or p.requires_grad == trainable)
    )


def test_trainable_parts_match_the_published_model(real_model):
    lora = sum(p.numel() for n, p in real_model.named_parameters() if "lora_" in n)
    assert lora == 24 * 303_104 + 24 * 434_176 + 273_408 == 17_968_128
    assert count(real_model, "t5_proj") == 2048 * 768 + 2048 == 1_574_912
    assert count(real_model, "ln_vision") == 2 * 1408
    assert count(real_model, trainable=True) == 17_968_128 + 1_574_912 + 2_816  # ≈ 19.5 M


def test_frozen_parts_have_the_published_sizes(real_model):
    assert len(real_model.visual_encoder.blocks) == 39
    assert real_model.visual_encoder.blocks[0].mlp.fc1.weight.shape == (6144, 1408)
    assert real_model.visual_encoder.pos_embed.shape == (1, 257, 1408)
    assert real_model.query_tokens.shape == (1, 32, 768)
    assert real_model.Qformer.bert.encoder.layer[0].crossattention.self.key.weight.shape == (768, 1408)
    assert not hasattr(real_model.Qformer.bert.encoder.layer[1], "crossattention")
    assert count(real_model, "visual_encoder", trainable=True) == 0
    assert count(real_model, "Qformer", trainable=True) == 0
    t5 = real_model.t5_model.base_model.model
    assert t5.config.d_model == 2048 and t5.config.dense_act_fn == "gelu"
