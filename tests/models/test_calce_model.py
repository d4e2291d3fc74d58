"""CALCE stage 1 on the tiny model: tokens per frame, the caption block and the text block."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.common.errors import ConfigError
from lavis.datasets.subtitles import Cue
from lavis.models.calce import CalceStage1, CalceStage1Config
from lavis.models.mr_blip import FRAME_SLOT


def calce(**overrides) -> CalceStage1:
    preset = load_yaml(default_config_path("configs/models/blip2_calce_stage1/tiny.yaml"))
    merged = merge_with_schema(
        CalceStage1Config, preset, OmegaConf.create(overrides), path="model", source="test"
    )
    torch.manual_seed(0)
    return CalceStage1(OmegaConf.to_object(merged)).eval()


def batch(frames: int = 6, query: str = "a voice says hello", speech=((0.0, 2.0),), cues=()) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.randn(1, frames, 3, 32, 32, generator=g),
        "timestamps": torch.arange(frames, dtype=torch.float).unsqueeze(0) * 2 + 1,
        "frame_mask": torch.ones(1, frames, dtype=torch.bool),
        "duration": torch.tensor([2.0 * frames]),
        "query": [query],
        "items": [["voice", "red screen"]],
        "subtitles": [list(cues)],
        "subtitle_durations": [[list(s) for s in speech]],
        "relevant_windows": [[[0.0, 2.0]]],
    }


def test_key_frames_keep_every_query_and_the_others_get_nonkey_tokens():
    model = calce()
    nq, nk = model.cfg.qformer.num_query_tokens, model.cfg.nonkey_tokens
    sample = batch(frames=6, speech=((0.0, 3.9),))  # speech over frames 0-1 of 6 (12 s): the talk override
    masks, embeds, kept = model.encode_frames(sample)
    assert kept is None  # stage 1 keeps every frame
    assert masks[0].tolist() == [True, True, False, False, False, False]
    assert embeds[0].shape[0] == 2 * nq + 4 * nk
    inputs, mask = model.encoder_inputs(sample)
    templates = model.token_templates({**sample, "_key_masks": masks, "_captions": [[]]})
    assert templates[0].count(FRAME_SLOT) == 2 * nq + 4 * nk
    assert int(mask.sum()) == len(templates[0])
    # squeezed frames are the trained Linear over the query axis, then t5_proj
    with torch.no_grad():
        queries = model.qformer_queries(model.vit_features(sample["video"][0]))
        squeezed = model.t5_proj(model.query_proj(queries[2].T).T)
        kept = model.t5_proj(queries[0])
    slots = [i for i, t in enumerate(templates[0]) if t == FRAME_SLOT]
    assert torch.allclose(inputs[0, slots[:nq]], kept, atol=1e-5)
    assert torch.allclose(inputs[0, slots[2 * nq : 2 * nq + nk]], squeezed, atol=1e-5)


def test_cluster_boundaries_decide_key_frames_without_speech():
    model = calce()
    sample = batch(frames=8, query="the screen turns red", speech=())
    g = torch.Generator().manual_seed(1)
    first, second = torch.randn(3, 32, 32, generator=g), torch.randn(3, 32, 32, generator=g) * 3
    sample["video"][0, :4], sample["video"][0, 4:] = first, second  # two static events
    model.cfg.num_clusters = 2
    masks, _, _ = model.encode_frames(sample)
    assert masks[0].tolist() == [True, False, False, True, True, False, False, True]


def test_caption_block_and_text_block_follow_the_reference_layout(flan_t5_tokenizer_dir):
    model = calce(llm={"tokenizer": str(flan_t5_tokenizer_dir)}, caption_threshold=-1.0)
    tok = model.tokenizer
    sample = batch(frames=2, cues=[Cue(1.4, 3.6, "hello there")])
    masks, _, _ = model.encode_frames(sample)
    ids = model.token_templates(
        {**sample, "_key_masks": masks, "_captions": model.selected_captions(sample)}
    )[0]
    video_end = ids.index(tok.convert_tokens_to_ids("<extra_id_0>"))
    rest = tok.decode(ids[video_end + 1 :], skip_special_tokens=False)
    assert rest == (
        "[ 1 hello there 4 ]<extra_id_1> Query: a voice says hello Items: voice,red screen Given the video and the "
        "subtitle and the query, find the query relevant windows. Relevant windows:</s>"
    )
    empty = model.token_templates({**sample, "_key_masks": masks, "_captions": [[]]})[0]
    assert tok.decode(empty[video_end + 1 :]).startswith("[ -1 *None* -1 ]<extra_id_1> Query:")


def test_captions_unrelated_to_the_query_are_left_out():
    model = calce(caption_threshold=1.01)  # nothing can pass
    assert model.selected_captions(batch(cues=[Cue(0.0, 1.0, "hello")])) == [[]]


def test_a_query_only_qformer_is_a_config_error():
    with pytest.raises(ConfigError, match="use_text_input"):
        calce(qformer={"use_text_input": False})


def test_the_whole_prompt_token_sequence_with_the_real_tokenizer(flan_t5_tokenizer_dir):
    """Hand-built sample: 2 frames at 1 s and 3 s of a 4 s video, speech over frame 0 only (the talk override makes
    it the key frame: 4 query slots; frame 1 is squeezed to 2), one caption 1.4-3.6 s. Pieces as CALCE's layout:
    frames + timestamps, '>' duration, <extra_id_0>, [ start text end ], <extra_id_1>, Query, Items, task."""
    model = calce(llm={"tokenizer": str(flan_t5_tokenizer_dir)}, caption_threshold=-1.0)
    tok = model.tokenizer
    sample = batch(frames=2, speech=((0.0, 0.5),), cues=[Cue(1.4, 3.6, "hello there")])
    sample["duration"] = torch.tensor([4.0])
    masks, _, _ = model.encode_frames(sample)
    ids = model.token_templates({**sample, "_key_masks": masks, "_captions": model.selected_captions(sample)})[0]
    pieces = ["SLOT" if i == FRAME_SLOT else tok.convert_ids_to_tokens(i) for i in ids]
    task = "▁Given ▁the ▁video ▁and ▁the ▁subtitle ▁and ▁the ▁query , ▁find ▁the ▁query ▁relevant ▁windows ."
    assert pieces == (
        ["SLOT"] * 4 + ["▁1"] + ["SLOT"] * 2 + ["▁3", ">", "▁4", "<extra_id_0>"]
        + ["▁[", "▁1", "▁hello", "▁there", "▁4", "▁", "]", "<extra_id_1>"]
        + ["▁", "Query", ":", "▁", "a", "▁voice", "▁says", "▁hello", "▁Items", ":", "▁voice", ",", "red", "▁screen"]
        + task.split() + ["▁Relevan", "t", "▁windows", ":", "</s>"]
    )
