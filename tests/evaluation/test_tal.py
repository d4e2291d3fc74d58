"""ActivityNet detection mAP on a hand-built set whose AP values are worked out by hand below."""

from __future__ import annotations

import json

import pytest

from lavis.common.errors import DataError
from lavis.evaluation import tal

GT = {
    "version": "VERSION 1.3",
    "taxonomy": [],
    "database": {
        "v1": {
            "subset": "validation",
            "annotations": [
                {"segment": [0, 10], "label": "Archery"},
                {"segment": [20, 30], "label": "Archery"},
            ],
        },
        "v2": {"subset": "validation", "annotations": [{"segment": [5, 15], "label": "Bowling"}]},
        # Another subset: must not count (it would add a third Archery instance and lower recall).
        "v3": {"subset": "training", "annotations": [{"segment": [0, 10], "label": "Archery"}]},
    },
}
PREDICTIONS = {
    "results": {
        "v2": [{"label": "Archery", "score": 0.95, "segment": [0, 10]}],  # no Archery in v2: false positive
        "v1": [
            {"label": "Archery", "score": 0.9, "segment": [0, 10]},  # tIoU 1 with [0, 10]
            {"label": "Archery", "score": 0.8, "segment": [0, 10]},  # duplicate: that instance is taken
            {"label": "Archery", "score": 0.7, "segment": [21.5, 30]},  # tIoU 0.85 with [20, 30]
        ],
    }
}
# Archery, ranked FP, TP, FP, TP at tIoU <= 0.85: precision 0, 1/2, 1/3, 1/2 at recall 0, 1/2, 1/2, 1
# -> interpolated AP = 0.5 * 0.5 + 0.5 * 0.5 = 0.5; at 0.90 and 0.95 the last one is a miss -> AP 0.25.
# Bowling has no detection -> AP 0. mAP = 25.0 at eight thresholds, 12.5 at two; average 22.5.


def evaluate(predictions=PREDICTIONS):
    return tal.evaluate_detection(tal.read_ground_truth(GT), tal.read_detections(predictions))


def test_map_per_threshold_and_average_match_the_hand_computation():
    metrics = evaluate()
    expected = {f"mAP@{t:.2f}": 25.0 for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)}
    expected.update({"mAP@0.90": 12.5, "mAP@0.95": 12.5})
    assert {k: v for k, v in metrics.items() if k.startswith("mAP@")} == expected
    assert metrics["average_mAP"] == 22.5
    assert metrics["per_class_AP"] == {"Archery": 45.0, "Bowling": 0.0}


def test_interpolated_precision_is_monotone_from_the_right():
    # precision 1, 0.5, 2/3 at recall 1/3, 1/3, 2/3: the dip is lifted to 2/3 -> 1/3 * 1 + 1/3 * 2/3.
    ap = tal.interpolated_average_precision([1.0, 0.5, 2 / 3], [1 / 3, 1 / 3, 2 / 3])
    assert ap == pytest.approx(1 / 3 + 2 / 9)


def test_a_label_absent_from_the_ground_truth_is_a_named_error():
    bad = {"results": {"v1": [{"label": "Archery ", "score": 0.5, "segment": [0, 1]}]}}
    with pytest.raises(DataError, match="'Archery ' in video v1"):
        evaluate(bad)


def test_cli_prints_and_writes_the_metrics(tmp_path, capsys):
    gt, pred, out = tmp_path / "gt.json", tmp_path / "pred.json", tmp_path / "m.json"
    gt.write_text(json.dumps(GT))
    pred.write_text(json.dumps(PREDICTIONS))
    assert tal.main(["--predictions", str(pred), "--gt", str(gt), "--out", str(out)]) == 0
    assert "average_mAP" in capsys.readouterr().out
    assert json.loads(out.read_text())["average_mAP"] == 22.5
    pred.write_text(json.dumps({"result": {}}))
    assert tal.main(["--predictions", str(pred), "--gt", str(gt)]) == 2
    assert "top-level 'results'" in capsys.readouterr().err
