"""Loading weights into our models through explicit key rules, with a report instead of silence.

Our module names follow LAVIS (``visual_encoder``, ``ln_vision``, ``Qformer.bert...``, ``query_tokens``,
``t5_proj``, ``t5_model.base_model.model...lora_A.default.weight``), so a LAVIS key maps to the same key
here. What differs between files is *which* keys each file is expected to provide and which of its keys
are dropped on purpose; those rules are written down per file kind below (:data:`RULES`), as data. Files
in transformers' format (``Blip2ForConditionalGeneration`` folders, Flan-T5 folders) get an explicit rename
table onto the LAVIS names first. Any other gap -- a missing key, an unexpected key, a shape mismatch -- is
an error unless ``allow_partial_load`` is set, and then it is reported.

Every load goes through three steps, so loading, the manifest checks and the converter agree:

1. :func:`read_source` reads the tensors (``weights_only=True`` pickles, or safetensors);
2. :func:`map_state` renames the keys onto the model's names (rename table, fused-bias split, LoRA names);
3. :func:`plan_load` compares them with the model (no side effects) and :func:`load_state_into` copies.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
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
) -> LoadReport:
    """Copy ``state`` into ``module``; ``missing_ok``/``drop`` are regexes of keys absent/ignored by design.

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
    # Meta-device parameters cannot be copied into; assign instead so shapes and dtypes are checked only.
    module.load_state_dict(to_load, strict=False, assign=any(p.is_meta for p in module.parameters()))
    if report.ok:
        logger.info("%s", report.summary())
    else:
        logger.warning("Partial load (allow_partial_load): %s\n%s", report.headline(), report.summary())
    return report


# --------------------------------------------------------------------------------------------------
# Per-file rules, as data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRules:
    """How one kind of file maps onto our models.

    ``renames``: ``(regex, replacement)`` pairs; the first that matches a file key renames it (``re.sub``,
    once); unmatched keys are kept as they are. ``drop``: file keys (after renaming) that are ignored by
    design when the model has no such key. ``missing_ok``: model keys the file never provides.
    ``optional_parts``: name prefixes that are missing by design when the file holds *no* key under them
    (a file that holds part of one is expected to hold all of it). ``missing_from_model``: also accept
    what the model declares with ``expected_missing_keys()`` (frozen parts restored from other files).
    ``{kept_blocks}`` in a pattern stands for the model's ViT block indices (``0|1|...|38``).
    """

    kind: str
    about: str
    renames: tuple[tuple[str, str], ...] = ()
    split_fused_qkv_bias: bool = False
    drop: tuple[str, ...] = ()
    missing_ok: tuple[str, ...] = ()
    optional_parts: tuple[str, ...] = ()
    missing_from_model: bool = False


# LoRA adapters are not part of any released base model: they start from their initialisation.
LORA_ADAPTERS = r"\.lora_(A|B|embedding_A|embedding_B|magnitude_vector)\."
# Old T5 checkpoints carry a relative bias in the first cross-attention that T5 never uses (HF ignores it too).
T5_UNUSED = r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$"
# A LAVIS buffer (BERT position ids, a constant arange) that our query-only Q-Former does not keep.
QFORMER_POSITION_IDS = r"^Qformer\.bert\.embeddings\.position_ids$"
# Keys of a LAVIS BLIP-2 checkpoint that have no counterpart in a query-only Q-Former model.
QFORMER_TEXT_KEYS = [
    r"^Qformer\.cls\.",  # stage-1 language-model head (None in the T5/OPT/Vicuna models)
    r"^Qformer\.bert\.embeddings\.(word_embeddings|position_embeddings)\.",  # text embeddings
    QFORMER_POSITION_IDS,
    r"^Qformer\.bert\.encoder\.layer\.\d+\.(intermediate|output)\.",  # the text FFN (queries use *_query)
]

EVA_VIT = KeyRules(
    kind="eva_vit",
    about="EVA-CLIP ViT-g/14 image tower (eva_vit_g.pth): bare ViT names (blocks.N.attn.qkv.weight, q_bias, ...)",
    renames=((r"^(?!visual_encoder\.)", "visual_encoder."),),  # bare names, or ours (already prefixed)
    drop=(
        r"^visual_encoder\.blocks\.(?!(?:{kept_blocks})\.)\d+\.",  # EVA-CLIP-g has 40 blocks; BLIP-2 uses 39
        r"^visual_encoder\.(norm|fc_norm|head)\.",  # timm/open_clip final norm and head; LAVIS has neither
    ),
    missing_ok=(r"^(?!visual_encoder\.)",),  # the file holds the image tower only
)

