"""CALCE frame selection on hand-built frame features whose events are known."""

from __future__ import annotations

import torch

from lavis.models.components import clustering


def three_events(noise: float = 0.01) -> torch.Tensor:
    """12 frames: frames 0-3 near one point, 4-7 near another, 8-11 near a third."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0], [0.0, 5.0, 0.0, 0.0]])
    return centres.repeat_interleave(4, dim=0) + noise * torch.randn(12, 4, generator=gen)


def test_dpc_knn_recovers_the_three_events():
    ids = clustering.dpc_knn(three_events(), num_clusters=3, k=2, generator=torch.Generator().manual_seed(0))
    groups = [set(ids[i : i + 4].tolist()) for i in (0, 4, 8)]
    assert all(len(g) == 1 for g in groups)
    assert len(set.union(*groups)) == 3


def test_masked_frames_are_never_centres():
    feats = three_events()
    feats[8:] = torch.tensor([50.0, 50.0, 0.0, 0.0])  # a tight, dense group...
    mask = torch.ones(12, dtype=torch.bool)
    mask[8:] = False  # ...that is filtered out: the two centres must come from the first two events
    ids = clustering.dpc_knn(
        feats, num_clusters=2, k=2, mask=mask, generator=torch.Generator().manual_seed(0)
    )
    assert ids[:4].unique().numel() == 1 and ids[4:8].unique().numel() == 1 and ids[0] != ids[4]


def test_key_frames_are_boundaries_and_ends_dilated():
    ids = torch.tensor([0] * 4 + [1] * 4 + [2] * 4)
    assert clustering.key_frame_mask(ids, bias=0).nonzero().flatten().tolist() == [0, 3, 4, 7, 8, 11]
    assert clustering.key_frame_mask(ids, bias=1).nonzero().flatten().tolist() == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        11,
    ]
    ids = torch.tensor([0] * 6 + [1] * 6)
    assert clustering.key_frame_mask(ids, bias=1).nonzero().flatten().tolist() == [0, 1, 4, 5, 6, 7, 10, 11]


def test_window_mask_is_end_exclusive_on_rounded_timestamps():
    stamps = [0.4, 2.5, 4.6, 6.4, 8.5, 10.6]  # rounded: 0, 2, 5, 6, 8, 11
    # [2, 8]: first frame with round(t) >= 2 is 1, last with round(t) <= 8 is 4 -> frames 1, 2, 3
    assert clustering.window_frame_mask(stamps, [[2, 8]]).nonzero().flatten().tolist() == [1, 2, 3]


def test_vote_filter_keeps_voted_clusters_anywhere_in_the_video():
    ids = torch.tensor([0, 0, 1, 1, 2, 2, 0, 0, 3, 3])
    stamps = list(range(10))
    # window [0, 2) covers frames 0, 1 (cluster 0): cluster 0 is kept, also at frames 6, 7
    kept = clustering.vote_filter(ids, stamps, [[0, 2]], top_clusters=8, bias=0)
    assert kept.nonzero().flatten().tolist() == [0, 1, 6, 7]
    # top-1 only: window [0, 3) covers frames 0, 1, 2 (votes 0, 0, 1) -> cluster 0 (frames 0, 1, 6, 7) plus the
    # window itself (frame 2), dilated by one frame
    kept = clustering.vote_filter(ids, stamps, [[0, 3]], top_clusters=1, bias=1)
    assert kept.nonzero().flatten().tolist() == [0, 1, 2, 3, 5, 6, 7, 8]


def test_speech_frames_and_the_talk_override():
    assert clustering.speech_frame_mask([[2, 4], [18, 25]], 10, 20.0).nonzero().flatten().tolist() == [
        1,
        2,
        9,
    ]
    visual = torch.zeros(10, dtype=torch.bool)
    visual[5] = True
    spans = [[2, 4]]
    talk = clustering.talk_override(visual, "Query: a man talks to the camera\n", spans, 20.0)
    assert talk.nonzero().flatten().tolist() == [1, 2]
    assert torch.equal(clustering.talk_override(visual, "Query: a man talks\n", [], 20.0), visual)
    assert torch.equal(clustering.talk_override(visual, "Query: a dog runs\n", spans, 20.0), visual)


def test_compress_mask_halves_the_longest_non_key_run_first():
    key = torch.zeros(12, dtype=torch.bool)
    key[:4] = True
    key_out, nonkey_out = clustering.compress_mask(key, ~key, target=8)
    assert torch.equal(key_out, key)
    assert nonkey_out.nonzero().flatten().tolist() == [4, 6, 8, 10]


def test_compress_mask_random_drops_prefer_non_key_frames():
    key = torch.zeros(4, dtype=torch.bool)
    key[0] = True
    nonkey = torch.zeros(4, dtype=torch.bool)
    nonkey[2] = True  # runs of one frame cannot be thinned: only the random drops can meet the budget
    kept_key = 0
    for seed in range(200):
        k, n = clustering.compress_mask(key, nonkey, target=1, generator=torch.Generator().manual_seed(seed))
        assert int((k | n).sum()) == 1
        kept_key += int(k[0])
    # per round: the non-key frame goes with p=0.7, else the key frame with p=0.3 -> P(key kept) = 0.7/0.79
    assert 150 < kept_key < 195
