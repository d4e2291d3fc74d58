from pathlib import Path

import pytest

from lavis.common.config import config_from_dict, load_config
from lavis.common.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


TINY_FRAMES = {"train": {"name": "video_train", "image_size": 32}, "eval": {"name": "video_eval", "image_size": 32}}


def base(**overrides):
    cfg = {
        "model": {"arch": "blip2_mr", "model_type": "tiny"},
        "datasets": {"qvh": {"vis_processor": TINY_FRAMES}},  # the tiny model reads 32 px frames
        "run": {"task": "moment_retrieval"},
    }
    for section, values in overrides.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def test_unknown_run_key_names_path_suggestion_and_allowed_keys():
    with pytest.raises(ConfigError) as err:
        config_from_dict(base(run={"init_lrr": 1e-4}))
    msg = str(err.value)
    assert "unknown key 'run.init_lrr'" in msg
    assert "Did you mean 'init_lr'" in msg
    assert "Allowed keys under 'run'" in msg and "max_epoch" in msg


def test_unknown_nested_model_key():
    with pytest.raises(ConfigError, match=r"unknown key 'model\.vision\.widht'.*Did you mean 'width'"):
        config_from_dict(base(model={"vision": {"widht": 3}}))


def test_unknown_processor_parameter():
    cfg = base(datasets={"qvh": {"vis_processor": {"train": {"name": "video_train", "n_frames": 8}}}})
    with pytest.raises(ConfigError, match=r"datasets\.qvh\.vis_processor\.train\.n_frames.*Did you mean 'n_frms'"):
        config_from_dict(cfg)


def test_unknown_processor_name_is_a_registry_error():
    cfg = base(datasets={"qvh": {"vis_processor": {"train": {"name": "video_trian"}}}})
    with pytest.raises(Exception, match="Did you mean 'video_train'"):
        config_from_dict(cfg)


def test_unknown_section_and_unknown_builder():
    with pytest.raises(ConfigError, match="unknown top-level section 'rn'"):
        config_from_dict({**base(), "rn": {}})
    with pytest.raises(Exception, match="Unknown dataset builder 'qvhh'.*Did you mean 'qvh'"):
        config_from_dict({**base(), "datasets": {"qvhh": {}}})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"run\.max_epoch"):
        config_from_dict(base(run={"max_epoch": "many"}))


def test_unknown_model_type_lists_presets():
    with pytest.raises(ConfigError, match="unknown model_type 'tinyy'.*Available: pretrain_flant5xl, tiny"):
        config_from_dict(base(model={"model_type": "tinyy"}))


def test_precedence_preset_then_yaml_then_options():
    cfg = config_from_dict(base(model={"qformer": {"num_query_tokens": 8}}), ["model.qformer.num_layers=3"])
    assert cfg.model.vision.width == 64  # tiny preset over the dataclass default (1408)
    assert cfg.model.qformer.num_query_tokens == 8  # experiment yaml over the preset
    assert cfg.model.qformer.num_layers == 3  # --options over everything


def test_options_can_choose_the_model_preset():
    cfg = config_from_dict(base(model={"model_type": "pretrain_flant5xl"}), ["model.model_type=tiny"])
    assert cfg.model.vision.width == 64


def test_paths_interpolate_into_datasets(tmp_path):
    cfg = config_from_dict(base(paths={"data_root": str(tmp_path)}))
    assert cfg.datasets["qvh"].video_root == f"{tmp_path}/qvh/videos"
    assert cfg.datasets["qvh"].ann_paths.val == f"{tmp_path}/qvh/annotations/val_float.json"


def test_bad_option_syntax():
    with pytest.raises(ConfigError, match="key=value"):
        config_from_dict(base(), ["run.max_epoch"])


def test_fixed_choices_are_checked_when_the_config_loads():
    with pytest.raises(ConfigError, match=r"'run\.amp' must be one of off, bf16, fp16; got 'bf61'"):
        config_from_dict(base(run={"amp": "bf61"}))
    with pytest.raises(ConfigError, match=r"'model\.time_format' must be one of seconds_integers, relative_integers"):
        config_from_dict(base(), ["model.time_format=seconds"])
    with pytest.raises(ConfigError, match=r"'model\.frame_token_aggregation' must be one of null, mean"):
        config_from_dict(base(model={"frame_token_aggregation": "max"}))
    with pytest.raises(ConfigError, match=r"'run\.metric_protocol' must be one of mr_blip, official"):
        config_from_dict(base(run={"metric_protocol": "offical"}))
    with pytest.raises(ConfigError, match=r"'datasets\.qvh\.on_bad_video' must be one of error, skip"):
        config_from_dict(base(datasets={"qvh": {"vis_processor": TINY_FRAMES, "on_bad_video": "ignore"}}))
    with pytest.raises(ConfigError, match=r"'model\.llm\.kind' must be one of t5, causal"):
        config_from_dict(base(), ["model.llm.kind=seq2seq"])


def test_llm_arch_typos_fail_like_any_other_key():
    with pytest.raises(ConfigError, match=r"unknown key 'model\.llm\.arch\.d_modle'.*Did you mean 'd_model'"):
        config_from_dict(base(), ["model.llm.arch.d_modle=64"])


def test_processor_image_size_must_match_the_vision_encoder():
    cfg = base(datasets={"qvh": {"vis_processor": {"train": {"name": "video_train", "image_size": 224},
                                                   "eval": {"name": "video_eval", "image_size": 32}}}})
    with pytest.raises(ConfigError, match=r"'datasets\.qvh\.vis_processor\.train\.image_size' is 224 but "
                                          r"'model\.vision\.img_size' is 32"):
        config_from_dict(cfg)


def test_yaml_syntax_error_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  task: [unclosed\n")
    with pytest.raises(ConfigError, match=str(bad)):
        load_config(bad)


@pytest.mark.parametrize("path", sorted((REPO / "configs").rglob("*.yaml")), ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_config_validates(path):
    cfg = load_config(path)
    assert cfg.run.task
    assert cfg.model.arch
