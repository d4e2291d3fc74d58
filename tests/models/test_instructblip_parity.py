"""Numerical parity with transformers' InstructBLIP (T5 and LLaMA language models) and InstructBlipVideo.

Tiny random configs in fp32, eval mode, dropout 0. transformers' weights reach our models only through the
InstructBLIP key rules (a saved transformers folder loaded by ``model.pretrained``), so a wrong rule shows
up as a load error or a numeric difference: vision output, Q-Former output and LM logits (and losses) are
compared within 1e-5.
"""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from test_parity import ATOL, VISION, hf_vision_config, randomize

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.common.registry import models
from lavis.models.checkpoints import load_configured_weights
from lavis.models.components.llm import prepare_causal_tokenizer
from lavis.models.components.tokenizer import add_qformer_bos, build_tiny_bert_tokenizer, load_tokenizer
from lavis.models.convert import main as convert_main

transformers = pytest.importorskip("transformers")
from transformers import (  # noqa: E402
    InstructBlipConfig,
    InstructBlipForConditionalGeneration,
    InstructBlipQFormerConfig,
    InstructBlipVideoConfig,
    InstructBlipVideoForConditionalGeneration,
)

PROMPTS = ["Question: what colour does the screen turn first? Short answer:", "what is in the video?"]
TARGETS = ["red", "a man opens the door"]


def our_config(arch: str, **overrides):
    cls = models.get(arch)
    preset = load_yaml(default_config_path(cls.PRETRAINED_MODEL_CONFIG_DICT["tiny"]))
    preset.llm.arch.tie_word_embeddings = False  # Flan-T5 and Vicuna have an untied output layer
    merged = merge_with_schema(cls.Config, preset, OmegaConf.create(overrides), path="model", source="test")
    return cls, OmegaConf.to_object(merged)


def text_config(cfg, tokenizer) -> dict:
    arch = dict(cfg.llm.arch)
    if cfg.llm.kind == "t5":
        return dict(arch, vocab_size=len(tokenizer), dense_act_fn="gelu", decoder_start_token_id=0, pad_token_id=0,
                    eos_token_id=1, model_type="t5")
    arch.pop("model_type")
    return dict(arch, vocab_size=len(tokenizer), model_type="llama", pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)


def placeholder_id(tokenizer, kind: str) -> int:
    """A token our sequences never use, standing for the query embeddings in transformers' input ids."""
    return tokenizer.convert_tokens_to_ids("<extra_id_9>" if kind == "t5" else "<s>")


def hf_model(cfg, tokenizer, qformer_tokenizer, video: bool = False, seed: int = 11):
    q = cfg.qformer
    qformer = InstructBlipQFormerConfig(
        vocab_size=q.vocab_size, hidden_size=q.hidden_size, num_hidden_layers=q.num_layers, num_attention_heads=q.num_heads,
        intermediate_size=q.intermediate_size, cross_attention_frequency=q.cross_attention_freq,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12,
        max_position_embeddings=q.max_position_embeddings, encoder_hidden_size=VISION.width,
        pad_token_id=qformer_tokenizer.pad_token_id,
    )
    kwargs = dict(vision_config=hf_vision_config().to_dict(), qformer_config=qformer.to_dict(),
                  text_config=text_config(cfg, tokenizer), num_query_tokens=q.num_query_tokens)
    token = placeholder_id(tokenizer, cfg.llm.kind)
    if video:
        model = InstructBlipVideoForConditionalGeneration(InstructBlipVideoConfig(**kwargs, video_token_index=token))
    else:
        model = InstructBlipForConditionalGeneration(InstructBlipConfig(**kwargs, image_token_index=token))
    randomize(model.eval(), seed)
    return model


