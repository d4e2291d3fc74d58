"""Builders for multiple-choice video QA: ``nextqa``, ``nextgqa``, ``star``, ``how2qa``, ``tvqa``, ``vlep``.

They share one dataset class (:class:`~lavis.datasets.mc_video_qa.MultipleChoiceQADataset`) and differ in
their preset YAML: paths, option count, prompt style and the benchmark their accuracy is grouped by.
Annotation files are what ``python -m lavis.datasets.prepare <name>`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from lavis.common.config import one_of
from lavis.common.registry import register_builder
from lavis.datasets.builders.base import VideoDatasetBuilder, VideoDatasetConfig
from lavis.datasets.mc_video_qa import MultipleChoiceQADataset

BENCHMARKS = ("nextqa", "star", "how2qa", "tvqa", "vlep")  # the groupings of lavis.evaluation.mc_qa


@dataclass
class MultipleChoiceQABuilderConfig(VideoDatasetConfig):
    benchmark: str = one_of("nextqa", *BENCHMARKS)  # how accuracy is grouped (lavis.evaluation.mc_qa)
    num_options: int = 0  # exactly this many options per question (0: any number >= 2)
    prompt_style: str = one_of("qa", "qa", "vlep")  # vlep: no question, "what happens next?"
    punctuate: bool = False  # add "?" to questions and "." to options where missing (SeViLA's NExT-QA)


class MultipleChoiceQABuilder(VideoDatasetBuilder):
    Config = MultipleChoiceQABuilderConfig
    dataset_cls = MultipleChoiceQADataset

    def dataset_kwargs(self, split: str) -> dict:
        cfg = self.cfg
        return {
            "benchmark": cfg.benchmark,
            "num_options": cfg.num_options or None,
            "prompt_style": cfg.prompt_style,
            "punctuate": cfg.punctuate,
        }


@register_builder("nextqa")
class NExTQABuilder(MultipleChoiceQABuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/nextqa/defaults.yaml"}


@register_builder("nextgqa")
class NExTGQABuilder(MultipleChoiceQABuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/nextgqa/defaults.yaml"}


@register_builder("star")
class STARBuilder(MultipleChoiceQABuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/star/defaults.yaml"}


@register_builder("how2qa")
class How2QABuilder(MultipleChoiceQABuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/how2qa/defaults.yaml"}


@register_builder("tvqa")
class TVQABuilder(MultipleChoiceQABuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/tvqa/defaults.yaml"}


@register_builder("vlep")
class VLEPBuilder(MultipleChoiceQABuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/vlep/defaults.yaml"}
