"""Typed results of :class:`~lavis.inference.Predictor`: one dataclass per task family, each with ``to_dict()``.

Times are seconds (float). A moment-retrieval window's ``score`` is its rank turned into a strictly
decreasing number (generated windows carry no score of their own), as in the QVHighlights submission file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class VideoInfo:
    """What was read from a video file before sampling frames."""

    path: str
    duration: float  # seconds: number of frames / average frame rate (as the datasets compute it)
    fps: float
    num_frames: int
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Window:
    start: float
    end: float
    score: float

    def to_list(self) -> list[float]:
        return [self.start, self.end, self.score]


@dataclass
class MomentRetrievalResult:
    """Ranked windows for one (video, query): ``windows[0]`` is the model's best answer."""

    video: str
    query: str
    duration: float
    windows: list[Window]  # valid windows, clipped to [0, duration], best first
    raw_windows: list[list[float]]  # as parsed from the text (seconds, unclipped; [-1, -1] = unreadable)
    text: str  # the generated text (after the parser's repairs)
    valid: bool  # the top-ranked window was readable
    model: str = ""
    frame_times: list[float] = field(default_factory=list)  # timestamps of the frames the model saw
    qid: str | None = None

    @property
    def best(self) -> Window | None:
        return self.windows[0] if self.windows else None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "qid": self.qid,
            "video": self.video,
            "query": self.query,
            "duration": self.duration,
            "pred_relevant_windows": [w.to_list() for w in self.windows],
            "raw_windows": self.raw_windows,
            "text": self.text,
            "valid": self.valid,
            "model": self.model,
            "frame_times": self.frame_times,
        }
        if self.qid is None:
            del out["qid"]
        return out


@dataclass
class MultipleChoiceResult:
    """Multiple-choice QA: the chosen option, per-option scores, and the keyframes a system selected."""

    video: str
    question: str
    options: list[str]
    answer_index: int
    scores: list[float] = field(default_factory=list)
    keyframes: list[float] = field(default_factory=list)  # seconds
    model: str = ""

    @property
    def answer(self) -> str:
        return self.options[self.answer_index]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "answer": self.answer}


@dataclass
class TextResult:
    """Open-ended QA (``question`` set) or captioning (``question`` None): generated text, best first."""

    video: str
    text: str
    question: str | None = None
    candidates: list[str] = field(default_factory=list)
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ClassificationResult:
    """Classification: labels with scores, best first."""

    video: str
    labels: list[str]
    scores: list[float]
    model: str = ""

    @property
    def label(self) -> str:
        return self.labels[0]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "label": self.label}


def rank_scores(count: int) -> list[float]:
    """Scores for ``count`` windows in rank order: 1.0, 0.999, ... (the submission file's rule)."""
    return [round(1.0 - 0.001 * k, 3) for k in range(count)]


def clip_windows(raw: list[list[Any]], duration: float) -> list[Window]:
    """Readable windows inside ``[0, duration]`` with rank scores; unreadable or empty ones are dropped.

    The score follows the rank in the generated list (including dropped entries), so the kept windows keep
    the scores the evaluation would give them.
    """
    out = []
    for (start, end, *_), score in zip(raw, rank_scores(len(raw))):
        if start < 0 or end < 0:
            continue
        lo, hi = sorted((float(start), float(end)))
        lo, hi = min(max(lo, 0.0), duration), min(max(hi, 0.0), duration)
        if hi <= lo:
            continue
        out.append(Window(round(lo, 3), round(hi, 3), score))
    return out