@pytest.fixture(scope="module", params=["blip2_t5_instruct", "blip2_vicuna_instruct"])
def pair(request, tmp_path_factory):
    """(ours, transformers) with the same random weights, ours loaded from a saved transformers folder."""
    cls, cfg = our_config(request.param)
    tokenizer = load_tokenizer("tiny", "t5" if cfg.llm.kind == "t5" else "llama")
    if cfg.llm.kind == "causal":
        prepare_causal_tokenizer(tokenizer)
    qtok = build_tiny_bert_tokenizer()
    add_qformer_bos(qtok)
    hf = hf_model(cfg, tokenizer, qtok)
    folder = tmp_path_factory.mktemp(request.param)
    hf.save_pretrained(folder)
    torch.manual_seed(0)
    ours = cls(cfg, tokenizer=tokenizer, qformer_tokenizer=qtok).eval()
    ours.ln_vision.eps = hf.config.vision_config.layer_norm_eps  # transformers' post_layernorm eps
    ours.cfg.pretrained = str(folder)
    (report,) = load_configured_weights(ours)
    assert report.ok and report.kind == "hf_instructblip", report.summary()
    assert not report.missing_by_design and not report.unexpected
    ours.hf_folder = folder  # for the conversion test
    return ours, hf


def pixels(b: int = 2, t: int | None = None, seed: int = 5) -> torch.Tensor:
    shape = (b, 3, VISION.img_size, VISION.img_size) if t is None else (b, t, 3, VISION.img_size, VISION.img_size)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_vision_and_qformer_outputs_equal_transformers(pair):
    ours, hf = pair
    px = pixels()
    want_vision = hf.vision_model(pixel_values=px).last_hidden_state
    torch.testing.assert_close(ours.ln_vision(ours.vit_features(px)), want_vision, atol=ATOL, rtol=0)
    ids, mask = ours.qformer_text(PROMPTS)
    assert ids[0, 0] == ours.qformer_tokenizer.cls_token_id
    features = hf.get_image_features(px, qformer_input_ids=ids, qformer_attention_mask=mask)
    want = features.qformer_outputs[0][:, : ours.cfg.qformer.num_query_tokens]
    torch.testing.assert_close(ours.encode_images(px, text_ids=ids, text_mask=mask), want, atol=ATOL, rtol=0)


def hf_text_inputs(ours, hf, prompt_ids: list[list[int]], n_visual: int) -> dict:
    """[placeholder × n_visual ; prompt ids] right-padded, as transformers' processor would build them."""
    token = hf.config.image_token_index if hasattr(hf.config, "image_token_index") else hf.config.video_token_index
    rows = [[token] * n_visual + ids for ids in prompt_ids]
    text = ours.llm.pad(rows)
    return {"input_ids": text.ids, "attention_mask": text.mask}


@torch.no_grad()
def test_lm_logits_and_loss_equal_transformers(pair):
    ours, hf = pair
    px = pixels()
    samples = {"image": px, "text_input": PROMPTS, "text_output": TARGETS}
    got = ours(samples)
    ids, mask = ours.qformer_text(PROMPTS)
    nq = ours.cfg.qformer.num_query_tokens
    prompt_ids = ours.llm.encode(PROMPTS, ours.cfg.max_txt_len, "left")
    target = ours.llm.target_ids(TARGETS, ours.cfg.max_target_len, torch.device("cpu"))
    labels = target.ids.masked_fill(target.mask == 0, -100)
    if ours.llm.kind == "t5":
        want = hf(pixel_values=px, qformer_input_ids=ids, qformer_attention_mask=mask, labels=labels,
                  **hf_text_inputs(ours, hf, prompt_ids, nq))
        valid = target.mask.bool()  # we also mask the decoder's padding; transformers does not (same loss)
        torch.testing.assert_close(got["logits"][valid], want.logits[valid], atol=ATOL, rtol=0)
        torch.testing.assert_close(got["loss"], want.loss, atol=ATOL, rtol=0)
        return
    # causal: per sample [queries ; instruction ; target + eos] with labels only on the target; our batch
    # is padded at the end, so each row's valid part must equal transformers on that sample alone.
    losses = []
    for i in range(len(PROMPTS)):
        n_target = int(target.mask[i].sum())
        full = prompt_ids[i] + target.ids[i, :n_target].tolist()
        inputs = hf_text_inputs(ours, hf, [full], nq)
        hf_labels = torch.full_like(inputs["input_ids"], -100)
        hf_labels[0, -n_target:] = target.ids[i, :n_target]
        want = hf(pixel_values=px[i : i + 1], qformer_input_ids=ids[i : i + 1, : int(mask[i].sum())],
                  labels=hf_labels, **inputs)
        length = inputs["input_ids"].shape[1]
        torch.testing.assert_close(got["logits"][i, :length], want.logits[0], atol=ATOL, rtol=0)
        alone = ours({"image": px[i : i + 1], "text_input": PROMPTS[i : i + 1], "text_output": TARGETS[i : i + 1]})
        torch.testing.assert_close(alone["loss"], want.loss, atol=ATOL, rtol=0)
        losses.append((want.loss, n_target))
    # the batch loss is the token-weighted mean of the per-sample losses
    expected = sum(loss * n for loss, n in losses) / sum(n for _, n in losses)
    torch.testing.assert_close(got["loss"], expected, atol=ATOL, rtol=0)


