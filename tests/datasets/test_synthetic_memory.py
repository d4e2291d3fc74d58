"""The memory demo's generated clips: the answer is only in the first frames, and clips are reproducible."""

from __future__ import annotations

import torch

from lavis.common import registry
from lavis.common.config import config_from_dict
from lavis.datasets.synthetic_memory import COLOURS, SyntheticMemoryDataset, SyntheticMemorySpec


def test_only_the_cue_frames_carry_the_answer_colour():
    spec = SyntheticMemorySpec(
        num_videos={"train": 8}, num_frames=16, image_size=8, cue_frames=2, noise=0.0, distractor_prob=0.0
    )
    ds = SyntheticMemoryDataset(spec, "train")
    for i in range(len(ds)):
        s = ds[i]
        colour = torch.tensor(COLOURS[s["answer"]])
        assert torch.equal(s["video"][:2].mean((2, 3)), colour.expand(2, 3))
        assert s["video"][2:].abs().max() == 0  # neutral after the cue
        assert s["text_output"] == s["answer"] and "start with" in s["text_input"]


def test_clips_are_reproducible_and_splits_differ():
    spec = SyntheticMemorySpec(num_videos={"train": 4, "test": 4}, num_frames=8, image_size=8)
    a, b = SyntheticMemoryDataset(spec, "train"), SyntheticMemoryDataset(spec, "train")
    assert torch.equal(a[3]["video"], b[3]["video"])
    assert not torch.equal(a[3]["video"], SyntheticMemoryDataset(spec, "test")[3]["video"])


def test_the_demo_config_builds_the_dataset():
    cfg = config_from_dict(
        {
            "model": {"arch": "blip2_vicuna_instruct_malmm", "model_type": "tiny"},
            "datasets": {
                "synthetic_memory": {"spec": {"num_videos": {"train": 3, "test": 2}, "num_frames": 6}}
            },
            "run": {"task": "video_qa", "device": "cpu"},
        }
    )
    ds = (
        registry.tasks.get("video_qa")
        .setup_task(cfg)
        .build_datasets(cfg, ["train", "test"])["synthetic_memory"]
    )
    assert len(ds["train"]) == 3 and ds["test"][0]["video"].shape == (6, 3, 32, 32)
