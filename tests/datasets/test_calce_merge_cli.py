"""lavis-prepare calce-merge: stage-1 predictions -> stage2 annotations -> the same windows read back."""

from __future__ import annotations

import json

from lavis.datasets.prepare.__main__ import main
from lavis.evaluation.moment_retrieval import evaluate_annotation_field

ANNOTATIONS = [
    {"qid": "q1", "video": "v1", "query": "a", "duration": 150, "relevant_windows": [[82, 150]]},
    {"qid": "q2", "video": "v2", "query": "b", "duration": 30, "relevant_windows": [[2, 8]]},
]


def test_merge_round_trips_and_scores(tmp_path):
    ann, pred, out = tmp_path / "val.json", tmp_path / "val_best_predictions.jsonl", tmp_path / "val_stage2.json"
    ann.write_text(json.dumps(ANNOTATIONS))
    rows = [{"qid": "q1", "pred_windows": [[120.0, 150.0], [10.4, 20.6]]}, {"qid": "q2", "pred_windows": [[2.0, 8.0]]}]
    pred.write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["calce-merge", "--annotations", str(ann), "--predictions", str(pred), "--output", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert [m["stage1_result"] for m in merged] == [[[10, 21], [120, 150]], [[2, 8]]]
    assert all(m["relevant_windows"] == a["relevant_windows"] for m, a in zip(merged, ANNOTATIONS))
    metrics = evaluate_annotation_field(merged, "stage1_result", source=str(out))
    assert metrics["brief"]["MR-full-R1@0.5"] == 50.0  # q2 exact; q1's first (start-sorted) window misses


def test_a_query_without_prediction_stops_with_its_qid(tmp_path, capsys):
    ann, pred = tmp_path / "val.json", tmp_path / "p.jsonl"
    ann.write_text(json.dumps(ANNOTATIONS))
    pred.write_text(json.dumps({"qid": "q1", "pred_windows": [[1, 2]]}))
    code = main(["calce-merge", "--annotations", str(ann), "--predictions", str(pred), "--output", str(tmp_path / "o")])
    assert code == 2 and "q2" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
