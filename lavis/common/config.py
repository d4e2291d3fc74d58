"""Experiment configuration: load, merge, validate.

An experiment YAML has four sections::

    model:    {arch: <registered model>, model_type: <preset>, ...}
    datasets: {<registered builder>: {...}, ...}
    run:      {task: <registered task>, runner: runner_base, ...}
    paths:    {data_root: ..., checkpoint_root: ...}   # optional

Each section is merged over its defaults, lowest priority first:

1. the schema's dataclass defaults (the model's ``Config``, the builder's ``Config``, the task's run config);
2. the model preset YAML (``model_type``) or the dataset preset YAML (``type``) shipped in ``lavis/configs``;
3. the experiment YAML;
4. ``--options key=value`` overrides (these can also choose ``model_type`` and ``arch``).

Every key is checked against the schema *before* merging, so a typo fails with the key path, the file it
came from, and the allowed keys -- instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from lavis.common import registry
from lavis.common.errors import ConfigError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("model", "datasets", "run", "paths")


@dataclass
class PathsConfig:
    """Roots that the other sections interpolate (``${paths.data_root}/...``); set once per machine."""

    data_root: str = "${oc.env:LAVIS_DATA_ROOT,mr_BLIP_data}"
    checkpoint_root: str = "${oc.env:LAVIS_CHECKPOINT_ROOT,mr_BLIP_checkpoints}"
    cache_root: str = "${oc.env:LAVIS_CACHE_ROOT,.cache/lavis}"


def one_of(default: Any, *choices: Any) -> Any:
    """A dataclass field whose value must be one of ``choices``; checked when the config is loaded."""
    if default not in choices:
        raise ValueError(f"default {default!r} is not among the choices {choices}")
    return field(default=default, metadata={"choices": tuple(choices)})


@dataclass
class GenerationConfig:
    """Decoding settings handed to ``model.generate``: the one definition of their defaults."""

    num_beams: int = 5
    max_new_tokens: int = 50
    min_new_tokens: int = 1
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    do_sample: bool = False
    top_p: float = 0.9
    temperature: float = 1.0
    num_return_sequences: int = 1  # e.g. 5 beams returned for top-5 accuracy


@dataclass
class RunConfig:
    """Settings of the training/evaluation loop. Tasks extend this with their own fields."""

    task: str = "???"
    runner: str = "runner_base"
    # optimisation
    lr_sched: str = "linear_warmup_cosine_lr"
    init_lr: float = 1e-4
    min_lr: float = 0.0
    warmup_lr: float = 1e-8
    warmup_steps: int = 0
    warmup_ratio: float | None = None  # if set, overrides warmup_steps as a fraction of all optimizer steps
    lr_decay_rate: float = 0.9  # linear_warmup_step_lr only
    weight_decay: float = 0.05
    beta2: float = 0.999
    grad_clip_norm: float | None = None
    max_epoch: int = 1
    batch_size_train: int = 1
    batch_size_eval: int = 1
    accum_grad_iters: int = 1
    num_workers: int = 2
    amp: str = one_of("off", "off", "bf16", "fp16")  # fp16 uses a GradScaler
    grad_checkpointing: bool = False
    seed: int = 42
    # splits
    train_splits: list[str] = field(default_factory=lambda: ["train"])
    valid_splits: list[str] = field(default_factory=lambda: ["val"])
    test_splits: list[str] = field(default_factory=lambda: ["test"])
    val_freq: int = 1  # evaluate every N epochs
    # I/O
    output_dir: str = "output/run"
    save_freq_iters: int = 0  # also write checkpoint_last.pth every N optimizer steps (0: end of epoch only)
    keep_epoch_checkpoints: bool = False
    resume: bool = False  # continue from <output_dir>/checkpoint_last.pth if it exists
    resume_ckpt_path: str | None = None
    evaluate: bool = False
    log_freq: int = 10
    tensorboard: bool = False
    # devices
    device: str = "cuda"  # falls back to cpu (with a warning) when CUDA is unavailable
    dist_backend: str | None = None  # default: nccl on GPU, gloo on CPU
    # ddp: replicated weights; fsdp: FSDP2 fully_shard of every ViT / Q-Former / LLM block + the rest (root), for
    # training under torchrun (a single process, or evaluation alone, runs unsharded)
    parallel: str = one_of("ddp", "ddp", "fsdp")
    dist_timeout_minutes: int = 30
    generation: GenerationConfig = field(default_factory=GenerationConfig)


@dataclass
class Config:
    """A validated, fully merged experiment configuration."""

    model: DictConfig
    datasets: dict[str, DictConfig]
    run: DictConfig
    paths: DictConfig
    source: str = "<memory>"

    def to_container(self) -> dict[str, Any]:
        return {
            "model": OmegaConf.to_container(self.model, resolve=True),
            "datasets": {k: OmegaConf.to_container(v, resolve=True) for k, v in self.datasets.items()},
            "run": OmegaConf.to_container(self.run, resolve=True),
            "paths": OmegaConf.to_container(self.paths, resolve=True),
        }

    def to_yaml(self) -> str:
        return OmegaConf.to_yaml(OmegaConf.create(self.to_container()))


# --------------------------------------------------------------------------------------------------
# Schema checks
# --------------------------------------------------------------------------------------------------


def _close(name: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass inside ``tp`` (``X``, ``X | None``), or None."""
    if dataclasses.is_dataclass(tp):
        return tp
    for arg in typing.get_args(tp):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def check_keys(node: Any, schema: type, path: str, source: str) -> None:
    """Raise ConfigError for every key in ``node`` that ``schema`` (a dataclass) does not define.

    A field whose type is a dataclass is checked recursively; a field declared with
    :func:`processor_specs` holds ``{split: {name: <registered processor>, ...}}`` and each spec is checked
    against that processor's own schema.
    """
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=False)  # check keys without resolving ${...}
    if not isinstance(node, dict):
        return
    hints = typing.get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in node:
        key = str(key)
        where = f"{path}.{key}" if path else key
        if key not in fields:
            raise ConfigError(
                f"{source}: unknown key '{where}'.{_close(key, list(fields))} "
                f"Allowed keys under '{path or '<root>'}': {', '.join(sorted(fields))}."
            )
        value = node[key]
        sub = _dataclass_of(hints[key])
        if sub is not None:
            check_keys(value, sub, where, source)
        elif fields[key].metadata.get("processor_specs") and value is not None:
            for split, spec in value.items():
                if spec is not None:
                    check_processor_spec(spec, f"{where}.{split}", source)


