import json

import numpy as np
import pytest
import torch
from media_helpers import GOOD, make_clip_dir, write_ann

from lavis.common.errors import DataError
from lavis.datasets.annotations import load_annotations
from lavis.datasets.moment_retrieval import MomentRetrievalDataset, collate_moment_retrieval
from lavis.datasets.video import segment_indices
from lavis.processors.video_processors import VideoEvalProcessor, VideoProcessorConfig, VideoTrainProcessor


@pytest.fixture
def clip_dir(tmp_path):
    return make_clip_dir(tmp_path)


def dataset(tmp_path, clip_dir, records=GOOD, train=False, **kw):
    ann = write_ann(tmp_path / "ann.json", records)
    cfg = VideoProcessorConfig(n_frms=4, image_size=16)
    proc = VideoTrainProcessor(cfg) if train else VideoEvalProcessor(cfg)
    return MomentRetrievalDataset(ann, clip_dir, proc, **kw)


def test_segment_indices_middle_random_and_short_videos():
    assert segment_indices(0, 40, 4, "middle") == [5, 15, 25, 35]
    rng = np.random.default_rng(0)
    idx = segment_indices(0, 40, 4, "random", rng)
    assert all(10 * k <= i < 10 * (k + 1) for k, i in enumerate(idx))
    short = segment_indices(0, 3, 8, "middle")
    assert len(short) == 8 and max(short) <= 2 and short == sorted(short)


def test_sample_fields_timestamps_and_normalisation(tmp_path, clip_dir):
    ds = dataset(tmp_path, clip_dir)
    s = ds[0]
    assert s["video"].shape == (4, 3, 16, 16) and s["video"].dtype == torch.float32
    # 30 frames at 10 fps, 4 segments: midpoints 3, 11, 18, 26 -> seconds
    assert s["timestamps"].tolist() == pytest.approx([0.3, 1.1, 1.8, 2.6])
    assert s["qid"] == "q0" and s["duration"] == 3.0 and s["relevant_windows"] == [[0.5, 2.0]]
    # red channel grows with time in the clip, so normalised red increases frame to frame
    red = s["video"][:, 0].mean(dim=(1, 2))
    assert torch.all(red[1:] > red[:-1])


def test_training_randomness_is_a_function_of_seed_epoch_index(tmp_path, clip_dir):
    ds = dataset(tmp_path, clip_dir, train=True, seed=3)
    a = ds[0]
    b = ds[0]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["timestamps"], b["timestamps"])
    ds.set_epoch(1)
    c = ds[0]
    assert not torch.equal(a["video"], c["video"])


def test_collate_pads_frames_and_masks():
    def sample(t, i):
        return {"video": torch.ones(t, 3, 2, 2), "timestamps": torch.arange(t).float(), "duration": 5.0,
                "query": "q", "qid": str(i), "vid": "v", "relevant_windows": [[0, 1]], "index": i}

    batch = collate_moment_retrieval([sample(3, 0), None, sample(5, 1)])
    assert batch["num_skipped"] == 1
    assert batch["video"].shape == (2, 5, 3, 2, 2)
    assert batch["frame_mask"].tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert batch["video"][0, 3:].abs().sum() == 0


@pytest.mark.parametrize(
    "record, expected",
    [
        ({k: v for k, v in GOOD[0].items() if k != "query"}, r"\[0\]: missing field 'query'"),
        ({**GOOD[0], "duration": "3"}, r"field 'duration' has type str"),
        ({**GOOD[0], "relevant_windows": [[2.0]]}, r"bad window \[2.0\]"),
        ({**GOOD[0], "relevant_windows": [[2.0, 1.0]]}, r"0 <= start <= end"),
        ({**GOOD[0], "duration": 0}, r"'duration' must be positive"),
    ],
)
def test_malformed_annotation_names_file_entry_and_problem(tmp_path, record, expected):
    path = write_ann(tmp_path / "ann.json", [record])
    with pytest.raises(DataError, match=expected) as err:
        load_annotations(path)
    assert str(path) in str(err.value)


