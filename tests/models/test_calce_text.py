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


def test_select_captions_top_k_then_threshold_most_similar_first():
    import torch

    from lavis.models.calce_text import select_captions

    query = torch.tensor([1.0, 0.0])
    angles = torch.tensor([0.1, 0.3, 0.05, 1.2, 0.2, 0.15, 0.0])  # cosines .995 .955 .999 .36 .98 .989 1.0
    vectors = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1) * torch.arange(1, 8)[:, None]
    cues = [Cue(float(i), float(i) + 1, f"c{i}") for i in range(7)]
    # top 5: c6 (1.0), c2, c0, c5, c4; c1 (.955) is 6th and excluded by the top-5 cut despite passing 0.9
    assert [c.text for c in select_captions(query, vectors, cues)] == ["c6", "c2", "c0", "c5", "c4"]
    assert [c.text for c in select_captions(query, vectors, cues, threshold=0.99)] == ["c6", "c2", "c0"]
    assert select_captions(query, vectors[:0], []) == []