def check_choices(node: Any, schema: type, path: str, source: str) -> None:
    """Raise ConfigError for a value outside a field's fixed choices (fields declared with :func:`one_of`)."""
    if node is None or not dataclasses.is_dataclass(schema):
        return
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        if isinstance(node, DictConfig):
            if f.name not in node:
                continue
            value = node[f.name]
        else:
            value = getattr(node, f.name, None)
        where = f"{path}.{f.name}" if path else f.name
        choices = f.metadata.get("choices")
        if choices is not None and value not in choices:
            shown = ", ".join("null" if c is None else str(c) for c in choices)
            raise ConfigError(f"{source}: '{where}' must be one of {shown}; got {value!r}.{_close(str(value), [str(c) for c in choices])}")
        sub = _dataclass_of(hints[f.name])
        if sub is not None and value is not None:
            check_choices(value, sub, where, source)


def processor_specs(default: dict[str, Any]) -> Any:
    """A dataclass field holding ``{split: {name: <processor>, ...params}}`` (checked per processor)."""
    return field(default_factory=lambda: dict(default), metadata={"processor_specs": True})


def check_processor_spec(spec: Any, path: str, source: str, require_name: bool = False) -> None:
    """Check a processor spec's parameters; a partial override (no ``name``) is checked after merging."""
    if isinstance(spec, DictConfig):
        spec = OmegaConf.to_container(spec, resolve=False)
    if not isinstance(spec, dict):
        raise ConfigError(f"{source}: '{path}' must be a mapping with a 'name' key naming a processor.")
    if "name" not in spec:
        if require_name:
            raise ConfigError(f"{source}: '{path}' has no 'name' key naming a processor.")
        return
    proc_cls = registry.processors.get(str(spec["name"]))
    rest = {k: v for k, v in spec.items() if k != "name"}
    check_keys(rest, proc_cls.Config, path, source)


