"""The key manifests of LAVIS' InstructBLIP files map onto the real-size models, with nothing unexplained."""

from __future__ import annotations

import pytest
import torch
from manifests import instructblip_trimmed_shapes, load_manifest

from lavis.models.blip2_instruct import LAVIS_INSTRUCTBLIP
from lavis.models.checkpoints import map_state, plan_load
from lavis.models.components.vision import EVA_VIT
from lavis.models.convert import build_meta_model, model_config

MODELS = {"flanxl": ("blip2_t5_instruct", "flant5xl", "t5_proj", 2048), "vicuna7b": ("blip2_vicuna_instruct", "vicuna7b", "llm_proj", 4096)}


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    arch, preset, proj, hidden = MODELS[request.param]
    model_cls, merged, _ = model_config(arch, preset)
    merged.llm.path = None
    return request.param, build_meta_model(model_cls, merged), proj, hidden


def plan(model, shapes, rules, source):
    state = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    mapped, missing_ok, drop = map_state(model, state, rules)
    return plan_load(model, mapped, source, missing_ok=missing_ok, drop=drop, kind=rules.kind)


def keys(model, *prefixes):
    return {k for k in model.state_dict() if k.startswith(prefixes)}


def test_trimmed_file_loads_qformer_queries_ln_vision_and_projection(case):
    name, model, proj, hidden = case
    shapes = instructblip_trimmed_shapes(proj=proj, llm_hidden=hidden)
    report = plan(model, shapes, LAVIS_INSTRUCTBLIP, f"instruct_blip_{name}_trimmed.pth")
    assert report.ok, report.summary()
    assert report.dropped_by_design == ["Qformer.bert.embeddings.position_ids"]
    assert set(report.loaded) == keys(model, "Qformer.", "query_tokens", "ln_vision.", f"{proj}.")
    llm = model.llm.module_name
    assert {k.split(".")[0] for k in report.missing_by_design} == {"visual_encoder", llm}
    # with eva_vit_g.pth everything but the LLM (which comes from its own folder) is covered
    vit = plan(model, load_manifest("eva_vit_g"), EVA_VIT, "eva_vit_g.pth")
    assert vit.ok
    assert set(model.state_dict()) - set(report.loaded) - set(vit.loaded) == keys(model, f"{llm}.")


def test_a_blip2_stage2_file_lacks_the_instruction_path(case):
    """LAVIS#344: stage-2 BLIP-2 files have no Q-Former text path; loading one into InstructBLIP must say so."""
    _, model, proj, hidden = case
    shapes = {k: v for k, v in instructblip_trimmed_shapes(proj=proj, llm_hidden=hidden).items()
              if ".intermediate." not in k and ".output." not in k and "word_embeddings" not in k}
    report = plan(model, shapes, LAVIS_INSTRUCTBLIP, "blip2_pretrained.pth")
    assert not report.ok
    assert any(k.endswith("embeddings.word_embeddings.weight") for k in report.missing)
    assert any(".intermediate.dense." in k for k in report.missing)