def test_jsonl_errors_carry_line_numbers(tmp_path):
    path = tmp_path / "ann.jsonl"
    path.write_text(json.dumps(GOOD[0]) + "\n\n{not json}\n")
    with pytest.raises(DataError, match=rf"{path}:3: invalid JSON"):
        load_annotations(path)
    path.write_text(json.dumps(GOOD[0]) + "\n" + json.dumps({**GOOD[1], "video": 7}) + "\n")
    with pytest.raises(DataError, match=rf"{path}:2: field 'video' has type int"):
        load_annotations(path)


def test_duplicate_qids_are_rejected(tmp_path):
    path = write_ann(tmp_path / "ann.json", [GOOD[0], {**GOOD[1], "qid": "q0"}])
    with pytest.raises(DataError, match="'q0'.*unique"):
        load_annotations(path)


def test_missing_video_is_fatal_by_default_and_names_file_and_qid(tmp_path, clip_dir):
    records = [*GOOD, {**GOOD[0], "qid": "q2", "video": "gone"}]
    with pytest.raises(DataError) as err:
        dataset(tmp_path, clip_dir, records)  # found when the split is built, before any training step
    msg = str(err.value)
    assert "1 of 3 videos" in msg and "gone.mp4 (missing, qid q2)" in msg and "on_bad_video: skip" in msg


def test_corrupt_and_empty_videos(tmp_path, clip_dir):
    data = (clip_dir / "a.mp4").read_bytes()
    (clip_dir / "cut.mp4").write_bytes(data[: len(data) // 3])
    (clip_dir / "empty.mp4").write_bytes(b"")
    (clip_dir / "junk.mp4").write_bytes(b"this is not a video" * 10)
    records = [{**GOOD[0], "qid": f"q{v}", "video": v} for v in ("cut", "empty", "junk")]
    with pytest.raises(DataError, match=r"empty\.mp4 \(empty, qid qempty\)"):
        dataset(tmp_path, clip_dir, records)  # a 0-byte file is found when the split is built
    ds = dataset(tmp_path, clip_dir, [records[0], records[2]])  # the others only fail when decoded
    messages = []
    for i in range(2):
        with pytest.raises(DataError) as err:
            ds[i]
        messages.append(str(err.value))
    assert "cut.mp4" in messages[0]
    assert "junk.mp4" in messages[1] and "Cannot open video" in messages[1]


def test_skip_mode_returns_none_and_collate_counts(tmp_path, clip_dir):
    data = (clip_dir / "a.mp4").read_bytes()
    (clip_dir / "cut.mp4").write_bytes(data[: len(data) // 3])
    records = [GOOD[0], {**GOOD[1], "video": "gone"}, {**GOOD[1], "qid": "q2", "video": "cut"}]
    ds = dataset(tmp_path, clip_dir, records, on_bad_video="skip")
    assert len(ds) == 2  # the missing video is dropped when the split is built
    batch = collate_moment_retrieval([ds[0], ds[1]])  # the truncated one fails when decoded: skipped then
    assert batch["num_skipped"] == 1 and batch["qid"] == ["q0"]


def test_a_split_with_missing_and_empty_videos_names_them_all_before_training(tmp_path, clip_dir):
    records = [{**GOOD[0], "qid": f"q{i}", "video": f"v{i:02d}"} for i in range(50)]
    data = (clip_dir / "a.mp4").read_bytes()
    for i in range(50):
        if i not in (7, 21, 33, 45):
            (clip_dir / f"v{i:02d}.mp4").write_bytes(data)
    (clip_dir / "v45.mp4").write_bytes(b"")
    with pytest.raises(DataError) as err:
        dataset(tmp_path, clip_dir, records)
    msg = str(err.value)
    assert msg.startswith("4 of 50 videos referenced by") and "ann" in msg
    for name, what in (("v07", "missing"), ("v21", "missing"), ("v33", "missing"), ("v45", "empty")):
        assert f"{name}.mp4 ({what}, qid q{int(name[1:])})" in msg
    assert len(dataset(tmp_path, clip_dir, records, on_bad_video="skip")) == 46

