"""One smoke test per registered model, generated from the registry: the registry is the test matrix.

Every model must have a ``tiny`` preset. On it: forward + backward (a finite loss, gradients on every
trainable parameter and nowhere else), generate + parse (one prediction per sample), and a save + load round
trip of the trainable tensors through the model's own fine-tuned-checkpoint rules. Every other preset is
built at its real size on the meta device (names and shapes only; no weights, no download).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from lavis.common import registry
from lavis.common.checkpoint import save_checkpoint
from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.models.checkpoints import load_finetuned
from lavis.models.convert import build_meta_model, model_config

ARCHS = registry.list_models()
REAL_PRESETS = [
    (arch, preset)
    for arch in ARCHS
    for preset in registry.models.get(arch).PRETRAINED_MODEL_CONFIG_DICT
    if preset != "tiny"
]


def tiny(arch: str, seed: int = 0):
    cls = registry.models.get(arch)
    presets = cls.PRETRAINED_MODEL_CONFIG_DICT
    assert "tiny" in presets, f"{arch} has no 'tiny' preset: every registered model needs one that builds offline"
    cfg = merge_with_schema(cls.Config, load_yaml(default_config_path(presets["tiny"])), path="model", source=arch)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(OmegaConf.to_object(cfg))


def test_the_registry_holds_every_system_so_far():
    assert {"blip2_t5", "blip2_mr", "blip2_t5_instruct", "blip2_vicuna_instruct"} <= set(ARCHS)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_backward_reaches_exactly_the_trainable_parameters(arch):
    model = tiny(arch).train()
    loss = model(model.dummy_inputs())["loss"]
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{arch}: trainable {name} got no gradient"
        else:
            assert p.grad is None, f"{arch}: frozen {name} got a gradient"


@pytest.mark.parametrize("arch", ARCHS)
def test_generate_and_parse_give_one_prediction_per_sample(arch):
    model = tiny(arch).eval()
    samples = model.dummy_inputs(batch_size=3)
    preds = model.predict(samples, num_beams=2, max_new_tokens=4)
    assert len(preds) == 3 and all(isinstance(p, dict) and p for p in preds)


@pytest.mark.parametrize("arch", ARCHS)
def test_trainable_state_round_trips_through_the_finetuned_rules(arch, tmp_path: Path):
    source = tiny(arch, seed=1).eval()
    path = tmp_path / "checkpoint_best.pth"
    save_checkpoint(path, {"model": source.trainable_state_dict()})
    target = tiny(arch, seed=2).eval()
    report = load_finetuned(target, path)
    assert report.ok and set(report.loaded) == set(source.trainable_state_dict())
    samples = source.dummy_inputs()
    with torch.no_grad():
        torch.testing.assert_close(target(samples)["loss"], source(samples)["loss"], atol=0, rtol=0)


@pytest.mark.parametrize(("arch", "preset"), REAL_PRESETS, ids=[f"{a}-{p}" for a, p in REAL_PRESETS])
def test_real_size_builds_on_the_meta_device(arch, preset):
    model_cls, merged, _ = model_config(arch, preset)
    merged.llm.path = None
    model = build_meta_model(model_cls, merged)
    assert all(p.is_meta for p in model.parameters())
    assert model.num_parameters(trainable_only=True) > 0
    assert len(model.visual_encoder.blocks) == merged.vision.depth
