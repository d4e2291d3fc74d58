import pytest

from lavis.common import registry
from lavis.common.errors import RegistryError


def test_builtins_are_registered():
    assert "blip2_mr" in registry.list_models()
    assert {"qvh", "charades_sta", "anet", "synthetic_mr"} <= set(registry.list_datasets())
    assert "moment_retrieval" in registry.list_tasks()
    assert "runner_base" in registry.list_runners()
    assert {"linear_warmup_cosine_lr", "linear_warmup_step_lr", "constant_lr"} <= set(registry.list_lr_schedulers())
    assert {"video_train", "video_eval"} <= set(registry.list_processors())


def test_unknown_name_suggests_close_match_and_lists_registered():
    with pytest.raises(RegistryError) as err:
        registry.get_model_class("blip2_rm")
    msg = str(err.value)
    assert "Unknown model 'blip2_rm'" in msg
    assert "Did you mean 'blip2_mr'" in msg
    assert "Registered models:" in msg and "blip2_mr" in msg


def test_duplicate_registration_is_refused():
    reg = registry.Registry("thing")
    reg.register("a")(int)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a")(float)
