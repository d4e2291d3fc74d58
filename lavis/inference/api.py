"""Run a trained system on any video: :func:`load_model` builds it exactly as ``lavis.evaluate`` does.

With a checkpoint written by this framework's runner (it embeds the experiment config), the model, the
evaluation frame processor, the dataset class that turns a record into a sample, and the generation
settings all come from that config, through the same functions evaluation calls -- so a prediction here
equals the one ``lavis.evaluate`` makes for the same video and query. Without an embedded config (a
converted original checkpoint, or none at all) the model comes from ``name`` + ``model_type`` and frames
are sampled by ``video_eval`` at the vision encoder's input size.

A video is read whatever its length, frame rate or resolution: ``n_frms`` frames are sampled over its
whole length and resized to the model's input size, and its duration is ``frames / average fps``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lavis.common import registry
from lavis.common.config import Config, GenerationConfig, build_processor, config_from_dict
from lavis.common.errors import CheckpointError, ConfigError, DataError
from lavis.datasets.collate import collate_samples
from lavis.datasets.video import InMemoryVideo, open_video
from lavis.inference.results import (
    ClassificationResult,
    MomentRetrievalResult,
    MultipleChoiceResult,
    TextResult,
    VideoInfo,
    clip_windows,
)

logger = logging.getLogger(__name__)

# Friendly names → registry names (a registry name is accepted as it is).
ALIASES = {
    "mr_blip": "blip2_mr",
    "mrblip": "blip2_mr",
    "calce": "blip2_calce_stage1",
    "sms": "blip2_sms",
}
TASK_FAMILIES = ("moment_retrieval", "multiple_choice_qa", "open_qa", "captioning", "classification")
DEFAULT_NUM_FRAMES = 60  # frames sampled when no config says (Mr. BLIP's QVHighlights setting)
DEFAULT_BATCH_SIZE = 8

VideoSource = str | os.PathLike | InMemoryVideo


def model_capabilities(model: torch.nn.Module) -> tuple[str, ...]:
    """The task families a model's class declares in ``inference_tasks`` (empty when it declares none)."""
    return tuple(getattr(type(model), "inference_tasks", ()))


def probe_video(video: VideoSource) -> VideoInfo:
    """Open ``video`` and read its length, frame rate and size (DataError naming the file if unreadable)."""
    reader = open_video(video)
    fps = float(reader.get_avg_fps())
    if not fps > 0:
        raise DataError(f"Video reports an invalid frame rate ({fps}): {video}")
    height, width = reader[0].shape[:2]
    return VideoInfo(str(video), len(reader) / fps, fps, len(reader), int(width), int(height))


