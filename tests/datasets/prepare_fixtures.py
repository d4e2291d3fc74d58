"""Small synthetic stand-ins for the official downloads, and tiny videos, for the data-preparation tests.

Everything is made up (no real annotation text, no Charades data): only the *formats* of the official
files are reproduced, so these fixtures can live in the repository.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np


def make_video(path: Path, seconds: float = 3.0, fps: int = 10, size: tuple[int, int] = (32, 32), seed: int = 0,
               codec: str = "libx264") -> Path:
    """A tiny H.264 mp4 (yuv420p) with random frames, so every frame differs."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(int(round(seconds * fps))):
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")  # no trailing newline, like QVH


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_qvh(root: Path, with_gt: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)

    def row(qid: int, vid: str, windows=None) -> dict:
        out = {"qid": qid, "query": f"query number {qid}", "duration": 150, "vid": vid}
        if windows is not None:
            out.update(relevant_windows=windows, relevant_clip_ids=[], saliency_scores=[])
        return out

    _jsonl(root / "highlight_train_release.jsonl", [row(1, "vidA_0.0_150.0", [[0, 10], [20, 36]]),
                                                    row(2, "vidB_0.0_150.0", [[100, 150]]),
                                                    row(3, "vidC_0.0_150.0", [[4, 6]])])
    _jsonl(root / "highlight_val_release.jsonl", [row(11, "vidD_0.0_150.0", [[2, 8]]),
                                                  row(12, "vidE_0.0_150.0", [[40, 150]])])
    test = [row(21, "vidF_0.0_150.0", [[10, 20]]), row(22, "vidG_0.0_150.0", [[0, 2]])]
    _jsonl(root / "highlight_test_release.jsonl", [{k: v for k, v in r.items() if k in ("qid", "query", "duration",
                                                                                          "vid")} for r in test])
    if with_gt:
        _jsonl(root / "highlight_test_with_gt.jsonl", test)
    return root


def write_charades(root: Path) -> Path:
    """6 train videos, 2 test videos; one window ends past its video (to be clamped)."""
    root.mkdir(parents=True, exist_ok=True)
    header = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects", "descriptions",
              "actions", "length"]
    train_ids = ["TR001", "TR002", "TR003", "TR004", "TR005", "TR006"]
    _csv(root / "Charades_v1_train.csv", header,
         [[v, "S", "Kitchen", 5, 6, "Yes", "a script, with a comma", "cup;table", "d", "", 30.5 + i]
          for i, v in enumerate(train_ids)])
    _csv(root / "Charades_v1_test.csv", header,
         [[v, "S", "Bedroom", 5, 6, "Yes", "s", "bed", "d", "", 20.25] for v in ["TE001", "TE002"]])
    lines = []
    for i, v in enumerate(train_ids):
        lines.append(f"{v} 0.0 6.9##a person opens door {i}.")
        if i % 2 == 0:
            lines.append(f"{v} 10.4 {31.5 + i}##a person sits down {i}.")  # ends 1 s past the video
    (root / "charades_sta_train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "charades_sta_test.txt").write_text(
        "TE001 1.2 5.5##person holds a cup.\nTE001 2.0 9.9##person drinks.\nTE002 0.0 3.3##person lies down.\n",
        encoding="utf-8",
    )
    return root


def write_anet(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)

    def video(duration: float, stamps: list, sentences: list) -> dict:
        return {"duration": duration, "timestamps": stamps, "sentences": sentences}

    data = {
        "train.json": {"v_aaa": video(82.73, [[0.83, 19.86], [17.37, 82.9]], ["A woman dances.", " She bows. "]),
                       "v_bbb": video(61.72, [[0, 2.78], [40.5, 39.1]], ["Title.", " A man talks."])},
        "val_1.json": {"v_ccc": video(55.15, [[0.28, 55.15]], ["A tutorial is given."])},
        "val_2.json": {"v_ccc": video(55.15, [[0, 4.14], [4.14, 33.36]], [" Two men talk.", " They lift."])},
    }
    for name, content in data.items():
        (root / name).write_text(json.dumps(content), encoding="utf-8")
    return root


def write_anet_tal(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    database = {
        "aaa": {"subset": "training", "duration": 120.5, "resolution": "640x360", "url": "",
                "annotations": [{"segment": [3.2, 60.1], "label": "Beer pong"},
                                {"segment": [70.0, 121.0], "label": "Beer pong"}]},
        "bbb": {"subset": "validation", "duration": 30.0, "resolution": "640x360", "url": "",
                "annotations": [{"segment": [0.0, 12.5], "label": "Knitting"}]},
        "ccc": {"subset": "testing", "duration": 50.0, "resolution": "640x360", "url": "", "annotations": []},
    }
    content = {"version": "VERSION 1.3", "taxonomy": [], "database": database}
    (root / "activity_net.v1-3.min.json").write_text(json.dumps(content), encoding="utf-8")
    return root


NEXT_HEADER = ["frame_count", "width", "height", "question", "answer", "qid", "type", "a0", "a1", "a2", "a3", "a4"]


def write_nextqa(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    header = ["video", *NEXT_HEADER]
    rows = {
        "val.csv": [[1001, 300, 640, 480, "what does the man do", 2, 0, "CW", "sit", "run", "jump", "eat", "sleep"],
                    [1001, 300, 640, 480, "how does he feel", 0, 3, "TC", "happy", "sad", "bored", "calm", "tired"]],
        "test.csv": [[2002, 300, 640, 480, "why did the dog bark", 4, 1, "CH", "a", "b", "c", "d", "e"]],
    }
    for name, content in rows.items():
        _csv(root / name, header, content)
    (root / "map_vid_vidorID.json").write_text(json.dumps({"1001": "0001/1001", "2002": "0002/2002"}))
    return root


def write_nextgqa(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    header = ["video_id", *NEXT_HEADER]
    _csv(root / "val.csv", header,
         [[1001, 300, 640, 480, "what does the man do", "jump", 0, "CW", "sit", "run", "jump", "eat", "sleep"]])
    _csv(root / "test.csv", header,
         [[2002, 300, 640, 480, "why did the dog bark", "e", 1, "CH", "a", "b", "c", "d", "e"]])
    (root / "gsub_val.json").write_text(json.dumps(
        {"1001": {"duration": 10, "location": {"0": [[-0.1, 4.5], [6.0, 10.4]]}, "fps": 29.97}}))
    (root / "gsub_test.json").write_text(json.dumps(
        {"2002": {"duration": 12, "location": {"1": [[1.5, 3]]}, "fps": 25}}))
    (root / "map_vid_vidorID.json").write_text(json.dumps({"1001": "0001/1001", "2002": "0002/2002"}))
    return root


def write_all_downloads(root: Path) -> dict[str, Path]:
    """One folder per dataset, laid out like the official downloads."""
    return {
        "qvh": write_qvh(root / "qvh"),
        "charades_sta": write_charades(root / "charades_sta"),
        "anet": write_anet(root / "anet"),
        "anet_tal": write_anet_tal(root / "anet_tal"),
        "nextqa": write_nextqa(root / "nextqa"),
        "nextgqa": write_nextgqa(root / "nextgqa"),
    }