@torch.no_grad()
def test_video_logits_equal_instructblipvideo(pair, tmp_path):
    ours, hf_image = pair
    hf = hf_model(ours.cfg, ours.tokenizer, ours.qformer_tokenizer, video=True)
    hf.load_state_dict(hf_image.state_dict())  # the video model has the same weights under the same names
    frames = 3
    px = pixels(t=frames, seed=6)
    ids, mask = ours.qformer_text(PROMPTS)
    nq = ours.cfg.qformer.num_query_tokens
    prompt_ids = ours.llm.encode(PROMPTS, ours.cfg.max_txt_len, "left")
    inputs = hf_text_inputs(ours, hf, prompt_ids, frames * nq)
    embeds, emb_mask = ours.encoder_inputs({"video": px, "text_input": PROMPTS})
    assert torch.equal(emb_mask, inputs["attention_mask"])
    if ours.llm.kind == "t5":
        dec = torch.zeros(2, 3, dtype=torch.long)
        want = hf(pixel_values=px, qformer_input_ids=ids, qformer_attention_mask=mask, decoder_input_ids=dec, **inputs)
        got = ours.llm.model(inputs_embeds=embeds, attention_mask=emb_mask, decoder_input_ids=dec).logits
    else:
        want = hf(pixel_values=px, qformer_input_ids=ids, qformer_attention_mask=mask, **inputs)
        got = ours.llm.model(inputs_embeds=embeds, attention_mask=emb_mask).logits
    valid = emb_mask.bool() if ours.llm.kind == "causal" else torch.ones_like(got[..., 0], dtype=torch.bool)
    torch.testing.assert_close(got[valid], want.logits[valid], atol=ATOL, rtol=0)


@torch.no_grad()
def test_causal_generation_does_not_depend_on_the_batch(pair):
    ours, _ = pair
    px = pixels(t=2, seed=9)
    samples = {"video": px, "text_input": PROMPTS}
    both = ours.generate(samples, num_beams=2, max_new_tokens=5)
    alone = ours.generate({"video": px[:1], "text_input": PROMPTS[:1]}, num_beams=2, max_new_tokens=5)
    assert both[0] == alone[0]


@torch.no_grad()
def test_convert_transformers_folder_then_load_it(pair, tmp_path, capsys):
    ours, hf = pair
    out = tmp_path / "converted"
    code = convert_main(["--input", str(ours.hf_folder), "--output", str(out), "--arch", ours.cfg.arch,
                         "--model-type", "tiny", "--options", "model.llm.arch.tie_word_embeddings=false"])
    assert code == 0, capsys.readouterr().err
    converted = OmegaConf.load(out / "config.yaml").model.pretrained
    cls, cfg = our_config(ours.cfg.arch)
    torch.manual_seed(1)
    fresh = cls(cfg, tokenizer=ours.tokenizer, qformer_tokenizer=ours.qformer_tokenizer).eval()
    fresh.ln_vision.eps = ours.ln_vision.eps
    fresh.cfg.pretrained = converted
    (report,) = load_configured_weights(fresh)
    assert report.ok and report.kind == "lavis_instructblip"
    samples = {"image": pixels(), "text_input": PROMPTS, "text_output": TARGETS}
    torch.testing.assert_close(fresh(samples)["logits"], ours(samples)["logits"], atol=0, rtol=0)