@dataclass
class Predictor:
    """A model in evaluation mode with its evaluation preprocessing; one method per task family."""

    name: str  # the registry name (``arch``)
    model: torch.nn.Module
    processor: Any  # the evaluation frame processor
    dataset_cls: type  # turns a record into a sample (as in evaluation)
    dataset_kwargs: dict[str, Any]
    generation: GenerationConfig
    device: torch.device
    amp_dtype: torch.dtype | None = None
    config: Config | None = None
    checkpoint: str | None = None
    seed: int = 42
    batch_size: int = DEFAULT_BATCH_SIZE

    @property
    def capabilities(self) -> tuple[str, ...]:
        return model_capabilities(self.model)

    @property
    def label(self) -> str:
        """How results name the model: its registry name and checkpoint file."""
        return f"{self.name}:{self.checkpoint}" if self.checkpoint else self.name

    def _require(self, family: str) -> None:
        if family not in self.capabilities:
            can = ", ".join(self.capabilities) or "nothing yet"
            raise NotImplementedError(
                f"model {self.name!r} ({type(self.model).__name__}) has no {family.replace('_', ' ')} prediction; "
                f"it can do: {can}"
            )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # --- moment retrieval ------------------------------------------------------------------------

    def moments(self, video: VideoSource, query: str, qid: str | None = None) -> MomentRetrievalResult:
        """Ranked windows (seconds) where ``query`` happens in ``video``."""
        return self.moments_batch(video, [query], [qid])[0]

    def moments_batch(
        self,
        video: VideoSource,
        queries: Sequence[str],
        qids: Sequence[str | None] | None = None,
        info: VideoInfo | None = None,
    ) -> list[MomentRetrievalResult]:
        """Several queries on one video: the video is decoded once."""
        self._require("moment_retrieval")
        if not queries:
            return []
        qids = list(qids) if qids is not None else [None] * len(queries)
        info = info or probe_video(video)
        samples = self._moment_samples(video, info, list(queries), qids)
        results: list[MomentRetrievalResult] = []
        for start in range(0, len(samples), self.batch_size):
            chunk = samples[start : start + self.batch_size]
            batch = collate_samples(chunk)
            with torch.no_grad(), self._autocast():
                outputs = self.model.predict(batch, self.generation)
            for sample, out in zip(chunk, outputs):
                raw = [[float(x) if isinstance(x, (int, float)) else x for x in w] for w in out["windows"]]
                results.append(
                    MomentRetrievalResult(
                        video=str(video),
                        query=sample["query"],
                        duration=round(float(sample["duration"]), 3),
                        windows=clip_windows(raw, float(sample["duration"])),
                        raw_windows=raw,
                        text=out["text"],
                        valid=bool(out["valid"]),
                        model=self.label,
                        frame_times=[round(float(t), 2) for t in sample["timestamps"]],
                        qid=qids[int(sample["index"])],
                    )
                )
        return results

    def _moment_samples(
        self, video: VideoSource, info: VideoInfo, queries: list[str], qids: list[str | None]
    ) -> list[dict[str, Any]]:
        """One evaluation sample per query, built by the dataset class evaluation uses (frames decoded once)."""
        records = [
            {
                "video": str(video),
                "qid": qid if qid is not None else f"q{i}",
                "query": query,
                "duration": info.duration,
                "relevant_windows": [],
                "_source": video,
            }
            for i, (query, qid) in enumerate(zip(queries, qids))
        ]
        dataset = _source_dataset(self.dataset_cls)(
            "<lavis.inference>",
            ".",
            self.processor,
            video_ext="",
            seed=self.seed,
            records=records,
            **self.dataset_kwargs,
        )
        first = dataset[0]
        samples = [first]
        for index in range(1, len(records)):
            sample = dict(first, qid=records[index]["qid"], index=index)
            sample.update(dataset.fields(records[index], None))
            samples.append(sample)
        return samples

    # --- the other task families: entry points that systems fill in ----------------------------------

    def multiple_choice(
        self, video: VideoSource, question: str, options: Sequence[str]
    ) -> MultipleChoiceResult:
        """The chosen option among ``options`` (and the keyframes, for systems that select them)."""
        self._require("multiple_choice_qa")
        return self.model.predict_multiple_choice(self, video, question, list(options))

    def answer(self, video: VideoSource, question: str) -> TextResult:
        """A free-text answer to ``question``."""
        self._require("open_qa")
        return self.model.predict_open_qa(self, video, question)

    def caption(self, video: VideoSource) -> TextResult:
        """A description of the video."""
        self._require("captioning")
        return self.model.predict_caption(self, video)

    def classify(self, video: VideoSource, labels: Sequence[str] | None = None) -> ClassificationResult:
        """Class labels with scores (among ``labels`` when the system picks from a given list)."""
        self._require("classification")
        return self.model.predict_classification(self, video, labels)

    def predict(self, family: str, video: VideoSource, **inputs: Any) -> Any:
        """Dispatch by task family name: ``predict("moment_retrieval", video, query=...)``."""
        methods = {
            "moment_retrieval": self.moments,
            "multiple_choice_qa": self.multiple_choice,
            "open_qa": self.answer,
            "captioning": self.caption,
            "classification": self.classify,
        }
        if family not in methods:
            raise ConfigError(f"unknown task family {family!r}; one of: {', '.join(methods)}")
        return methods[family](video, **inputs)


_SOURCE_DATASETS: dict[type, type] = {}


def _source_dataset(cls: type) -> type:
    """``cls`` reading each record's video from its ``_source`` (a path or in-memory bytes)."""
    if cls not in _SOURCE_DATASETS:
        _SOURCE_DATASETS[cls] = type(
            f"Inference{cls.__name__}", (cls,), {"video_path": lambda self, rec: rec["_source"]}
        )
    return _SOURCE_DATASETS[cls]


