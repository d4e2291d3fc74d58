"""Memory Bank Compression (MA-LMM §A.6) and FIFO pinned on hand-built banks."""

from __future__ import annotations

import pytest
import torch

from lavis.models.components.memory_bank import MemoryBank, merge_most_similar_adjacent


def bank(slots: list[list[list[float]]], sizes: list[list[float]] | None = None) -> MemoryBank:
    """``slots[t][n]`` is the C-vector of token n at time t (one batch item)."""
    x = torch.tensor(slots, dtype=torch.float64)[None]
    s = (
        torch.tensor(sizes, dtype=torch.float64)[None]
        if sizes is not None
        else torch.ones(x.shape[:3], dtype=x.dtype)
    )
    return MemoryBank(x, s)


def test_each_position_merges_its_own_most_similar_adjacent_pair():
    # position 0: slots 0 and 1 are nearly parallel, slot 2 is orthogonal → pair (0, 1) merges
    # position 1: slots 1 and 2 are parallel (cosine 1), slot 0 orthogonal → pair (1, 2) merges
    b = bank([[[1, 0], [1, 0]], [[1, 0.1], [0, 1]], [[0, 1], [0, 2]]])
    out = b.shrink(2)
    assert out.features.shape == (1, 2, 2, 2)
    torch.testing.assert_close(out.features[0, :, 0], torch.tensor([[1, 0.05], [0, 1]], dtype=torch.float64))
    torch.testing.assert_close(out.features[0, :, 1], torch.tensor([[1, 0], [0, 1.5]], dtype=torch.float64))
    torch.testing.assert_close(out.sizes[0], torch.tensor([[2, 1], [1, 2]], dtype=torch.float64))


def test_the_merge_is_weighted_by_the_slot_sizes():
    # slot 0 already stands for 3 frames, slot 1 for 1: merged = (3·x0 + 1·x1) / 4, size 4
    b = bank([[[2, 0]], [[1, 0]], [[0, 5]]], sizes=[[3], [1], [1]])
    out = b.shrink(2)
    torch.testing.assert_close(out.features[0, :, 0], torch.tensor([[1.75, 0], [0, 5]], dtype=torch.float64))
    torch.testing.assert_close(out.sizes[0, :, 0], torch.tensor([4, 1], dtype=torch.float64))
    # a later pair: the kept earlier slot is untouched, the merged one takes the sizes 2 and 1
    b = bank([[[0, 1]], [[1, 0]], [[4, 0]]], sizes=[[1], [2], [1]])
    out = b.shrink(2)
    torch.testing.assert_close(out.features[0, :, 0], torch.tensor([[0, 1], [2, 0]], dtype=torch.float64))
    torch.testing.assert_close(out.sizes[0, :, 0], torch.tensor([1, 3], dtype=torch.float64))


def test_ties_merge_the_earliest_pair_and_batch_items_are_independent():
    same = [[[1, 0]], [[2, 0]], [[3, 0]]]  # every adjacent cosine is 1 → pair (0, 1)
    other = [[[1, 0]], [[0, 1]], [[0, 3]]]  # pair (1, 2)
    x = torch.tensor([same, other], dtype=torch.float64)
    feats, sizes = merge_most_similar_adjacent(x, torch.ones(x.shape[:3], dtype=x.dtype))
    torch.testing.assert_close(feats[0, :, 0], torch.tensor([[1.5, 0], [3, 0]], dtype=torch.float64))
    torch.testing.assert_close(feats[1, :, 0], torch.tensor([[1, 0], [0, 2]], dtype=torch.float64))
    torch.testing.assert_close(sizes[:, :, 0], torch.tensor([[2, 1], [1, 2]], dtype=torch.float64))


def test_a_stream_keeps_at_most_m_slots_and_its_sizes_count_every_frame():
    torch.manual_seed(0)
    frames = torch.randn(7, 2, 5, 3)  # 7 steps of (B=2, N=5, C=3)
    b = MemoryBank.start(frames[0])
    for t in range(1, 7):
        b = b.append(frames[t]).shrink(3)
        assert len(b) == min(t + 1, 3)
        torch.testing.assert_close(b.frames_covered(), torch.full((2, 5), float(t + 1)))
    # the size-weighted slots still average to the mean of all frames at every position
    mean = (b.features * b.sizes[..., None]).sum(1) / b.sizes.sum(1)[..., None]
    torch.testing.assert_close(mean, frames.mean(0))


def test_fifo_drops_the_oldest_slot():
    b = bank([[[1, 0]], [[2, 0]], [[3, 0]], [[4, 0]]])
    out = b.shrink(2, "fifo")
    torch.testing.assert_close(out.features[0, :, 0], torch.tensor([[3, 0], [4, 0]], dtype=torch.float64))
    assert len(b.shrink(4, "fifo")) == 4


def test_banks_are_detached_and_errors_are_named():
    x = torch.randn(1, 2, 3, requires_grad=True)
    b = MemoryBank.start(x).append(x * 2)
    assert not b.features.requires_grad and b.flat().shape == (1, 4, 3)
    with pytest.raises(ValueError, match="unknown memory bank compression"):
        b.shrink(1, "lifo")
    with pytest.raises(ValueError, match="at least 2"):
        merge_most_similar_adjacent(torch.ones(1, 1, 1, 1), torch.ones(1, 1, 1))
