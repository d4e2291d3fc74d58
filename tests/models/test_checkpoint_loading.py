"""Loading fine-tuned and pretrained checkpoints: Mr. BLIP's format, our own round trip, errors, conversion."""

from __future__ import annotations

import json

import pytest
import torch
from manifests import mr_blip_checkpoint_shapes
from model_helpers import fake_batch, tiny_model
from omegaconf import OmegaConf

from lavis.common.checkpoint import save_checkpoint
from lavis.common.errors import CheckpointError
from lavis.models.checkpoints import (
    CheckpointMismatchError,
    load_blip2_pretrained,
    load_configured_weights,
    load_eva_vit,
    load_finetuned,
    load_llm_folder,
)
from lavis.models.convert import main as convert_main

LORA = {"lora": {"enabled": True, "r": 4, "alpha": 4}, "freeze_llm": True, "freeze_vit": True, "freeze_qformer": True}
LORA_OPTIONS = [
    "model.lora.enabled=true", "model.lora.r=4", "model.lora.alpha=4",
    "model.freeze_llm=true", "model.freeze_vit=true", "model.freeze_qformer=true",
]


def lora_model():
    return tiny_model(**LORA).eval()


def tiny_mr_blip_shapes(model) -> dict[str, list[int]]:
    t5 = model.t5.config
    return mr_blip_checkpoint_shapes(
        d_model=t5.d_model, inner=t5.num_heads * t5.d_kv, d_ff=t5.d_ff, vocab=t5.vocab_size,
        encoder_layers=t5.num_layers, decoder_layers=t5.num_decoder_layers, r=4,
        qformer_hidden=model.cfg.qformer.hidden_size, vision_width=model.cfg.vision.width,
    )


def random_tensors(shapes: dict[str, list[int]], seed: int = 7) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}


def mr_blip_file(path, tensors) -> None:
    """The original runner's checkpoint layout: model (trainable only), optimizer, config, scaler, epoch."""
    torch.save(
        {
            "model": tensors,
            "optimizer": {"state": {}, "param_groups": [{"lr": 3e-4, "weight_decay": 0.05, "params": [0, 1]}]},
            "config": {"model": {"arch": "blip2_mr"}, "run": {"init_lr": 3e-4}},
            "scaler": None,
            "epoch": 3,
        },
        path,
    )


@pytest.fixture(scope="module")
def model():
    return lora_model()


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    tensors = random_tensors(tiny_mr_blip_shapes(model))
    path = tmp_path_factory.mktemp("mrblip") / "checkpoint_best.pth"
    mr_blip_file(path, tensors)
    return path, tensors


def test_mr_blip_key_names_are_ours(model):
    shapes = tiny_mr_blip_shapes(model)
    for name in (
        "ln_vision.weight",
        "t5_proj.bias",
        "t5_model.base_model.model.lm_head.lora_A.default.weight",
        "t5_model.base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.default.weight",
        "t5_model.base_model.model.decoder.block.1.layer.1.EncDecAttention.o.lora_B.default.weight",
        "t5_model.base_model.model.decoder.block.0.layer.2.DenseReluDense.wi_1.lora_B.default.weight",
    ):
        assert name in shapes
    assert set(shapes) == set(model.trainable_parameter_names())
    assert set(shapes) == set(model.trainable_state_dict())


def test_mr_blip_checkpoint_loads(model, checkpoint):
    path, tensors = checkpoint
    report = load_finetuned(model, path)
    assert report.ok and report.kind == "mr_blip"
    assert report.loaded == sorted(tensors)
    state = model.state_dict()
    for key, value in tensors.items():
        assert torch.equal(state[key], value), key
    # the frozen parts (ViT, Q-Former, T5 base) are missing by design, declared by the model
    assert any(k.startswith("visual_encoder.") for k in report.missing_by_design)
    assert any(k.endswith("q.base_layer.weight") for k in report.missing_by_design)


