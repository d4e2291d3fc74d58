"""Golden test: moment_detr's sample predictions must score exactly as its published metrics file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lavis.common.io import read_json, read_jsonl
from lavis.evaluation.qvhighlights import eval_submission, format_table

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def golden(shared_data: Path) -> dict[str, Any]:
    root = shared_data / "qvhighlights"
    paths = {
        "submission": root / "standalone_eval_sample" / "sample_val_preds.jsonl",
        "gt": root / "highlight_val_release.jsonl",
        "reference": root / "standalone_eval_sample" / "sample_val_preds_metrics_raw.json",
    }
    for path in paths.values():
        if not path.is_file():
            pytest.skip(f"golden file not found: {path}")
    return {
        "paths": paths,
        "submission": read_jsonl(paths["submission"]),
        "gt": read_jsonl(paths["gt"]),
        "reference": read_json(paths["reference"]),
    }


@pytest.fixture(scope="module")
def official_metrics(golden: dict[str, Any]) -> dict[str, Any]:
    return eval_submission(golden["submission"], golden["gt"])


def _differences(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Every differing number and every key-order difference, so a failure shows all of them."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a dict, got {actual!r}"]
        out = []
        if list(actual) != list(expected):
            out.append(f"{path}: key order {list(actual)} != {list(expected)}")
        for key in expected:
            out += _differences(actual.get(key, "<missing>"), expected[key], f"{path}/{key}")
        return out
    if type(actual) is not type(expected) or actual != expected:
        return [f"{path}: {actual!r} != {expected!r}"]
    return []


def test_golden_every_number_and_key_order(golden: dict[str, Any], official_metrics: dict[str, Any]) -> None:
    assert _differences(official_metrics, golden["reference"]) == []
    assert official_metrics == golden["reference"]


def test_golden_sections(official_metrics: dict[str, Any]) -> None:
    assert list(official_metrics) == [
        "brief", "HL-min-Fair", "HL-min-Good", "HL-min-VeryGood", "full", "long", "middle", "short",
    ]  # fmt: skip
    assert official_metrics["brief"]["MR-full-R1@0.5"] == 53.94
    assert official_metrics["brief"]["HL-min-VeryGood-mAP"] == 35.65


def test_golden_mr_blip_protocol_agrees_on_sorted_capped_predictions(
    golden: dict[str, Any], official_metrics: dict[str, Any]
) -> None:
    """The sample lists <= 10 windows per query, already sorted by score, so ranking by generation
    order must give the official numbers; mr_blip only adds metrics."""
    assert all(len(r["pred_relevant_windows"]) <= 10 for r in golden["submission"])
    metrics = eval_submission(golden["submission"], golden["gt"], protocol="mr_blip")
    for bucket in ("full", "short", "middle", "long"):
        assert metrics[bucket]["MR-mAP"] == official_metrics[bucket]["MR-mAP"]
        r1 = dict(metrics[bucket]["MR-R1"])
        assert r1.pop("0.3") >= r1["0.5"]
        assert r1 == official_metrics[bucket]["MR-R1"]
        assert metrics[bucket]["MR-invalid"] == 0.0
        assert 0 < metrics[bucket]["MR-mIoU"] < 100
    assert metrics["brief"]["MR-full-invalid"] == 0.0
    assert "MR-full-R1@0.3" in metrics["brief"] and "MR-full-mIoU" in metrics["brief"]


def test_format_table_lists_brief_metrics(official_metrics: dict[str, Any]) -> None:
    table = format_table(official_metrics)
    assert "MR-full-R1@0.5" in table and "53.94" in table and "HL-min-VeryGood-Hit1" in table
    assert all(len(line) <= 110 for line in table.splitlines())


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "lavis.evaluation.qvhighlights", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_reference_json(golden: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "metrics" / "sample_val_preds_metrics.json"
    paths = golden["paths"]
    proc = _run_cli("--submission", str(paths["submission"]), "--gt", str(paths["gt"]), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "MR-full-mAP" in proc.stdout
    written = json.loads(out.read_text(encoding="utf-8"))
    assert _differences(written, golden["reference"]) == []


def test_cli_reports_user_errors_in_one_line(tmp_path: Path) -> None:
    """A qid mismatch is the user's problem: exit code 2, one line on stderr, no traceback."""
    gt = tmp_path / "gt.jsonl"
    pred = tmp_path / "pred.jsonl"
    gt.write_text("\n".join(json.dumps({"qid": q, "relevant_windows": [[0, 10]]}) for q in (1, 2)) + "\n")
    pred.write_text(json.dumps({"qid": 1, "pred_relevant_windows": [[0, 10, 1.0]]}) + "\n")
    proc = _run_cli("--submission", str(pred), "--gt", str(gt), "--out", str(tmp_path / "m.json"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "1 of 2 GT qid(s) have no prediction" in proc.stderr
    assert not (tmp_path / "m.json").exists()

    missing = _run_cli("--submission", str(tmp_path / "nope.jsonl"), "--gt", str(gt))
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr and "Traceback" not in missing.stderr
