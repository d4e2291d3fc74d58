"""A synthetic moment-retrieval benchmark made of real mp4 files, for the CPU demo and for tests.

Each video shows a textured, noisy background. During an event either the whole picture takes a colour
(``event_style: tint``, query "the screen turns red"), a coloured shape is on screen at a fixed place
(``shape``, query "a red circle appears"), or -- for the audio models -- the picture never changes and a
tone of some pitch plays over a quiet noise floor (``tone``, query "a high tone sounds"): only the audio
track tells where the event is. Videos hold ``min_events``..``max_events`` events of different
colours at random times, and every event gets a query. Where an event sits changes from video to video, so
neither the query text nor a prior over positions gives the answer: the model has to look at the frames.
Files are written with PyAV and read back through the same decord path as real data.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lavis.common.io import read_json, write_json
from lavis.common.logger import progress

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 80, 230),
    "yellow": (235, 215, 40),
    "white": (240, 240, 240),
    "purple": (150, 50, 200),
}
SHAPES = ("circle", "square")
PITCHES = {"low": 330.0, "middle": 880.0, "high": 2200.0}  # Hz, for event_style "tone"
AUDIO_RATE = 48000
EVENT_STYLES = ("shape", "tint", "tone")
DISTRACTOR_GREY = (150, 150, 150)


@dataclass
class SyntheticSpec:
    """Everything that determines the generated files (its hash names the cache folder)."""

    num_videos: dict[str, int] = field(default_factory=lambda: {"train": 600, "val": 60, "test": 100})
    min_duration: float = 10.0
    max_duration: float = 30.0
    fps: int = 2
    frame_size: int = 32
    min_events: int = 2
    max_events: int = 3
    min_event_fraction: float = 0.25  # event length as a fraction of the video
    max_event_fraction: float = 0.5
    min_shape_radius: float = 0.16  # shape radius as a fraction of the frame side (>= 0.5: fills the frame)
    max_shape_radius: float = 0.24
    overlap: bool = True  # False: events never share a frame
    colours: list[str] = field(default_factory=lambda: list(COLOURS))  # the palette events draw from
    distractors: int = 0  # grey shapes shown at random times that no query mentions
    event_style: str = "shape"  # shape | tint (the whole frame takes the event's colour) | tone (audio only)
    seed: int = 1234

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    level = rng.uniform(40, 100)
    coarse = rng.normal(0, 18, size=(4, 4, 3))
    texture = np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1, 1)))[:size, :size]
    return np.clip(level + texture, 0, 255)


def _shape_mask(shape: str, spec: SyntheticSpec, rng: np.random.Generator) -> np.ndarray:
    size = spec.frame_size
    radius = rng.uniform(spec.min_shape_radius, spec.max_shape_radius) * size
    cy, cx = rng.uniform(min(radius, size / 2), max(size - radius, size / 2), size=2)
    yy, xx = np.mgrid[:size, :size]
    if shape == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    return (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius)


def _events(rng: np.random.Generator, spec: SyntheticSpec, n_frames: int) -> list[dict[str, Any]]:
    count = int(rng.integers(spec.min_events, spec.max_events + 1))
    if spec.event_style == "tone":  # an event's "colour" is then its pitch
        if spec.max_events > len(PITCHES):
            raise ValueError(f"event_style tone has {len(PITCHES)} pitches; max_events is {spec.max_events}")
        colours = rng.choice(list(PITCHES), size=count, replace=False)
    else:
        unknown = set(spec.colours) - set(COLOURS)
        if unknown or len(spec.colours) < spec.max_events:
            raise ValueError(f"spec.colours must hold >= max_events of {sorted(COLOURS)}, got {spec.colours}")
        colours = rng.choice(list(spec.colours), size=count, replace=False)
    lengths = [
        max(1, int(round(rng.uniform(spec.min_event_fraction, spec.max_event_fraction) * n_frames))) for _ in colours
    ]
    if spec.overlap:
        starts = [int(rng.integers(0, n_frames - length + 1)) for length in lengths]
    else:
        while sum(lengths) > n_frames:  # shrink the longest until they fit side by side
            lengths[int(np.argmax(lengths))] -= 1
        gaps = rng.multinomial(n_frames - sum(lengths), [1 / (count + 1)] * (count + 1))
        starts, t = [], 0
        for gap, length in zip(gaps, lengths):
            starts.append(t + int(gap))
            t += int(gap) + length
    return [
        {"colour": str(c), "shape": str(rng.choice(SHAPES)), "start": s, "end": s + length}
        for c, s, length in zip(colours, starts, lengths)
    ]


def query_for(event: dict[str, Any], style: str) -> str:
    if style == "tone":
        return f"a {event['colour']} tone sounds"
    if style == "tint":
        return f"the screen turns {event['colour']}"
    return f"a {event['colour']} {event['shape']} appears"


def write_video(path: Path, frames: np.ndarray, fps: int, audio: np.ndarray | None = None) -> None:
    """An H.264 mp4 of ``frames`` (T, H, W, 3) uint8, plus a mono AAC track of ``audio`` (S,) at AUDIO_RATE."""
    import av

    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "ultrafast"}
        if audio is not None:
            sound = container.add_stream("aac", rate=AUDIO_RATE)
            sound.layout = "mono"
            for start in range(0, len(audio), 1024):
                chunk = np.ascontiguousarray(audio[None, start : start + 1024], dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = AUDIO_RATE, start
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def tone_track(rng: np.random.Generator, events: list[dict[str, Any]], n_frames: int, fps: int) -> np.ndarray:
    """A quiet noise floor with each event's tone (its pitch) from its first frame to its end."""
    samples = int(round(n_frames / fps * AUDIO_RATE))
    track = rng.normal(0, 0.01, size=samples)
    t = np.arange(samples) / AUDIO_RATE
    for event in events:
        inside = slice(int(round(event["start"] / fps * AUDIO_RATE)), int(round(event["end"] / fps * AUDIO_RATE)))
        track[inside] += 0.3 * np.sin(2 * np.pi * PITCHES[event["colour"]] * t[inside])
    return track.astype(np.float32)


