import pytest
import torch
from model_helpers import fake_batch, take, tiny_model

from lavis.models.mr_blip import FRAME_SLOT


@pytest.fixture(scope="module")
def model():
    m = tiny_model()
    m.eval()
    return m


def test_template_interleaves_frames_and_timestamps_then_duration_and_prompt(model):
    batch = fake_batch(batch=1, frames=3, durations=[20.0])
    batch["timestamps"] = torch.tensor([[0.4, 7.6, 16.5]])
    ids = model.token_templates(batch)[0]
    nq = model.cfg.qformer.num_query_tokens
    tok = model.tokenizer
    expected = []
    for t in (0, 8, 16):  # integer seconds (16.5 rounds half to even)
        expected += [FRAME_SLOT] * nq + model.number_token_ids(t)
    expected += [tok.convert_tokens_to_ids(">")] + model.number_token_ids(20) + [tok.convert_tokens_to_ids("<extra_id_0>")]
    assert ids[: len(expected)] == expected
    prompt = tok.decode(ids[len(expected):], skip_special_tokens=False)
    assert prompt.startswith("Query: a red circle appears 0 Given the video and the query")
    assert ids[-1] == tok.eos_token_id


def test_frame_mask_drops_padded_frames_from_the_prompt(model):
    batch = fake_batch(batch=2, frames=4)
    batch["frame_mask"][0, 2:] = False
    templates = model.token_templates(batch)
    nq = model.cfg.qformer.num_query_tokens
    assert templates[0].count(FRAME_SLOT) == 2 * nq
    assert templates[1].count(FRAME_SLOT) == 4 * nq
    embeds, mask = model.encoder_inputs(batch)
    assert mask[0].sum() == len(templates[0]) and mask[1].sum() == len(templates[1])


def test_padding_is_masked_so_a_sample_does_not_depend_on_its_batch(model):
    batch = fake_batch(batch=2, frames=4)
    batch["query"][1] = "a much longer query that makes the second sample several tokens longer than the first"
    with torch.no_grad():
        embeds, mask = model.encoder_inputs(batch)
        assert mask[0].sum() < mask[1].sum()  # sample 0 is padded
        enc = model.t5_model.get_encoder()
        both = enc(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        e0, m0 = model.encoder_inputs(take(batch, [0]))
        alone = enc(inputs_embeds=e0, attention_mask=m0).last_hidden_state
    n = int(m0.sum())
    torch.testing.assert_close(both[0, :n], alone[0, :n], rtol=1e-5, atol=1e-5)
    # and generation for sample 0 is the same alone or batched
    out_both = model.generate(batch, num_beams=2, max_new_tokens=6)
    out_alone = model.generate(take(batch, [0]), num_beams=2, max_new_tokens=6)
    assert out_both[0] == out_alone[0]


def test_forward_backward_reaches_trainable_parts_only():
    m = tiny_model(freeze_vit=True, freeze_qformer=True, freeze_llm=True, lora={"enabled": True, "r": 4, "alpha": 4})
    m.train()
    loss = m(fake_batch())["loss"]
    assert torch.isfinite(loss)
    loss.backward()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable, "nothing to train"
    assert all(n.startswith(("t5_proj", "ln_vision")) or "lora_" in n for n in trainable)
    assert all(m.get_parameter(n).grad is not None for n in trainable)
    assert all(p.grad is None for n, p in m.named_parameters() if not p.requires_grad)
    assert set(m.trainable_state_dict()) == trainable


def test_lora_keys_use_the_published_mr_blip_names():
    m = tiny_model(lora={"enabled": True, "r": 4, "alpha": 4}, freeze_llm=True)
    keys = set(m.trainable_state_dict())
    assert "t5_model.base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.default.weight" in keys
    assert "t5_model.base_model.model.decoder.block.0.layer.1.EncDecAttention.o.lora_B.default.weight" in keys
    assert "t5_model.base_model.model.encoder.block.0.layer.1.DenseReluDense.wi_0.lora_A.default.weight" in keys
    assert "t5_model.base_model.model.lm_head.lora_A.default.weight" in keys


def test_generation_settings_are_honoured(model):
    batch = fake_batch(batch=2)
    embeds, mask = model.encoder_inputs(batch)
    out = model.t5_model.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=3, num_beams=1)
    assert out.shape[1] <= 4  # start token + 3
    preds = model.predict(batch, num_beams=1, max_new_tokens=3)
    assert len(preds) == 2 and all(set(p) == {"raw", "text", "windows", "valid", "rescued"} for p in preds)


def test_mean_frame_aggregation_uses_one_token_per_frame():
    m = tiny_model(frame_token_aggregation="mean")
    batch = fake_batch(batch=1, frames=6)
    assert m.token_templates(batch)[0].count(FRAME_SLOT) == 6
    assert torch.isfinite(m(batch)["loss"])


def test_relative_time_format_trains_and_decodes():
    m = tiny_model(time_format="relative_integers")
    batch = fake_batch(batch=1, durations=[40.0])
    assert m.target_texts(batch) == ["[[2, 10]]"]  # 1 s and 4 s of 40 s, in percent
    assert torch.isfinite(m(batch)["loss"])
    from lavis.models.moment_text import parse_windows

    assert parse_windows("[[25, 50]]", 40.0, m.time_format).windows == [[10.0, 20.0]]
