"""Builders of MA-LMM's datasets: frame folders (frame%06d.jpg at 10 fps), QA / classification / captioning
records, LVU's per-task files and windows, the text rule, one training sample per caption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lavis.common import registry
from lavis.common.config import config_from_dict
from lavis.common.errors import ConfigError

BUILDERS = (
    "lvu",
    "breakfast",
    "coin",
    "msrvtt_qa",
    "msvd_qa",
    "activitynet_qa",
    "msrvtt_caption",
    "msvd_caption",
    "youcook2",
)


def frame_folder(root: Path, video: str, n: int) -> None:
    folder = root / video
    folder.mkdir(parents=True)
    for k in range(n):  # frame k has grey level 2k: which frames were read shows in the pixels
        Image.fromarray(np.full((8, 12, 3), 2 * k, dtype=np.uint8)).save(
            folder / f"frame{k + 1:06d}.jpg", quality=100
        )


def write(path: Path, records: list[dict]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    return str(path)


def build(tmp_path: Path, name: str, section: dict, split: str, task: str = "video_qa"):
    cfg = config_from_dict(
        {
            "model": {"arch": "blip2_vicuna_instruct_malmm", "model_type": "tiny"},
            "datasets": {name: {"video_root": str(tmp_path / "frames"), **section}},
            "run": {"task": task, "device": "cpu", "output_dir": str(tmp_path / "out")},
        }
    )
    return registry.tasks.get(task).setup_task(cfg).build_datasets(cfg, [split])[name][split]


def eval_proc(n: int) -> dict:
    return {
        "eval": {"name": "video_linspace_eval", "n_frms": n, "image_size": 32},
        "train": {"name": "video_train", "n_frms": n, "image_size": 32, "flip_prob": 0.5},
    }


def test_every_dataset_has_a_registered_builder_with_a_preset():
    for name in BUILDERS:
        assert "default" in registry.builders.get(name).DATASET_CONFIG_DICT


def test_qa_from_frame_folders_with_linspace_and_the_blip_text_rule(tmp_path):
    frame_folder(tmp_path / "frames", "video1", 30)
    ann = write(
        tmp_path / "ann" / "val.json",
        [
            {
                "video": "video1",
                "qid": "val_0",
                "question": "What is the man DOING?",
                "answer": "Cooking.",
                "frame_length": 30,
            }
        ],
    )
    ds = build(tmp_path, "msrvtt_qa", {"ann_paths": {"val": ann}, "vis_processor": eval_proc(4)}, "val")
    s = ds[0]
    assert s["video"].shape == (4, 3, 32, 32)
    # linspace over 30 frames: 0, 10, 19, 29 (first and last included)
    assert s["timestamps"].tolist() == pytest.approx([0.0, 1.0, 1.9, 2.9])
    assert (
        s["text_input"] == "Question: what is the man doing? Short answer:" and s["text_output"] == "cooking"
    )


def test_lvu_reads_the_configured_task_and_its_windows(tmp_path):
    frame_folder(tmp_path / "frames", "mv1", 50)
    rec = {
        "video": "mv1",
        "qid": "scene_mv1_2",
        "question": "what is the scene of the movie?",
        "answer": "office",
        "duration": 5,
        "start": 2,
        "end": 4,
    }
    write(tmp_path / "lvu" / "scene_test.json", [rec])
    ds = build(
        tmp_path,
        "lvu",
        {"task": "scene", "ann_root": str(tmp_path / "lvu"), "vis_processor": eval_proc(3)},
        "test",
        task="video_classification",
    )
    s = ds[0]
    assert s["text_input"] == "what is the scene of the movie?" and s["answer"] == "office"
    assert s["timestamps"].tolist() == pytest.approx([2.0, 3.0, 3.9])  # the window's frames 20..39
    with pytest.raises(ConfigError, match=r"task .genre.*datasets\.lvu\.ann_root"):
        build(
            tmp_path,
            "lvu",
            {"task": "genre", "ann_root": str(tmp_path / "lvu"), "vis_processor": eval_proc(3)},
            "test",
            task="video_classification",
        )


def test_captioning_trains_on_every_caption_and_evaluates_per_video(tmp_path):
    frame_folder(tmp_path / "frames", "video7", 12)
    recs = [{"video": "video7", "qid": "video7", "captions": ["A man rides a horse.", "someone is riding"]}]
    ann = write(tmp_path / "ann" / "cap.json", recs)
    section = {"ann_paths": {"train": ann, "test": ann}, "vis_processor": eval_proc(2)}
    train = build(tmp_path, "msvd_caption", section, "train", task="video_captioning")
    assert len(train) == 2 and [train[i]["text_output"] for i in range(2)] == [
        "a man rides a horse",
        "someone is riding",
    ]
    test = build(tmp_path, "msvd_caption", section, "test", task="video_captioning")
    assert len(test) == 1
    s = test[0]
    assert s["text_input"] == "what does the video describe?" and s["captions"] == recs[0]["captions"]


def test_flip_is_drawn_per_sample_and_off_by_default(tmp_path):
    from lavis.processors.video_processors import VideoProcessorConfig, VideoTrainProcessor

    frames = __import__("torch").arange(2 * 3 * 4 * 4, dtype=__import__("torch").uint8).view(2, 3, 4, 4)
    plain = VideoTrainProcessor(VideoProcessorConfig(n_frms=2, image_size=4, min_scale=1.0))
    flips = VideoTrainProcessor(VideoProcessorConfig(n_frms=2, image_size=4, min_scale=1.0, flip_prob=1.0))
    a = plain.transform(frames, np.random.default_rng(0))
    b = flips.transform(frames, np.random.default_rng(0))
    assert (a.flip(-1) - b).abs().max() < 1e-5


def test_blip_rules_delete_punctuation_in_questions_and_space_it_in_captions():
    from lavis.datasets.text import apply_text_rule

    assert apply_text_rule("What is (the) man's job? ", "blip", kind="question") == "what is the man's job?"
    assert apply_text_rule("e.g. A Dog;running", "blip", kind="question") == "eg a dogrunning"
    assert apply_text_rule("e.g. A Dog;running.", "blip") == "e g a dog running"
    assert apply_text_rule("Keep As Is.", None) == "Keep As Is."
