"""Convert published weights to our format, checking them against the model they are meant for.

    python -m lavis.models.convert --input FILE_OR_FOLDER --output DIR
        [--kind auto|<a kind the target model loads>] [--arch blip2_mr] [--model-type pretrain_flant5xl]
        [--allow-partial] [--options model.key=value ...]

The input is read and mapped by exactly the rules the loaders use (each model family's ``KeyRules``, applied
by :mod:`lavis.models.checkpoints`) and compared with the target architecture built on the meta device (no weights are allocated, nothing is
downloaded). The output folder gets ``model.safetensors`` (the mapped tensors, under our key names),
``config.yaml`` (the model section that points at it) and ``conversion_report.json``. A file that does not
fit the architecture stops the conversion (exit code 2) unless ``--allow-partial`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from lavis.common import registry
from lavis.common.config import (
    PathsConfig,
    check_keys,
    default_config_path,
    load_yaml,
    merge_with_schema,
    parse_options,
)
from lavis.common.errors import CheckpointError, ConfigError, LavisError
from lavis.common.io import write_json
from lavis.models.checkpoints import (
    CONFIGURED_FILES,
    CheckpointMismatchError,
    LoadReport,
    alias_groups,
    model_rules,
    plan_checkpoint,
    read_hf_config,
    same_values,
)
from lavis.models.components.llm import CAUSAL_FIELDS, COMMON_FIELDS, T5_FIELDS, LLMArch, arch_overrides

# The LLM architecture fields a transformers config.json carries (it holds many more).
ARCH_FIELDS = tuple(f.name for f in dataclasses.fields(LLMArch))


def _arch_from(config: dict[str, Any], kind: str) -> dict[str, Any]:
    allowed = set(COMMON_FIELDS) | set(T5_FIELDS if kind == "t5" else CAUSAL_FIELDS)
    return {k: config[k] for k in ARCH_FIELDS if k in allowed and config.get(k) is not None}


def model_config(arch: str, model_type: str, options: list[str] | None = None) -> tuple[type, DictConfig, dict]:
    """The model class, its merged config (preset + options, interpolations resolved) and the options given."""
    model_cls = registry.models.get(arch)
    presets = getattr(model_cls, "PRETRAINED_MODEL_CONFIG_DICT", {})
    if model_type not in presets:
        raise ConfigError(f"unknown model_type {model_type!r} for {arch}; available: {', '.join(sorted(presets))}")
    preset = load_yaml(default_config_path(presets[model_type]))
    parsed = parse_options(options)
    if set(parsed) - {"model"}:
        raise ConfigError("--options of the converter take model.<key>=<value> only")
    overrides = parsed.get("model") or OmegaConf.create({})
    check_keys(overrides, model_cls.Config, "model", "--options")
    merged = merge_with_schema(model_cls.Config, preset, overrides, path="model", source="--options")
    merged.arch, merged.model_type = arch, model_type
    root = OmegaConf.create({"paths": OmegaConf.structured(PathsConfig), "model": merged})
    try:
        OmegaConf.resolve(root)
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot resolve the model config: {err}".split("\n")[0]) from None
    merged = OmegaConf.merge(merged, root.model)
    return model_cls, merged, OmegaConf.to_container(overrides, resolve=True)


def _llm_arch(cfg: Any, source: Path) -> LLMArch:
    """Where the target LLM's shape comes from: the preset/config, the input folder, or the LLM folder."""
    if arch_overrides(cfg.llm):
        return cfg.llm.arch
    if source.is_dir():
        config = read_hf_config(source)
        return LLMArch(**_arch_from(config.get("text_config") or config, cfg.llm.kind))
    if cfg.llm.path and (Path(cfg.llm.path) / "config.json").is_file():
        return LLMArch(**_arch_from(read_hf_config(cfg.llm.path), cfg.llm.kind))
    raise ConfigError(
        "cannot tell the language model's architecture: put its folder at model.llm.path, or give "
        "--options model.llm.arch.d_model=... (fields of model.llm.arch)"
    )


def build_meta_model(model_cls: type, merged: DictConfig, kind: str = "", source: Path = Path(".")) -> nn.Module:
    """The target architecture on the meta device: names and shapes only, no weights, no download."""
    from lavis.models.components.tokenizer import load_tokenizer

    cfg = OmegaConf.to_object(merged)
    style = "t5" if cfg.llm.kind == "t5" else "llama"
    tokenizer_path = cfg.llm.tokenizer or cfg.llm.path
    if not (tokenizer_path == "tiny" or (tokenizer_path and Path(tokenizer_path).is_dir())):
        tokenizer_path = "tiny"  # only its ids matter here; the vocabulary size comes from arch
    tokenizer = load_tokenizer(tokenizer_path, style=style)
    if cfg.qformer.use_text_input and not (cfg.qformer.tokenizer and Path(cfg.qformer.tokenizer).is_dir()):
        cfg.qformer.tokenizer = "tiny"
    audio = getattr(cfg, "audio_encoder", None)
    if audio is not None and not (audio.path and Path(audio.path).is_dir()):
        audio.path = None  # built from the preset's architecture (CLAP HTSAT-fused defaults)
    cfg.llm.arch = _llm_arch(cfg, source)
    cfg.llm.path = None
    cfg.vit_pretrained = cfg.pretrained = cfg.finetuned = None
    # peft/transformers warn about weight tying of a model built from a config; irrelevant to a name check.
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return model_cls(cfg, tokenizer=tokenizer)


