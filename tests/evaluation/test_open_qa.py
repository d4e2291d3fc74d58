"""Open-ended QA / generative classification accuracy on hand-built beams."""

from __future__ import annotations

from typing import Any

import pytest

from lavis.common.errors import DataError
from lavis.evaluation.open_qa import evaluate_open_qa, first_word, normalize_text


def test_normalize_text_follows_blip_caption() -> None:
    assert normalize_text("  Yes.  ") == "yes"
    assert normalize_text('A (big) "DOG"!\n') == "a big dog"
    assert (
        normalize_text("don't stop, ok? ex-girlfriend") == "don't stop, ok? ex-girlfriend"
    )  # kept as BLIP keeps them
    assert normalize_text(" ".join(f"w{i}" for i in range(60))) == " ".join(f"w{i}" for i in range(50))
    assert first_word("  dog running ") == "dog" and first_word("") == ""


def test_top1_and_top5() -> None:
    """q1 first beam 'Dog.' -> 'dog': top-1 and top-5 hit. q2 'dog' only as 6th beam: both miss (only
    five beams count). q3 'a man' as 2nd beam: top-5 hit only. q4 one string, answer list: hit.
    top-1 = 2/4 = 50, top-5 = 3/4 = 75."""
    predictions = {
        "q1": ["Dog.", "cat"],
        "q2": ["cat", "bird", "fish", "cow", "horse", "dog"],
        "q3": ["man", "A man", "woman"],
        "q4": "Yes",
    }
    answers = {"q1": "dog", "q2": "dog", "q3": "a man", "q4": ["yeah", "yes"]}
    assert evaluate_open_qa(predictions, answers) == {
        "top1": 50.0, "top5": 75.0, "agg_metrics": 50.0, "num_questions": 4,
    }  # fmt: skip


def test_first_word_rule_for_msrvtt_msvd() -> None:
    """'dog running' -> 'dog' (hit) and '(Cat) sleeping' -> 'cat' (hit) with the rule; misses without."""
    predictions = [{"qid": 1, "prediction": ["dog running"]}, {"qid": 2, "prediction": ["(Cat) sleeping"]}]
    answers = [{"qid": 1, "answer": "dog"}, {"qid": 2, "answer": "cat"}]
    assert evaluate_open_qa(predictions, answers, first_word_only=True)["top1"] == 100.0
    assert evaluate_open_qa(predictions, answers)["top1"] == 0.0


def test_normalize_false_compares_raw_strings() -> None:
    """'Dog' vs 'dog': 0 raw; 1 of 3 ('ok' == 'ok') -> 33.33."""
    metrics = evaluate_open_qa({1: "Dog", 2: "ok", 3: "b."}, {1: "dog", 2: "ok", 3: "b"}, normalize=False)
    assert metrics["top1"] == 33.33


@pytest.mark.parametrize(
    ("predictions", "answers", "message"),
    [
        ({"a": "x"}, {"a": "x", "b": "y"}, r"1 of 2 GT question\(s\) have no prediction \(e.g. 'b'\)"),
        ({"a": "x", "c": "y"}, {"a": "x"}, r"1 predicted question\(s\) are not in the ground truth"),
        ({"a": []}, {"a": "x"}, r"predictions: qid 'a': expected beams"),
        ({"a": ["x", 3]}, {"a": "x"}, r"expected beams"),
        ({"a": "x"}, {"a": "..."}, r"answers: qid 'a' has an empty answer"),
        ([{"qid": "a", "prediction": "x"}, {"qid": "a", "prediction": "y"}], {"a": "x"}, r"qid 'a' appears twice"),
        ([{"qid": "a"}], {"a": "x"}, r"record #0 is not an object with 'qid' and 'prediction'"),
        ({}, {}, r"no questions to score"),
    ],
)  # fmt: skip
def test_bad_input_is_an_error(predictions: Any, answers: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        evaluate_open_qa(predictions, answers)
