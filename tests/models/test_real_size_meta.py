"""The published Mr. BLIP architecture, built on the meta device (no weights, no download)."""

import pytest
from model_helpers import real_size_meta_model


@pytest.fixture(scope="module")
def real_model():
    return real_size_meta_model()


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
