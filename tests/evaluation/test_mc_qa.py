"""Multiple-choice QA accuracy: the NExT-QA golden case, grouping rules, the CLI and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lavis.common.errors import DataError
from lavis.common.io import read_json
from lavis.evaluation.mc_qa import evaluate_mc_qa, main, nextqa_key, read_annotations, read_nextqa_csv

REPO_ROOT = Path(__file__).resolve().parents[2]
# NExT-QA README, HGA (BERT-FT) on val.
HGA_VAL = {"Acc@C": 46.26, "Acc@T": 50.74, "Acc@D": 59.33, "Acc": 49.74}


@pytest.fixture(scope="module")
def nextqa_files(shared_data: Path) -> dict[str, Path]:
    root = shared_data / "nextqa"
    paths = {"preds": root / "HGA-bert-ft-h256-val_preds.json", "csv": root / "val.csv", "dir": root}
    for path in paths.values():
        if not path.exists():
            pytest.skip(f"NExT-QA golden file not found: {path}")
    return paths


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in HGA_VAL}


# ----------------------------------------------------------------------------------------- golden


def test_golden_hga_val_from_official_csv(nextqa_files: dict[str, Path]) -> None:
    metrics = evaluate_mc_qa(read_json(nextqa_files["preds"]), read_nextqa_csv(nextqa_files["csv"]), "nextqa")
    assert _headline(metrics) == HGA_VAL
    assert metrics["agg_metrics"] == 49.74 and metrics["num_questions"] == 4996
    per_type = metrics["per_type"]
    assert sum(v["total"] for v in per_type.values()) == 4996
    assert {k: v["total"] for k, v in per_type.items()} == {
        "CW": 1924, "CH": 683, "TN": 895, "TC": 663, "TP": 54, "DL": 295, "DC": 177, "DO": 305,
    }  # fmt: skip
    # Acc@C pools the counts of CW and CH (it is not the mean of the two type accuracies).
    pooled = (per_type["CW"]["correct"] + per_type["CH"]["correct"]) * 100.0 / (1924 + 683)
    assert metrics["Acc@C"] == round(pooled, 2)


def test_golden_hga_val_from_prepared_records(nextqa_files: dict[str, Path]) -> None:
    """Our prepared records use qids '<type>_<video>_<qid>'; they must match the official keys."""
    from lavis.datasets.prepare import nextqa

    records = nextqa.prepare(nextqa_files["dir"]).splits["val"]
    assert records[0]["qid"].split("_")[0] == records[0]["type"]
    metrics = evaluate_mc_qa(read_json(nextqa_files["preds"]), records, "nextqa")
    assert _headline(metrics) == HGA_VAL


def test_cli_prints_and_writes_golden_numbers(nextqa_files: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "metrics" / "hga.json"
    args = ["--dataset", "nextqa", "--predictions", str(nextqa_files["preds"])]
    assert main([*args, "--annotations", str(nextqa_files["csv"]), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines[2:6]] == [[k, f"{v:.2f}"] for k, v in HGA_VAL.items()]
    assert any(line.split()[:3] == ["Acc@TP", "(n=54)", "57.41"] for line in lines)
    assert _headline(json.loads(out.read_text(encoding="utf-8"))) == HGA_VAL


def test_module_is_runnable(nextqa_files: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lavis.evaluation.mc_qa", "--dataset", "nextqa"]
        + ["--predictions", str(nextqa_files["preds"]), "--annotations", str(nextqa_files["csv"])],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Acc@C             46.26" in proc.stdout and "Acc               49.74" in proc.stdout


# ------------------------------------------------------------------------------------ hand-built


def _q(qid: str, answer: int, qtype: str | None = None) -> dict[str, Any]:
    return {"qid": qid, "answer": answer, **({"type": qtype} if qtype else {})}


def test_nextqa_groups_pool_counts_and_keys_accept_both_spellings() -> None:
    """CW 1/1 and CH 0/3 -> Acc@C = 1/4 = 25.00 (the mean of type accuracies would be 50); TN 1/1 and
    TP 1/2 -> Acc@T = 2/3 = 66.67; no D question -> None; Acc = 3/7 = 42.86."""
    annotations = [
        _q("CW_v1_0", 0, "CW"), _q("CH_v1_1", 1, "CH"), _q("CH_v1_2", 2, "CH"), _q("CH_v2_0", 3, "CH"),
        _q("TN_v2_1", 0, "TN"), _q("TP_v2_2", 1, "TP"), _q("TP_v3_0", 2, "TP"),
    ]  # fmt: skip
    predictions = {
        "v1_0": {"prediction": 0, "answer": 0},  # official key
        "CH_v1_1": {"prediction": 0},  # prepared qid
        "v1_2": 4, "v2_0": 4, "v2_1": 0, "v2_2": 1, "v3_0": 0,
    }  # fmt: skip
    metrics = evaluate_mc_qa(predictions, annotations, "nextqa")
    assert (metrics["Acc@C"], metrics["Acc@T"], metrics["Acc@D"], metrics["Acc"]) == (25.0, 66.67, None, 42.86)
    assert metrics["per_type"]["TP"] == {"Acc": 50.0, "correct": 1, "total": 2}
    assert list(metrics["per_type"]) == ["CW", "CH", "TN", "TP"]


def test_nextqa_type_comes_from_qid_prefix_when_no_type_field() -> None:
    metrics = evaluate_mc_qa([{"qid": "DC_7_1", "prediction": 2}], [_q("DC_7_1", 2)], "nextqa")
    assert metrics["Acc@D"] == 100.0 and metrics["Acc@C"] is None
    assert nextqa_key("DC_7_1") == "7_1" and nextqa_key("7_1") == "7_1" and nextqa_key("XX_7_1") == "XX_7_1"


def test_star_headline_is_overall_accuracy_not_mean_of_types() -> None:
    """Interaction 3/3, Feasibility 0/1: Acc = 3/4 = 75.00; SeViLA's mean of type means = (100 + 0) / 2."""
    annotations = [_q(f"Interaction_T1_{i}", 1) for i in range(3)] + [_q("Feasibility_T4_0", 2)]
    predictions = [{"qid": a["qid"], "prediction": 1} for a in annotations]
    metrics = evaluate_mc_qa(predictions, annotations, "star")
    assert metrics["Acc"] == metrics["agg_metrics"] == 75.0
    assert metrics["Acc-type-mean"] == 50.0
    assert metrics["per_type"] == {
        "Interaction": {"Acc": 100.0, "correct": 3, "total": 3},
        "Feasibility": {"Acc": 0.0, "correct": 0, "total": 1},
    }


