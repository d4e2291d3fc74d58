"""The LLM component: tokenizer conventions per kind, InstructBLIP's causal layout, typed architectures."""

from __future__ import annotations

import pytest
import torch

from lavis.common.errors import ConfigError
from lavis.models.components.llm import LanguageModel, LLMArch, LLMConfig, prepare_causal_tokenizer
from lavis.models.components.tokenizer import add_qformer_bos, load_tokenizer

TINY_LLAMA = LLMArch(model_type="llama", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128)


@pytest.fixture(scope="module")
def causal() -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel.build(LLMConfig(kind="causal", tokenizer="tiny", arch=TINY_LLAMA))


def test_real_llama_tokenizer_gets_instructblips_special_tokens(shared_data):
    folder = shared_data / "tokenizers" / "llama"
    if not (folder / "tokenizer.model").is_file():
        pytest.skip(f"LLaMA tokenizer not found at {folder}")
    tok = load_tokenizer(str(folder), style="llama")
    assert len(tok) == 32000
    prepare_causal_tokenizer(tok)
    # LAVIS' Vicuna setup: [PAD] appended (vocabulary 32001), bos = eos = unk = </s> (id 2)
    assert len(tok) == 32001 and tok.pad_token_id == 32000
    assert tok.bos_token_id == tok.eos_token_id == tok.unk_token_id == 2
    llm = LanguageModel(LLMConfig(kind="causal"), torch.nn.Identity(), tok)
    ids = llm.encode(["Question: what is the man holding? Short answer:"], max_length=128)[0]
    assert ids[0] == 2 and tok.decode(ids[1:]) == "Question: what is the man holding? Short answer:"
    target = llm.target_ids(["a red cup"], 256, torch.device("cpu"))
    assert target.ids[0].tolist()[-1] == 2 and target.ids[0].tolist()[0] != 2  # eos appended, no bos
    # instructions are cut on the left, keeping the bos and the end of the prompt
    cut = llm.encode(["one two three four five six seven eight Short answer:"], max_length=6, truncation_side="left")[0]
    assert len(cut) == 6 and cut[0] == 2 and tok.decode(cut[1:]).endswith("Short answer:")


def test_real_bert_tokenizer_gets_the_dec_token(shared_data):
    folder = shared_data / "tokenizers" / "bert_base_uncased"
    if not (folder / "vocab.txt").is_file():
        pytest.skip(f"BERT vocab not found at {folder}")
    tok = load_tokenizer(str(folder), style="bert")
    add_qformer_bos(tok)
    assert len(tok) == 30523 and tok.bos_token == "[DEC]" and tok.convert_tokens_to_ids("[DEC]") == 30522
    assert tok("Hello world").input_ids == [101, 7592, 2088, 102]


def test_causal_sequence_layout_and_labels(causal):
    """[prefix tokens ; target tokens ; padding]: prefix padding is squeezed out, labels only on targets."""
    d = causal.hidden_size
    prefix = torch.arange(2 * 4 * d, dtype=torch.float32).view(2, 4, d)
    prefix_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    target_ids = torch.tensor([[7, 8, 2], [9, 2, causal.pad_id]])
    target_mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    embeds, mask, labels = causal.causal_sequence(prefix, prefix_mask, target_ids, target_mask)
    assert embeds.shape == (2, 6, d)
    assert mask.tolist() == [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]
    assert labels.tolist() == [[-100, -100, -100, 7, 8, 2], [-100, -100, -100, -100, 9, 2]]
    assert torch.equal(embeds[0, :3], prefix[0, :3])  # the masked 4th prefix position is gone
    assert torch.equal(embeds[0, 3:], causal.embed(target_ids[0]))
    mask2 = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    left, left_mask = causal.left_aligned(prefix, mask2)
    assert left_mask.tolist() == [[0, 1, 1, 1], [1, 1, 1, 1]]
    assert torch.equal(left[0, 1:], prefix[0, :3]) and left[0, 0].abs().sum() == 0


def test_arch_fields_of_the_other_kind_are_rejected():
    with pytest.raises(ConfigError, match=r"model\.llm\.arch\.d_model is not a field of a 'causal' language model"):
        LanguageModel.build(LLMConfig(kind="causal", tokenizer="tiny", arch=LLMArch(d_model=64)))


def test_arch_given_with_a_folder_is_checked_against_its_config(tmp_path):
    arch = LLMArch(d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=4)
    llm = LanguageModel.build(LLMConfig(kind="t5", tokenizer="tiny", arch=arch))
    llm.model.save_pretrained(tmp_path)
    same = LanguageModel.build(LLMConfig(kind="t5", tokenizer="tiny", path=str(tmp_path), arch=arch))
    assert same.hidden_size == 32
    with pytest.raises(ConfigError, match=r"model\.llm\.arch\.d_model is 64 but .*config\.json has 32"):
        LanguageModel.build(LLMConfig(kind="t5", tokenizer="tiny", path=str(tmp_path), arch=LLMArch(d_model=64)))


def test_lora_targets_every_linear_of_the_architecture(causal):
    assert causal.lora_targets == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert causal.module_name == "llm_model" and causal.projection_name == "llm_proj"