def _saveable(tensors: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """One entry per tensor: tied names that hold the same values are stored once (the loader accepts any
    one name of a tied weight); anything else that shares memory is copied, as safetensors requires."""
    alias_of = alias_groups(model)
    out: dict[str, torch.Tensor] = {}
    storages: set[tuple[int, int]] = set()
    for key, tensor in tensors.items():
        kept = [n for n in alias_of.get(key, [key]) if n in out]
        if kept and same_values(out[kept[0]], tensor):
            continue
        tensor = tensor.detach().cpu().contiguous()
        ident = (tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes())
        if ident in storages or tensor.numel() * tensor.element_size() != tensor.untyped_storage().nbytes():
            tensor = tensor.clone()
            ident = (tensor.untyped_storage().data_ptr(), tensor.untyped_storage().nbytes())
        storages.add(ident)
        out[key] = tensor
    return out


def _save_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write straight to a temporary file and rename it (no in-memory copy of a multi-GB file)."""
    from safetensors.torch import save_file

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def convert(
    source: str | Path,
    output: str | Path,
    kind: str = "auto",
    arch: str = "blip2_mr",
    model_type: str = "pretrain_flant5xl",
    allow_partial: bool = False,
    options: list[str] | None = None,
) -> LoadReport:
    """Map ``source`` onto the target architecture and write ``output``/{model.safetensors, config.yaml,
    conversion_report.json}. Raises :class:`CheckpointMismatchError` when keys do not fit and not ``allow_partial``.
    """
    source, output = Path(source), Path(output)
    if not source.exists():
        raise CheckpointError(f"Checkpoint not found: {source}")
    model_cls, merged, given = model_config(arch, model_type, options)
    model = build_meta_model(model_cls, merged, kind, source)
    rules = model_rules(model)
    if kind != "auto" and kind not in rules:
        raise ConfigError(f"--kind must be auto or one of {', '.join(rules)} (what {arch} loads), got {kind!r}")
    mapped, report = plan_checkpoint(model, source, kind)
    config_key = rules[report.kind].config_key
    if config_key not in CONFIGURED_FILES:
        raise ConfigError(f"{source}: a {report.kind} source is not converted; load it directly (model.{config_key})")
    print(report.summary(), flush=True)
    if not report.ok and not allow_partial:
        raise CheckpointMismatchError(report.headline() + " (use --allow-partial to convert what matches)", report)

    output.mkdir(parents=True, exist_ok=True)
    weights = output / "model.safetensors"
    tensors = _saveable({k: mapped[k] for k in report.loaded}, model)
    _save_safetensors(weights, tensors, {"format": "pt", "source": str(source), "kind": report.kind})
    key = config_key
    section: dict[str, Any] = {"arch": arch, "model_type": model_type, **given, key: str(weights.resolve())}
    if allow_partial and not report.ok:
        section["allow_partial_load"] = True
    header = (
        f"# Converted from {source} ({report.kind}) by lavis.models.convert.\n"
        f"# Merge this model section into an experiment config; model.{key} points at the converted weights.\n"
    )
    (output / "config.yaml").write_text(header + OmegaConf.to_yaml({"model": section}), encoding="utf-8")
    write_json(
        output / "conversion_report.json",
        {
            "input": str(source),
            "output": str(weights),
            "kind": report.kind,
            "arch": arch,
            "model_type": model_type,
            "config_key": f"model.{key}",
            "tensors_written": len(tensors),
            "report": report.to_dict(),
        },
    )
    print(f"Wrote {len(tensors)} tensors to {weights}; set model.{key}: {weights.resolve()}", flush=True)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="a .pth/.safetensors file, or a transformers folder")
    parser.add_argument("--output", required=True, help="folder to write model.safetensors, config.yaml, report")
    parser.add_argument("--kind", default="auto", help="what the input is (default: detect among what --arch loads)")
    parser.add_argument("--arch", default="blip2_mr", help="registered model the weights are for")
    parser.add_argument("--model-type", default="pretrain_flant5xl", help="preset of that model")
    parser.add_argument("--allow-partial", action="store_true", help="convert what matches; report the rest")
    parser.add_argument("--options", nargs="+", default=[], help="model overrides, e.g. model.vision.img_size=364")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        convert(args.input, args.output, args.kind, args.arch, args.model_type, args.allow_partial, args.options)
    except LavisError as err:
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

