"""The moment-retrieval CLI on windows stored in an annotation field (CALCE's ``stage1_result``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lavis.common.errors import DataError
from lavis.common.io import read_json
from lavis.evaluation.moment_retrieval import evaluate_annotation_field, main

REPO_ROOT = Path(__file__).resolve().parents[2]

# CALCE README, stage 1: (R1@0.5, R1@0.7, mIoU, mAP@0.5, mAP@0.75); Charades reports no mAP.
CALCE_STAGE1 = {
    "qvh/val_stage2.json": (78.00, 64.84, 72.89, 70.81, 57.73),
    "charades/test_stage2.json": (68.87, 49.87, 59.13, None, None),
}
HEADLINE = ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mIoU", "MR-full-mAP@0.5", "MR-full-mAP@0.75")


def _calce_file(shared_data: Path, name: str) -> Path:
    path = shared_data / "calce_annotations" / name
    if not path.is_file():
        pytest.skip(f"CALCE annotation file not found: {path}")
    return path


@pytest.mark.parametrize("name", sorted(CALCE_STAGE1))
def test_golden_calce_stage1_numbers(shared_data: Path, name: str) -> None:
    """Stage-1 windows are integer, start-sorted and unscored: generation order, no cap (mr_blip)."""
    metrics = evaluate_annotation_field(read_json(_calce_file(shared_data, name)), "stage1_result")
    for key, expected in zip(HEADLINE, CALCE_STAGE1[name]):
        if expected is not None:
            assert metrics["brief"][key] == expected, key
    assert metrics["brief"]["MR-full-invalid"] == 0.0
    assert list(metrics) == ["brief", "full", "long", "middle", "short"]


def test_main_prints_headline_first_and_writes_json(shared_data: Path, tmp_path: Path, capsys) -> None:
    path = _calce_file(shared_data, "qvh/val_stage2.json")
    out = tmp_path / "m" / "stage1.json"
    assert main(["--annotations", str(path), "--field", "stage1_result", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:7]] == list(HEADLINE)
    assert lines[2].split()[1] == "78.00"
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["brief"]["MR-full-mAP@0.75"] == 57.73


def test_module_is_runnable(shared_data: Path) -> None:
    path = _calce_file(shared_data, "charades/test_stage2.json")
    proc = subprocess.run(
        [sys.executable, "-m", "lavis.evaluation.moment_retrieval", "--annotations", str(path)]
        + ["--field", "stage1_result"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "MR-full-R1@0.5     68.87" in proc.stdout


def _write(tmp_path: Path, records: list) -> str:
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return str(path)


def test_scores_hand_built_file() -> None:
    """q1: first window [0, 10] vs GT [0, 10] -> IoU 1, AP 1. q2: [[5, 15]] vs GT [0, 10] -> IoU 5/15;
    R1@0.5 = 50, mIoU = (1 + 1/3) / 2 = 66.67, mAP@0.5 = (1 + 0) / 2 = 50."""
    records = [
        {"qid": "a", "relevant_windows": [[0, 10]], "pred": [[0, 10], [20, 30]]},
        {"qid": "b", "relevant_windows": [[0, 10]], "pred": [[5, 15]]},
    ]
    brief = evaluate_annotation_field(records, "pred")["brief"]
    assert (brief["MR-full-R1@0.5"], brief["MR-full-mIoU"], brief["MR-full-mAP@0.5"]) == (50.0, 66.67, 50.0)
    assert brief["MR-full-R1@0.3"] == 100.0


def test_user_errors_exit_2_with_one_line(tmp_path: Path, capsys) -> None:
    good = {"qid": "a", "relevant_windows": [[0, 10]], "pred": [[0, 10]]}
    cases = {
        "has no field 'pred'": [good, {"qid": "b", "relevant_windows": [[0, 10]]}],
        "expected [start, end, score]": [good],  # the official protocol needs scores
        "expected a JSON list": {"a": good},
    }
    for message, records in cases.items():
        path = _write(tmp_path, records)
        protocol = ["--protocol", "official"] if "score" in message else []
        out = tmp_path / "m.json"
        code = main(["--annotations", path, "--field", "pred", "--out", str(out), *protocol])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and message in err, err
        assert len(err.strip().splitlines()) == 1 and path in err
        assert not out.exists()
    assert main(["--annotations", str(tmp_path / "nope.json"), "--field", "pred"]) == 2
    assert "nope.json" in capsys.readouterr().err


def test_record_without_qid_is_named() -> None:
    with pytest.raises(DataError, match=r"record #1 is not an object with a 'qid'"):
        evaluate_annotation_field([{"qid": 1, "relevant_windows": [[0, 1]], "p": [[0, 1]]}, {}], "p")
