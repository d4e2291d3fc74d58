"""run.parallel=fsdp: two CPU processes (gloo) train the tiny model as DDP does, save DDP-format checkpoints, resume.

FSDP2 (``fully_shard``) runs on CPU with gloo in this torch: all-gather and reduce-scatter go through gloo.
"""

import json
import subprocess
import sys

import pytest
import torch
from run_helpers import REPO, python_env, read_log, tiny_experiment, write_config


def torchrun(cfg_path, port: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={port}",
            "-m",
            "lavis.train",
            "--cfg-path",
            str(cfg_path),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=900,
        cwd=REPO,
    )


def losses(path):
    return {row["step"]: row["loss"] for row in read_log(path) if row["kind"] == "train"}


def experiment(tmp_path, out, parallel, **run):
    common = dict(
        max_epoch=2,
        batch_size_train=2,
        batch_size_eval=1,  # 3 queries on 2 ranks: 2 evaluation batches on one, 1 on the other
        dist_timeout_minutes=3,  # a rank waiting on a collective the other never joins fails, not hangs
        accum_grad_iters=2,
        warmup_steps=1,
        grad_clip_norm=1.0,
        keep_epoch_checkpoints=True,
        parallel=parallel,
        valid_splits=["val"],
        test_splits=["test"],
    )
    common.update(run)
    cfg = tiny_experiment(tmp_path, out=out, train=8, val=3, test=3, **common)
    return write_config(tmp_path / f"{out}.yaml", cfg)


def assert_same_layout(a: dict, b: dict) -> None:
    """Two checkpoints have the same format: the same trainable tensors, the same optimizer state layout."""
    assert set(a["model"]) == set(b["model"])
    for key, value in a["model"].items():
        assert type(value) is torch.Tensor and value.shape == b["model"][key].shape, key
    assert set(a["optimizer"]["state"]) == set(b["optimizer"]["state"])
    assert [g["params"] for g in a["optimizer"]["param_groups"]] == [
        g["params"] for g in b["optimizer"]["param_groups"]
    ]
    for i, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            other = b["optimizer"]["state"][i][name]
            assert type(value) is type(other) and getattr(value, "shape", None) == getattr(
                other, "shape", None
            )


@pytest.mark.slow
def test_fsdp_trains_like_ddp_saves_ddp_format_and_resumes(tmp_path):
    ddp = torchrun(experiment(tmp_path, "ddp", "ddp"), 29541)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    fsdp = torchrun(experiment(tmp_path, "fsdp", "fsdp"), 29542)
    assert fsdp.returncode == 0, fsdp.stderr[-3000:]
    assert "FSDP:" in (tmp_path / "fsdp" / "log.txt").read_text()  # really sharded

    ref, got = losses(tmp_path / "ddp" / "log.jsonl"), losses(tmp_path / "fsdp" / "log.jsonl")
    assert sorted(ref) == sorted(got) and len(ref) >= 4
    for step in ref:
        assert got[step] == pytest.approx(ref[step], rel=1e-4, abs=1e-5), (step, ref, got)

    # the same checkpoint format, and (nearly) the same trained weights
    a = torch.load(tmp_path / "ddp" / "checkpoint_last.pth", weights_only=True)
    b = torch.load(tmp_path / "fsdp" / "checkpoint_last.pth", weights_only=True)
    assert_same_layout(a, b)
    for key, value in a["model"].items():
        torch.testing.assert_close(b["model"][key], value, rtol=1e-3, atol=1e-5)
    best = torch.load(tmp_path / "fsdp" / "checkpoint_best.pth", weights_only=True)
    assert set(best["model"]) == set(a["model"])

    # evaluation under FSDP: every query predicted exactly once
    folder = next((tmp_path / "cache" / "synthetic_mr").glob("spec_*"))
    gt = json.loads((folder / "test.json").read_text())
    preds = [
        json.loads(line) for line in (tmp_path / "fsdp" / "result" / "test_best_predictions.jsonl").open()
    ]
    assert sorted(p["qid"] for p in preds) == sorted(r["qid"] for r in gt)

    # resume epoch 1 from the end of epoch 0: from the FSDP checkpoint, and from the DDP one (same format)
    first_epoch = max(
        step
        for step, row in (
            (r["step"], r) for r in read_log(tmp_path / "fsdp" / "log.jsonl") if r["kind"] == "train"
        )
        if row["epoch"] == 0
    )
    for port, source in ((29543, "fsdp"), (29544, "ddp")):
        out = f"resume_from_{source}"
        cfg = experiment(
            tmp_path,
            out,
            "fsdp",
            valid_splits=[],
            test_splits=[],
            resume_ckpt_path=str(tmp_path / source / "checkpoint_epoch0.pth"),
            grad_checkpointing=source == "ddp",  # recomputation under FSDP: the same losses
        )
        resumed = torchrun(cfg, port)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        after = losses(tmp_path / out / "log.jsonl")
        assert sorted(after) == [s for s in sorted(ref) if s > first_epoch]
        for step, loss in after.items():
            assert loss == pytest.approx(ref[step], rel=1e-4, abs=1e-5), (source, step)


