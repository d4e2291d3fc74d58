"""The LLM's attention kernel switch (sdpa | eager) and the per-part activation-checkpointing switches."""

from __future__ import annotations

import pytest
import torch
from model_helpers import fake_batch, tiny_model

from lavis.common.config import merge_with_schema
from lavis.common.errors import ConfigError
from lavis.models.components.llm import LanguageModel, LLMArch, LLMConfig

TINY = {
    "causal": LLMArch(
        model_type="llama",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    ),
    "t5": LLMArch(
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
    ),
}


def build(kind: str, impl: str) -> LanguageModel:
    torch.manual_seed(0)
    llm = LanguageModel.build(
        LLMConfig(kind=kind, tokenizer="tiny", arch=TINY[kind], attn_implementation=impl)
    )
    return llm


@pytest.mark.parametrize("kind", ["causal", "t5"])
def test_sdpa_and_eager_give_the_same_outputs(kind):
    models = {impl: build(kind, impl) for impl in ("sdpa", "eager")}
    for impl, llm in models.items():
        assert llm.model.config._attn_implementation == impl
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            models["sdpa"].model.state_dict().values(), models["eager"].model.state_dict().values()
        )
    )
    ids = torch.randint(3, 100, (2, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # padding exercises the attention mask
    kwargs = {"input_ids": ids, "attention_mask": mask}
    if kind == "t5":
        kwargs["decoder_input_ids"] = ids[:, :5]
    else:
        kwargs["labels"] = ids.masked_fill(mask == 0, -100)
    outputs = {}
    for impl, llm in models.items():
        llm.model.train()  # dropout is 0: gradients flow through the same maths
        out = llm.model(**kwargs)
        loss = out.logits.float().pow(2).mean() if kind == "t5" else out.loss
        loss.backward()
        grads = [p.grad.clone() for p in llm.model.parameters() if p.grad is not None]
        outputs[impl] = (out.logits.detach(), grads)
    assert torch.allclose(outputs["sdpa"][0], outputs["eager"][0], atol=1e-5, rtol=0)
    for a, b in zip(outputs["sdpa"][1], outputs["eager"][1]):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_attn_implementation_is_a_checked_choice():
    with pytest.raises(ConfigError, match="attn_implementation"):
        merge_and_check({"attn_implementation": "flash_attention_2"})


def merge_and_check(values):
    from omegaconf import OmegaConf

    from lavis.common.config import check_choices

    merged = merge_with_schema(LLMConfig, OmegaConf.create(values), path="model.llm", source="test")
    check_choices(merged, LLMConfig, "model.llm", "test")


def test_mr_blip_loss_is_the_same_with_either_kernel():
    losses = {}
    for impl in ("sdpa", "eager"):
        model = tiny_model(llm={"attn_implementation": impl})
        assert model.llm.model.config._attn_implementation == impl
        model.train()
        losses[impl] = model(fake_batch())["loss"]
    assert torch.allclose(losses["sdpa"], losses["eager"], atol=1e-5)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({}, {"vit": True, "qformer": True, "llm": True}),
        ({"checkpoint_llm": False}, {"vit": True, "qformer": True, "llm": False}),
        (
            {"checkpoint_vit": False, "checkpoint_qformer": False},
            {"vit": False, "qformer": False, "llm": True},
        ),
    ],
)
def test_checkpointing_switches_select_parts_and_keep_the_gradients(parts, expected):
    plain = tiny_model(**parts)
    plain.train()
    loss = plain(fake_batch())["loss"]
    loss.backward()
    reference = {n: p.grad.clone() for n, p in plain.named_parameters() if p.grad is not None}

    model = tiny_model(**parts)
    model.train()
    model.set_grad_checkpointing(True)
    assert bool(model.visual_encoder.grad_checkpointing) == expected["vit"]
    assert all(model.part("qformer", b).grad_checkpointing == expected["qformer"] for b in model.branches)
    assert model.llm.model.is_gradient_checkpointing == expected["llm"]
    checkpointed = model(fake_batch())["loss"]
    checkpointed.backward()
    assert torch.allclose(loss, checkpointed, atol=1e-6)
    for name, p in model.named_parameters():
        if name in reference:
            assert torch.allclose(p.grad, reference[name], atol=1e-6, rtol=1e-5), name

    model.set_grad_checkpointing(False)
    assert not model.visual_encoder.grad_checkpointing and not model.llm.model.is_gradient_checkpointing
