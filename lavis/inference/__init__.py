"""Prediction on any video: ``load_model`` → :class:`Predictor` with one method per task family."""

from lavis.inference.api import ALIASES, TASK_FAMILIES, Predictor, load_model, model_capabilities, probe_video
from lavis.inference.results import (
    ClassificationResult,
    MomentRetrievalResult,
    MultipleChoiceResult,
    TextResult,
    VideoInfo,
    Window,
)

__all__ = [
    "ALIASES",
    "TASK_FAMILIES",
    "ClassificationResult",
    "MomentRetrievalResult",
    "MultipleChoiceResult",
    "Predictor",
    "TextResult",
    "VideoInfo",
    "Window",
    "load_model",
    "model_capabilities",
    "probe_video",
]
