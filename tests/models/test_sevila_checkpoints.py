"""SeViLA's published files map onto the real-size model on the meta device, and load in order on a tiny one.

``manifests/sevila_pretrained.json`` lists ``sevila_pretrained.pth`` as the reference describes it (both
branches, query-only Q-Formers with BERT's position_ids buffer, no ViT, no T5). ``qformer_loc.pth`` (the
BLIP-2 Q-Former under the ``_loc`` names) is not described key by key: it is checked with and without the
localizer's projection and LayerNorm.
"""

from __future__ import annotations

import re
import warnings
from math import prod

import pytest
import torch
from manifests import load_manifest
from omegaconf import OmegaConf

from lavis.common.checkpoint import save_checkpoint
from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.common.errors import CheckpointError, ConfigError
from lavis.models.checkpoints import detect_kind, map_state, plan_load
from lavis.models.components.vision import EVA_VIT
from lavis.models.convert import build_meta_model, model_config
from lavis.models.sevila import (
    BLIP2_AS_LOCALIZER,
    SEVILA_FINETUNED,
    SEVILA_LOCALIZER,
    SEVILA_PRETRAINED,
    SeViLA,
)

ANSWERER = ("Qformer.", "query_tokens", "t5_proj.", "ln_vision.")
LOCALIZER = ("Qformer_loc.", "query_tokens_loc", "t5_proj_loc.", "ln_vision_loc.")


def meta_sevila(mode: str = "answerer_finetune") -> SeViLA:
    model_cls, merged, _ = model_config("sevila", "flant5xl", [f"model.mode={mode}"])
    merged.llm.path = None
    return build_meta_model(model_cls, merged)


@pytest.fixture(scope="module")
def real_model():
    return meta_sevila()


def meta_state(shapes):
    return {k: torch.empty(s, device="meta") for k, s in shapes.items()}


def plan(model, shapes, rules, source):
    mapped, missing_ok, drop = map_state(model, meta_state(shapes), rules)
    return plan_load(model, mapped, source, missing_ok=missing_ok, drop=drop, kind=rules.kind)


def branch_keys(model, names) -> set[str]:
    return {
        k for k in model.state_dict() if any(k == n or (n.endswith(".") and k.startswith(n)) for n in names)
    }


def test_sevila_pretrained_fills_both_branches_and_nothing_else(real_model):
    manifest = load_manifest("sevila_pretrained")
    report = plan(real_model, manifest, SEVILA_PRETRAINED, "sevila_pretrained.pth")
    assert report.ok, report.summary()
    assert sorted(report.dropped_by_design) == [
        "Qformer.bert.embeddings.position_ids",
        "Qformer_loc.bert.embeddings.position_ids",
    ]
    assert set(report.loaded) == branch_keys(real_model, ANSWERER + LOCALIZER)
    assert {k.split(".")[0] for k in report.missing_by_design} == {"visual_encoder", "t5_model"}
    # the file size and the paper's "106M trained parameters" (one branch) follow from the manifest
    values = {k: prod(s) for k, s in manifest.items() if not k.endswith("position_ids")}
    assert sum(values.values()) == 213_479_936
    answerer = sum(v for k, v in values.items() if not re.search(r"_loc(\.|$)", k.split(".")[0]))
    assert answerer == 106_739_968


def test_vit_file_and_sevila_pretrained_cover_everything_but_flan_t5(real_model):
    loaded = set(plan(real_model, load_manifest("eva_vit_g"), EVA_VIT, "eva_vit_g.pth").loaded)
    loaded |= set(
        plan(
            real_model, load_manifest("sevila_pretrained"), SEVILA_PRETRAINED, "sevila_pretrained.pth"
        ).loaded
    )
    assert {k.split(".")[0] for k in set(real_model.state_dict()) - loaded} == {"t5_model"}