@pytest.mark.parametrize("dataset", ["how2qa", "tvqa", "vlep"])
def test_overall_only_datasets(dataset: str) -> None:
    """2 of 3 right -> 66.67; qids are matched as they are (no type prefix is stripped)."""
    annotations = [_q("CW_1_2", 0), _q("HOW2QA_1", 1), _q("HOW2QA_2", 1)]
    metrics = evaluate_mc_qa({"CW_1_2": 0, "HOW2QA_1": 1, "HOW2QA_2": 0}, annotations, dataset)
    assert metrics == {"Acc": 66.67, "agg_metrics": 66.67, "num_questions": 3, "correct": 2}


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("predictions", "annotations", "message"),
    [
        ({"a": 0}, [_q("a", 0), _q("b", 1), _q("c", 1)], r"2 of 3 GT question\(s\) have no prediction \(e.g. 'b', 'c'\)"),
        ({"a": 0, "z": 1}, [_q("a", 0)], r"1 predicted question\(s\) are not in the ground truth \(e.g. 'z'\)"),
        ({"a": {"prediction": 0, "answer": 2}}, [_q("a", 0)], r"carry an 'answer' that differs .* same dataset and split"),
        ({"a": "0"}, [_q("a", 0)], r"key 'a': the prediction must be an option index"),
        ({"a": {"prediction": True}}, [_q("a", 0)], r"'prediction' must be an option index"),
        ({"a": {"answer": 0}}, [_q("a", 0)], r"key 'a': missing field 'prediction'"),
        ({"a": 0}, [_q("a", 0), _q("a", 1)], r"listed twice: 'a'"),
        ({"a": 0}, [{"qid": "a", "answer": "lay on floor"}], r"record #0 \(qid 'a'\): 'answer' must be an option index"),
        ({"a": 0}, [{"qid": "a"}], r"missing field 'answer'"),
        ({"a": 0}, {"a": 0}, r"expected a list of question records"),
        ([{"prediction": 0}], [_q("a", 0)], r"record #0 is not an object with a 'qid' field"),
    ],
)  # fmt: skip
def test_bad_input_is_an_error_naming_the_record(predictions: Any, annotations: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        evaluate_mc_qa(predictions, annotations, "how2qa")


def test_nextqa_and_star_errors() -> None:
    with pytest.raises(DataError, match=r"predicted twice .*'1_2'"):
        evaluate_mc_qa({"CW_1_2": 0, "1_2": 0}, [_q("CW_1_2", 0)], "nextqa")
    with pytest.raises(DataError, match=r"no NExT-QA question type"):
        evaluate_mc_qa({"1_2": 0}, [_q("1_2", 0)], "nextqa")
    with pytest.raises(DataError, match=r"STAR qids start with the question type"):
        evaluate_mc_qa({"Counting_1": 0}, [_q("Counting_1", 0)], "star")
    with pytest.raises(ValueError, match="unknown multiple-choice QA dataset"):
        evaluate_mc_qa({}, [], "msrvtt")


def test_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    gqa = tmp_path / "gqa.csv"
    gqa.write_text("video_id,qid,type,answer,a0\n123,1,CW,lay on floor,lay on floor\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"gqa.csv:2: answer 'lay on floor' is not an option index.*nextgqa"):
        read_nextqa_csv(gqa)
    bad = tmp_path / "bad.csv"
    bad.write_text("video,qid,answer\n1,2,3\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.csv: missing column\(s\) type"):
        read_nextqa_csv(bad)
    with pytest.raises(DataError, match=r"csv annotations are read for nextqa only"):
        read_annotations(bad, "star")


def test_cli_user_errors_exit_2_with_one_line(tmp_path: Path, capsys) -> None:
    preds, ann = tmp_path / "preds.json", tmp_path / "ann.json"
    preds.write_text(json.dumps({"a": {"prediction": 1, "answer": 1}}), encoding="utf-8")
    ann.write_text(json.dumps([_q("a", 1), _q("b", 0)]), encoding="utf-8")
    out = tmp_path / "m.json"
    args = ["--dataset", "tvqa", "--predictions", str(preds), "--annotations", str(ann), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert str(preds) in err and str(ann) in err and "1 of 2 GT question(s) have no prediction" in err
    assert not out.exists()
    assert main(["--dataset", "tvqa", "--predictions", str(tmp_path / "no.json"), "--annotations", str(ann)]) == 2
    assert "no.json" in capsys.readouterr().err
