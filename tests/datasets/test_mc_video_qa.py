"""The multiple-choice QA dataset reads prepared records; every benchmark's builder and preset resolves."""

from __future__ import annotations

import pytest
from media_helpers import make_clip_dir, write_ann

from lavis.common import registry
from lavis.common.config import build_processor, default_config_path, load_yaml, merge_with_schema
from lavis.common.errors import DataError
from lavis.datasets.mc_video_qa import MultipleChoiceQADataset

RECORDS = [
    {
        "video": "a",
        "qid": "CW_a_1",
        "question": "why did the boy run",
        "options": ["to play", "to eat", "to hide", "to sleep", "to sing"],
        "answer": 2,
        "type": "CW",
    },
    {
        "video": "b",
        "qid": "TN_b_2",
        "question": "what happens next?",
        "options": ["a.", "b", "c", "d", "e"],
        "answer": 0,
        "type": "TN",
        "start": 0.5,
        "end": 1.5,
    },
]


def dataset(tmp_path, records=RECORDS, **kwargs):
    videos = make_clip_dir(tmp_path)
    ann = write_ann(tmp_path / "val.json", records)
    processor = build_processor({"name": "video_eval", "n_frms": 4, "image_size": 32})
    return MultipleChoiceQADataset(ann, videos, processor, **kwargs)


def test_samples_carry_question_options_answer_and_grouping(tmp_path):
    ds = dataset(tmp_path, benchmark="nextqa", num_options=5, punctuate=True)
    s = ds[0]
    assert s["video"].shape == (4, 3, 32, 32)
    assert s["question"] == "why did the boy run?" and s["options"][0] == "to play."
    assert (s["answer"], s["type"], s["benchmark"], s["prompt_style"]) == (2, "CW", "nextqa", "qa")
    clip = ds[1]  # the clip window restricts sampling to [0.5, 1.5]
    assert clip["options"][0] == "a." and clip["question"] == "what happens next?"
    assert float(clip["timestamps"].min()) >= 0.5 and float(clip["timestamps"].max()) <= 1.5
    batch = ds.collater([ds[0], ds[1]])
    assert batch["options"][1] == ["a.", "b.", "c.", "d.", "e."] and batch["answer"] == [2, 0]


def test_option_count_and_windows_are_checked(tmp_path):
    with pytest.raises(DataError, match="'options' must be 4"):
        dataset(tmp_path, benchmark="star", num_options=4)
    grounded = [dict(RECORDS[0], duration=3.0, relevant_windows=[[0.5, 1.0]]), dict(RECORDS[1], duration=2.0)]
    with pytest.raises(DataError, match="relevant_windows"):
        dataset(tmp_path, records=grounded, benchmark="nextqa")
    grounded[1]["relevant_windows"] = [[0.0, 2.0]]
    s = dataset(tmp_path, records=grounded, benchmark="nextqa")[0]
    assert s["relevant_windows"] == [[0.5, 1.0]] and s["duration"] == 3.0


@pytest.mark.parametrize(
    "name, options, benchmark, style",
    [
        ("nextqa", 5, "nextqa", "qa"),
        ("nextgqa", 5, "nextqa", "qa"),
        ("star", 4, "star", "qa"),
        ("how2qa", 4, "how2qa", "qa"),
        ("tvqa", 5, "tvqa", "qa"),
        ("vlep", 2, "vlep", "vlep"),
    ],
)
def test_every_benchmark_has_a_builder_and_a_preset(name, options, benchmark, style):
    cls = registry.builders.get(name)
    preset = load_yaml(default_config_path(cls.DATASET_CONFIG_DICT["default"]))
    cfg = merge_with_schema(cls.Config, preset, path=f"datasets.{name}", source=name)
    assert (cfg.num_options, cfg.benchmark, cfg.prompt_style) == (options, benchmark, style)
    assert cfg.vis_processor.eval.n_frms == 32  # SeViLA's 32 candidate frames
    assert "val" in cfg.ann_paths and "test" in cfg.ann_paths


# --- from the official files through `lavis.datasets.prepare` to batches ---------------------------


def _official(name: str, root):
    from prepare_fixtures import write_nextgqa, write_nextqa, write_star, write_tvqa, write_vlep

    writers = {
        "nextqa": write_nextqa,
        "nextgqa": write_nextgqa,
        "star": write_star,
        "tvqa": write_tvqa,
        "how2qa": lambda r: write_tvqa(r, how2qa=True),
        "vlep": write_vlep,
    }
    return writers[name](root)


@pytest.mark.parametrize("name", ["nextqa", "nextgqa", "star", "how2qa", "tvqa", "vlep"])
def test_prepared_files_of_every_benchmark_load_through_its_builder(tmp_path, name):
    import json

    from prepare_fixtures import make_video

    from lavis.datasets.prepare import prepare_dataset

    options = {"nextgqa": {"nextqa_input": _official("nextqa", tmp_path / "nextqa_csv")}}.get(name, {})
    prepare_dataset(name, _official(name, tmp_path / "official"), tmp_path / "ann", **options)
    val = tmp_path / "ann" / ("val_float.json" if name == "nextgqa" else "val.json")
    records = json.loads(val.read_text())
    for rec in records:  # a clip long enough for every window (TVQA's reach 84 s)
        make_video(tmp_path / "videos" / f"{rec['video']}.mp4", seconds=90.0, fps=1)
    cls = registry.builders.get(name)
    preset = load_yaml(default_config_path(cls.DATASET_CONFIG_DICT["default"]))
    override = {
        "video_root": str(tmp_path / "videos"),
        "ann_paths": {"val": str(val)},
        "vis_processor": {"eval": {"name": "video_eval", "n_frms": 4, "image_size": 32}},
    }
    cfg = merge_with_schema(cls.Config, preset, override, path=f"datasets.{name}", source="test")
    ds = cls(cfg, name=name).build(["val"])["val"]
    batch = ds.collater([ds[i] for i in range(len(ds))])
    assert batch["video"].shape[1:] == (4, 3, 32, 32)
    assert all(len(o) == cfg.num_options for o in batch["options"])
    assert batch["answer"] == [r["answer"] for r in records]
    assert set(batch["benchmark"]) == {cfg.benchmark}
    assert ("relevant_windows" in batch) == (name == "nextgqa")
    if name in ("nextqa", "nextgqa"):
        assert all(q.endswith("?") for q in batch["question"]) and all(
            o.endswith(".") for o in batch["options"][0]
        )
