"""Training the tiny Mr. BLIP (frozen ViT) through the frozen-feature cache: same losses, hits, the build command."""

from __future__ import annotations

import re

import pytest
from run_helpers import read_log, run_module, tiny_experiment, write_config

from lavis.common.config import config_from_dict
from lavis.common.errors import ConfigError
from lavis.models.feature_cache import FrozenFeatureCache
from lavis.runners.launch import run_training

EVAL_AS_TRAIN = {"name": "video_eval", "n_frms": 4, "image_size": 32}  # the same frames every epoch


def experiment(tmp, out: str, cache: dict | None = None, **run) -> dict:
    cfg = tiny_experiment(
        tmp, out=out, train=6, val=2, test=2, **{"valid_splits": [], "test_splits": [], **run}
    )
    cfg["model"]["freeze_vit"] = True
    cfg["datasets"]["synthetic_mr"]["vis_processor"]["train"] = dict(EVAL_AS_TRAIN)
    if cache is not None:
        cfg["model"]["feature_cache"] = cache
    return cfg


def train_losses(out) -> list[float]:
    return [row["loss"] for row in read_log(out / "log.jsonl") if row["kind"] == "train"]


@pytest.fixture
def read_results(monkeypatch) -> list[bool]:
    """One entry per cache read: True for a hit."""
    seen: list[bool] = []
    original = FrozenFeatureCache.read

    def spy(self, *args, **kwargs):
        value = original(self, *args, **kwargs)
        seen.append(value is not None)
        return value

    monkeypatch.setattr(FrozenFeatureCache, "read", spy)
    return seen


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> list[float]:
    tmp = tmp_path_factory.mktemp("nocache")
    run_training(config_from_dict(experiment(tmp, "plain")))
    return train_losses(tmp / "plain")


@pytest.mark.parametrize("dtype,tol", [("fp32", 1e-5), ("bf16", 1e-3)])
def test_cached_training_matches_uncached_losses(tmp_path, baseline, read_results, dtype, tol):
    cache = {"root": str(tmp_path / "features"), "level": "vit", "dtype": dtype}
    run_training(config_from_dict(experiment(tmp_path, "cached", cache)))
    losses = train_losses(tmp_path / "cached")
    assert len(losses) == len(baseline) >= 4  # 2 epochs, logged every step
    for got, want in zip(losses, baseline):
        assert abs(got - want) <= tol * max(1.0, abs(want)), (losses, baseline)
    assert any(read_results) and not all(read_results)  # the first epoch fills, the second reads
    half = len(read_results) // 2
    assert all(read_results[half:]), "every read of the second epoch should hit"


def test_pixel_augmentation_in_the_config_is_refused(tmp_path):
    cfg = experiment(tmp_path, "refused", {"root": str(tmp_path / "features")})
    cfg["datasets"]["synthetic_mr"]["vis_processor"]["train"] = {
        "name": "video_train",
        "n_frms": 4,
        "image_size": 32,
        "min_scale": 0.8,
    }
    with pytest.raises(ConfigError, match=r"datasets\.synthetic_mr\.vis_processor\.train\.min_scale: 1\.0"):
        run_training(config_from_dict(cfg))


def test_build_command_fills_the_cache_that_training_reads(tmp_path, read_results):
    cache = {"root": str(tmp_path / "features"), "level": "vit", "dtype": "bf16"}
    path = write_config(tmp_path / "cfg.yaml", experiment(tmp_path, "built", cache))
    first = run_module("lavis.cache", "build", "--cfg-path", str(path), "--splits", "train")
    assert first.returncode == 0, first.stderr[-2000:]
    counts = re.search(
        r"(\d+) samples computed, (\d+) already present.*?(\d+) entries, ([\d.]+) MiB on disk", first.stdout
    )
    assert counts, first.stdout
    computed, present, entries = int(counts[1]), int(counts[2]), int(counts[3])
    assert computed == entries > 0 and computed + present >= 6
    again = run_module("lavis.cache", "build", "--cfg-path", str(path), "--splits", "train")
    assert again.returncode == 0 and " 0 samples computed" in again.stdout, again.stdout
    run_training(config_from_dict(experiment(tmp_path, "built", cache, max_epoch=1)))
    assert read_results and all(read_results)  # training never ran the ViT


def test_build_command_without_a_cache_is_a_clear_error(tmp_path):
    path = write_config(tmp_path / "cfg.yaml", experiment(tmp_path, "none"))
    proc = run_module("lavis.cache", "build", "--cfg-path", str(path))
    assert proc.returncode == 2 and "model.feature_cache is null" in proc.stderr


def test_evaluation_reads_the_cache_the_build_filled(tmp_path, read_results):
    from lavis.cache import build_cache
    from lavis.runners.launch import run_evaluation

    cache = {"root": str(tmp_path / "features"), "level": "vit", "dtype": "bf16"}
    cfg = experiment(tmp_path, "eval", cache, evaluate=True, test_splits=["test"])
    result = build_cache(config_from_dict(cfg), ["test"])
    assert result["computed"] > 0 and result["entries"] == result["computed"]
    read_results.clear()
    run_evaluation(config_from_dict(cfg))
    assert read_results and all(read_results)


def test_lavis_check_reports_what_the_cache_refuses_before_anything_is_built(tmp_path, capsys):
    from lavis.check import main as check

    cache = {"root": str(tmp_path / "features")}
    cfg = experiment(tmp_path, "check", cache)
    assert check(["--cfg-path", str(write_config(tmp_path / "ok.yaml", cfg))]) == 0
    crop = {"name": "video_train", "n_frms": 4, "image_size": 32, "min_scale": 0.5}
    cfg["datasets"]["synthetic_mr"]["vis_processor"]["train"] = crop
    assert check(["--cfg-path", str(write_config(tmp_path / "crop.yaml", cfg))]) == 2
    assert "vis_processor.train.min_scale: 1.0" in capsys.readouterr().err
    cfg = experiment(tmp_path, "check", {**cache, "level": "qformer"})
    assert check(["--cfg-path", str(write_config(tmp_path / "qformer.yaml", cfg))]) == 2
    assert "train_ln_vision is true" in capsys.readouterr().err
