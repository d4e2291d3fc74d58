"""MA-LMM's online memory path on tiny models: equivalences with InstructBLIP, bank isolation, padding,
gradient flow, compression switches and the released checkpoint's key names."""

from __future__ import annotations

import warnings

import pytest
import torch
from omegaconf import OmegaConf

from lavis.common import registry
from lavis.common.checkpoint import save_checkpoint
from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.common.errors import ConfigError
from lavis.models.checkpoints import load_blip2_pretrained, load_finetuned

PAIRS = [
    ("blip2_vicuna_instruct_malmm", "blip2_vicuna_instruct"),
    ("blip2_t5_instruct_malmm", "blip2_t5_instruct"),
]


def build(arch: str, seed: int = 0, **overrides):
    cls = registry.models.get(arch)
    preset = load_yaml(default_config_path(cls.PRETRAINED_MODEL_CONFIG_DICT["tiny"]))
    cfg = merge_with_schema(cls.Config, preset, OmegaConf.create(overrides), path="model", source=arch)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(OmegaConf.to_object(cfg)).eval()


def same_weights(malmm, source) -> None:
    missing, unexpected = malmm.load_state_dict(source.state_dict(), strict=False)
    assert missing == ["image_pe.weight"] and not unexpected


def video(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def samples(pixels: torch.Tensor, **extra) -> dict:
    b = pixels.shape[0]
    return {
        "video": pixels,
        "text_input": [f"Question: what colour is shape {i}? Short answer:" for i in range(b)],
        "text_output": ["red", "a blue square", "green"][:b],
        **extra,
    }


def visual(model, batch: dict) -> torch.Tensor:
    with torch.no_grad():
        return model.frame_embeddings(batch)[0]


@pytest.mark.parametrize("arch,base", PAIRS)
def test_memory_bank_length_zero_is_instructblip(arch, base):
    source = build(base, seed=3)
    model = build(arch, memory_bank_length=0)
    same_weights(model, source)
    batch = samples(video(2, 3))
    batch["frame_mask"] = torch.tensor([[True, True, True], [True, True, False]])
    with torch.no_grad():
        torch.testing.assert_close(model(batch)["loss"], source(batch)["loss"], atol=0, rtol=0)
        assert model.generate(batch, num_beams=2, max_new_tokens=4) == source.generate(
            batch, num_beams=2, max_new_tokens=4
        )
    assert not model.image_pe.weight.requires_grad


@pytest.mark.parametrize("arch,base", PAIRS)
def test_one_frame_through_the_memory_path_is_instructblip(arch, base):
    source = build(base, seed=4)
    model = build(arch)
    same_weights(model, source)
    batch = samples(video(2, 1))
    with torch.no_grad():
        torch.testing.assert_close(model(batch)["loss"], source(batch)["loss"])
    assert visual(model, batch).shape == (2, 4, 64)  # Nq tokens, not T·Nq


def test_the_llm_sees_only_the_last_steps_queries_whatever_the_length():
    model = build("blip2_vicuna_instruct_malmm")
    for t in (1, 3, 9):
        assert visual(model, samples(video(2, t))).shape == (2, 4, 64)


def test_banks_do_not_leak_between_batches_of_different_lengths():
    model = build("blip2_vicuna_instruct_malmm")
    batches = [samples(video(2, t, seed=t)) for t in (5, 2, 7, 5)]
    alone = [visual(build("blip2_vicuna_instruct_malmm"), b) for b in batches]
    in_a_row = [visual(model, b) for b in batches]
    for a, b in zip(alone, in_a_row):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not any(isinstance(v, torch.Tensor) and v.ndim == 4 for v in vars(model).values())


def test_a_padded_sample_reads_only_its_own_frames():
    model = build("blip2_vicuna_instruct_malmm")
    pixels = video(3, 6)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] * 6])
    together = visual(model, samples(pixels, frame_mask=mask))
    short = visual(model, {"video": pixels[1:2, :4], "text_input": samples(pixels)["text_input"][1:2]})
    torch.testing.assert_close(together[1:2], short, atol=1e-6, rtol=1e-5)
    full = visual(model, {"video": pixels[2:3], "text_input": samples(pixels)["text_input"][2:3]})
    torch.testing.assert_close(together[2:3], full, atol=1e-6, rtol=1e-5)


