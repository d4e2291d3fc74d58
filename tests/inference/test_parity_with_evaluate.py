"""The API and lavis-predict give the windows lavis.evaluate gives for the same videos and queries."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lavis
from lavis.inference import probe_video
from lavis.inference.results import clip_windows

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a lavis.evaluate and a lavis-predict process (~60 s on a 2-core CPU)
QUERIES = ["the screen turns red", "a person drinks a glass of water", "a blue square appears"]


def run_module(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )


@pytest.fixture(scope="module")
def evaluated(tiny_mr_checkpoint, shared_videos, tmp_path_factory):
    """``lavis.evaluate`` with the checkpoint's own config, its dataset swapped for the shared clips."""
    tmp = tmp_path_factory.mktemp("parity")
    records = []
    for video in shared_videos:
        duration = probe_video(video).duration
        for k, query in enumerate(QUERIES):
            records.append(
                {
                    "video": video.stem,
                    "qid": f"{video.stem}-{k}",
                    "query": query,
                    "duration": duration,
                    "relevant_windows": [[0.0, 1.0]],
                }
            )
    ann = tmp / "test.json"
    ann.write_text(json.dumps(records))
    cfg = yaml.safe_load((tiny_mr_checkpoint.parent / "config.yaml").read_text())
    processor = cfg["datasets"]["synthetic_mr"]["vis_processor"]
    cfg["datasets"] = {
        "qvh": {
            "video_root": str(shared_videos[0].parent),
            "ann_paths": {"test": str(ann)},
            "vis_processor": processor,
        }
    }
    cfg["run"].update(output_dir=str(tmp / "eval"), test_splits=["test"], report_whole_video_baseline=False)
    cfg_path = tmp / "eval.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = run_module("lavis.evaluate", "--cfg-path", str(cfg_path), "--checkpoint", str(tiny_mr_checkpoint))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (tmp / "eval" / "result" / "test_eval_predictions.jsonl").read_text().splitlines()
    by_qid = {rec["qid"]: rec for rec in map(json.loads, lines)}
    assert len(by_qid) == len(records)
    return tmp, records, by_qid


def test_api_gives_the_windows_of_evaluate(tiny_mr_checkpoint, shared_videos, evaluated):
    _, records, by_qid = evaluated
    predictor = lavis.load_model(checkpoint=tiny_mr_checkpoint, device="cpu")
    for video in shared_videos:
        mine = [r for r in records if r["video"] == video.stem]
        results = predictor.moments_batch(video, [r["query"] for r in mine], [r["qid"] for r in mine])
        for result in results:
            ref = by_qid[result.qid]
            assert result.raw_windows == ref["pred_windows"], result.qid
            assert result.text == ref["prediction"] and result.valid == ref["valid"]
            assert result.windows == clip_windows(ref["pred_windows"], ref["duration"])


def test_cli_gives_the_windows_of_evaluate(tiny_mr_checkpoint, shared_videos, evaluated):
    tmp, records, by_qid = evaluated
    queries = tmp / "queries.jsonl"
    queries.write_text(
        "".join(
            json.dumps({"video": r["video"], "qid": r["qid"], "query": r["query"]}) + "\n" for r in records
        )
    )
    out = tmp / "cli.jsonl"
    proc = run_module(
        "lavis.predict",
        "--checkpoint",
        str(tiny_mr_checkpoint),
        "--device",
        "cpu",
        str(shared_videos[0].parent),
        "--queries",
        str(queries),
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(records)
    for row in rows:
        ref = by_qid[row["qid"]]
        assert row["raw_windows"] == ref["pred_windows"], row["qid"]
        expected = [w.to_list() for w in clip_windows(ref["pred_windows"], ref["duration"])]
        assert row["pred_relevant_windows"] == expected