def test_optimizer_state_in_the_ddp_layout_round_trips():
    """full_optimizer_state (DCP, by parameter name) gives Optimizer.state_dict()'s layout; loading it back
    restores the same state (tied embeddings included: the tiny T5 ties them)."""
    sys.path.insert(0, str(REPO / "tests" / "models"))
    from model_helpers import fake_batch, tiny_model

    from lavis.runners.parallel import full_optimizer_state, load_full_optimizer_state

    model = tiny_model()
    opt = torch.optim.AdamW(model.optimizer_param_groups(0.05), lr=1e-3)
    model(fake_batch())["loss"].backward()
    opt.step()
    ours, native = full_optimizer_state(model, opt), opt.state_dict()
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in native["param_groups"]]
    assert set(ours["state"]) == set(native["state"])
    for i, state in native["state"].items():
        for key, value in state.items():
            torch.testing.assert_close(ours["state"][i][key], value)
    opt.zero_grad(set_to_none=True)
    fresh = torch.optim.AdamW(model.optimizer_param_groups(0.05), lr=1e-3)
    load_full_optimizer_state(model, fresh, ours)
    for i, state in fresh.state_dict()["state"].items():
        for key, value in state.items():
            torch.testing.assert_close(value, native["state"][i][key])


@pytest.mark.slow
def test_fsdp_with_a_partly_filled_feature_cache_trains_like_ddp(tmp_path):
    """Ranks whose frames hit the cache skip the frozen ViT while others compute it: FSDP keeps the ViT whole
    (no collective inside it, its weights hash as on one process), so mixed hits and misses neither hang nor
    change the losses."""
    cache = {"root": str(tmp_path / "features"), "level": "vit", "dtype": "fp32"}
    eval_frames = {"name": "video_eval", "n_frms": 4, "image_size": 32}  # the same frames every epoch

    def cfg(out, parallel):
        c = tiny_experiment(
            tmp_path,
            out=out,
            train=8,
            max_epoch=1,
            batch_size_train=2,
            parallel=parallel,
            valid_splits=[],
            test_splits=[],
            dist_timeout_minutes=3,
        )
        c["model"]["freeze_vit"] = True
        c["model"]["feature_cache"] = cache
        c["datasets"]["synthetic_mr"]["vis_processor"]["train"] = dict(eval_frames)
        return write_config(tmp_path / f"{out}.yaml", c)

    ddp = torchrun(cfg("ddp", "ddp"), 29545)  # fills the cache
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    entries = sorted((tmp_path / "features").rglob("*.safetensors"))
    assert len(entries) >= 4
    for entry in entries[::2]:  # half the samples now miss
        entry.unlink()
    fsdp = torchrun(cfg("fsdp", "fsdp"), 29546)
    assert fsdp.returncode == 0, fsdp.stderr[-3000:]
    assert "kept whole on every rank" in (tmp_path / "fsdp" / "log.txt").read_text()
    ref, got = losses(tmp_path / "ddp" / "log.jsonl"), losses(tmp_path / "fsdp" / "log.jsonl")
    assert sorted(ref) == sorted(got) and len(ref) >= 2
    for step in ref:
        assert got[step] == pytest.approx(ref[step], rel=1e-4, abs=1e-5), step
