"""SRT subtitles for CALCE: parse, merge Whisper repeats, speech spans, English/filler filter.

CALCE (Xie et al., TIP 2025) puts audio captions into the prompt. The reference reader accepts a
cue index line, a ``start --> end`` line and text lines; we keep those semantics but report a
malformed timing line with ``file:line`` instead of crashing deep inside ``strptime``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

from lavis.common.errors import DataError

FILLER_WORDS = frozenset({"the", "a", "o", "oh", "yeah", "uh", "ah", "yep", "uh-no", "hmm"})
_TIME = re.compile(r"^\s*(\d+):(\d{2}):(\d{2})[,.](\d{1,3})\s*$")
_WORD = re.compile(r"^[a-zA-Z]+$")


@dataclass(frozen=True)
class Cue:
    """One subtitle cue; times in seconds relative to the clip start."""

    start: float
    end: float
    text: str


def _parse_time(value: str, where: str) -> float:
    match = _TIME.match(value)
    if match is None:
        raise DataError(f"{where}: bad SRT time {value.strip()!r} (expected HH:MM:SS,mmm)")
    hours, minutes, seconds, millis = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def parse_srt(text: str, source: str = "<srt>") -> list[Cue]:
    """Parse SRT text into cues; a digit-only line starts a cue (reference quirk kept)."""
    cues: list[Cue] = []
    start = end = None
    words: list[str] = []

    def flush() -> None:
        if start is not None:
            cues.append(Cue(start, end, " ".join(words)))

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        where = f"{source}:{number}"
        if not line:
            continue
        if line.isdigit():
            flush()
            start = end = None
            words = []
        elif "-->" in line:
            left, _, right = line.partition("-->")
            start, end = _parse_time(left, where), _parse_time(right, where)
            if end < start:
                raise DataError(f"{where}: cue ends before it starts ({line!r})")
        else:
            if start is None:
                raise DataError(f"{where}: subtitle text before any 'start --> end' line")
            words.append(line)
    flush()
    return cues


def read_srt(path: str | Path) -> list[Cue]:
    """Read and parse one SRT file; a missing file is a located DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"subtitle file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {err.start}); re-save the subtitles as UTF-8") from None
    return parse_srt(text, source=str(path))


def combine_repeats(cues: list[Cue]) -> list[Cue]:
    """Merge runs of touching cues with identical text (Whisper repetition): first start, last end."""
    out: list[Cue] = []
    for cue in cues:
        if out and out[-1].end == cue.start and out[-1].text == cue.text:
            out[-1] = Cue(out[-1].start, cue.end, out[-1].text)
        else:
            out.append(cue)
    return out


def speech_spans(cues: list[Cue], gap: float = 2.5) -> list[tuple[float, float]]:
    """Greedy union of raw cues whose start is within ``gap`` s of the running end (for key frames)."""
    spans: list[list[float]] = []
    for cue in cues:
        if spans and cue.start <= spans[-1][1] + gap:
            spans[-1][1] = cue.end
        else:
            spans.append([cue.start, cue.end])
    return [(s, e) for s, e in spans]


def clean_text(text: str, min_english: float = 0.8) -> str | None:
    """Lower-case, strip punctuation, drop mostly non-English cues and filler words; None = drop."""
    words = text.translate(str.maketrans("", "", string.punctuation)).lower().split()
    if not words or sum(bool(_WORD.match(w)) for w in words) < min_english * len(words):
        return None
    kept = [w for w in words if w not in FILLER_WORDS]
    return " ".join(kept) if kept else None


def load_subtitles(path: str | Path) -> tuple[list[Cue], list[tuple[float, float]]]:
    """Return (filtered prompt cues, speech spans from the raw cues) as the CALCE dataset does."""
    raw = read_srt(path)
    kept = []
    for cue in combine_repeats(raw):
        text = clean_text(cue.text)
        if text is not None:
            kept.append(Cue(cue.start, cue.end, text))
    return kept, speech_spans(raw)
