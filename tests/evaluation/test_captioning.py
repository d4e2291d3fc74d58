"""Captioning metrics must be pycocoevalcap's own numbers (compared with ``COCOEvalCap`` itself)."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from lavis.common.errors import DataError, DependencyError
from lavis.evaluation.captioning import (
    METRIC_NAMES,
    deduplicate_predictions,
    evaluate_captioning,
    ptb_tokenize,
    references_by_id,
)

pytest.importorskip("pycocoevalcap")
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")

REFERENCES = {
    "video7010": [
        "a man is riding a horse",
        "A person rides a brown horse.",
        "a man rides a horse in a field",
    ],
    "video7011": ["a woman is cooking pasta", "someone is making food in a kitchen"],
    "video7012": ["two kids are playing soccer", "children play football on the grass", "kids kick a ball"],
    "video7013": ["a cat is sleeping on a couch", "the cat sleeps"],
    "video7014": ["a man is playing a guitar on stage", "a musician performs a song", "a guy plays guitar"],
}
PREDICTIONS = {
    "video7010": "a man is riding a horse",
    "video7011": "A woman is cooking in the kitchen.",
    "video7012": "kids are playing football",
    "video7013": "a dog is sleeping",
    "video7014": "a man plays the guitar, and sings!",
}


class _NoSpice:
    """SPICE needs a ~1 GB Stanford CoreNLP download and is not one of our metrics."""

    def compute_score(self, gts: dict, res: dict) -> tuple[float, list[float]]:
        return 0.0, [0.0] * len(gts)

    def method(self) -> str:
        return "SPICE"


@pytest.fixture(scope="module")
def coco_eval_scores() -> dict[str, float]:
    """pycocoevalcap's COCOEvalCap on a minimal COCO ground-truth object (SPICE stubbed out)."""
    pycocotools_coco = pytest.importorskip("pycocotools.coco")
    import pycocoevalcap.eval as coco_eval_module

    if shutil.which("java") is None:
        pytest.skip("java is not installed")
    coco = pycocotools_coco.COCO()
    coco.dataset = {
        "images": [{"id": video} for video in REFERENCES],
        "annotations": [
            {"image_id": video, "caption": caption, "id": i}
            for i, (video, caption) in enumerate((v, c) for v, caps in REFERENCES.items() for c in caps)
        ],
    }
    coco.createIndex()
    results = coco.loadRes(
        [{"image_id": video, "caption": caption} for video, caption in PREDICTIONS.items()]
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(coco_eval_module, "Spice", _NoSpice)
        scorer = coco_eval_module.COCOEvalCap(coco, results)
        scorer.evaluate()
    return dict(scorer.eval)


@pytest.fixture(scope="module")
def our_scores() -> dict[str, Any]:
    if shutil.which("java") is None:
        pytest.skip("java is not installed")
    return evaluate_captioning(PREDICTIONS, REFERENCES)


@needs_java
@pytest.mark.slow  # two METEOR runs: the Java scorer loads its paraphrase table each time (~10 s)
def test_equals_coco_eval_cap(our_scores: dict[str, Any], coco_eval_scores: dict[str, float]) -> None:
    for name in METRIC_NAMES:
        assert our_scores[name] == pytest.approx(coco_eval_scores[name], abs=1e-9), name
    assert 0 < our_scores["Bleu_4"] < our_scores["Bleu_1"] < 1 and our_scores["CIDEr"] > 0


@needs_java
@pytest.mark.slow
def test_agg_metrics_is_malmm_sum(our_scores: dict[str, Any]) -> None:
    s = our_scores
    assert s["agg_metrics"] == pytest.approx(s["CIDEr"] + s["Bleu_4"] + s["METEOR"] + s["ROUGE_L"], abs=1e-12)
    assert (s["num_videos"], s["duplicate_predictions"], s["conflicting_duplicates"]) == (5, 0, 0)


def test_result_records_first_duplicate_wins() -> None:
    """DDP padding repeats records: the first of an id is kept, the rest counted (and those that differ)."""
    records = [{"image_id": "a", "caption": "x"}, {"image_id": "b", "caption": "y"}]
    records += [{"image_id": "a", "caption": "x"}, {"image_id": "b", "caption": "z"}]
    assert deduplicate_predictions(records) == ({"a": "x", "b": "y"}, 2, 1)


def test_coco_format_references() -> None:
    coco_gt = {
        "images": [{"id": 2}, {"id": 1}],
        "annotations": [
            {"image_id": 1, "caption": "p"},
            {"image_id": 2, "caption": "q"},
            {"image_id": 1, "caption": "r"},
        ],
    }
    assert references_by_id(coco_gt) == {2: ["q"], 1: ["p", "r"]}


@needs_java
def test_line_breaks_cannot_shift_captions_onto_other_videos() -> None:
    """The Java tokenizer splits lines at \\r and \\u2028 too; unhandled, 'b' would get half of 'a'."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokens = ptb_tokenize(PTBTokenizer(), {"a": ["One.\rTwo", "x\u2028y"], "b": ["Three!"]})
    assert tokens == {"a": ["one two", "x y"], "b": ["three"]}


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DependencyError, match=r"no `java` executable was found on PATH.*apt-get install"):
        evaluate_captioning(PREDICTIONS, REFERENCES)


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        ({"a": "x"}, {"a": ["x"], "b": ["y"]}, r"1 of 2 GT video id\(s\) have no prediction \(e.g. 'b'\)"),
        ({"a": "x", "c": "y"}, {"a": ["x"]}, r"1 predicted video id\(s\) are not in the ground truth"),
        ({"a": None}, {"a": ["x"]}, r"1 prediction\(s\) are not a string"),
        ({"a": "x"}, {"a": []}, r"id 'a' needs a non-empty list of reference captions"),
        ({"a": "x"}, {"a": "x"}, r"id 'a' needs a non-empty list"),
        ([{"caption": "x"}], {"a": ["x"]}, r"record #0 is not an object with 'image_id' and 'caption'"),
        ({"a": "x"}, {"images": [{"id": "a"}], "annotations": []}, r"id 'a' needs a non-empty list"),
    ],
)  # fmt: skip
def test_bad_input_is_an_error(predictions: Any, references: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        evaluate_captioning(predictions, references)
