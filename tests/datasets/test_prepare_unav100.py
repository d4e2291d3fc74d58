"""UnAV-100 (ActivityNet-format audio-visual events) → one moment-retrieval query per video and label."""

from __future__ import annotations

import json

import pytest
from media_helpers import make_clip

from lavis.common.errors import DataError
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.datasets.prepare import prepare_dataset
from lavis.processors.video_processors import VideoEvalProcessor, VideoProcessorConfig


def write_unav(root, database):
    root.mkdir(parents=True, exist_ok=True)
    (root / "unav100_annotations.json").write_text(json.dumps({"database": database}))
    return root


DATABASE = {
    "-abc_1": {
        "subset": "train",
        "duration": 10.0,
        "annotations": [
            {"segment": [6.0, 9.5], "label": "dog barking", "label_id": 3},
            {"segment": [0.5, 2.0], "label": "dog barking", "label_id": 3},
            {"segment": [1.0, 4.0], "label": "man speaking", "label_id": 7},
        ],
    },
    "xyz": {
        "subset": "validation",
        "duration": 8.0,
        "annotations": [{"segment": [2.0, 8.4], "label": "playing guitar", "label_id": 1}],
    },
    "tst": {
        "subset": "test",
        "duration": 5.0,
        "annotations": [{"segment": [0.0, 5.0], "label": "car passing by", "label_id": 2}],
    },
}


def test_queries_per_label_with_sorted_windows_and_file_names(tmp_path):
    result = prepare_dataset("unav100", write_unav(tmp_path / "in", DATABASE), tmp_path / "out")
    assert result.counts == {
        "train.json": 2,
        "train_float.json": 2,
        "val.json": 1,
        "val_float.json": 1,
        "test.json": 1,
        "test_float.json": 1,
    }
    train = json.loads((tmp_path / "out" / "train_float.json").read_text())
    dog = next(r for r in train if r["query"] == "dog barking")
    assert dog["relevant_windows"] == [[0.5, 2.0], [6.0, 9.5]]  # in time order, not annotation order
    assert dog["file_name"] == "-abc_1.mp4" and dog["video"] == "-abc_1"
    assert dog["qid"] == "UnAV100_-abc_1_dog_barking"
    val = json.loads((tmp_path / "out" / "val_float.json").read_text())
    assert val[0]["relevant_windows"] == [[2.0, 8.0]]  # clipped to the duration


def test_a_bad_entry_is_reported_with_where(tmp_path):
    bad = {"v": {"subset": "train", "duration": 5.0, "annotations": [{"segment": [1.0, 2.0]}]}}
    with pytest.raises(DataError, match=r"database\['v'\] annotation 0.*'label'"):
        prepare_dataset("unav100", write_unav(tmp_path / "in", bad), tmp_path / "out")
    assert not (tmp_path / "out" / "train.json").exists()


def test_the_dataset_reads_the_file_named_in_the_record(tmp_path):
    prepare_dataset("unav100", write_unav(tmp_path / "in", DATABASE), tmp_path / "out")
    make_clip(tmp_path / "videos" / "-abc_1.mp4", seconds=10.0, fps=2)
    processor = VideoEvalProcessor(VideoProcessorConfig(n_frms=4, image_size=32))
    data = MomentRetrievalDataset(
        tmp_path / "out" / "train.json", tmp_path / "videos", processor, video_ext=".avi"
    )
    sample = data[0]
    assert sample["video"].shape[0] == 4 and sample["vid"] == "-abc_1"