@pytest.mark.parametrize("with_head", [False, True])
def test_qformer_loc_file_fills_the_localizer(real_model, with_head):
    blip2 = load_manifest("blip2_pretrained_flant5xl")
    wanted = ("Qformer.", "query_tokens") + (("t5_proj.", "ln_vision.") if with_head else ())
    shapes = {
        re.sub(r"^(Qformer|query_tokens|t5_proj|ln_vision)(?=\.|$)", r"\1_loc", k): s
        for k, s in blip2.items()
        if any(k == w or k.startswith(w) for w in wanted)
    }
    report = plan(real_model, shapes, SEVILA_LOCALIZER, "qformer_loc.pth")
    assert report.ok, report.summary()
    parts = LOCALIZER if with_head else ("Qformer_loc.", "query_tokens_loc")
    assert set(report.loaded) == branch_keys(real_model, parts)
    assert report.dropped_by_design == ["Qformer_loc.bert.embeddings.position_ids"]
    assert (
        detect_kind(
            real_model, "qformer_loc.pth", meta_state(shapes), {}, ["sevila_localizer", "blip2_as_localizer"]
        )
        == "sevila_localizer"
    )


def test_a_blip2_file_initialises_the_localizer_under_the_loc_names(real_model):
    blip2 = load_manifest("blip2_pretrained_flant5xl")
    report = plan(real_model, blip2, BLIP2_AS_LOCALIZER, "blip2_pretrained_flant5xl.pth")
    assert report.ok, report.summary()
    assert set(report.loaded) == branch_keys(real_model, LOCALIZER)
    assert (
        detect_kind(real_model, "x.pth", meta_state(blip2), {}, ["sevila_localizer", "blip2_as_localizer"])
        == "blip2_as_localizer"
    )
    # the same file as `pretrained` gives the answerer; the localizer is then left to localizer_init
    report = plan(real_model, blip2, SEVILA_PRETRAINED, "blip2_pretrained_flant5xl.pth")
    assert report.ok and set(report.loaded) == branch_keys(real_model, ANSWERER)


@pytest.mark.parametrize(
    "mode, parts",
    [("answerer_finetune", ANSWERER), ("localizer_pretrain", LOCALIZER), ("localizer_refine", LOCALIZER)],
)
def test_each_mode_checkpoint_holds_its_branch_and_loads_back(mode, parts):
    model = meta_sevila(mode)
    trainable = set(model.trainable_parameter_names())
    assert trainable == branch_keys(model, parts)
    assert sum(p.numel() for n, p in model.named_parameters() if n in trainable) == 106_739_968
    shapes = {k: list(v.shape) for k, v in model.state_dict().items() if k in trainable}
    report = plan(model, shapes, SEVILA_FINETUNED, "checkpoint_best.pth")
    assert report.ok, report.summary()
    assert set(report.loaded) == trainable


# --- loading real files into a tiny model, in order --------------------------------------------------


def tiny(seed: int, **overrides) -> SeViLA:
    preset = load_yaml(default_config_path("configs/models/sevila/tiny.yaml"))
    cfg = merge_with_schema(SeViLA.Config, preset, OmegaConf.create(overrides), path="model", source="test")
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SeViLA(OmegaConf.to_object(cfg))


def branch_state(model, parts, rename=None) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in model.state_dict().items() if k in branch_keys(model, parts)}
    if rename:
        state = {re.sub(*rename, k): v for k, v in state.items()}
    return state