def test_only_the_last_step_is_differentiated():
    model = build("blip2_vicuna_instruct_malmm").train()
    pixels = video(2, 5).requires_grad_(True)
    loss = model(samples(pixels))["loss"]
    loss.backward()
    rows = model.image_pe.weight.grad.abs().sum(1)
    assert rows[4] > 0 and rows[:4].sum() == 0 and rows[5:].sum() == 0
    frame_grads = pixels.grad.abs().flatten(2).sum(-1)
    assert (frame_grads[:, 4] > 0).all() and (frame_grads[:, :4] == 0).all()


def test_the_first_frame_reaches_the_output_only_through_the_memories():
    pixels = video(1, 6)
    changed = pixels.clone()
    changed[:, 0] += 3.0
    for kwargs, reaches in (
        ({}, True),
        ({"visual_memory": False}, True),
        ({"query_memory": False}, True),
        ({"visual_memory": False, "query_memory": False}, False),
    ):
        model = build("blip2_vicuna_instruct_malmm", **kwargs)
        a, b = visual(model, samples(pixels)), visual(model, samples(changed))
        assert (not torch.allclose(a, b)) == reaches, kwargs


def test_fifo_forgets_what_mbc_keeps():
    # M = 1: FIFO's bank holds only the previous frame, so frame 0 cannot reach step 3; MBC merges it in.
    pixels = video(1, 4)
    changed = pixels.clone()
    changed[:, 0] += 3.0
    fifo = build("blip2_vicuna_instruct_malmm", memory_bank_length=1, compression="fifo", query_memory=False)
    torch.testing.assert_close(visual(fifo, samples(pixels)), visual(fifo, samples(changed)))
    mbc = build("blip2_vicuna_instruct_malmm", memory_bank_length=1, query_memory=False)
    assert not torch.allclose(visual(mbc, samples(pixels)), visual(mbc, samples(changed)))


def test_more_frames_than_position_rows_is_a_named_error():
    model = build("blip2_vicuna_instruct_malmm", max_num_frames=3)
    with pytest.raises(ConfigError, match="max_num_frames is 3"):
        visual(model, samples(video(1, 4)))


def lavis_key_names(model) -> dict[str, torch.Tensor]:
    """What MA-LMM's released checkpoint_best.pth holds: every trainable tensor under LAVIS names
    (ours are the same names), plus the BERT position-id buffer LAVIS runners kept."""
    state = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    state["Qformer.bert.embeddings.position_ids"] = torch.arange(128)[None]
    return state


def test_released_checkpoint_keys_load_through_the_malmm_rules(tmp_path):
    source = build("blip2_vicuna_instruct_malmm", seed=1)
    with torch.no_grad():
        source.image_pe.weight[4].fill_(0.5)
    names = set(lavis_key_names(source))
    assert {
        "image_pe.weight",
        "llm_proj.weight",
        "query_tokens",
        "ln_vision.weight",
        "Qformer.bert.encoder.layer.0.attention.self.query.weight",
        "Qformer.bert.encoder.layer.0.crossattention.self.key.weight",
        "Qformer.bert.embeddings.word_embeddings.weight",
    } <= names
    path = tmp_path / "checkpoint_best.pth"
    save_checkpoint(path, {"model": lavis_key_names(source), "epoch": 3})
    target = build("blip2_vicuna_instruct_malmm", seed=2)
    report = load_finetuned(target, path)
    assert report.ok and report.kind == "malmm"
    torch.testing.assert_close(target.image_pe.weight, source.image_pe.weight)
    batch = samples(video(2, 5))
    torch.testing.assert_close(visual(target, batch), visual(source, batch), atol=0, rtol=0)


def test_instructblip_pretrained_file_loads_with_a_zero_frame_embedding(tmp_path):
    source = build("blip2_vicuna_instruct", seed=5)
    keep = ("Qformer.", "query_tokens", "ln_vision.", "llm_proj.")
    state = {k: v for k, v in source.state_dict().items() if k.startswith(keep)}
    path = tmp_path / "instruct_blip_trimmed.pth"
    save_checkpoint(path, {"model": state})
    model = build("blip2_vicuna_instruct_malmm")
    report = load_blip2_pretrained(model, path)
    assert report.ok, report.summary()
    assert "image_pe.weight" not in report.loaded and model.image_pe.weight.abs().sum() == 0