def make_video(
    rng: np.random.Generator, spec: SyntheticSpec
) -> tuple[np.ndarray, list[dict[str, Any]], np.ndarray | None]:
    """Frames, events and (``tone`` style) the audio track of one video."""
    duration = rng.uniform(spec.min_duration, spec.max_duration)
    n_frames = max(8, int(round(duration * spec.fps)))
    size = spec.frame_size
    background = _background(rng, size)
    frames = np.repeat(background[None], n_frames, axis=0)
    frames += rng.normal(0, 4, size=frames.shape)  # sensor noise, so frames are never identical
    events = _events(rng, spec, n_frames)
    for _ in range(spec.distractors):
        length = max(1, int(round(rng.uniform(spec.min_event_fraction, spec.max_event_fraction) * n_frames)))
        start = int(rng.integers(0, n_frames - length + 1))
        frames[start : start + length, _shape_mask(str(rng.choice(SHAPES)), spec, rng)] = DISTRACTOR_GREY
    if spec.event_style == "tone":  # the picture stays as it is: the events are only heard
        return np.clip(frames, 0, 255).astype(np.uint8), events, tone_track(rng, events, n_frames, spec.fps)
    for event in events:
        if spec.event_style == "tint":
            tinted = 0.25 * frames[event["start"] : event["end"]] + 0.75 * np.asarray(COLOURS[event["colour"]])
            frames[event["start"] : event["end"]] = tinted
        else:
            mask = _shape_mask(event["shape"], spec, rng)
            frames[event["start"] : event["end"], mask] = COLOURS[event["colour"]]
    return np.clip(frames, 0, 255).astype(np.uint8), events, None


