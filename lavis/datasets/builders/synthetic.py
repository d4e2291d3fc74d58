"""``synthetic_mr`` / ``synthetic_qa``: the generated benchmark (see :mod:`lavis.datasets.synthetic`).

Both read the same generated videos: ``synthetic_mr`` asks when each event happens (moment retrieval),
``synthetic_qa`` asks which colour comes first (open-ended QA, for the instruction-following models),
``synthetic_tal`` asks for every event with its colour (temporal action localization).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from torch.utils.data import Dataset

from lavis.common.config import one_of, processor_specs
from lavis.common.errors import ConfigError
from lavis.common.registry import register_builder
from lavis.datasets.builders.base import BaseDatasetBuilder
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.datasets.synthetic import (
    SyntheticSpec,
    generate,
    write_qa_annotations,
    write_subtitles,
    write_tal_annotations,
)
from lavis.datasets.video_qa import VideoQADataset


@dataclass
class SyntheticMRBuilderConfig:
    type: str = "default"
    root: str = "${paths.cache_root}/synthetic_mr"
    spec: SyntheticSpec = field(default_factory=SyntheticSpec)
    vis_processor: dict = processor_specs({"train": {"name": "video_train"}, "eval": {"name": "video_eval"}})
    on_bad_video: str = one_of("error", "error", "skip")
    audio: dict = field(default_factory=dict)  # per-frame audio (SMS), as datasets.<name>.audio of video datasets
    subtitles: bool = False  # CALCE: SRTs announcing each event's start, read as the dataset's subtitle_root
    ann_paths: dict = field(default_factory=dict)  # split -> annotation file replacing the generated one


@register_builder("synthetic_mr")
class SyntheticMRBuilder(BaseDatasetBuilder):
    Config = SyntheticMRBuilderConfig
    DATASET_CONFIG_DICT = {"default": "configs/datasets/synthetic_mr/defaults.yaml"}
    annotation_suffix = ""  # the generated annotation file of a split: {split}{suffix}.json

    def _spec(self) -> SyntheticSpec:
        return OmegaConf.to_object(self.cfg.spec) if not isinstance(self.cfg.spec, SyntheticSpec) else self.cfg.spec

    def prepare(self) -> None:
        folder = generate(Path(self.cfg.root), self._spec())
        if self.cfg.subtitles:
            write_subtitles(folder, self._spec())

    def folder(self, split: str) -> Path:
        spec = self._spec()
        folder = Path(self.cfg.root) / f"spec_{spec.digest()}"
        if not (folder / "manifest.json").is_file():
            raise ConfigError(f"synthetic data not generated at {folder} (prepare() was not run)")
        if split not in spec.num_videos:
            raise ConfigError(f"datasets.{self.name}.spec.num_videos has no '{split}' split")
        return folder

    def build_split(self, split: str) -> Dataset:
        folder = self.folder(split)
        default = folder / f"{split}{self.annotation_suffix}.json"
        ann_path = Path(self.cfg.ann_paths[split]) if split in self.cfg.ann_paths else default
        if not ann_path.is_file():
            raise ConfigError(f"datasets.{self.name}.ann_paths.{split}: annotation file not found: {ann_path}")
        return MomentRetrievalDataset(
            ann_path,
            folder / "videos",
            self.processor_for(split),
            on_bad_video=self.cfg.on_bad_video,
            seed=self.seed,
            subtitle_root=folder / "srts" if self.cfg.subtitles else None,
            missing_subtitles="empty",
            **self.audio_kwargs(),
        )


@dataclass
class SyntheticQABuilderConfig(SyntheticMRBuilderConfig):
    prompt: str = "Question: {question} Short answer:"


@register_builder("synthetic_qa")
class SyntheticQABuilder(SyntheticMRBuilder):
    Config = SyntheticQABuilderConfig
    DATASET_CONFIG_DICT = {"default": "configs/datasets/synthetic_mr/defaults.yaml"}

    def prepare(self) -> None:
        write_qa_annotations(generate(Path(self.cfg.root), self._spec()), self._spec())

    def build_split(self, split: str) -> Dataset:
        folder = self.folder(split)
        return VideoQADataset(
            folder / f"{split}_qa.json",
            folder / "videos",
            self.processor_for(split),
            prompt=self.cfg.prompt,
            on_bad_video=self.cfg.on_bad_video,
            seed=self.seed,
        )


@register_builder("synthetic_tal")
class SyntheticTALBuilder(SyntheticMRBuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/synthetic_mr/defaults.yaml"}
    annotation_suffix = "_tal"

    def prepare(self) -> None:
        super().prepare()
        write_tal_annotations(Path(self.cfg.root) / f"spec_{self._spec().digest()}", self._spec())
