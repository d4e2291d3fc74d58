"""The video_classification and video_captioning tasks on hand-built predictions."""

from __future__ import annotations

import json
import shutil

import pytest

from lavis.common import registry
from lavis.common.config import RunConfig
from lavis.evaluation.captioning import evaluate_captioning


class FakeModel:
    """Returns fixed beams per sample, as ``Blip2Base.predict`` lays them out."""

    def __init__(self, beams: list[list[str]]) -> None:
        self.beams = beams

    def predict(self, samples, generation=None, **overrides):
        return [{"text": b[0], "candidates": b} for b in self.beams]


def task(name: str, **run):
    cls = registry.tasks.get(name)
    from omegaconf import OmegaConf

    from lavis.common.config import merge_with_schema

    cfg = merge_with_schema(cls.Config, OmegaConf.create({"task": name, **run}), path="run", source="test")
    return cls(cfg)


def test_both_tasks_are_registered_with_run_configs():
    for name in ("video_classification", "video_captioning", "video_qa"):
        assert issubclass(registry.tasks.get(name).Config, RunConfig)


def test_classification_top1_top5_over_returned_beams(tmp_path):
    t = task("video_classification")
    samples = {
        "index": [0, 1, 2, 3],
        "qid": ["a_0", "a_20", "b_0", "c_0"],
        "vid": ["a", "a", "b", "c"],
        "answer": ["husband wife", "husband wife", "friend", "boyfriend girlfriend"],
    }
    beams = [
        ["husband wife", "friend", "x", "y", "z"],  # top-1
        ["friend", "husband wife.", "x", "y", "z"],  # top-5 only ("." is normalised away)
        ["Friend", "x", "y", "z", "w"],  # top-1 (case)
        ["boyfriend", "girlfriend", "x", "y", "z", "boyfriend girlfriend"],  # miss: the hit is the 6th beam
    ]
    records = t.valid_step(FakeModel(beams), samples)
    assert records[1] == {
        "index": 1,
        "qid": "a_20",
        "vid": "a",
        "label": "husband wife",
        "prediction": beams[1],
    }
    metrics = t.after_evaluation(records, "test", "best", tmp_path)
    assert metrics == {"top1": 50.0, "top5": 75.0, "agg_metrics": 50.0, "num_samples": 4}
    assert json.loads((tmp_path / "test_best_metrics.json").read_text())["top5"] == 75.0
    assert len((tmp_path / "test_best_predictions.jsonl").read_text().splitlines()) == 4


def test_open_qa_first_word_rule_through_video_qa(tmp_path):
    t = task("video_qa", first_word_only=True)
    samples = {
        "index": [0, 1],
        "qid": [1, 2],
        "vid": ["v1", "v2"],
        "question": ["q1", "q2"],
        "answer": ["dog", "man"],
    }
    records = t.valid_step(FakeModel([["dog running", "cat"], ["a man", "man"]]), samples)
    metrics = t.after_evaluation(records, "val", "latest", tmp_path)
    assert (metrics["top1"], metrics["top5"]) == (50.0, 100.0)


REFERENCES = {
    "video7010": [
        "a man is riding a horse",
        "A person rides a brown horse.",
        "a man rides a horse in a field",
    ],
    "video7011": ["a woman is cooking pasta", "someone is making food in a kitchen"],
    "video7012": ["two kids are playing soccer", "children play football on the grass", "kids kick a ball"],
}
CAPTIONS = {
    "video7010": "a man is riding a horse",
    "video7011": "A woman is cooking.",
    "video7012": "kids play",
}


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
def test_captioning_scores_one_caption_per_video_with_all_references(tmp_path):
    pytest.importorskip("pycocoevalcap")
    t = task("video_captioning")
    ids = list(REFERENCES)
    samples = {"index": [0, 1, 2], "qid": ids, "vid": ids, "captions": [REFERENCES[i] for i in ids]}
    records = t.valid_step(FakeModel([[CAPTIONS[i]] for i in ids]), samples)
    assert records[0]["image_id"] == "video7010" and records[0]["references"] == REFERENCES["video7010"]
    # the same video gathered twice from padded distributed batches: kept once
    duplicate = dict(records[2], index=3, caption="something else")
    assert t.record_key(duplicate) == t.record_key(records[2])
    metrics = t.after_evaluation(records + [duplicate], "test", "best", tmp_path)
    expected = evaluate_captioning(CAPTIONS, REFERENCES)
    for name in ("Bleu_1", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "agg_metrics"):
        assert metrics[name] == pytest.approx(expected[name], abs=1e-12)
    assert metrics["agg_metrics"] == pytest.approx(
        metrics["CIDEr"] + metrics["Bleu_4"] + metrics["METEOR"] + metrics["ROUGE_L"]
    )
    assert metrics["duplicate_predictions"] == 1 and metrics["num_videos"] == 3