def generate(root: Path, spec: SyntheticSpec, show_progress: bool = True) -> Path:
    """Write videos and ``{split}.json`` annotations under ``root/<spec digest>``; reuse them if present."""
    if spec.event_style not in EVENT_STYLES:
        raise ValueError(f"event_style must be one of {EVENT_STYLES}, got {spec.event_style!r}")
    folder = Path(root) / f"spec_{spec.digest()}"
    if (folder / "manifest.json").is_file():
        return folder
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "videos").mkdir(parents=True)
    rng = np.random.default_rng(spec.seed)
    total = sum(spec.num_videos.values())
    jobs = [(split, i) for split, n in spec.num_videos.items() for i in range(n)]
    records: dict[str, list[dict[str, Any]]] = {split: [] for split in spec.num_videos}
    for split, i in progress(jobs, total=total, desc="generating synthetic videos", enabled=show_progress):
        frames, events, audio = make_video(rng, spec)
        vid = f"{split}_{i:05d}"
        write_video(tmp / "videos" / f"{vid}.mp4", frames, spec.fps, audio)
        duration = round(len(frames) / spec.fps, 2)
        for k, event in enumerate(events):
            records[split].append(
                {
                    "video": vid,
                    "qid": f"synthetic_{vid}_{k}",
                    "query": query_for(event, spec.event_style),
                    "duration": duration,
                    "relevant_windows": [[round(event["start"] / spec.fps, 2), round(event["end"] / spec.fps, 2)]],
                }
            )
    for split, recs in records.items():
        write_json(tmp / f"{split}.json", recs, indent=None)
    write_json(tmp / "manifest.json", {"spec": asdict(spec), "counts": {k: len(v) for k, v in records.items()}})
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def qa_question(style: str) -> str:
    return "what colour does the screen turn first?" if style == "tint" else "what colour is the first shape?"


def write_qa_annotations(folder: Path, spec: SyntheticSpec) -> None:
    """``{split}_qa.json`` beside the moment-retrieval files: per video, which colour comes first.

    Derived from the generated ``{split}.json`` (each event's window and colour), so the videos and the
    moment-retrieval data are untouched and already-generated folders gain the QA files.
    """
    for split in spec.num_videos:
        target = folder / f"{split}_qa.json"
        if target.is_file():
            continue
        first: dict[str, dict[str, Any]] = {}
        for rec in read_json(folder / f"{split}.json"):
            if rec["video"] not in first or rec["relevant_windows"][0][0] < first[rec["video"]]["relevant_windows"][0][0]:
                first[rec["video"]] = rec
        records = [
            {
                "video": vid,
                "qid": f"synthetic_qa_{vid}",
                "question": qa_question(spec.event_style),
                "answer": next(c for c in spec.colours if c in rec["query"].split()),
                "duration": rec["duration"],
            }
            for vid, rec in sorted(first.items())
        ]
        write_json(target, records, indent=None)


def write_tal_annotations(folder: Path, spec: SyntheticSpec) -> None:
    """``{split}_tal.json``: one record per video listing every event as ``[start, end, colour]`` in time
    order, with an empty query -- temporal action localization with the colours as the classes."""
    for split in spec.num_videos:
        target = folder / f"{split}_tal.json"
        if target.is_file():
            continue
        videos: dict[str, dict[str, Any]] = {}
        for rec in read_json(folder / f"{split}.json"):
            colour = rec["query"].split()[-1] if spec.event_style == "tint" else rec["query"].split()[1]
            entry = videos.setdefault(
                rec["video"],
                {"video": rec["video"], "qid": f"synthetic_tal_{rec['video']}", "query": "",
                 "duration": rec["duration"], "relevant_windows": []},
            )
            entry["relevant_windows"].append([*rec["relevant_windows"][0][:2], colour])
        for entry in videos.values():
            entry["relevant_windows"].sort(key=lambda w: (w[0], w[1]))
        write_json(target, [videos[v] for v in sorted(videos)], indent=None)


def _srt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_subtitles(folder: Path, spec: SyntheticSpec, cue_seconds: float = 1.0) -> Path:
    """``folder/srts/<video>.srt`` for CALCE: a speaker announces each event as it starts.

    The cue ("look, the screen turns red") opens at the event's start and lasts ``cue_seconds``, so the
    subtitles carry half of the answer (where the event starts, not where it ends). Written once; reused.
    """
    target = Path(folder) / "srts"
    if (target / "done").is_file():
        return target
    target.mkdir(exist_ok=True)
    cues: dict[str, list[tuple[float, float, str]]] = {}
    for split in spec.num_videos:
        for rec in read_json(Path(folder) / f"{split}.json"):
            start = rec["relevant_windows"][0][0]
            end = min(start + cue_seconds, rec["duration"])
            cues.setdefault(rec["video"], []).append((start, end, f"look, {rec['query']}"))
    for video, entries in cues.items():
        blocks = [
            f"{i}\n{_srt_time(s)} --> {_srt_time(e)}\n{text}\n"
            for i, (s, e, text) in enumerate(sorted(entries), start=1)
        ]
        (target / f"{video}.srt").write_text("\n".join(blocks), encoding="utf-8")
    (target / "done").write_text("")
    return target