def test_lavis_buffer_in_a_fine_tuned_checkpoint_is_dropped(model, checkpoint, tmp_path):
    _, tensors = checkpoint
    path = tmp_path / "with_buffer.pth"
    mr_blip_file(path, {**tensors, "Qformer.bert.embeddings.position_ids": torch.arange(512)[None]})
    report = load_finetuned(model, path)
    assert report.ok and report.dropped_by_design == ["Qformer.bert.embeddings.position_ids"]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_our_checkpoint_round_trip(suffix, tmp_path):
    trained = lora_model()
    with torch.no_grad():  # as after training: adapters, projection and ln_vision away from their init
        for p in trained.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    state = trained.trainable_state_dict()
    path = tmp_path / f"checkpoint_best{suffix}"
    save_checkpoint(path, {"model": state, "epoch": 1} if suffix == ".pth" else state)

    fresh = lora_model()
    batch = fake_batch()
    with torch.no_grad():
        want = trained(batch)["logits"]
        assert not torch.equal(fresh(batch)["logits"], want)
        report = load_finetuned(fresh, path)
        got = fresh(batch)["logits"]
    assert report.ok and report.loaded == sorted(state)
    assert torch.equal(got, want)


# --- errors and the explicit flag --------------------------------------------------------------------


def _edit(tensors, case):
    tensors = dict(tensors)
    if case == "missing":
        del tensors["t5_proj.bias"]
        return tensors, "t5_proj.bias"
    if case == "extra":
        key = "t5_model.base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_C.default.weight"
        tensors[key] = torch.zeros(4, 64)
        return tensors, key
    tensors["ln_vision.weight"] = torch.ones(3)
    return tensors, "ln_vision.weight"


@pytest.mark.parametrize("case", ["missing", "extra", "misshapen"])
def test_a_gap_fails_with_the_key_named_and_loads_with_the_flag(case, checkpoint, tmp_path):
    _, tensors = checkpoint
    edited, key = _edit(tensors, case)
    path = tmp_path / f"{case}.pth"
    mr_blip_file(path, edited)
    model = lora_model()
    before = model.state_dict()["t5_proj.weight"].clone()
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")) as err:
        load_finetuned(model, path)
    assert isinstance(err.value, CheckpointMismatchError) and key in err.value.report.skipped
    assert torch.equal(model.state_dict()["t5_proj.weight"], before)  # nothing loaded on failure
    if case == "misshapen":
        assert "file [3] vs model [64]" in str(err.value)

    report = load_finetuned(model, path, allow_partial=True)
    assert not report.ok and report.skipped == [key]
    assert key not in report.loaded
    assert torch.equal(model.state_dict()["t5_proj.weight"], tensors["t5_proj.weight"])
    assert key in report.summary()


class NotATensor:
    """Anything a plain state dict cannot hold: unpickling it would run the class's code."""

    def __init__(self) -> None:
        self.payload = "data"


