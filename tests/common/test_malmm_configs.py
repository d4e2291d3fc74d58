"""MA-LMM's experiment configs carry the published settings (reference §A.14) and their run scripts point at them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lavis.common.config import load_config

REPO = Path(__file__).resolve().parents[2]
# dataset: (task, frames, M, init_lr, epochs, batch/GPU, accum, max_len, min_len, returned beams, test split)
PUBLISHED = {
    "lvu": ("video_classification", 100, 20, 1e-4, 20, 16, 1, 5, 1, 5, "test"),
    "breakfast": ("video_classification", 100, 20, 1e-4, 20, 16, 1, 20, 1, 5, "val"),
    "coin": ("video_classification", 100, 20, 1e-4, 20, 16, 1, 20, 1, 5, "val"),
    "msrvtt_qa": ("video_qa", 20, 10, 1e-4, 5, 32, 1, 10, 1, 5, "test"),
    "msvd_qa": ("video_qa", 20, 10, 1e-4, 5, 32, 1, 10, 1, 5, "test"),
    "activitynet_qa": ("video_qa", 20, 10, 1e-4, 5, 32, 1, 10, 1, 5, "test"),
    "msrvtt_caption": ("video_captioning", 80, 40, 1e-5, 10, 16, 2, 50, 1, 1, "test"),
    "msvd_caption": ("video_captioning", 80, 40, 1e-5, 10, 16, 2, 50, 1, 1, "test"),
    "youcook2": ("video_captioning", 80, 40, 1e-4, 10, 16, 2, 30, 2, 1, "val"),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_train_config_has_the_published_settings(name):
    task, frames, m, lr, epochs, bs, accum, max_len, min_len, beams, test_split = PUBLISHED[name]
    cfg = load_config(REPO / "configs/malmm/train" / f"{name}.yaml")
    assert cfg.model.arch == "blip2_vicuna_instruct_malmm" and cfg.model.model_type == "vicuna7b"
    assert (
        cfg.model.memory_bank_length == m
        and cfg.model.compression == "mbc"
        and cfg.model.max_num_frames >= frames
    )
    assert cfg.model.freeze_vit and cfg.model.freeze_llm and not cfg.model.freeze_qformer
    assert cfg.model.pretrained.endswith("instruct_blip_vicuna7b_trimmed.pth") and cfg.model.finetuned is None
    ds = cfg.datasets[name]
    assert ds.vis_processor.train.n_frms == frames and ds.vis_processor.eval.n_frms == frames
    assert ds.vis_processor.eval.name == ("video_linspace_eval")
    assert ds.vis_processor.train.flip_prob == 0.5
    run = cfg.run
    assert (run.task, run.init_lr, run.max_epoch, run.batch_size_train, run.accum_grad_iters) == (
        task,
        lr,
        epochs,
        bs,
        accum,
    )
    assert (run.warmup_steps, run.warmup_lr, run.min_lr, run.weight_decay) == (1000, 1e-8, 0.0, 0.05)
    assert (run.amp, run.seed, run.lr_sched) == ("fp16", 42, "linear_warmup_cosine_lr")
    gen = run.generation
    assert (gen.num_beams, gen.max_new_tokens, gen.min_new_tokens, gen.num_return_sequences) == (
        5,
        max_len,
        min_len,
        beams,
    )
    assert gen.repetition_penalty == 1.5
    assert list(run.test_splits) == [test_split]
    if task == "video_qa":
        assert list(run.valid_splits) == ["val", "test"]
        assert run.first_word_only == (name != "activitynet_qa")
    if task == "video_classification":
        assert cfg.model.max_txt_len == 30


@pytest.mark.parametrize("name", PUBLISHED)
def test_eval_config_loads_the_released_checkpoint_or_runs_zero_shot(name):
    path = REPO / "configs/malmm/eval" / f"{name}.yaml"
    cfg = load_config(path)
    assert cfg.run.evaluate and cfg.model.finetuned.endswith("checkpoint_best.pth")
    assert cfg.model.memory_bank_length == PUBLISHED[name][2]
    zero = load_config(path, ["model.finetuned=null"])
    assert zero.model.finetuned is None and zero.model.pretrained.endswith(
        "instruct_blip_vicuna7b_trimmed.pth"
    )


def test_lvu_task_is_an_option_and_a_checked_choice():
    path = REPO / "configs/malmm/train/lvu.yaml"
    assert load_config(path, ["datasets.lvu.task=way_speaking"]).datasets["lvu"].task == "way_speaking"
    with pytest.raises(Exception, match="task"):
        load_config(path, ["datasets.lvu.task=speaking"])


@pytest.mark.parametrize("kind", ["train", "eval"])
@pytest.mark.parametrize("name", PUBLISHED)
def test_run_scripts_point_at_their_config(kind, name):
    script = REPO / "run_scripts/malmm" / kind / f"{name}.sh"
    text = script.read_text()
    entry = "lavis.train" if kind == "train" else "lavis.evaluate"
    assert f"-m {entry} --cfg-path configs/malmm/{kind}/{name}.yaml" in text
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    for option in re.findall(r"opts(?:\+)?=\(([^)]*)\)", text):
        for item in option.split():
            assert "=" in item
