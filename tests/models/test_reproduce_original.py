"""Mr. BLIP's reproduction mode (``model.reproduce: original``) and the frozen-Q-Former dropout switch."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf
from torch import nn

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.models.mr_blip import Blip2MR, Blip2MRConfig, split_batch


def mr(**overrides) -> Blip2MR:
    preset = load_yaml(default_config_path("configs/models/blip2_mr/tiny.yaml"))
    merged = merge_with_schema(
        Blip2MRConfig, preset, OmegaConf.create(overrides), path="model", source="test"
    )
    torch.manual_seed(0)
    return Blip2MR(OmegaConf.to_object(merged)).eval()


def test_original_precision_casts_only_vit_linear_and_conv_and_the_t5():
    model = mr(reproduce="original", lora={"enabled": True, "r": 2, "alpha": 2})
    model.apply_original_precision()
    vit = model.visual_encoder
    assert vit.patch_embed.proj.weight.dtype == torch.float16
    assert (
        vit.blocks[0].mlp.fc1.weight.dtype == torch.float16
        and vit.blocks[0].attn.qkv.weight.dtype == torch.float16
    )
    assert (
        vit.blocks[0].attn.q_bias.dtype == torch.float32 and vit.blocks[0].attn.v_bias.dtype == torch.float32
    )
    assert vit.blocks[0].norm1.weight.dtype == torch.float32 and vit.pos_embed.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.Qformer.parameters())
    assert model.t5_proj.weight.dtype == torch.float32 and model.ln_vision.weight.dtype == torch.float32
    llm = dict(model.llm.model.named_parameters())
    assert all(p.dtype == torch.float32 for n, p in llm.items() if "lora_" in n)
    assert all(p.dtype == torch.bfloat16 for n, p in llm.items() if "lora_" not in n)
    assert sum("lora_" in n for n in llm) > 0
    assert {"vit": torch.float16, "qformer": None, "llm": torch.bfloat16} == Blip2MR.ORIGINAL_AUTOCAST


def test_generation_may_end_at_once_and_queries_go_one_at_a_time(monkeypatch):
    model = mr(reproduce="original")
    seen = []

    def fake_generate(samples, generation=None, **kw):
        seen.append((len(samples["query"]), generation.min_new_tokens))
        return ["[[1, 2]] junk"]

    monkeypatch.setattr(model, "generate", fake_generate)
    batch = model.dummy_inputs(batch_size=3)
    results = model.predict(batch)
    assert seen == [(1, 0)] * 3
    # the original parser: text after the window list spoils the answer; the lenient default reads it
    assert all(r["windows"] == [[-1, -1]] and not r["valid"] for r in results)
    lenient = mr()
    monkeypatch.setattr(lenient, "generate", lambda s, g=None, **kw: ["[[1, 2]] junk"] * len(s["query"]))
    assert lenient.predict(batch)[0]["windows"] == [[1.0, 2.0]]


def test_an_immediate_end_of_sequence_is_allowed_only_when_reproducing():
    def eos_first(model: Blip2MR) -> str:
        # EOS is the most likely token at every step, a "7" the next: only min_new_tokens=0 lets EOS come first
        tok = model.llm.tokenizer
        seven = tok("7", add_special_tokens=False).input_ids[-1]
        with torch.no_grad():
            bias = torch.zeros(model.llm.model.get_output_embeddings().weight.shape[0])
            bias[tok.eos_token_id], bias[seven] = 200.0, 100.0
            model.llm.model.get_output_embeddings().register_forward_hook(lambda m, i, out: out + bias)
        return model.predict(model.dummy_inputs(batch_size=1), num_beams=1, max_new_tokens=4)[0]["raw"]

    assert eos_first(mr(reproduce="original")) == ""
    assert "7" in eos_first(mr())


def test_split_batch_slices_tensors_and_lists():
    batch = {"video": torch.zeros(2, 3, 1), "query": ["a", "b"], "duration": torch.tensor([1.0, 2.0]), "k": 5}
    parts = split_batch(batch)
    assert [p["query"] for p in parts] == [["a"], ["b"]] and parts[1]["duration"].tolist() == [2.0]
    assert parts[0]["video"].shape == (1, 3, 1) and parts[0]["k"] == 5


def test_frozen_qformer_dropout_switch():
    frozen = mr(freeze_qformer=True, qformer={"dropout": 0.1}).train()
    assert not frozen.Qformer.training
    original = mr(freeze_qformer=True, qformer={"dropout": 0.1, "train_dropout": True}).train()
    assert original.Qformer.training
    assert any(isinstance(m, nn.Dropout) or getattr(m, "dropout", 0) for m in original.Qformer.modules())