def load_model(
    name: str | None = None,
    model_type: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    config: str | os.PathLike | None = None,
    options: Sequence[str] = (),
    num_frames: int | None = None,
) -> Predictor:
    """Build a model for prediction, with its evaluation processors.

    ``name``: registry name or alias (``mr_blip``), optional when the checkpoint or ``config`` names it;
    ``model_type``: preset (``tiny``, ``pretrain_flant5xl``); ``checkpoint``: fine-tuned weights (a runner
    checkpoint also brings its experiment config); ``config``: an experiment YAML instead;
    ``options``: ``key=value`` overrides as with ``--options``; ``device``: default ``cuda`` if available.
    """
    from lavis.runners.runner_base import AMP_DTYPES, set_seed

    arch = ALIASES.get(name, name) if name else None
    options = list(options)
    if checkpoint is not None:
        checkpoint = str(checkpoint)
        if not Path(checkpoint).is_file():
            raise CheckpointError(f"Checkpoint not found: {checkpoint}")
        options.append(f"model.finetuned={checkpoint}")
    if model_type:
        options.append(f"model.model_type={model_type}")
    cfg = _experiment_config(arch, checkpoint, config, options)
    if arch and cfg is not None and cfg.model.arch != arch:
        raise ConfigError(f"the checkpoint/config is a {cfg.model.arch!r} model, not {arch!r}")

    if cfg is not None:
        task = registry.tasks.get(cfg.run.task).setup_task(cfg)
        set_seed(cfg.run.seed)  # as evaluation: same initialisation of anything the files do not hold
        model = task.build_model(cfg)
        ds_name, ds_cfg = next(iter(cfg.datasets.items()))
        builder = registry.builders.get(ds_name)(ds_cfg, name=ds_name, seed=cfg.run.seed)
        processor = builder.processor_for("test")
        if num_frames:
            processor.cfg.n_frms = int(num_frames)
        dataset_cls, kwargs = _dataset_of(builder)
        generation, seed, amp = task.generation, int(cfg.run.seed), str(cfg.run.amp)
        arch = str(cfg.model.arch)
    else:
        if not arch:
            raise ConfigError("name the model (e.g. 'mr_blip') or give a checkpoint/config that names it")
        from omegaconf import OmegaConf

        from lavis.common.config import build_config, parse_options

        model_cls = registry.models.get(arch)
        preset = model_type or model_cls.Config.model_type  # the class's default preset, not bare defaults
        base = {"model": {"arch": arch, "model_type": preset}, "run": {"task": "moment_retrieval"}}
        user = OmegaConf.merge(OmegaConf.create(base), parse_options(options))
        cfg_model = build_config(user, source="<lavis.load_model>").model
        set_seed(42)
        model = model_cls.from_config(cfg_model)
        processor = build_processor(
            {
                "name": "video_eval",
                "n_frms": int(num_frames or DEFAULT_NUM_FRAMES),
                "image_size": int(cfg_model.vision.img_size),
            },
            path="<lavis.load_model> processor",
        )
        from lavis.datasets.moment_retrieval import MomentRetrievalDataset

        dataset_cls, kwargs, generation, seed, amp = MomentRetrievalDataset, {}, GenerationConfig(), 42, "off"

    dev = (
        torch.device(device)
        if device is not None
        else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    if dev.type == "cuda" and not torch.cuda.is_available():
        logger.warning("CUDA is not available: running on the CPU")
        dev = torch.device("cpu")
    model.prepare_for_device(dev)
    model.eval()
    amp_dtype = AMP_DTYPES.get(amp) if (amp != "fp16" or dev.type == "cuda") else None
    return Predictor(
        name=arch,
        model=model,
        processor=processor,
        dataset_cls=dataset_cls,
        dataset_kwargs=kwargs,
        generation=generation,
        device=dev,
        amp_dtype=amp_dtype,
        config=cfg,
        checkpoint=checkpoint,
        seed=seed,
    )


def _experiment_config(
    arch: str | None, checkpoint: str | None, config: Any, options: list[str]
) -> Config | None:
    """The experiment config to build from: ``config``, else the one a runner checkpoint embeds, else None."""
    if config is not None:
        from lavis.common.config import load_config

        return load_config(config, options)
    if checkpoint is None:
        return None
    from lavis.common.checkpoint import load_checkpoint

    embedded = load_checkpoint(checkpoint).get("config")
    if not isinstance(embedded, dict) or "model" not in embedded:
        return None
    try:
        return config_from_dict(embedded, options)
    except ConfigError as err:
        if arch is None:
            raise ConfigError(
                f"{checkpoint} embeds a config this framework cannot read ({err}); name the model and model_type"
            ) from None
        logger.warning(
            "Ignoring the config embedded in %s (%s); building %s from its preset", checkpoint, err, arch
        )
        return None


def _dataset_of(builder: Any) -> tuple[type, dict[str, Any]]:
    """The dataset class a builder makes for evaluation and the constructor arguments that shape a sample."""
    from lavis.datasets.moment_retrieval import MomentRetrievalDataset

    dataset_cls = getattr(builder, "dataset_cls", MomentRetrievalDataset)
    kwargs: dict[str, Any] = {}
    if hasattr(builder, "audio_kwargs"):
        kwargs.update(builder.audio_kwargs())
    if hasattr(builder, "dataset_kwargs"):
        kwargs.update(builder.dataset_kwargs("test"))
    return dataset_cls, kwargs


def video_thumbnails(video: VideoSource, count: int = 8, height: int = 72) -> list[tuple[float, Any]]:
    """``count`` frames at segment midpoints as ``(seconds, HxWx3 uint8 array)``, ``height`` pixels high.

    Frames are decoded one at a time at their native size and shrunk at once, so a 4K video costs one frame
    of memory, not ``count``.
    """
    import numpy as np
    from PIL import Image

    from lavis.datasets.video import segment_indices

    reader = open_video(video)
    fps = float(reader.get_avg_fps()) or 1.0
    out = []
    for index in segment_indices(0, len(reader), count, "middle"):
        image = Image.fromarray(reader[index].asnumpy())
        width = max(1, round(image.width * height / max(image.height, 1)))
        out.append((index / fps, np.asarray(image.resize((width, height), Image.BILINEAR))))
    return out
