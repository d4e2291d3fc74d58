"""benchmarks/bench_query_grounding.py: the data it trains on needs the query, and its control moves every query."""

from __future__ import annotations

import runpy
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from lavis.common.io import read_json
from lavis.datasets.synthetic import COLOURS, SyntheticSpec, generate
from lavis.datasets.video import load_video_frames

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "bench_query_grounding.py"


def config_spec(**changes) -> SyntheticSpec:
    spec = OmegaConf.to_container(OmegaConf.load(REPO / runpy.run_path(str(SCRIPT))["CONFIG"]))
    fields = dict(spec["datasets"]["synthetic_mr"]["spec"], **changes)
    return SyntheticSpec(**fields)


def test_every_clip_holds_two_colours_and_each_query_names_the_colour_inside_its_window(tmp_path):
    folder = generate(tmp_path, config_spec(num_videos={"train": 6}, seed=3), show_progress=False)
    by_video = defaultdict(list)
    for rec in read_json(folder / "train.json"):
        by_video[rec["video"]].append(rec)
    assert len(by_video) == 6
    for vid, recs in by_video.items():
        colours = [rec["query"].split()[-1] for rec in recs]
        assert len(recs) == 2 and len(set(colours)) == 2, (vid, colours)
        frames = load_video_frames(folder / "videos" / f"{vid}.mp4", 64, None, "uniform")
        times = np.asarray(frames.timestamps)
        pixels = frames.frames.float().mean(dim=(2, 3)).numpy()  # (T, 3) mean colour per frame
        outside = np.ones(len(times), dtype=bool)
        for rec in recs:
            (start, end) = rec["relevant_windows"][0]
            outside &= (times < start) | (times >= end)
        background = np.median(pixels[outside], axis=0)
        tints = {c: 0.75 * np.asarray(rgb) + 0.25 * background for c, rgb in COLOURS.items()}
        for rec, colour in zip(recs, colours):
            (start, end) = rec["relevant_windows"][0]
            inside = pixels[(times >= start) & (times < end)]
            # later events cover earlier ones, yet each query's colour shows somewhere in its own window
            nearest = {tuple(p): min(tints, key=lambda c: np.abs(p - tints[c]).sum()) for p in inside}
            assert colour in nearest.values(), (vid, colour, nearest)


def test_the_control_gives_every_record_a_query_from_another_clip_and_keeps_its_ground_truth():
    shuffled_queries = runpy.run_path(str(SCRIPT))["shuffled_queries"]
    records = [
        {"video": f"v{i // 2}", "qid": f"q{i}", "query": f"query {i}", "relevant_windows": [[i, i + 1]]}
        for i in range(10)
    ]
    moved = shuffled_queries(records, seed=1)
    assert [r["qid"] for r in moved] == [r["qid"] for r in records]
    assert [r["relevant_windows"] for r in moved] == [r["relevant_windows"] for r in records]
    assert sorted(r["query"] for r in moved) == sorted(r["query"] for r in records)  # a permutation
    source = {r["query"]: r["video"] for r in records}
    assert all(source[m["query"]] != m["video"] for m in moved)


def test_a_moved_query_never_reads_like_the_one_it_replaces():
    shuffled_queries = runpy.run_path(str(SCRIPT))["shuffled_queries"]
    colours = [
        "red",
        "green",
        "blue",
    ]  # few texts: many random placements would repeat the record's own query
    records = [
        {"video": f"v{i // 2}", "qid": f"q{i}", "query": f"the screen turns {colours[i % 3]}"}
        for i in range(60)
    ]
    for seed in range(5):
        moved = shuffled_queries(records, seed=seed)
        assert all(m["query"] != r["query"] and m["qid"] == r["qid"] for m, r in zip(moved, records))
        assert sorted(m["query"] for m in moved) == sorted(r["query"] for r in records)
    same = [{"video": f"v{i}", "qid": f"q{i}", "query": "the screen turns red"} for i in range(4)]
    with pytest.raises(ValueError, match="cannot move every query"):
        shuffled_queries(same, max_rounds=50)
