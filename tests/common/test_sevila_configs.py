"""SeViLA's experiment configs load, validate, and carry the published settings (paper Table 11, run scripts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lavis.common.config import load_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "sevila"
FINETUNE = {  # batch/GPU, lr, warmup, accum, epochs (Table 11)
    "nextqa": (8, 3e-5, 1000, 2),
    "star": (8, 3e-5, 1000, 2),
    "how2qa": (4, 3e-5, 3000, 4),
    "tvqa": (4, 3e-5, 8000, 4),
    "vlep": (4, 1e-5, 1200, 4),
}
OPTIONS = {"nextqa": 5, "star": 4, "how2qa": 4, "tvqa": 5, "vlep": 2}


@pytest.mark.parametrize("ds", sorted(FINETUNE))
def test_answerer_finetuning_configs(ds):
    cfg = load_config(CONFIGS / "train" / f"{ds}.yaml")
    bs, lr, warmup, accum = FINETUNE[ds]
    run = cfg.run
    assert (
        run.task,
        run.batch_size_train,
        run.init_lr,
        run.warmup_steps,
        run.accum_grad_iters,
        run.max_epoch,
    ) == ("multiple_choice_qa", bs, lr, warmup, accum, 10)
    assert (run.warmup_lr, run.weight_decay, run.seed, run.lr_sched) == (
        1e-8,
        0.05,
        42,
        "linear_warmup_cosine_lr",
    )
    assert (cfg.model.arch, cfg.model.mode, cfg.model.num_keyframes, cfg.model.keyframes) == (
        "sevila",
        "answerer_finetune",
        4,
        "localizer",
    )
    assert cfg.model.pretrained.endswith("sevila_pretrained.pth")
    data = cfg.datasets[ds]
    assert data.vis_processor.train.n_frms == data.vis_processor.eval.n_frms == 32
    assert data.num_options == OPTIONS[ds]


@pytest.mark.parametrize("ds", sorted(FINETUNE))
def test_self_refinement_configs(ds):
    cfg = load_config(CONFIGS / "train" / f"{ds}_refine.yaml")
    run = cfg.run
    assert (run.batch_size_train, run.init_lr, run.accum_grad_iters, run.max_epoch) == (16, 3e-5, 1, 10)
    assert run.warmup_steps == (2000 if ds == "tvqa" else 500)
    assert cfg.model.mode == "localizer_refine" and cfg.model.localizer_init is None
    assert (cfg.datasets[ds].vis_processor.train.n_frms, cfg.datasets[ds].vis_processor.eval.n_frms) == (
        4,
        32,
    )


@pytest.mark.parametrize("ds", [*sorted(FINETUNE), "nextgqa"])
def test_inference_configs(ds):
    cfg = load_config(CONFIGS / "eval" / f"{ds}.yaml")
    assert (cfg.model.mode, cfg.model.num_keyframes, cfg.run.evaluate, cfg.run.task) == (
        "inference",
        4,
        True,
        "multiple_choice_qa",
    )
    assert cfg.datasets[ds].vis_processor.eval.n_frms == 32
    if ds == "nextgqa":
        assert cfg.run.grounding and cfg.run.test_splits == ["val", "test"]


def test_qvh_pretraining_config():
    cfg = load_config(CONFIGS / "train" / "qvh.yaml")
    run = cfg.run
    assert (run.task, run.init_lr, run.warmup_steps, run.max_epoch, run.batch_size_train) == (
        "moment_retrieval",
        3e-5,
        1000,
        80,
        16,
    )
    assert cfg.model.mode == "localizer_pretrain"
    assert cfg.model.localizer_init.endswith("blip2_pretrained_flant5xl.pth")
    assert (
        cfg.datasets["qvh"].vis_processor.train.n_frms,
        cfg.datasets["qvh"].vis_processor.eval.n_frms,
    ) == (
        4,
        75,
    )


def test_every_config_has_a_run_script_and_every_script_a_config():
    configs = {p.relative_to(CONFIGS).with_suffix("") for p in CONFIGS.rglob("*.yaml")}
    scripts_dir = REPO / "run_scripts" / "sevila"
    scripts = {p.relative_to(scripts_dir).with_suffix("") for p in scripts_dir.rglob("*.sh")}
    assert configs == scripts
    for rel in scripts:
        text = (scripts_dir / rel).with_suffix(".sh").read_text()
        assert f"configs/sevila/{rel}.yaml" in text
        assert ("lavis.evaluate" if rel.parts[0] == "eval" else "lavis.train") in text