LAVIS_BLIP2 = KeyRules(
    kind="lavis_blip2",
    about="LAVIS BLIP-2 checkpoint (blip2_pretrained_*.pth, {'model': ...}): Q-Former, query_tokens, "
    "ln_vision, the LLM projection",
    drop=(*QFORMER_TEXT_KEYS, r"^(vision_proj|text_proj|itm_head)\.", r"^temp$", T5_UNUSED),  # + stage-1 heads
    missing_ok=(LORA_ADAPTERS,),
    optional_parts=("visual_encoder.", "t5_model."),  # from eva_vit_g.pth and the LLM folder when absent
)

MR_BLIP = KeyRules(
    kind="mr_blip",
    about="fine-tuned checkpoint with the trainable tensors only (ln_vision, t5_proj, LoRA): the original "
    "Mr. BLIP's checkpoint_best.pth or ours",
    drop=(QFORMER_POSITION_IDS,),  # the original runner kept buffers, this one among them
    missing_from_model=True,
)

# transformers' Blip2ForConditionalGeneration → LAVIS names (the reverse of transformers'
# convert_blip_2_original_to_pytorch.py). The fused ViT ``qkv.bias`` is split afterwards.
HF_BLIP2_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^vision_model\.embeddings\.class_embedding$", "visual_encoder.cls_token"),
    (r"^vision_model\.embeddings\.position_embedding$", "visual_encoder.pos_embed"),
    (r"^vision_model\.embeddings\.patch_embedding\.", "visual_encoder.patch_embed.proj."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.layer_norm([12])\.", r"visual_encoder.blocks.\1.norm\2."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.qkv\.", r"visual_encoder.blocks.\1.attn.qkv."),
    # the first (2023) transformers layout kept q_bias / v_bias as separate parameters
    (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.(q_bias|v_bias)$", r"visual_encoder.blocks.\1.attn.\2"),
    (r"^vision_model\.encoder\.layers\.(\d+)\.self_attn\.projection\.", r"visual_encoder.blocks.\1.attn.proj."),
    (r"^vision_model\.encoder\.layers\.(\d+)\.mlp\.(fc[12])\.", r"visual_encoder.blocks.\1.mlp.\2."),
    (r"^vision_model\.post_layernorm\.", "ln_vision."),
    (r"^qformer\.layernorm\.", "Qformer.bert.embeddings.LayerNorm."),
    (r"^qformer\.embeddings\.layernorm\.", "Qformer.bert.embeddings.LayerNorm."),  # InstructBLIP layout
    (
        r"^qformer\.encoder\.layer\.(\d+)\.(attention|crossattention)\.attention\.",
        r"Qformer.bert.encoder.layer.\1.\2.self.",
    ),
    (r"^qformer\.", "Qformer.bert."),
    (r"^language_projection\.", "t5_proj."),
    (r"^language_model\.", "t5_model."),
    (r"^query_tokens$", "query_tokens"),
)

HF_BLIP2 = KeyRules(
    kind="hf_blip2",
    about="transformers Blip2ForConditionalGeneration folder (config.json + model*.safetensors) with a T5 LLM",
    renames=HF_BLIP2_RENAMES,
    split_fused_qkv_bias=True,
    drop=(QFORMER_POSITION_IDS, T5_UNUSED),
    missing_ok=(LORA_ADAPTERS,),
)

HF_T5 = KeyRules(
    kind="hf_t5",
    about="transformers T5 folder (e.g. google/flan-t5-xl: config.json + model*.safetensors)",
    renames=((r"^", "t5_model."),),
    drop=(T5_UNUSED,),
    missing_ok=(r"^(?!t5_model\.)", LORA_ADAPTERS),
)

RULES: dict[str, KeyRules] = {r.kind: r for r in (EVA_VIT, LAVIS_BLIP2, MR_BLIP, HF_BLIP2, HF_T5)}
KINDS = tuple(RULES)


# --------------------------------------------------------------------------------------------------
# Mapping file keys onto model keys
# --------------------------------------------------------------------------------------------------


def rename_keys(
    state: Mapping[str, torch.Tensor], rules: KeyRules, notes: list[str] | None = None
) -> dict[str, torch.Tensor]:
    """Apply ``rules``' rename table and tensor transforms (no model needed: also used by the parity tests)."""
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    compiled = [(re.compile(p), r) for p, r in rules.renames]
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