def test_a_pickle_with_objects_is_refused(checkpoint, tmp_path):
    _, tensors = checkpoint
    path = tmp_path / "unsafe.pth"
    torch.save({"model": tensors, "extra": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_finetuned(lora_model(), path)


# --- pretrained files ----------------------------------------------------------------------------------


def test_flan_t5_folder_loads_onto_lora_names(tmp_path):
    source = tiny_model()
    source.t5.save_pretrained(tmp_path / "t5")
    model = lora_model()
    report = load_llm_folder(model, tmp_path / "t5")
    assert report.ok and report.kind == "hf_t5"
    key = "t5_model.base_model.model.decoder.block.1.layer.2.DenseReluDense.wo.base_layer.weight"
    assert key in report.loaded
    assert torch.equal(model.state_dict()[key], source.state_dict()["t5_model.decoder.block.1.layer.2.DenseReluDense.wo.weight"])
    assert all("lora_" in k or not k.startswith("t5_model.") for k in report.missing_by_design)


def lavis_blip2_file(source, path) -> dict[str, torch.Tensor]:
    """A LAVIS stage-2 BLIP-2 checkpoint made from ``source``'s tensors, with LAVIS' extra keys."""
    keep = ("Qformer.", "query_tokens", "ln_vision.", "t5_proj.")
    model_part = {k: v.clone() for k, v in source.state_dict().items() if k.startswith(keep)}
    extras = {
        "Qformer.bert.embeddings.position_ids": torch.arange(512)[None],
        "Qformer.cls.predictions.bias": torch.zeros(10),
        "vision_proj.weight": torch.zeros(8, 64),
        "temp": torch.tensor(0.07),
    }
    torch.save({"model": {**model_part, **extras}}, path)
    return model_part


def eva_file(source, path) -> dict[str, torch.Tensor]:
    """``eva_vit_g.pth``-style: bare ViT names, one block more than the model uses, a final norm."""
    vit = {k: v.clone() for k, v in source.visual_encoder.state_dict().items()}
    extra = {k.replace("blocks.1.", "blocks.2."): v.clone() for k, v in vit.items() if k.startswith("blocks.1.")}
    torch.save({**vit, **extra, "norm.weight": torch.ones(64), "norm.bias": torch.zeros(64)}, path)
    return {"visual_encoder." + k: v for k, v in vit.items()}


def assert_loaded(model, expected) -> None:
    state = model.state_dict()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def test_lavis_files_load_and_convert_round_trip(tmp_path, capsys):
    torch.manual_seed(11)
    source = tiny_model(**LORA)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    blip2 = lavis_blip2_file(source, tmp_path / "blip2_pretrained.pth")
    vit = eva_file(source, tmp_path / "eva_vit_g.pth")

    model = lora_model()
    model.cfg.vit_pretrained = str(tmp_path / "eva_vit_g.pth")
    model.cfg.pretrained = str(tmp_path / "blip2_pretrained.pth")
    eva_report, blip2_report = load_configured_weights(model)
    assert eva_report.ok and blip2_report.ok
    assert sorted(eva_report.dropped_by_design) == sorted(
        ["visual_encoder.norm.weight", "visual_encoder.norm.bias"]
        + ["visual_encoder." + k.replace("blocks.1.", "blocks.2.") for k in source.visual_encoder.state_dict()
           if k.startswith("blocks.1.")]
    )
    assert sorted(blip2_report.dropped_by_design) == [
        "Qformer.bert.embeddings.position_ids", "Qformer.cls.predictions.bias", "temp", "vision_proj.weight",
    ]
    assert_loaded(model, {**vit, **blip2})

    # convert both; the converted safetensors load back through the same loaders
    for name, loader, expected in (("eva_vit_g", load_eva_vit, vit), ("blip2_pretrained", load_blip2_pretrained, blip2)):
        out = tmp_path / f"{name}_converted"
        code = convert_main(["--input", str(tmp_path / f"{name}.pth"), "--output", str(out), "--arch", "blip2_mr",
                             "--model-type", "tiny", "--options", *LORA_OPTIONS])
        assert code == 0, capsys.readouterr().err
        info = json.loads((out / "conversion_report.json").read_text())
        assert info["report"]["ok"] and info["tensors_written"] == len(expected)
        fresh = lora_model()
        report = loader(fresh, out / "model.safetensors")
        assert report.ok and not report.dropped_by_design
        assert_loaded(fresh, expected)


def test_convert_mr_blip_checkpoint(checkpoint, tmp_path, capsys):
    path, tensors = checkpoint
    out = tmp_path / "converted"
    code = convert_main(["--input", str(path), "--output", str(out), "--arch", "blip2_mr", "--model-type", "tiny",
                         "--options", *LORA_OPTIONS])
    assert code == 0, capsys.readouterr().err
    info = json.loads((out / "conversion_report.json").read_text())
    assert info["kind"] == "mr_blip" and info["config_key"] == "model.finetuned"
    cfg = OmegaConf.load(out / "config.yaml")
    assert cfg.model.arch == "blip2_mr" and cfg.model.lora.r == 4
    fresh = lora_model()
    fresh.cfg.finetuned = cfg.model.finetuned
    (report,) = load_configured_weights(fresh)
    assert report.ok
    assert_loaded(fresh, tensors)


def test_convert_fails_in_one_line_naming_the_key(checkpoint, tmp_path, capsys):
    _, tensors = checkpoint
    path = tmp_path / "bad.pth"
    mr_blip_file(path, {**tensors, "ln_vision.weight": torch.ones(3)})
    out = tmp_path / "out"
    args = ["--input", str(path), "--output", str(out), "--arch", "blip2_mr", "--model-type", "tiny",
            "--options", *LORA_OPTIONS]
    assert convert_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:") and "ln_vision.weight" in err
    assert not out.exists()

    assert convert_main([*args[:4], "--allow-partial", *args[4:]]) == 0
    info = json.loads((out / "conversion_report.json").read_text())
    assert info["report"]["mismatched"][0]["key"] == "ln_vision.weight"
    assert OmegaConf.load(out / "config.yaml").model.allow_partial_load is True
