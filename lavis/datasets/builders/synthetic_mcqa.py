"""``synthetic_mcqa``: multiple-choice questions on the generated videos (see :mod:`lavis.datasets.synthetic_mcqa`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from lavis.common.config import one_of
from lavis.common.registry import register_builder
from lavis.datasets.builders.mc_video_qa import BENCHMARKS
from lavis.datasets.builders.synthetic import SyntheticMRBuilder, SyntheticMRBuilderConfig
from lavis.datasets.mc_video_qa import MultipleChoiceQADataset
from lavis.datasets.synthetic import generate
from lavis.datasets.synthetic_mcqa import annotation_name, write_mcqa_annotations


@dataclass
class SyntheticMCQABuilderConfig(SyntheticMRBuilderConfig):
    num_options: int = 4
    shuffle_options: bool = True  # False: the palette in order (spec.colours must hold num_options colours)
    benchmark: str = one_of("how2qa", *BENCHMARKS)  # how2qa: overall accuracy, no question types


@register_builder("synthetic_mcqa")
class SyntheticMCQABuilder(SyntheticMRBuilder):
    Config = SyntheticMCQABuilderConfig
    DATASET_CONFIG_DICT = {"default": "configs/datasets/synthetic_mr/defaults.yaml"}

    def prepare(self) -> None:
        folder = generate(Path(self.cfg.root), self._spec())
        write_mcqa_annotations(folder, self._spec(), self.cfg.num_options, self.cfg.shuffle_options)

    def build_split(self, split: str) -> Dataset:
        folder = self.folder(split)
        return MultipleChoiceQADataset(
            folder / annotation_name(split, self.cfg.num_options, self.cfg.shuffle_options),
            folder / "videos",
            self.processor_for(split),
            benchmark=self.cfg.benchmark,
            num_options=self.cfg.num_options,
            on_bad_video=self.cfg.on_bad_video,
            seed=self.seed,
        )