def _canonical(key: str) -> str:
    """Our name of a T5 weight without peft's wrapping (``base_model.model.`` and ``.base_layer``)."""
    key = re.sub(r"^t5_model\.base_model\.model\.", "t5_model.", key)
    return key.replace(".base_layer.", ".")


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


def _kept_blocks(module: nn.Module) -> str:
    blocks = getattr(getattr(module, "visual_encoder", None), "blocks", [])
    return "|".join(str(i) for i in range(len(blocks))) or "(?!)"


def map_state(
    module: nn.Module, state: Mapping[str, torch.Tensor], rules: KeyRules, notes: list[str] | None = None
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """File tensors → ``(tensors under our names, missing_ok patterns, drop patterns)`` for ``module``."""
    mapped = resolve_onto(rename_keys(state, rules, notes), module)
    kept = _kept_blocks(module)
    drop = [p.replace("{kept_blocks}", kept) for p in rules.drop]
    missing_ok = [p.replace("{kept_blocks}", kept) for p in rules.missing_ok]
    for part in rules.optional_parts:
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


def detect_kind(path: str | Path, state: Mapping[str, torch.Tensor] | None = None) -> str:
    """Guess the file kind from its layout and key names (``--kind auto``)."""
    path = Path(path)
    if path.is_dir():
        config = read_hf_config(path)
        model_type = str(config.get("model_type", ""))
        if model_type in ("blip-2", "blip_2"):
            return "hf_blip2"
        if model_type in ("t5", "mt5", "umt5"):
            return "hf_t5"
        raise CheckpointError(f"{path}: transformers model_type {model_type!r} is not one we load (blip-2, t5)")
    if state is None:
        state = model_state_from(load_checkpoint(path))
    keys = list(state)
    if any(k.startswith(("Qformer.", "query_tokens")) for k in keys):
        return "lavis_blip2"
    if keys and all(k.startswith("visual_encoder.") for k in keys):
        return "eva_vit"
    if any(k.startswith(("blocks.", "cls_token", "pos_embed", "patch_embed.")) for k in keys):
        return "eva_vit"
    if any(k.startswith(("ln_vision.", "t5_proj.", "t5_model.")) for k in keys):
        return "mr_blip"
    raise CheckpointError(
        f"{path}: cannot tell what kind of checkpoint this is (first keys: {_shorten(keys, 3)}); "
        f"give the kind explicitly (one of {', '.join(KINDS)})"
    )


def read_hf_config(folder: str | Path) -> dict[str, Any]:
    """A transformers folder's ``config.json`` as a dict."""
    file = Path(folder) / "config.json"
    if not file.is_file():
        raise CheckpointError(f"{folder}: not a transformers model folder (no config.json)")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{file}: cannot read: {err}") from None


def read_source(path: str | Path, kind: str = "auto") -> tuple[str, dict[str, torch.Tensor], dict[str, Any]]:
    """``(kind, file tensors under the file's own names, transformers config or {})``."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint not found: {path}")
    if kind not in ("auto", *KINDS):
        raise CheckpointError(f"unknown checkpoint kind {kind!r}; use auto or one of {', '.join(KINDS)}")
    if path.is_dir():
        state, config = read_hf_folder(path)
    else:
        state, config = model_state_from(load_checkpoint(path)), {}
    if kind == "auto":
        kind = detect_kind(path, state)
    if kind in ("hf_blip2", "hf_t5") and not path.is_dir():
        raise CheckpointError(f"{path}: kind {kind} expects a transformers folder (config.json + safetensors)")
    return kind, state, config


def _hf_blip2_notes(module: nn.Module, config: Mapping[str, Any]) -> list[str]:
    """Config facts of a transformers BLIP-2 folder that change numbers without changing shapes."""
    notes = []
    text = config.get("text_config") or {}
    if hasattr(module, "t5_model") and text.get("model_type", "t5") != "t5":
        raise CheckpointError(
            f"the transformers BLIP-2 folder has a {text.get('model_type')!r} language model; this model needs T5"
        )
    eps = (config.get("vision_config") or {}).get("layer_norm_eps")
    if eps is not None and abs(float(eps) - 1e-6) > 1e-12:
        notes.append(f"the folder's vision layer_norm_eps is {eps}; our ViT blocks use LAVIS' 1e-6")
    ln_eps = getattr(getattr(module, "ln_vision", None), "eps", None)
    if eps is not None and ln_eps is not None and abs(float(eps) - ln_eps) > 1e-12:
        notes.append(
            f"transformers applies post_layernorm (= ln_vision) with eps {eps}; ours uses {ln_eps} as LAVIS "
            "(outputs differ by ~1e-6 relative; no effect on which weights load)"
        )
    act = text.get("dense_act_fn")
    ours = getattr(getattr(getattr(module, "cfg", None), "llm", None), "dense_act_fn", None)
    if act and ours and act != ours:
        notes.append(f"the folder's T5 dense_act_fn is {act!r}; this model runs {ours!r} (LAVIS: gelu)")
    return notes


def plan_checkpoint(
    module: nn.Module, path: str | Path, kind: str = "auto"
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """Read ``path``, map it with its kind's rules and compare with ``module`` without loading anything.

    Returns the tensors under our names and the report; the converter writes ``report.loaded`` of them.
    """
    kind, state, config = read_source(path, kind)
    notes = _hf_blip2_notes(module, config) if kind == "hf_blip2" else []
    mapped, missing_ok, drop = map_state(module, state, RULES[kind], notes)
    report = plan_load(module, mapped, str(path), "model", missing_ok, drop, kind)
    report.notes += notes
    return mapped, report


# --------------------------------------------------------------------------------------------------
# Loading, per file kind
# --------------------------------------------------------------------------------------------------


def load_weights(model: nn.Module, path: str | Path, kind: str = "auto", allow_partial: bool = False) -> LoadReport:
    """Load any supported file or folder into ``model`` by its kind's rules (``auto``: detect it)."""
    kind, state, config = read_source(path, kind)
    notes = _hf_blip2_notes(model, config) if kind == "hf_blip2" else []
    mapped, missing_ok, drop = map_state(model, state, RULES[kind], notes)
    return load_state_into(
        model, mapped, str(path), "model", missing_ok, drop, allow_partial=allow_partial, kind=kind, notes=notes
    )


def load_eva_vit(model: nn.Module, path: str | Path, allow_partial: bool = False) -> LoadReport:
    """``eva_vit_g.pth`` (bare timm/LAVIS names) → ``model.visual_encoder``.

    Blocks beyond our depth (EVA-CLIP-g has 40, BLIP-2 uses 39) and a final norm/head are dropped by design.
    """
    return load_weights(model, path, "eva_vit", allow_partial)


def load_blip2_pretrained(model: nn.Module, path: str | Path, allow_partial: bool = False) -> LoadReport:
    """A BLIP-2 checkpoint → Q-Former, query tokens, ln_vision, projection (and ViT/LLM if it holds them).

    LAVIS stage-2 files hold only what stage 2 trained; the ViT comes from ``eva_vit_g.pth`` and the LLM
    from its own folder, so those are missing by design. A transformers ``Blip2ForConditionalGeneration``
    folder is accepted too (so ``model.pretrained`` can point at either format).
    """
    if Path(path).is_dir():
        return load_hf_blip2(model, path, allow_partial)
    return load_weights(model, path, "lavis_blip2", allow_partial)


def load_hf_blip2(model: nn.Module, folder: str | Path, allow_partial: bool = False) -> LoadReport:
    """A transformers ``Blip2ForConditionalGeneration`` folder (T5 LLM) → the whole model, renamed."""
    return load_weights(model, folder, "hf_blip2", allow_partial)


def load_llm_folder(model: nn.Module, folder: str | Path, allow_partial: bool = False) -> LoadReport:
    """A transformers T5 folder (e.g. Flan-T5-XL) → ``model.t5_model`` (LoRA-wrapped names resolved)."""
    return load_weights(model, folder, "hf_t5", allow_partial)


def load_finetuned(model: nn.Module, path: str | Path, allow_partial: bool = False) -> LoadReport:
    """A fine-tuned checkpoint holding trainable tensors only (ours, or the original Mr. BLIP's)."""
    return load_weights(model, path, "mr_blip", allow_partial)


def load_configured_weights(model: nn.Module) -> list[LoadReport]:
    """Load the files a model's config names, in order: ViT, BLIP-2 pretrained (file or folder), fine-tuned."""
    cfg = model.cfg
    reports = []
    if cfg.vit_pretrained:
        reports.append(load_eva_vit(model, cfg.vit_pretrained, cfg.allow_partial_load))
    if cfg.pretrained:
        reports.append(load_blip2_pretrained(model, cfg.pretrained, cfg.allow_partial_load))
    if cfg.finetuned:
        reports.append(load_finetuned(model, cfg.finetuned, cfg.allow_partial_load))
    return reports
