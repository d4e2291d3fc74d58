"""Loading weights into our models through explicit key rules, with a report instead of silence.

This module is the machinery only. Each model family declares its rules beside its code -- the EVA ViT in
``components/vision.py``, the LLM folders in ``components/llm.py``, BLIP-2 / InstructBLIP files in
``blip2.py`` / ``blip2_instruct.py``, fine-tuned checkpoints in each system's file -- as :class:`KeyRules`
data, and a model lists the rules it accepts in ``checkpoint_rules()``. Our module names follow LAVIS
(``visual_encoder``, ``ln_vision``, ``Qformer.bert...``, ``query_tokens``, ``t5_proj`` / ``llm_proj``,
``t5_model`` / ``llm_model``), so a LAVIS key usually maps to the same key here; what differs between
files is *which* keys each is expected to provide and which of its keys are dropped on purpose. Files in
transformers' format get an explicit rename table first. Any other gap -- a missing key, an unexpected
key, a shape mismatch -- is an error unless ``allow_partial_load`` is set, and then it is reported.

Every load goes through three steps, so loading, the manifest checks and the converter agree:

1. :func:`read_source` reads the tensors (``weights_only=True`` pickles, or safetensors);
2. :func:`map_state` renames the keys onto the model's names (rename table, fused-bias split, LoRA names);
3. :func:`plan_load` compares them with the model (no side effects) and :func:`load_state_into` copies.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lavis.common.checkpoint import load_checkpoint, model_state_from
from lavis.common.errors import CheckpointError

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    source: str
    target: str
    kind: str = ""  # which rules were applied (eva_vit, lavis_blip2, mr_blip, hf_blip2, hf_t5; "" = none)
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # target keys the file should have provided
    missing_by_design: list[str] = field(default_factory=list)  # e.g. frozen parts restored elsewhere
    unexpected: list[str] = field(default_factory=list)  # file keys with no place in the target
    dropped_by_design: list[str] = field(default_factory=list)  # file keys we deliberately ignore
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # (key, file shape, model shape)
    untied: list[str] = field(default_factory=list)  # tied in the model, distinct in the file: untied to match it
    notes: list[str] = field(default_factory=list)  # conversion warnings (e.g. a non-zero ViT key bias)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def skipped(self) -> list[str]:
        """Everything a partial load left out: the gaps that would otherwise be errors."""
        return sorted({*self.missing, *self.unexpected, *(k for k, _, _ in self.mismatched)})

    def headline(self) -> str:
        """One line naming the problem keys, for error messages and command-line output."""
        parts = []
        for title, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(f"{len(keys)} {title} ({_shorten(keys, 3)})")
        if self.mismatched:
            key, got, want = self.mismatched[0]
            more = f" +{len(self.mismatched) - 1} more" if len(self.mismatched) > 1 else ""
            parts.append(f"{len(self.mismatched)} shape mismatch ({key}: file {list(got)} vs model {list(want)}{more})")
        problems = "; ".join(parts) if parts else "no problems"
        return f"{self.source} → {self.target}: {problems}"

    def summary(self, limit: int = 8) -> str:
        lines = [
            f"{self.source} → {self.target}" + (f" [{self.kind}]" if self.kind else "")
            + f": {len(self.loaded)} tensors match ({len(self.missing_by_design)} missing by design, "
            f"{len(self.dropped_by_design)} dropped by design)."
        ]
        for title, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                lines.append(f"  {len(keys)} {title} key(s): {_shorten(keys, limit)}")
        for key, got, want in self.mismatched[:limit]:
            lines.append(f"  shape mismatch: {key}: file {list(got)} vs model {list(want)}")
        if len(self.mismatched) > limit:
            lines.append(f"  ... (+{len(self.mismatched) - limit} more shape mismatches)")
        if self.untied:
            lines.append(f"  untied (distinct tensors in the file): {_shorten(self.untied, limit)}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mismatched"] = [{"key": k, "file": list(a), "model": list(b)} for k, a, b in self.mismatched]
        data["ok"] = self.ok
        data["counts"] = {k: len(v) for k, v in data.items() if isinstance(v, list)}
        return data


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose keys do not fit the model; carries the full report."""

    def __init__(self, message: str, report: LoadReport) -> None:
        super().__init__(message)
        self.report = report


def _shorten(keys: list[str], limit: int) -> str:
    return ", ".join(keys[:limit]) + (f", ... (+{len(keys) - limit})" if len(keys) > limit else "")


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(re.search(p, key) for p in patterns)


