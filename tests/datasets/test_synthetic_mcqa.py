"""Multiple-choice questions derived from the generated synthetic videos (the SeViLA demo's data)."""

from __future__ import annotations

import json

import pytest

from lavis.datasets.synthetic import SyntheticSpec, generate
from lavis.datasets.synthetic_mcqa import annotation_name, write_mcqa_annotations


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    spec = SyntheticSpec(
        num_videos={"train": 6},
        min_duration=8,
        max_duration=10,
        min_events=1,
        max_events=1,
        colours=["red", "green", "blue", "yellow"],
        seed=3,
    )
    return generate(tmp_path_factory.mktemp("syn"), spec, show_progress=False), spec


@pytest.mark.parametrize("shuffle", [True, False])
def test_one_question_per_video_about_its_event(folder, shuffle):
    path, spec = folder
    write_mcqa_annotations(path, spec, num_options=4, shuffle=shuffle)
    records = json.loads((path / annotation_name("train", 4, shuffle)).read_text())
    events = {r["video"]: r for r in json.loads((path / "train.json").read_text())}
    assert len(records) == 6
    for rec in records:
        event = events[rec["video"]]
        assert rec["options"][rec["answer"]] in event["query"].split()  # the event's colour
        assert sorted(rec["options"]) == sorted(spec.colours)
        assert rec["relevant_windows"] == event["relevant_windows"]
        if not shuffle:
            assert rec["options"] == spec.colours


def test_fixed_options_need_a_palette_of_that_size(folder):
    path, spec = folder
    with pytest.raises(ValueError, match="exactly 3"):
        write_mcqa_annotations(path, spec, num_options=3, shuffle=False)
