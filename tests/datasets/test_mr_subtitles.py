"""CALCE's inputs through the moment-retrieval dataset: items, subtitles, speech spans, SRT edge cases."""

from __future__ import annotations

import pytest
from media_helpers import make_clip, write_ann

from lavis.common.errors import DataError
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.processors.video_processors import VideoEvalProcessor, VideoProcessorConfig

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello there, friend!

2
00:00:02,500 --> 00:00:04,000
Hello there, friend!

3
00:00:09,000 --> 00:00:09,800
uh
"""


def dataset(tmp_path, srt: str | bytes | None, **kwargs):
    videos, subs = tmp_path / "videos", tmp_path / "srts"
    subs.mkdir()
    make_clip(videos / "v.mp4", seconds=3.0)
    if srt is not None:
        (subs / "v.srt").write_bytes(srt if isinstance(srt, bytes) else srt.encode())
    rec = {"qid": "q", "video": "v", "query": "a man says hello", "duration": 3.0,
           "relevant_windows": [[0, 2]], "items": ["man"]}
    ann = write_ann(tmp_path / "ann.json", [rec])
    processor = VideoEvalProcessor(VideoProcessorConfig(n_frms=3, image_size=32))
    return MomentRetrievalDataset(ann, videos, processor, subtitle_root=subs, **kwargs)


def test_sample_carries_items_filtered_subtitles_and_raw_speech_spans(tmp_path):
    sample = dataset(tmp_path, SRT)[0]
    assert sample["items"] == ["man"]
    # the repeated cue is merged; "uh" is a filler word and leaves the prompt, but not the speech spans
    assert [(c.start, c.end, c.text) for c in sample["subtitles"]] == [(1.0, 4.0, "hello there friend")]
    assert sample["subtitle_durations"] == [(1.0, 4.0), (9.0, 9.8)]


def test_missing_srt_is_an_error_or_empty_by_choice(tmp_path):
    with pytest.raises(DataError, match=r"subtitle file not found: .*v\.srt \(qid q, annotation file"):
        dataset(tmp_path, None)[0]
    (tmp_path / "b").mkdir()
    sample = dataset(tmp_path / "b", None, missing_subtitles="empty")[0]
    assert sample["subtitles"] == [] and sample["subtitle_durations"] == []


def test_empty_file_means_no_speech_and_bad_bytes_or_times_name_file_and_line(tmp_path):
    assert dataset(tmp_path, "")[0]["subtitles"] == []
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match=r"v\.srt:3: not UTF-8"):
        dataset(tmp_path / "b", b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe bad\n")[0]
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match=r"v\.srt:2: bad SRT time"):
        dataset(tmp_path / "c", "1\n00:00:xx,000 --> 00:00:02,000\nhi\n")[0]
