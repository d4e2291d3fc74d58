"""The published files' key manifests map completely onto the real-size model (meta device, no weights).

The manifests (``manifests/*.json``) list every key and shape of ``eva_vit_g.pth`` and
``blip2_pretrained_flant5xl.pth`` as the reference describes them; the same rules the loaders use must
place every key, with no unmapped key, no shape mismatch, and drop exactly what they declare.
"""

from __future__ import annotations

import pytest
import torch
from manifests import load_manifest, mr_blip_checkpoint_shapes
from model_helpers import real_size_meta_model

from lavis.models.blip2 import LAVIS_BLIP2
from lavis.models.checkpoints import map_state, plan_load
from lavis.models.components.vision import EVA_VIT
from lavis.models.mr_blip import MR_BLIP


@pytest.fixture(scope="module")
def real_model():
    return real_size_meta_model()


def meta_state(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(shape, device="meta") for k, shape in shapes.items()}


def plan(model, shapes, rules, source):
    mapped, missing_ok, drop = map_state(model, meta_state(shapes), rules)
    return plan_load(model, mapped, source, missing_ok=missing_ok, drop=drop, kind=rules.kind)


def model_keys(model, prefix: str) -> set[str]:
    return {k for k in model.state_dict() if k.startswith(prefix)}


def test_eva_vit_g_maps_onto_the_39_block_encoder(real_model):
    manifest = load_manifest("eva_vit_g")
    assert len([k for k in manifest if k.endswith(".attn.qkv.weight")]) == 40
    report = plan(real_model, manifest, EVA_VIT, "eva_vit_g.pth")
    assert report.ok, report.summary()
    assert not report.unexpected and not report.mismatched and not report.missing
    # dropped: exactly EVA-CLIP-g's 40th block (BLIP-2 uses the penultimate layer's output)
    assert report.dropped_by_design == ["visual_encoder." + k for k in manifest if k.startswith("blocks.39.")]
    assert len(report.dropped_by_design) == 13
    assert set(report.loaded) == model_keys(real_model, "visual_encoder.")
    assert all(not k.startswith("visual_encoder.") for k in report.missing_by_design)


def test_blip2_pretrained_flant5xl_maps_onto_qformer_queries_ln_vision_and_projection(real_model):
    manifest = load_manifest("blip2_pretrained_flant5xl")
    assert manifest["t5_proj.weight"] == [2048, 768]
    report = plan(real_model, manifest, LAVIS_BLIP2, "blip2_pretrained_flant5xl.pth")
    assert report.ok, report.summary()
    assert not report.unexpected and not report.mismatched and not report.missing
    assert report.dropped_by_design == ["Qformer.bert.embeddings.position_ids"]
    expected = model_keys(real_model, "Qformer.") | {"query_tokens"} | model_keys(real_model, "ln_vision.")
    expected |= model_keys(real_model, "t5_proj.")
    assert set(report.loaded) == expected
    # the ViT comes from eva_vit_g.pth and the T5 from its folder: missing by design, nothing else
    assert {k.split(".")[0] for k in report.missing_by_design} == {"visual_encoder", "t5_model"}


def test_the_two_files_cover_everything_but_the_language_model(real_model):
    loaded = set()
    for name, rules in (("eva_vit_g", EVA_VIT), ("blip2_pretrained_flant5xl", LAVIS_BLIP2)):
        loaded |= set(plan(real_model, load_manifest(name), rules, name).loaded)
    assert set(real_model.state_dict()) - loaded == model_keys(real_model, "t5_model.")


def test_mr_blip_checkpoint_at_real_size(real_model):
    """The original runner's checkpoint_best.pth (trainable tensors only) fits the published architecture."""
    shapes = mr_blip_checkpoint_shapes(
        d_model=2048, inner=32 * 64, d_ff=5120, vocab=32128, encoder_layers=24, decoder_layers=24, r=8,
        qformer_hidden=768, vision_width=1408,
    )
    report = plan(real_model, shapes, MR_BLIP, "checkpoint_best.pth")
    assert report.ok, report.summary()
    assert set(report.loaded) == set(real_model.trainable_parameter_names())
    assert sum(torch.Size(s).numel() for s in shapes.values()) == 17_968_128 + 1_574_912 + 2_816
