import pytest

from lavis.common.errors import DataError
from lavis.datasets.subtitles import (
    Cue,
    clean_text,
    combine_repeats,
    load_subtitles,
    parse_srt,
    speech_spans,
)

SRT = """1
00:00:01,000 --> 00:00:03,500
Hello there,
General Kenobi!

2
00:00:03,500 --> 00:00:05,000
Oh yeah

3
00:00:05,000 --> 00:00:06,000
Oh yeah

4
00:00:12,000 --> 00:00:14,250
123 456 789 cats
"""


def test_parse_srt_times_and_multiline_text():
    cues = parse_srt(SRT)
    assert cues[0] == Cue(1.0, 3.5, "Hello there, General Kenobi!")
    assert cues[3] == Cue(12.0, 14.25, "123 456 789 cats")
    assert len(cues) == 4


def test_malformed_time_is_located(tmp_path):
    path = tmp_path / "v.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:xx,000\nhi\n")
    with pytest.raises(DataError, match=r"v\.srt:2: bad SRT time"):
        load_subtitles(path)


def test_text_before_timing_is_located():
    with pytest.raises(DataError, match="f.srt:1"):
        parse_srt("stray text\n", source="f.srt")


def test_missing_file_is_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_subtitles(tmp_path / "nope.srt")


def test_combine_spans_and_filter():
    cues = parse_srt(SRT)
    combined = combine_repeats(cues)
    assert combined[1] == Cue(3.5, 6.0, "Oh yeah")
    assert speech_spans(cues) == [(1.0, 6.0), (12.0, 14.25)]
    assert clean_text("Oh yeah") is None  # only filler words
    assert clean_text("123 456 789 cats") is None  # 25% English < 80%
    assert clean_text("Hello there, General Kenobi!") == "hello there general kenobi"


OVERLAP_AND_LATE = """1
00:00:01,000 --> 00:00:04,000
the dog barks at the door

2
00:00:02,000 --> 00:00:03,000
someone opens the door

3
00:00:09,000 --> 00:00:12,000
a voice says goodbye

4
00:00:15,000 --> 00:00:16,000
the credits roll by
"""


def test_overlapping_cues_and_cues_past_the_video_end(tmp_path):
    """Defined results: overlapping cues stay separate captions (in file order) and merge into one speech
    span; a cue that starts after the video's end (10 s here) marks no frame, one running past it is cut at
    the last frame; captions keep their times (CALCE writes them as they are)."""
    from lavis.models.components.clustering import speech_frame_mask

    path = tmp_path / "v.srt"
    path.write_text(OVERLAP_AND_LATE, encoding="utf-8")
    cues, spans = load_subtitles(path)
    assert [c.text for c in cues][:2] == ["dog barks at door", "someone opens door"]  # filler words dropped
    # as CALCE: a span ends where its last merged cue ends, even if an earlier overlapping cue ran longer
    assert spans == [(1.0, 3.0), (9.0, 12.0), (15.0, 16.0)]
    frames = speech_frame_mask(spans, num_frames=10, duration=10.0)
    assert frames.tolist() == [False, True, True, True, False, False, False, False, False, True]
    assert speech_frame_mask([(15.0, 16.0)], num_frames=10, duration=10.0).sum() == 0
