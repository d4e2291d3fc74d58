import pytest

from lavis.datasets.samplers import ResumableDistributedSampler, ShardSampler


def test_train_sampler_resume_skips_exactly_the_consumed_prefix():
    data = list(range(37))
    full = list(ResumableDistributedSampler(data, 2, 1, seed=5).__iter__())
    s = ResumableDistributedSampler(data, 2, 1, seed=5)
    s.set_epoch(0, start_index=6)
    assert list(s) == full[6:]
    assert len(s) == len(full) - 6


def test_train_sampler_epochs_differ_ranks_disjoint_no_padding():
    data = list(range(37))
    ranks = []
    for r in range(3):
        s = ResumableDistributedSampler(data, 3, r, seed=1)
        s.set_epoch(4)
        ranks.append(list(s))
    assert all(len(r) == 12 for r in ranks)
    flat = [i for r in ranks for i in r]
    assert len(set(flat)) == len(flat) == 36  # one sample dropped, none duplicated
    s = ResumableDistributedSampler(data, 3, 0, seed=1)
    s.set_epoch(5)
    assert list(s) != ranks[0]


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shard_sampler_covers_every_index_once(world):
    parts = [list(ShardSampler(11, world, r)) for r in range(world)]
    flat = sorted(i for p in parts for i in p)
    assert flat == list(range(11))
