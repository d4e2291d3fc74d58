"""Turn each video's audio into ``srts/<video>.srt`` for CALCE with a local ASR model.

CALCE's README says "download caption files (or extract by Whisper)" without naming the model, so the
model path is an argument. The transcriber is injectable so file handling is testable without a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from lavis.common.errors import ConfigError
from lavis.common.io import atomic_open
from lavis.datasets.subtitles import Cue

Transcriber = Callable[[Path], list[Cue]]


def srt_time(seconds: float) -> str:
    """Seconds → ``HH:MM:SS,mmm``."""
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def format_srt(cues: Iterable[Cue]) -> str:
    """SRT text for ``cues`` (1-based indices)."""
    blocks = [f"{i}\n{srt_time(c.start)} --> {srt_time(c.end)}\n{c.text}\n" for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def whisper_transcriber(model_path: str | Path) -> Transcriber:
    """A transcriber backed by a local Whisper checkpoint; a missing path is a ConfigError."""
    model_path = Path(model_path)
    if not model_path.exists():
        raise ConfigError(
            f"ASR model path does not exist: {model_path} (set --model-path to a local Whisper)"
        )
    from transformers import pipeline  # imported lazily: heavy, only needed for real runs

    asr = pipeline("automatic-speech-recognition", model=str(model_path), return_timestamps=True)

    def run(video: Path) -> list[Cue]:
        chunks = asr(str(video))["chunks"]
        return [
            Cue(float(c["timestamp"][0]), float(c["timestamp"][1] or c["timestamp"][0]), c["text"].strip())
            for c in chunks
        ]

    return run


def transcribe_all(
    videos: Iterable[Path], out_dir: Path, transcriber: Transcriber, overwrite: bool = False
) -> int:
    """Write ``out_dir/<stem>.srt`` per video atomically; existing files are kept unless ``overwrite``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for video in videos:
        target = out_dir / f"{Path(video).stem}.srt"
        if target.exists() and not overwrite:
            continue
        with atomic_open(target, "w", encoding="utf-8") as f:
            f.write(format_srt(transcriber(Path(video))))
        written += 1
    return written