# --------------------------------------------------------------------------------------------------
# Comparing a state dict with a model, and loading it
# --------------------------------------------------------------------------------------------------


def alias_groups(module: nn.Module) -> dict[str, list[str]]:
    """Parameter name → every name of the same tensor (tied weights such as T5's shared/lm_head)."""
    groups: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    return {name: names for names in groups.values() for name in names}


def same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a is b or a.is_meta or b.is_meta:  # a shape-only check cannot tell; treat as one tensor
        return True
    if a.shape != b.shape:
        return False
    if a.device == b.device and a.data_ptr() == b.data_ptr() and a.stride() == b.stride():
        return True
    return bool(torch.equal(a, b.to(a.device, a.dtype)))


def plan_load(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    target: str = "model",
    missing_ok: Iterable[str] = (),
    drop: Iterable[str] = (),
    kind: str = "",
) -> LoadReport:
    """What loading ``state`` into ``module`` would do, without doing it (works on the meta device).

    ``missing_ok`` / ``drop`` are regexes of model keys absent by design / file keys ignored by design;
    ``report.loaded`` lists the keys that would be copied.
    """
    missing_ok, drop = list(missing_ok), list(drop)
    own = module.state_dict()
    report = LoadReport(source=source, target=target, kind=kind)
    alias_of = alias_groups(module)
    for key, tensor in state.items():
        if key not in own:
            (report.dropped_by_design if _matches(key, drop) else report.unexpected).append(key)
        elif tuple(tensor.shape) != tuple(own[key].shape):
            report.mismatched.append((key, tuple(tensor.shape), tuple(own[key].shape)))
        else:
            report.loaded.append(key)
    loaded = set(report.loaded)
    for key in own:
        names = alias_of.get(key, [key])
        if key != names[0]:
            continue  # a second name of a tied parameter: judged with the first
        present = [n for n in names if n in loaded]
        if not any(n in state for n in names):
            (report.missing_by_design if _matches(key, missing_ok) else report.missing).append(key)
        elif len(present) > 1:
            # The file holds a tensor per name; where they differ, the model's tie does not hold for it.
            first = state[present[0]]
            report.untied += [n for n in present[1:] if not same_values(first, state[n])]
    report.loaded.sort()
    return report


def _untie(module: nn.Module, name: str) -> None:
    """Give ``name`` its own parameter (same shape, dtype, device and trainability) instead of a shared one."""
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name)
    old = getattr(owner, attr)
    setattr(owner, attr, nn.Parameter(torch.empty_like(old), requires_grad=old.requires_grad))


def load_state_into(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    target: str = "model",
    missing_ok: Iterable[str] = (),
    drop: Iterable[str] = (),
    allow_partial: bool = False,
    kind: str = "",
    notes: Iterable[str] = (),
    load_fn: Callable[[nn.Module, dict[str, torch.Tensor]], None] | None = None,
) -> LoadReport:
    """Copy ``state`` into ``module``; ``missing_ok``/``drop`` are regexes of keys absent/ignored by design.

    ``load_fn(module, checked_state)`` replaces ``module.load_state_dict`` (a sharded module loads full tensors
    through ``torch.distributed.checkpoint``).

    Raises :class:`CheckpointMismatchError` (a :class:`CheckpointError`) on any other gap unless
    ``allow_partial``; then what matches is loaded and the report lists what was skipped.
    """
    report = plan_load(module, state, source, target, missing_ok, drop, kind)
    report.notes += list(notes)
    if not report.ok and not allow_partial:
        raise CheckpointMismatchError(
            report.headline()
            + "\n"
            + report.summary()
            + "\nThe checkpoint does not match the model. Fix the config (architecture sizes, LoRA settings), "
            "or set model.allow_partial_load=true (--allow-partial) to load what matches and skip the rest.",
            report,
        )
    for name in report.untied:
        _untie(module, name)
    to_load = {k: state[k] for k in report.loaded}
    if load_fn is not None:
        load_fn(module, to_load)
    else:
        # Meta-device parameters cannot be copied into; assign instead so shapes and dtypes are checked only.
        module.load_state_dict(to_load, strict=False, assign=any(p.is_meta for p in module.parameters()))
    if report.ok:
        logger.info("%s", report.summary())
    else:
        logger.warning("Partial load (allow_partial_load): %s\n%s", report.headline(), report.summary())
    return report


