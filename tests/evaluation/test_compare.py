"""The comparison table of the demos: one column per run plus the whole-video baseline."""

from __future__ import annotations

import json

from lavis.evaluation.compare import main


def write(path, r05, baseline=None):
    data = {
        "summary": {"R1@0.3": r05 + 10, "R1@0.5": r05, "R1@0.7": r05 - 10, "mIoU": r05 - 5, "mAP": r05 - 1}
    }
    if baseline is not None:
        data["whole_video_baseline"] = {
            "R1@0.3": 3.0,
            "R1@0.5": baseline,
            "R1@0.7": 0.0,
            "mIoU": 30.0,
            "mAP": 1.0,
        }
    path.write_text(json.dumps(data))
    return path


def test_table_and_json(tmp_path, capsys):
    a = write(tmp_path / "a.json", 80.0, baseline=0.5)
    b = write(tmp_path / "b.json", 20.0)
    assert main([f"SMS={a}", f"Mr. BLIP={b}", "--out", str(tmp_path / "c.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["metric", "SMS", "Mr.", "BLIP", "whole", "video"]
    assert lines[2].split() == ["R1@0.5", "80.00", "20.00", "0.50"]
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["runs"]["Mr. BLIP"]["R1@0.5"] == 20.0 and saved["runs"]["whole video"]["mIoU"] == 30.0


def test_missing_run_is_one_error_line(tmp_path, capsys):
    assert main([f"SMS={tmp_path / 'nope.json'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: SMS: metrics file not found") and "Traceback" not in err
