"""Builders for the video QA, generative classification and captioning benchmarks (MA-LMM's datasets).

Classification (``lvu``, ``breakfast``, ``coin``) and open-ended QA (``msrvtt_qa``, ``msvd_qa``,
``activitynet_qa``) read the QA record format into :class:`~lavis.datasets.video_qa.VideoQADataset`;
captioning (``msrvtt_caption``, ``msvd_caption``, ``youcook2``) reads caption records into
:class:`~lavis.datasets.video_captions.VideoCaptionDataset`. The annotation files are what
``python -m lavis.datasets.prepare <name>`` writes; the presets point at MA-LMM's layout under
``${paths.data_root}/<name>/``: ``frames/<video>/frame%06d.jpg`` (10 fps; ``video_ext: ""``) or, with
``video_ext: .mp4``, video files. LVU's files are per task (``<task>_<split>.json``); ``task`` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lavis.common.config import one_of
from lavis.common.errors import ConfigError
from lavis.common.registry import register_builder
from lavis.datasets.builders.base import VideoDatasetBuilder, VideoDatasetConfig
from lavis.datasets.prepare.lvu import TASKS as LVU_TASKS
from lavis.datasets.video_captions import CAPTION_PROMPT, VideoCaptionDataset
from lavis.datasets.video_qa import VideoQADataset


@dataclass
class VideoQABuilderConfig(VideoDatasetConfig):
    prompt: str = (
        "Question: {question} Short answer:"  # MA-LMM's QA template (a classification preset sets its own)
    )
    text_rule: str | None = one_of(
        "blip", "blip", None
    )  # blip: lowercase, strip .!"()*#:;~ (MA-LMM); null: as written


class VideoQABuilder(VideoDatasetBuilder):
    Config = VideoQABuilderConfig
    dataset_cls = VideoQADataset

    def dataset_kwargs(self, split: str) -> dict[str, Any]:
        return {"prompt": self.cfg.prompt, "text_rule": self.cfg.text_rule}


@dataclass
class LVUBuilderConfig(VideoQABuilderConfig):
    task: str = one_of("relationship", *LVU_TASKS)  # one model per task, as the paper
    ann_root: str = "???"  # the folder of <task>_<split>.json files (ann_paths, if given, take precedence)
    prompt: str = "{question}"  # the records hold "what is the <task> of the movie?"


@dataclass
class CaptionBuilderConfig(VideoDatasetConfig):
    prompt: str = CAPTION_PROMPT
    text_rule: str | None = one_of("blip", "blip", None)  # applied to the training target only
    per_caption_splits: list[str] = field(default_factory=lambda: ["train"])  # one sample per caption


class CaptionBuilder(VideoDatasetBuilder):
    Config = CaptionBuilderConfig
    dataset_cls = VideoCaptionDataset

    def dataset_kwargs(self, split: str) -> dict[str, Any]:
        return {
            "prompt": self.cfg.prompt,
            "text_rule": self.cfg.text_rule,
            "per_caption": split in self.cfg.per_caption_splits,
        }


@register_builder("lvu")
class LVUBuilder(VideoQABuilder):
    Config = LVUBuilderConfig
    DATASET_CONFIG_DICT = {"default": "configs/datasets/lvu/defaults.yaml"}

    def annotation_path(self, split: str) -> Path:
        if split in self.cfg.ann_paths:
            return super().annotation_path(split)
        path = Path(self.cfg.ann_root) / f"{self.cfg.task}_{split}.json"
        if not path.is_file():
            raise ConfigError(
                f"datasets.{self.name}: no annotation file for task {self.cfg.task!r}, split '{split}': {path}. "
                f"Prepare it with `python -m lavis.datasets.prepare lvu` or set datasets.{self.name}.ann_root."
            )
        return path


def _register(name: str, base: type, about: str) -> None:
    cls = type(
        f"{name.title().replace('_', '')}Builder",
        (base,),
        {
            "DATASET_CONFIG_DICT": {"default": f"configs/datasets/{name}/defaults.yaml"},
            "__doc__": about,
        },
    )
    register_builder(name)(cls)


for _name, _about in (
    ("breakfast", "Breakfast (10 classes): train / val (MA-LMM evaluates on val)."),
    ("coin", "COIN (180 tasks): train / val."),
    ("msrvtt_qa", "MSRVTT-QA: open-ended, first-word scoring."),
    ("msvd_qa", "MSVD-QA: open-ended, first-word scoring."),
    ("activitynet_qa", "ActivityNet-QA: open-ended."),
):
    _register(_name, VideoQABuilder, _about)
for _name, _about in (
    ("msrvtt_caption", "MSRVTT captioning."),
    ("msvd_caption", "MSVD captioning."),
    ("youcook2", "YouCook2 segment captioning (evaluated on val)."),
):
    _register(_name, CaptionBuilder, _about)
