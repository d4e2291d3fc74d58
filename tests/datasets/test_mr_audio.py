"""Audio through the moment-retrieval dataset (SMS): clips per frame, and missing / truncated tracks."""

from __future__ import annotations

import pytest
import torch
from media_helpers import tones, write_ann, write_av_clip

from lavis.common.errors import ConfigError, DataError
from lavis.datasets.audio import AudioClipConfig
from lavis.datasets.collate import collate_samples
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.processors.video_processors import VideoEvalProcessor, VideoProcessorConfig


def dataset(tmp_path, audio: AudioClipConfig, shared_birthday=None):
    root = tmp_path / "videos"
    root.mkdir(exist_ok=True)
    write_av_clip(root / "full.mp4", 4.0, tones([(0.0, 4.0, 440.0)], 44100))
    write_av_clip(root / "short.mp4", 4.0, tones([(0.0, 1.5, 440.0)], 44100))
    records = [
        {"qid": "q_full", "video": "full", "query": "a tone", "duration": 4.0, "relevant_windows": [[0, 2]]},
        {
            "qid": "q_short",
            "video": "short",
            "query": "a tone",
            "duration": 4.0,
            "relevant_windows": [[0, 2]],
        },
    ]
    ann = write_ann(tmp_path / "ann.jsonl", records)
    processor = VideoEvalProcessor(VideoProcessorConfig(n_frms=4, image_size=32))
    return MomentRetrievalDataset(ann, root, processor, audio=audio)


def test_each_sample_carries_one_clip_per_frame_and_a_truncated_track_is_masked(tmp_path):
    data = dataset(tmp_path, AudioClipConfig(clip_seconds=1.5))
    full, short = data[0], data[1]
    assert full["audio"].shape == (4, int(1.5 * 48000)) and full["audio_mask"].tolist() == [True] * 4
    assert short["audio_mask"].tolist() == [True, True, False, False]
    assert torch.all(short["audio"][2:] == 0)
    batch = collate_samples([full, short])
    assert batch["audio"].shape == (2, 4, int(1.5 * 48000)) and batch["audio_mask"].shape == (2, 4)


def test_truncated_track_with_on_missing_audio_error_names_file_qid_and_annotation(tmp_path):
    data = dataset(tmp_path, AudioClipConfig(clip_seconds=1.5, on_missing_audio="error"))
    assert data[0]["audio_mask"].all()
    with pytest.raises(
        DataError, match=r"short\.mp4 ends at 1\.50 s.*qid q_short, annotation file .*ann\.jsonl"
    ):
        data[1]


def test_video_without_audio_track(tmp_path, shared_data):
    source = shared_data / "videos" / "videollama_birthday.mp4"
    root = tmp_path / "v"
    root.mkdir()
    (root / "birthday.mp4").symlink_to(source)
    rec = {"qid": "b", "video": "birthday", "query": "cake", "duration": 5.0, "relevant_windows": [[0, 2]]}
    ann = write_ann(tmp_path / "b.jsonl", [rec])
    processor = VideoEvalProcessor(VideoProcessorConfig(n_frms=3, image_size=32))
    sample = MomentRetrievalDataset(ann, root, processor, audio=AudioClipConfig())[0]
    assert sample["audio_mask"].tolist() == [False] * 3 and torch.all(sample["audio"] == 0)
    strict = MomentRetrievalDataset(ann, root, processor, audio=AudioClipConfig(on_missing_audio="error"))
    with pytest.raises(DataError, match=r"no audio track: .*birthday\.mp4"):
        strict[0]


def test_audio_config_typos_are_config_errors():
    from lavis.datasets.builders.moment_retrieval import QVHighlightsBuilder

    builder = QVHighlightsBuilder.__new__(QVHighlightsBuilder)
    builder.name = "qvh"
    builder.cfg = type("Cfg", (), {"audio": {"clip_second": 2.5}})()
    with pytest.raises(ConfigError, match=r"datasets\.qvh\.audio: unknown key\(s\) clip_second"):
        builder.audio_kwargs()
    builder.cfg.audio = {"on_missing_audio": "silence"}
    with pytest.raises(ConfigError, match=r"datasets\.qvh\.audio: on_missing_audio must be one of"):
        builder.audio_kwargs()


def test_deferred_audio_gives_the_frame_intervals_instead_of_clips(tmp_path):
    from lavis.datasets.audio import AudioSource, frame_intervals

    data = dataset(tmp_path, AudioClipConfig(clip_seconds=1.5, defer=True))
    sample = data[0]
    assert "audio" not in sample and "audio_mask" not in sample
    source = sample["audio_source"]
    assert isinstance(source, AudioSource) and source.video.endswith("full.mp4") and source.cfg.defer
    _, frames = data.processor(data.video_path(data.records[0]), None, None)
    assert list(source.intervals) == frame_intervals(frames)
    assert collate_samples([sample, data[1]])["audio_source"][1].video.endswith("short.mp4")