# --------------------------------------------------------------------------------------------------
# Per-file rules, as data (declared by each model family)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRules:
    """How one kind of file maps onto a model.

    ``renames``: ``(regex, replacement)`` pairs; the first that matches a file key renames it (``re.sub``,
    once); unmatched keys are kept as they are. ``drop``: file keys (after renaming) that are ignored by
    design when the model has no such key. ``missing_ok``: model keys the file never provides.
    ``optional_parts``: name prefixes that are missing by design when the file holds *no* key under them
    (a file that holds part of one is expected to hold all of it). ``missing_from_model``: also accept
    what the model declares with ``expected_missing_keys()`` (frozen parts restored from other files).

    Patterns may name the model's own parts: ``{llm}`` / ``{proj}`` (its LLM and projection module names,
    e.g. ``t5_model`` / ``t5_proj``) and ``{kept_blocks}`` (its ViT block indices ``0|1|...|38``); see
    ``checkpoint_names()`` on the model.

    Detection (``kind=auto``): a folder is of this kind when its ``config.json`` ``model_type`` is one of
    ``folder_types``; a file when one of its keys matches ``detect`` (the model's rules are tried in order).
    ``config_key`` is the model config field that loads such a file (used by the converter and by
    :func:`load_configured_weights`).
    """

    kind: str
    about: str
    renames: tuple[tuple[str, str], ...] = ()
    split_fused_qkv_bias: bool = False
    drop: tuple[str, ...] = ()
    missing_ok: tuple[str, ...] = ()
    optional_parts: tuple[str, ...] = ()
    missing_from_model: bool = False
    detect: str | None = None
    folder_types: tuple[str, ...] = ()
    config_key: str | None = None
    notes: Callable[[nn.Module, Mapping[str, Any]], list[str]] | None = None  # facts of a folder's config.json


def model_rules(model: nn.Module) -> dict[str, KeyRules]:
    """The rules a model accepts, in detection order (``checkpoint_rules()`` of the model)."""
    rules = getattr(model, "checkpoint_rules", None)
    if rules is None:
        raise CheckpointError(f"{type(model).__name__} declares no checkpoint_rules(); it cannot load files")
    return {r.kind: r for r in rules()}


def rules_for(model: nn.Module, kind: str) -> KeyRules:
    rules = model_rules(model)
    if kind not in rules:
        raise CheckpointError(
            f"{type(model).__name__} does not load {kind!r} checkpoints; it loads: {', '.join(rules)}"
        )
    return rules[kind]


# --------------------------------------------------------------------------------------------------
# Mapping file keys onto model keys
# --------------------------------------------------------------------------------------------------


def _placeholders(module: nn.Module | None) -> dict[str, str]:
    names = getattr(module, "checkpoint_names", None)
    return names() if names is not None else {}


