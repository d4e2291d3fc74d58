from lavis.datasets.subtitles import Cue
from lavis.models.calce_text import caption_segments, text_block


def test_placeholder_when_no_caption():
    assert caption_segments([], round) == [("-1", "*None*", "-1")]


def test_caption_times_use_encoder():
    segs = caption_segments([Cue(1.4, 3.6, "hi there")], lambda s: int(round(s)) + 100)
    assert segs == [("101", "hi there", "104")]


def test_text_block_order_stage2():
    text = text_block("a dog runs", ["dog", "red couch"], [[2, 8], [30, 41]])
    assert text.startswith(
        "Query: a dog runs\nref: [[2, 8], [30, 41]]\nItems: dog,red couch\nGiven the video"
    )
    assert text.endswith("Relevant windows: ")
    assert "ref:" not in text_block("q", ["x"])
