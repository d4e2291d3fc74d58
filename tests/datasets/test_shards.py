"""Shards round-trip: streaming them gives exactly the samples the folder dataset gives."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf
from prepare_fixtures import make_video
from torch.utils.data import DataLoader

from lavis.common.errors import DataError
from lavis.datasets.builders.moment_retrieval import CharadesSTABuilder, MomentRetrievalBuilderConfig
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.datasets.shards import ShardMomentRetrievalDataset, write_shards
from lavis.processors.video_processors import (
    VideoEvalProcessor,
    VideoProcessorConfig,
    VideoTrainProcessor,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """5 videos (names with dots, as QVH's) with 1-3 queries each, and shards of 2 videos."""
    root = tmp_path_factory.mktemp("corpus")
    records = []
    for v in range(5):
        name = f"clip_{v}_0.0_3.0"
        make_video(root / "videos" / f"{name}.mp4", seconds=2.0 + v * 0.5, seed=v)
        for k in range(v % 3 + 1):
            rec = {"video": name, "qid": f"q{v}_{k}", "query": f"query {v} {k}", "duration": 2.0 + v * 0.5,
                   "relevant_windows": [[0.5, 1.25 + k]]}
            if k == 1:
                rec.update(start=0.5, end=2.0)  # clip proposals must survive the round trip too
            records.append(rec)
    ann = root / "ann.json"
    ann.write_text(json.dumps(records))
    manifest = write_shards(root / "videos", ann, root / "shards", samples_per_shard=2, progress=False)
    return root, ann, manifest


def _processor(train: bool):
    cfg = VideoProcessorConfig(n_frms=4, image_size=32)
    return VideoTrainProcessor(cfg) if train else VideoEvalProcessor(cfg)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("train", [True, False])
def test_streamed_samples_equal_folder_samples(corpus, train):
    root, ann, manifest = corpus
    folder = MomentRetrievalDataset(ann, root / "videos", _processor(train), seed=7)
    stream = ShardMomentRetrievalDataset(manifest.url, _processor(train), seed=7, shuffle_shards=train)
    assert len(stream) == len(folder) == manifest.num_records == 9
    assert manifest.num_videos == 5 and len(manifest.shards) == 3
    for epoch in (0, 1):
        folder.set_epoch(epoch)
        stream.set_epoch(epoch)
        streamed = list(stream)
        assert sorted(s["index"] for s in streamed) == list(range(len(folder)))
        for sample in streamed:
            _assert_same(folder[sample["index"]], sample)


def test_shards_are_split_across_dataloader_workers(corpus):
    _, _, manifest = corpus
    stream = ShardMomentRetrievalDataset(manifest.url, _processor(False))
    loader = DataLoader(stream, batch_size=2, num_workers=2, collate_fn=stream.collater)
    indices = [i for batch in loader for i in batch["index"]]
    assert sorted(indices) == list(range(9))


def test_shards_are_split_across_ranks(corpus, monkeypatch):
    _, _, manifest = corpus
    seen = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        stream = ShardMomentRetrievalDataset(manifest.url, _processor(True), shuffle_shards=True)
        stream.set_epoch(3)
        seen.append({s["index"] for s in stream})
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(9))


def test_builder_streams_a_split_from_shards(corpus):
    import lavis.processors.video_processors  # noqa: F401  (registers the processors)

    root, _, manifest = corpus
    cfg = OmegaConf.merge(
        OmegaConf.structured(MomentRetrievalBuilderConfig),
        {"video_root": str(root / "videos"), "shards": {"train": manifest.url},
         "vis_processor": {"train": {"name": "video_train", "n_frms": 4, "image_size": 32}}},
    )
    dataset = CharadesSTABuilder(cfg, "charades_sta", seed=1).build_split("train")
    assert isinstance(dataset, ShardMomentRetrievalDataset) and dataset.shuffle_shards and len(dataset) == 9


def test_missing_video_fails_before_writing(corpus, tmp_path):
    root, ann, _ = corpus
    records = json.loads(ann.read_text()) + [
        {"video": "absent", "qid": "x", "query": "q", "duration": 1.0, "relevant_windows": [[0, 1]]}
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records))
    with pytest.raises(DataError, match=r"1 referenced video\(s\) not found .*absent\.mp4"):
        write_shards(root / "videos", bad, tmp_path / "shards", progress=False)
    assert not (tmp_path / "shards").exists()


def test_bad_video_in_shard_follows_on_bad_video(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"garbage")
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps([{"video": "broken", "qid": "b", "query": "q", "duration": 1.0,
                                "relevant_windows": [[0, 1]]}]))
    manifest = write_shards(tmp_path / "videos", ann, tmp_path / "shards", progress=False)
    assert list(ShardMomentRetrievalDataset(manifest.url, _processor(False), on_bad_video="skip")) == [None]
    with pytest.raises(DataError, match=r"Cannot open video .*shard-000000\.tar:broken"):
        list(ShardMomentRetrievalDataset(manifest.url, _processor(False)))


def test_benchmark_runs(capsys):
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_shards.py"
    bench = runpy.run_path(str(script))
    assert bench["main"](["--num-videos", "3", "--samples", "3", "--seconds", "1", "--size", "32",
                          "--image-size", "32", "--n-frms", "2"]) == 0
    printed = capsys.readouterr().out
    assert "folder :" in printed and "shards :" in printed and "ratio folder/shards:" in printed