def _expand(pattern: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        pattern = pattern.replace("{" + name + "}", value)
    return pattern


def rename_keys(
    state: Mapping[str, torch.Tensor], rules: KeyRules, notes: list[str] | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, torch.Tensor]:
    """Apply ``rules``' rename table and tensor transforms (no model needed: also used by the parity tests).

    ``names`` fills the ``{llm}`` / ``{proj}`` placeholders of the replacements (default: T5 names).
    """
    names = {"llm": "t5_model", "proj": "t5_proj", **(names or {})}
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    compiled = [(re.compile(p), _expand(r, names)) for p, r in rules.renames]
    for key, tensor in state.items():
        new = key
        for pattern, replacement in compiled:
            if pattern.search(key):
                new = pattern.sub(replacement, key, count=1)
                break
        if new in out:
            raise CheckpointError(f"checkpoint keys {origin[new]!r} and {key!r} both map to {new!r}")
        out[new], origin[new] = tensor, key
    if rules.split_fused_qkv_bias:
        out = split_fused_qkv_bias(out, notes)
    return out


def split_fused_qkv_bias(
    state: Mapping[str, torch.Tensor], notes: list[str] | None = None
) -> dict[str, torch.Tensor]:
    """``...attn.qkv.bias`` = cat(q, k, v) → ``q_bias`` and ``v_bias``.

    LAVIS and timm hard-code the key bias to zero (it cancels in the softmax anyway); a non-zero k
    segment cannot be represented, so it is noted in the report rather than silently lost.
    """
    out: dict[str, torch.Tensor] = {}
    nonzero = []
    for key, tensor in state.items():
        if not key.endswith(".attn.qkv.bias"):
            out[key] = tensor
            continue
        prefix = key[: -len("qkv.bias")]
        q, k, v = tensor.chunk(3)
        for name, part in (("q_bias", q), ("v_bias", v)):
            if prefix + name in state:
                raise CheckpointError(f"checkpoint has both {key!r} and {prefix + name!r}")
            out[prefix + name] = part.clone()
        if not k.is_meta and bool(k.abs().max() > 0):
            nonzero.append(f"{key} (max |k bias| {float(k.abs().max()):.3g})")
    if nonzero and notes is not None:
        notes.append(
            "the key segment of the fused ViT qkv bias is not zero and was dropped (LAVIS/timm fix it at 0; "
            "it adds a per-query constant to the attention logits, which the softmax cancels): " + _shorten(nonzero, 3)
        )
    return out


_PEFT_WRAP = re.compile(r"^(\w+)\.base_model\.model\.")


def _canonical(key: str) -> str:
    """A weight's name without peft's wrapping (``<llm>.base_model.model.`` and ``.base_layer``)."""
    return _PEFT_WRAP.sub(r"\1.", key).replace(".base_layer.", ".")


def resolve_onto(state: Mapping[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """Match LLM keys to the model's LoRA-wrapped (or plain) names; all other keys stay as they are.

    ``t5_model.encoder.block.0.layer.0.SelfAttention.q.weight`` is
    ``t5_model.base_model.model.encoder.block.0.layer.0.SelfAttention.q.base_layer.weight`` once peft wraps
    the T5, and the other way round; adapters (``lora_*``) never change name.
    """
    own = module.state_dict().keys()
    by_canonical = {_canonical(k): k for k in own if "lora_" not in k}
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key not in own and "lora_" not in key:
            key = by_canonical.get(_canonical(key), key)
        if key in out:
            raise CheckpointError(f"two checkpoint keys map to {key!r} (wrapped and unwrapped names of one weight)")
        out[key] = tensor
    return out


def map_state(
    module: nn.Module, state: Mapping[str, torch.Tensor], rules: KeyRules, notes: list[str] | None = None
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """File tensors → ``(tensors under our names, missing_ok patterns, drop patterns)`` for ``module``."""
    names = _placeholders(module)
    mapped = resolve_onto(rename_keys(state, rules, notes, names), module)
    drop = [_expand(p, names) for p in rules.drop]
    missing_ok = [_expand(p, names) for p in rules.missing_ok]
    for part in rules.optional_parts:
        part = _expand(part, names)
        if not any(k.startswith(part) for k in mapped):
            missing_ok.append("^" + re.escape(part))
    if rules.missing_from_model and hasattr(module, "expected_missing_keys"):
        missing_ok += list(module.expected_missing_keys())
    return mapped, missing_ok, drop


# --------------------------------------------------------------------------------------------------
# Reading files and folders
# --------------------------------------------------------------------------------------------------


def read_hf_folder(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """All tensors of a transformers folder (sharded or not) and its ``config.json``."""
    folder = Path(folder)
    config = read_hf_config(folder)
    files = sorted(folder.glob("model*.safetensors")) or sorted(folder.glob("*.safetensors"))
    files = files or sorted(folder.glob("pytorch_model*.bin"))
    if not files:
        raise CheckpointError(f"{folder}: no model*.safetensors (or pytorch_model*.bin) weights next to config.json")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(model_state_from(load_checkpoint(file)))
    return state, config


def read_hf_config(folder: str | Path) -> dict[str, Any]:
    """A transformers folder's ``config.json`` as a dict."""
    file = Path(folder) / "config.json"
    if not file.is_file():
        raise CheckpointError(f"{folder}: not a transformers model folder (no config.json)")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{file}: cannot read: {err}") from None


def read_source(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(file tensors under the file's own names, transformers config or {})``."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint not found: {path}")
    if path.is_dir():
        return read_hf_folder(path)
    return model_state_from(load_checkpoint(path)), {}


def detect_kind(
    model: nn.Module, path: str | Path, state: Mapping[str, torch.Tensor], config: Mapping[str, Any],
    candidates: Iterable[str] | None = None,
) -> str:
    """The first of the model's rules (or of ``candidates``) that recognises the file (``--kind auto``)."""
    rules = model_rules(model)
    order = [rules[k] for k in candidates] if candidates is not None else list(rules.values())
    if Path(path).is_dir():
        model_type = str(config.get("model_type", ""))
        for r in order:
            if model_type in r.folder_types:
                return r.kind
        known = sorted({t for r in order for t in r.folder_types})
        raise CheckpointError(
            f"{path}: a transformers folder with model_type {model_type!r}; this model loads folders of type "
            f"{', '.join(known) or '(none)'}"
        )
    names = _placeholders(model)
    for r in order:
        if r.detect and any(re.search(_expand(r.detect, names), k) for k in state):
            return r.kind
    raise CheckpointError(
        f"{path}: cannot tell what kind of checkpoint this is (first keys: {_shorten(list(state), 3)}); "
        f"give the kind explicitly (one of {', '.join(r.kind for r in order)})"
    )


def _resolve(
    model: nn.Module, path: str | Path, kind: str, candidates: Iterable[str] | None = None
) -> tuple[KeyRules, dict[str, torch.Tensor], list[str]]:
    """Read ``path`` and choose its rules: ``(rules, file tensors, notes)``."""
    state, config = read_source(path)
    if kind == "auto":
        kind = detect_kind(model, path, state, config, candidates)
    rules = rules_for(model, kind)
    if rules.folder_types and not Path(path).is_dir():
        raise CheckpointError(f"{path}: kind {kind} expects a transformers folder (config.json + safetensors)")
    notes = list(rules.notes(model, config)) if rules.notes is not None and config else []
    return rules, state, notes


def plan_checkpoint(
    module: nn.Module, path: str | Path, kind: str = "auto"
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Read ``path``, map it with its kind's rules and compare with ``module`` without loading anything.

    Returns the tensors under our names and the report; the converter writes ``report.loaded`` of them.
    """
    rules, state, notes = _resolve(module, path, kind)
    mapped, missing_ok, drop = map_state(module, state, rules, notes)
    report = plan_load(module, mapped, str(path), "model", missing_ok, drop, rules.kind)
    report.notes += notes
    return mapped, report


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load_weights(
    model: nn.Module, path: str | Path, kind: str = "auto", allow_partial: bool = False,
    candidates: Iterable[str] | None = None,
) -> LoadReport:
    """Load any file or folder the model accepts, by its kind's rules (``auto``: detect among ``candidates``)."""
    rules, state, notes = _resolve(model, path, kind, candidates)
    mapped, missing_ok, drop = map_state(model, state, rules, notes)
    return load_state_into(
        model, mapped, str(path), "model", missing_ok, drop, allow_partial=allow_partial, kind=rules.kind,
        notes=notes,
    )


def _kinds_for(model: nn.Module, config_key: str) -> list[str]:
    return [r.kind for r in model_rules(model).values() if r.config_key == config_key]


def load_eva_vit(model: nn.Module, path: str | Path, allow_partial: bool = False) -> LoadReport:
    """``eva_vit_g.pth`` (bare timm/LAVIS names) → ``model.visual_encoder``."""
    return load_weights(model, path, "eva_vit", allow_partial)


def load_blip2_pretrained(model: nn.Module, path: str | Path, allow_partial: bool = False) -> LoadReport:
    """A pretrained BLIP-2 / InstructBLIP file or transformers folder (whatever the model's ``pretrained`` takes)."""
    return load_weights(model, path, "auto", allow_partial, candidates=_kinds_for(model, "pretrained"))


def load_hf_blip2(model: nn.Module, folder: str | Path, allow_partial: bool = False) -> LoadReport:
    """A transformers ``Blip2ForConditionalGeneration`` folder → the whole model, renamed."""
    return load_weights(model, folder, "hf_blip2", allow_partial)


def load_llm_folder(model: nn.Module, folder: str | Path, allow_partial: bool = False) -> LoadReport:
    """A transformers LLM folder (e.g. Flan-T5-XL) → the model's LLM (LoRA-wrapped names resolved)."""
    return load_weights(model, folder, "auto", allow_partial, candidates=_kinds_for(model, "llm.path"))


def load_finetuned(model: nn.Module, path: str | Path, allow_partial: bool = False) -> LoadReport:
    """A fine-tuned checkpoint holding trainable tensors only (ours, or the original system's)."""
    return load_weights(model, path, "auto", allow_partial, candidates=_kinds_for(model, "finetuned"))


CONFIGURED_FILES = ("vit_pretrained", "pretrained", "finetuned")


def load_configured_weights(model: nn.Module) -> list[LoadReport]:
    """Load the files a model's config names, in order: ViT, pretrained (file or folder), fine-tuned.

    Each file's kind is detected among the model's rules for that config key, so ``pretrained`` may be a
    LAVIS file or a transformers folder alike.
    """
    cfg = model.cfg
    reports = []
    for key in CONFIGURED_FILES:
        path = getattr(cfg, key, None)
        if path:
            reports.append(load_weights(model, path, "auto", cfg.allow_partial_load, candidates=_kinds_for(model, key)))
    return reports
