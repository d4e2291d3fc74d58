"""Small synthetic stand-ins for the official downloads, tiny videos and frame folders, for the data tests.

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


def _json(path: Path, content) -> None:
    path.write_text(json.dumps(content, indent=4), encoding="utf-8")  # MA-LMM's files are indented


# ------------------------------------------------------------------------------ MA-LMM (annotation/*.json)

LVU_LABEL = {"director": "ridley", "genre": "comedy", "relationship": "husband wife", "scene": "prison",
             "way_speaking": "teach", "writer": "akiva", "year": "5"}


def write_lvu(root: Path) -> Path:
    """Every task in every split: one single-task video per task, plus one video labelled for two tasks.

    With --history 100 --stride 20, durations give 1 window (99 s: [0, 99]), 2 windows (130 s: starts
    0, 20), 5 windows (180 s) and 4 windows (160 s).
    """
    root.mkdir(parents=True, exist_ok=True)
    durations = [130, 99, 180, 130, 99, 180, 130]
    for split in ("train", "val", "test"):
        content = {}
        for i, (task, label) in enumerate(LVU_LABEL.items()):
            content[f"{split}-{task}"] = {"subset": split, "duration": durations[i], "num_frames": durations[i] * 12,
                                          task: label, f"{task}_answer": "(c)"}
        content[f"{split}-both"] = {"subset": split, "duration": 160, "num_frames": 1900, "director": "steven",
                                    "director_answer": "(a)", "genre": "action", "genre_answer": "(b)"}
        _json(root / f"{split}.json", content)
    return root


def write_breakfast(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)

    def video(duration, frames, name, label):
        return {"duration": duration, "frame_length": frames, "class_name": name, "class_label": label}

    _json(root / "train.json", {"P03-cam01-P03_friedegg": video(160, 1591, "fried egg", 4),
                                "P28-cam01-P28_cereals": video(46, 452, "cereal", 0),  # excluded by MA-LMM
                                "P03-webcam01-P03_salat": video(269, 2688, "salat", 9)})
    _json(root / "val.json", {"P47-cam01-P47_tea": video(33, 327, "tea", 2),
                              "P47-cam02-P47_scrambledegg": video(285, 2844, "scrambled egg", 5)})
    return root


def write_coin(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)

    def video(subset, target, frames=None):
        out = {"subset": subset, "duration": 141.5, "target": target}
        if frames is not None:
            out["num_frames_actual"] = frames
        return out

    _json(root / "COIN.json", {"vidTrain001": video("train", "make sandwich", 1415),
                               "vidTrain002": video("train", "replace a bulb", 1300),
                               "AfiVmAjfTNs": video("train", "make sandwich", 1000),  # excluded by MA-LMM
                               "vidNoFrames": video("train", "make tea"),  # never downloaded
                               "vidVal00001": video("val", "make sandwich", 900)})
    return root


def write_videoqa(root: Path, dataset: str = "msrvtt") -> Path:
    """MSRVTT-/MSVD-QA number questions from 0000000 in every file; ActivityNet-QA uses v_<video>_<n>."""
    root.mkdir(parents=True, exist_ok=True)
    anet = dataset == "activitynet"
    for s, split in enumerate(("train", "val", "test")):
        content = {}
        for n in range(2 + s % 2):
            video = f"{split}Vid{n}"
            qid = f"v_{video}_{n}" if anet else f"{n:07d}"
            entry = {"answer": "couch", "question": f"what are people sitting on {n}?",
                     "answer_type": 3 if anet else "what", "question_id": qid, "video": video, "frame_length": 102}
            if not anet:
                entry["dataset"] = dataset
            content[qid] = entry
        _json(root / f"qa_{split}.json", content)
    return root


def write_captions(root: Path) -> Path:
    """MSRVTT-style per-caption entries: 2 videos in train (3 + 1 captions), 1 in val, 1 in test."""
    root.mkdir(parents=True, exist_ok=True)
    layout = {"train": [("video1", 3), ("video2", 1)], "val": [("video7", 2)], "test": [("video9", 2)]}
    for split, videos in layout.items():
        content, n = {}, 0
        for video, count in videos:
            for j in range(count):
                content[str(n)] = {"image_id": f"{video}.mp4", "caption": f"a person does thing {j}", "id": n,
                                   "video": video, "frame_length": 152}
                n += 1
        _json(root / f"cap_{split}.json", content)
    return root


def write_youcook2(root: Path) -> Path:
    """Segments keyed <video>_<start4>_<end4>; one val end lies past the duration; test has no captions."""
    root.mkdir(parents=True, exist_ok=True)

    def segment(video, start, end, caption, duration=206.86):
        return {"video": video, "segment": f"{video}_{start:04d}_{end:04d}", "id": 0, "duration": duration,
                "start_time": start, "end_time": end, "frame_length": int(duration * 10), "recipe": "fattoush",
                "caption": caption}

    def keyed(*segments):
        return {s["segment"]: s for s in segments}

    _json(root / "cap_train.json", keyed(segment("ytA", 47, 60, "pick the ends off"),
                                         segment("ytA", 67, 89, "combine lemon juice and oil")))
    _json(root / "cap_val.json", keyed(segment("ytB", 16, 26, "season the flour", 120.5),
                                       segment("ytB", 110, 125, "fry the chicken", 120.5)))
    _json(root / "cap_test.json", keyed(segment("ytC", 41, 56, ""), segment("ytC", 57, 79, "")))
    return root


# ---------------------------------------------------------------------------- SeViLA (official releases)


def write_star(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)

    def question(qid, video, answer_index, start=11.1, end=19.6):
        choices = [{"choice_id": j, "choice": f"The {obj}.", "choice_program": []}
                   for j, obj in enumerate(["closet", "cup", "door", "towel"])]
        return {"question_id": qid, "question": "Which object was taken by the person?", "video_id": video,
                "start": start, "end": end, "answer": choices[answer_index]["choice"], "question_program": [],
                "choices": choices, "situations": {}}

    _json(root / "STAR_train.json", [question("Interaction_T1_13", "6H78U", 2),
                                     question("Sequence_T2_7", "6H78U", 0, start=0.0, end=5.2)])
    _json(root / "STAR_val.json", [question("Prediction_T3_99", "YSKX3", 3),
                                   question("Feasibility_T4_5", "YSKX3", 1, start=4.0, end=2.5)])  # inverted
    return root


def write_tvqa(root: Path, how2qa: bool = False) -> Path:
    """TVQA jsonl (5 options); How2QA the same format with 4 options and its own file names."""
    root.mkdir(parents=True, exist_ok=True)
    n = 4 if how2qa else 5

    def question(i, ts):
        row = {f"a{j}": f"Because of reason {j}." for j in range(n)}
        row.update(answer_idx=i % n, q=f"Why does he leave {i}?", qid=1000 + i, ts=ts,
                   vid_name=f"s03e02_seg02_clip_{i:02d}", show_name="The Show")
        return row

    names = ("how2qa_train_release.jsonl", "how2qa_val_release.jsonl") if how2qa else \
        ("tvqa_train.jsonl", "tvqa_val.jsonl")
    _jsonl(root / names[0], [question(0, "20.16-25.12"), question(1, "0.5-3")])
    _jsonl(root / names[1], [question(2, "76.01-84.2"), question(3, "NaN-NaN"), question(4, "1.5-9.75")])
    return root


def write_vlep(root: Path) -> Path:
    """One YouTube vlog example (':' in its name) and TVQA-sourced ones (name + a 3-character suffix)."""
    root.mkdir(parents=True, exist_ok=True)

    def example(eid, vid_name, ts, answer):
        return {"example_id": eid, "vid_name": vid_name, "ts": ts,
                "events": ["The customer eats the food.", "The customer takes the tray."], "answer": answer,
                "split": "x"}

    _jsonl(root / "vlep_train_release.jsonl", [example(1, "friends_s03e09_seg02_clip_07_ep", [38.8, 40.37], 0),
                                               example(2, "OO9kSxcT9Rg_subs_012_00:13:00_00:14:00_ep",
                                                       [10.54, 13.55], 1)])
    _jsonl(root / "vlep_dev_release.jsonl", [example(21411, "house_s02e05_seg02_clip_11_ep", [1.0, 4.5], 1)])
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
        "lvu": write_lvu(root / "lvu"),
        "breakfast": write_breakfast(root / "breakfast"),
        "coin": write_coin(root / "coin"),
        "msrvtt_qa": write_videoqa(root / "msrvtt_qa", "msrvtt"),
        "msvd_qa": write_videoqa(root / "msvd_qa", "msvd"),
        "activitynet_qa": write_videoqa(root / "activitynet_qa", "activitynet"),
        "msrvtt_caption": write_captions(root / "msrvtt_caption"),
        "msvd_caption": write_captions(root / "msvd_caption"),
        "youcook2": write_youcook2(root / "youcook2"),
        "star": write_star(root / "star"),
        "how2qa": write_tvqa(root / "how2qa", how2qa=True),
        "tvqa": write_tvqa(root / "tvqa"),
        "vlep": write_vlep(root / "vlep"),
    }


def write_frame_folder(folder: Path, num_frames: int, size: tuple[int, int] = (24, 16)) -> Path:
    """``frame000001.jpg`` .. as MA-LMM extracts them; frame k is a flat image of gray level 10 * k so a
    test can tell which frame it got back (JPEG keeps flat images within a level or two)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    for k in range(num_frames):
        pixels = np.full((height, width, 3), min(10 * k, 250), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"frame{k + 1:06d}.jpg", quality=95)
    return folder