def build_processor(spec: Any, path: str = "processor") -> Any:
    """Instantiate a registered processor from ``{name: ..., **params}``."""
    proc_cls = registry.processors.get(str(spec["name"]))
    params = {k: v for k, v in spec.items() if k != "name"}
    check_keys(params, proc_cls.Config, path, "<config>")
    cfg = merge_with_schema(proc_cls.Config, params, path=path, source="<config>")
    check_choices(cfg, proc_cls.Config, path, "<config>")
    return proc_cls.from_config(cfg)


def merge_with_schema(schema: type, *layers: Any, path: str, source: str) -> DictConfig:
    """Merge ``layers`` over the dataclass defaults; type errors become ConfigError with the key path."""
    try:
        merged = OmegaConf.structured(schema)
        for layer in layers:
            if layer is not None:
                merged = OmegaConf.merge(merged, layer)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or ""
        msg = getattr(err, "msg", str(err)).split("\n")[0]
        raise ConfigError(f"{source}: invalid value for '{path}.{key}': {msg}") from None
    return merged


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load_yaml(path: str | os.PathLike) -> DictConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}")
    try:
        cfg = OmegaConf.load(path)
    except Exception as err:  # yaml.YAMLError carries line/column in its message
        raise ConfigError(f"Cannot parse {path}: {err}") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{path}: the top level must be a mapping, found {type(cfg).__name__}")
    return cfg


def parse_options(options: Sequence[str] | None) -> DictConfig:
    """``["run.max_epoch=2", "model.num_frames=8"]`` → a nested config."""
    options = list(options or [])
    for opt in options:
        if "=" not in opt or opt.startswith("="):
            raise ConfigError(f"--options expects key=value pairs, got {opt!r} (e.g. run.max_epoch=2)")
    try:
        return OmegaConf.from_dotlist(options)
    except OmegaConfBaseException as err:
        raise ConfigError(f"Cannot parse --options {options}: {err}") from None


def default_config_path(relative: str) -> Path:
    return PACKAGE_ROOT / relative


def _preset(cls: type, attr: str, key: str, what: str, source: str) -> DictConfig | None:
    presets: dict[str, str] = getattr(cls, attr, {}) or {}
    if key is None:
        return None
    if key not in presets:
        raise ConfigError(
            f"{source}: unknown {what} {key!r} for {cls.__name__}.{_close(key, list(presets))} "
            f"Available: {', '.join(sorted(presets)) or '(none)'}."
        )
    preset = load_yaml(default_config_path(presets[key]))
    return preset


def build_config(user: DictConfig, source: str = "<memory>") -> Config:
    """Validate and merge an experiment config (already combined with --options)."""
    for key in user:
        if key not in SECTIONS:
            raise ConfigError(
                f"{source}: unknown top-level section '{key}'.{_close(str(key), SECTIONS)} "
                f"Allowed sections: {', '.join(SECTIONS)}."
            )

    # paths -------------------------------------------------------------------------------------
    check_keys(user.get("paths"), PathsConfig, "paths", source)
    paths = merge_with_schema(PathsConfig, user.get("paths"), path="paths", source=source)

    # model -------------------------------------------------------------------------------------
    model_user = user.get("model")
    if model_user is None or "arch" not in model_user:
        raise ConfigError(f"{source}: 'model.arch' is required (one of: {', '.join(registry.list_models())})")
    model_cls = registry.models.get(str(model_user.arch))
    model_type = model_user.get("model_type")
    model_preset = _preset(model_cls, "PRETRAINED_MODEL_CONFIG_DICT", model_type, "model_type", source)
    check_keys(model_preset, model_cls.Config, "model", f"{model_cls.__name__} preset {model_type!r}")
    check_keys(model_user, model_cls.Config, "model", source)
    model = merge_with_schema(model_cls.Config, model_preset, model_user, path="model", source=source)

    # datasets ----------------------------------------------------------------------------------
    datasets: dict[str, DictConfig] = {}
    for name, ds_user in (user.get("datasets") or {}).items():
        builder_cls = registry.builders.get(str(name))
        ds_user = ds_user if ds_user is not None else OmegaConf.create({})
        preset_name = ds_user.get("type", "default")
        ds_preset = _preset(builder_cls, "DATASET_CONFIG_DICT", preset_name, "dataset type", source)
        where = f"datasets.{name}"
        check_keys(ds_preset, builder_cls.Config, where, f"{builder_cls.__name__} preset {preset_name!r}")
        check_keys(ds_user, builder_cls.Config, where, source)
        datasets[str(name)] = merged = merge_with_schema(
            builder_cls.Config, ds_preset, ds_user, path=where, source=source
        )
        for field_name, value in OmegaConf.to_container(merged, resolve=False).items():
            if builder_cls.Config.__dataclass_fields__[field_name].metadata.get("processor_specs") and value:
                for split, spec in value.items():
                    check_processor_spec(spec, f"{where}.{field_name}.{split}", source, require_name=True)

    # run ---------------------------------------------------------------------------------------
    run_user = user.get("run")
    if run_user is None or "task" not in run_user:
        raise ConfigError(f"{source}: 'run.task' is required (one of: {', '.join(registry.list_tasks())})")
    task_cls = registry.tasks.get(str(run_user.task))
    check_keys(run_user, task_cls.Config, "run", source)
    run = merge_with_schema(task_cls.Config, run_user, path="run", source=source)
    registry.runners.get(str(run.runner))
    registry.lr_schedulers.get(str(run.lr_sched))

    cfg = Config(model=model, datasets=datasets, run=run, paths=paths, source=source)
    _resolve_interpolations(cfg)
    _check_values(cfg, model_cls, task_cls)
    return cfg


