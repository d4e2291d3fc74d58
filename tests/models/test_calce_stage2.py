"""CALCE stage 2 on the tiny model: vote filtering with the stage-1 windows, the budget, dropped frames, ref:."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.models.calce import CalceStage2, CalceStage2Config
from lavis.models.mr_blip import FRAME_SLOT


def stage2(**overrides) -> CalceStage2:
    preset = load_yaml(default_config_path("configs/models/blip2_calce_stage2/tiny.yaml"))
    merged = merge_with_schema(
        CalceStage2Config, preset, OmegaConf.create(overrides), path="model", source="test"
    )
    torch.manual_seed(0)
    return CalceStage2(OmegaConf.to_object(merged)).eval()


def three_scenes(frames: int = 12) -> torch.Tensor:
    """Feature rows of three static scenes (frames 0-3, 4-7, 8-11), slightly noisy."""
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 16, generator=g) * 5
    return (
        torch.cat([centres[i].expand(4, 16) for i in range(3)]) + torch.randn(frames, 16, generator=g) * 0.01
    )


def test_only_frames_of_voted_clusters_or_windows_survive():
    model = stage2(
        num_clusters=3, cluster_k=2, vote_clusters=1, vote_bias=0, key_frame_bias=0, frame_budget=1.0
    )
    timestamps = [float(t) for t in range(12)]
    # the stage-1 window covers frames 5-6 (end-exclusive at 7): scene 2 gets every vote
    key, nonkey = model.stage2_masks(three_scenes(), timestamps, [[5, 7]], "the dog runs", [], 12.0)
    kept = key | nonkey
    assert kept.tolist() == [False] * 4 + [True] * 4 + [False] * 4
    # inside the kept scene the second clustering puts boundaries at both ends
    assert key[4] and key[7] and not (key & ~kept).any()


def test_the_budget_halves_the_frames_and_is_reproducible():
    model = stage2(
        num_clusters=3, cluster_k=2, vote_clusters=3, vote_bias=0, key_frame_bias=0, frame_budget=0.5
    )
    timestamps = [float(t) for t in range(12)]
    first = model.stage2_masks(three_scenes(), timestamps, [[0, 11]], "q", [], 12.0)
    again = model.stage2_masks(three_scenes(), timestamps, [[0, 11]], "q", [], 12.0)
    assert int((first[0] | first[1]).sum()) <= 6
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_windows_that_select_nothing_keep_every_frame():
    model = stage2(num_clusters=3, cluster_k=2, vote_bias=0, key_frame_bias=0, frame_budget=1.0)
    key, nonkey = model.stage2_masks(three_scenes(), [float(t) for t in range(12)], [[-1, -1]], "q", [], 12.0)
    assert (key | nonkey).all()


def sample(frames: int = 8) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.randn(1, frames, 3, 32, 32, generator=g),
        "timestamps": torch.arange(frames, dtype=torch.float).unsqueeze(0) * 2 + 1,
        "frame_mask": torch.ones(1, frames, dtype=torch.bool),
        "duration": torch.tensor([2.0 * frames]),
        "query": ["the dog runs"],
        "items": [["dog"]],
        "subtitles": [[]],
        "subtitle_durations": [[]],
        "relevant_windows": [[[2.0, 6.0]]],
        "stage1_result": [[[2, 6]]],
    }


def test_dropped_frames_leave_the_prompt_with_their_timestamps_and_ref_is_written():
    model = stage2(frame_budget=0.5)
    s = sample(frames=8)
    key_masks, embeds, kept = model.encode_frames(s)
    assert int(kept[0].sum()) <= 4
    nq, nk = model.cfg.qformer.num_query_tokens, model.cfg.nonkey_tokens
    keys = int(key_masks[0].sum())
    assert embeds[0].shape[0] == keys * nq + (int(kept[0].sum()) - keys) * nk
    inputs, mask = model.encoder_inputs(s)
    assert inputs.shape[1] == int(mask.sum())
    times = s["timestamps"][0][kept[0]].tolist()
    text = model.tokenizer.decode(
        [
            t
            for t in model.token_templates(
                {
                    **s,
                    "_key_masks": key_masks,
                    "_captions": [[]],
                    "timestamps": torch.tensor([times]),
                    "frame_mask": torch.ones(1, len(times), dtype=torch.bool),
                }
            )[0]
            if t != FRAME_SLOT
        ]
    )
    assert "ref: [[" in text and "2, 6]]" in text.split("ref:")[1]  # (the tiny tokenizer spaces "[[ 2")
    dropped = [int(t) for t in s["timestamps"][0][~kept[0]].tolist()]
    assert dropped  # something was dropped, and no dropped time appears before the duration marker
    video_part = text.split(">")[0]
    assert all(f" {t} " not in f" {video_part} " for t in dropped if t not in times)
    assert model.generate(s, max_new_tokens=4)  # end to end


def test_missing_stage1_result_names_the_merge_command():
    s = sample()
    del s["stage1_result"]
    with pytest.raises(KeyError, match="calce-merge"):
        stage2().encoder_inputs(s)