def test_weights_load_in_order_pretrained_then_localizer_init_then_finetuned(tmp_path):
    a, b, c = tiny(1), tiny(2), tiny(3, mode="localizer_refine")
    # "sevila_pretrained.pth": both branches of model a, with the buffers and text keys LAVIS files carry
    full = branch_state(a, ANSWERER + LOCALIZER)
    full["Qformer.bert.embeddings.position_ids"] = torch.arange(512)[None]
    full["Qformer_loc.bert.embeddings.position_ids"] = torch.arange(512)[None]
    save_checkpoint(tmp_path / "sevila_pretrained.pth", {"model": full})
    # a BLIP-2-style file from model b as the localizer's initialisation
    save_checkpoint(tmp_path / "blip2.pth", {"model": branch_state(b, ANSWERER)})
    # a localizer checkpoint of model c (what localizer_refine's runner writes)
    save_checkpoint(tmp_path / "checkpoint_best.pth", {"model": c.trainable_state_dict()})

    target = tiny(
        9,
        mode="localizer_refine",
        pretrained=str(tmp_path / "sevila_pretrained.pth"),
        localizer_init=str(tmp_path / "blip2.pth"),
    )
    kinds = [r.kind for r in target.load_weights_in_order()]
    assert kinds == ["sevila_pretrained", "blip2_as_localizer"]
    torch.testing.assert_close(target.query_tokens, a.query_tokens)  # answerer from sevila_pretrained
    torch.testing.assert_close(target.query_tokens_loc, b.query_tokens)  # localizer_init came after it
    torch.testing.assert_close(target.t5_proj_loc.weight, b.t5_proj.weight)

    target.cfg.finetuned = str(tmp_path / "checkpoint_best.pth")
    kinds = [r.kind for r in target.load_weights_in_order()]
    assert kinds[-1] == "sevila_finetuned"
    torch.testing.assert_close(target.query_tokens_loc, c.query_tokens_loc)  # finetuned is last: it wins
    torch.testing.assert_close(target.query_tokens, a.query_tokens)


def test_a_file_with_half_a_branch_is_an_error(tmp_path):
    a = tiny(1)
    state = branch_state(a, ANSWERER + LOCALIZER)
    del state["query_tokens_loc"]
    save_checkpoint(tmp_path / "broken.pth", {"model": state})
    target = tiny(2, pretrained=str(tmp_path / "broken.pth"))
    with pytest.raises(CheckpointError, match="query_tokens_loc"):
        target.load_weights_in_order()


def test_a_mode_that_uses_the_localizer_refuses_to_run_it_uninitialised(tmp_path):
    a = tiny(1)
    save_checkpoint(tmp_path / "blip2.pth", {"model": branch_state(a, ANSWERER)})
    with pytest.raises(ConfigError, match="localizer_init"):
        tiny(2, mode="inference", pretrained=str(tmp_path / "blip2.pth")).load_weights_in_order()
    uniform = tiny(2, mode="inference", keyframes="uniform", pretrained=str(tmp_path / "blip2.pth"))
    assert [r.kind for r in uniform.load_weights_in_order()] == ["sevila_pretrained"]


@pytest.mark.parametrize("localizer_file", ["both_branches", "answerer_only"])
def test_localizer_init_never_touches_the_answerer_vit_or_t5(tmp_path, localizer_file):
    a, b = tiny(1), tiny(2)
    save_checkpoint(tmp_path / "pretrained.pth", {"model": a.state_dict()})  # everything of model a
    # a file with b's ViT, T5 and branches: only a localizer may come from it
    parts = ANSWERER + LOCALIZER if localizer_file == "both_branches" else ANSWERER
    state = {k: v for k, v in b.state_dict().items() if k.startswith(("visual_encoder.", "t5_model."))}
    state.update(branch_state(b, parts))
    save_checkpoint(tmp_path / "loc.pth", {"model": state})
    target = tiny(
        9,
        mode="inference",
        pretrained=str(tmp_path / "pretrained.pth"),
        localizer_init=str(tmp_path / "loc.pth"),
    )
    reports = target.load_weights_in_order()
    assert reports[1].kind == (
        "sevila_localizer" if localizer_file == "both_branches" else "blip2_as_localizer"
    )
    assert all(k.startswith(LOCALIZER) for k in reports[1].loaded)
    torch.testing.assert_close(target.query_tokens, a.query_tokens)
    torch.testing.assert_close(target.visual_encoder.pos_embed, a.visual_encoder.pos_embed)
    torch.testing.assert_close(target.t5_model.shared.weight, a.t5_model.shared.weight)
    source = b.query_tokens_loc if localizer_file == "both_branches" else b.query_tokens
    torch.testing.assert_close(target.query_tokens_loc, source)