def _check_values(cfg: Config, model_cls: type, task_cls: type) -> None:
    """Fixed-choice fields and the values that must agree across sections, once everything is resolved."""
    check_choices(cfg.model, model_cls.Config, "model", cfg.source)
    check_choices(cfg.run, task_cls.Config, "run", cfg.source)
    img_size = OmegaConf.select(cfg.model, "vision.img_size")
    for name, ds in cfg.datasets.items():
        builder_cls = registry.builders.get(name)
        check_choices(ds, builder_cls.Config, f"datasets.{name}", cfg.source)
        for field_name, f in builder_cls.Config.__dataclass_fields__.items():
            if not f.metadata.get("processor_specs") or not ds.get(field_name):
                continue
            for split, spec in ds[field_name].items():
                if spec is None:
                    continue
                where = f"datasets.{name}.{field_name}.{split}"
                proc_cls = registry.processors.get(str(spec["name"]))
                params = {k: v for k, v in spec.items() if k != "name"}
                merged = merge_with_schema(proc_cls.Config, params, path=where, source=cfg.source)
                check_choices(merged, proc_cls.Config, where, cfg.source)
                size = merged.get("image_size") if "image_size" in merged else None
                if img_size is not None and size is not None and int(size) != int(img_size):
                    raise ConfigError(
                        f"{cfg.source}: '{where}.image_size' is {size} but 'model.vision.img_size' is {img_size}; "
                        "frames must be resized to the size the vision encoder expects. Set both to the same value."
                    )


def _resolve_interpolations(cfg: Config) -> None:
    """Resolve ``${paths.x}`` / ``${oc.env:...}`` in every section against one shared root."""
    root = OmegaConf.create(
        {"paths": cfg.paths, "model": cfg.model, "run": cfg.run, "datasets": dict(cfg.datasets)},
        flags={"allow_objects": True},
    )
    try:
        OmegaConf.resolve(root)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{cfg.source}: cannot resolve an interpolation: {err}".split("\n")[0]) from None
    cfg.paths = merge_with_schema(PathsConfig, root.paths, path="paths", source=cfg.source)
    cfg.model = OmegaConf.merge(cfg.model, root.model)
    cfg.run = OmegaConf.merge(cfg.run, root.run)
    cfg.datasets = {k: OmegaConf.merge(v, root.datasets[k]) for k, v in cfg.datasets.items()}


def load_config(cfg_path: str | os.PathLike, options: Sequence[str] | None = None) -> Config:
    """Read an experiment YAML, apply ``--options`` and return the validated, merged config."""
    user = load_yaml(cfg_path)
    overrides = parse_options(options)
    try:
        user = OmegaConf.merge(user, overrides)
    except OmegaConfBaseException as err:
        raise ConfigError(f"Cannot apply --options to {cfg_path}: {err}") from None
    return build_config(user, source=str(cfg_path))


def config_from_dict(data: dict[str, Any], options: Sequence[str] | None = None) -> Config:
    """Same as :func:`load_config` for a config held in memory (tests, notebooks)."""
    user = OmegaConf.merge(OmegaConf.create(data), parse_options(options))
    return build_config(user)


def to_plain(node: Any) -> Any:
    """DictConfig/ListConfig → plain Python containers (resolved)."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node
