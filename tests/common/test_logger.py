import json

from lavis.common.logger import MetricsLog


def test_metrics_log_writes_jsonl_and_tensorboard_scalars(tmp_path):
    log = MetricsLog(tmp_path, tensorboard=True)
    log.log("train", 3, loss=0.5, lr=1e-3, nested={"R1@0.5": 40.0}, note="text")
    log.close()
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert rows[0]["kind"] == "train" and rows[0]["step"] == 3 and rows[0]["loss"] == 0.5
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tensorboard").iterdir())


def test_disabled_log_writes_nothing(tmp_path):
    MetricsLog(tmp_path, enabled=False).log("train", 1, loss=1.0)
    assert not (tmp_path / "log.jsonl").exists()
