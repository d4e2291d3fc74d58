"""Loading weights into our models through explicit key rules, with a report instead of silence.

Our module names follow LAVIS (``visual_encoder``, ``ln_vision``, ``Qformer.bert...``, ``query_tokens``,
``t5_proj``, ``t5_model.base_model.model...lora_A.default.weight``), so a LAVIS key maps to the same key
here. What differs between files is *which* keys each file is expected to provide and which of its keys
are dropped on purpose; those rules are written down per file kind below. Any other gap -- a missing key,
an unexpected key, a shape mismatch -- is an error unless ``allow_partial_load`` is set, and then it is
reported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from lavis.common.checkpoint import load_checkpoint, model_state_from
from lavis.common.errors import CheckpointError

logger = logging.getLogger(__name__)


@dataclass
class LoadReport:
    source: str
    target: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # target keys the file should have provided
    missing_by_design: list[str] = field(default_factory=list)  # e.g. frozen parts restored elsewhere
    unexpected: list[str] = field(default_factory=list)  # file keys with no place in the target
    dropped_by_design: list[str] = field(default_factory=list)  # file keys we deliberately ignore
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # (key, file shape, model shape)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 8) -> str:
        lines = [
            f"Loaded {len(self.loaded)} tensors from {self.source} into {self.target}"
            f" ({len(self.missing_by_design)} missing by design, {len(self.dropped_by_design)} dropped by design)."
        ]
        for title, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                shown = ", ".join(keys[:limit]) + (f", ... (+{len(keys) - limit})" if len(keys) > limit else "")
                lines.append(f"  {len(keys)} {title} key(s): {shown}")
        for key, got, want in self.mismatched[:limit]:
            lines.append(f"  shape mismatch: {key}: file {list(got)} vs model {list(want)}")
        return "\n".join(lines)


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(re.search(p, key) for p in patterns)


def load_state_into(
    module: nn.Module,
    state: dict[str, torch.Tensor],
    source: str,
    target: str = "model",
    missing_ok: Iterable[str] = (),
    drop: Iterable[str] = (),
    allow_partial: bool = False,
) -> LoadReport:
    """Copy ``state`` into ``module``; ``missing_ok``/``drop`` are regexes of keys absent/ignored by design."""
    missing_ok, drop = list(missing_ok), list(drop)
    own = module.state_dict()
    report = LoadReport(source=source, target=target)
    # Tied weights (e.g. T5's shared/embed_tokens/lm_head) appear under several names: one is enough.
    aliases: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(param), []).append(name)
    alias_of = {name: names for names in aliases.values() for name in names}
    to_load = {}
    for key, tensor in state.items():
        if key not in own:
            (report.dropped_by_design if _matches(key, drop) else report.unexpected).append(key)
        elif tuple(tensor.shape) != tuple(own[key].shape):
            report.mismatched.append((key, tuple(tensor.shape), tuple(own[key].shape)))
        else:
            to_load[key] = tensor
    for key in own:
        if key in alias_of and key != alias_of[key][0]:
            continue  # a second name of a tied parameter
        if not any(k in state for k in alias_of.get(key, [key])):
            (report.missing_by_design if _matches(key, missing_ok) else report.missing).append(key)
    if not report.ok and not allow_partial:
        raise CheckpointError(
            report.summary()
            + "\nThe checkpoint does not match the model. Fix the config (architecture sizes, LoRA settings), "
            "or set model.allow_partial_load=true to load what matches and skip the rest."
        )
    # Meta-device parameters cannot be copied into; assign instead so shapes and dtypes are checked only.
    module.load_state_dict(to_load, strict=False, assign=any(p.is_meta for p in module.parameters()))
    report.loaded = sorted(to_load)
    (logger.warning if not report.ok else logger.info)("%s", report.summary())
    return report


# --- the kinds of files a BLIP-2 model reads ---------------------------------------------------------

# Keys of a LAVIS BLIP-2 checkpoint that have no counterpart in a query-only Q-Former model.
QFORMER_TEXT_KEYS = [
    r"^Qformer\.cls\.",
    r"^Qformer\.bert\.embeddings\.(word_embeddings|position_embeddings|position_ids)",
    r"^Qformer\.bert\.encoder\.layer\.\d+\.(intermediate|output)\.",
]


def load_eva_vit(model: nn.Module, path: str, allow_partial: bool = False) -> LoadReport:
    """``eva_vit_g.pth`` (bare timm/LAVIS names) → ``model.visual_encoder``.

    Blocks beyond our depth (EVA-CLIP-g has 40, BLIP-2 uses 39) and a final norm/head are dropped by design.
    """
    state = model_state_from(load_checkpoint(path))
    state = {k[len("visual_encoder."):] if k.startswith("visual_encoder.") else k: v for k, v in state.items()}
    depth = len(model.visual_encoder.blocks)
    drop = [rf"^blocks\.(?:{'|'.join(str(i) for i in range(depth, depth + 64))})\.", r"^(norm|fc_norm|head)\."]
    return load_state_into(model.visual_encoder, state, path, "visual_encoder", drop=drop, allow_partial=allow_partial)


def load_blip2_pretrained(model: nn.Module, path: str, allow_partial: bool = False) -> LoadReport:
    """A LAVIS BLIP-2 checkpoint (``blip2_pretrained_*.pth``) → Q-Former, query tokens, ln_vision, projection.

    Stage-2 files hold only what stage 2 trained; the ViT comes from ``eva_vit_g.pth`` and the LLM from
    its own folder, so those are missing by design. The Q-Former's text branch is dropped by design when
    the model has none.
    """
    state = model_state_from(load_checkpoint(path))
    drop = [] if model.cfg.qformer.use_text_input else list(QFORMER_TEXT_KEYS)
    drop += [r"^(vision_proj|text_proj|itm_head)\.", r"^temp$"]  # stage-1 heads
    if not any(k.startswith("visual_encoder.") for k in state):
        missing_ok = [r"^visual_encoder\."]
    else:
        missing_ok = []
    missing_ok += [r"^t5_model\.", r"^opt_model\.", r"^llm_model\."]
    return load_state_into(model, state, path, "model", missing_ok=missing_ok, drop=drop, allow_partial=allow_partial)


def load_finetuned(model: nn.Module, path: str, allow_partial: bool = False) -> LoadReport:
    """A fine-tuned checkpoint holding trainable tensors only (ours, or the original Mr. BLIP's)."""
    state = model_state_from(load_checkpoint(path))
    return load_state_into(
        model, state, path, "model", missing_ok=model.expected_missing_keys(), allow_partial=allow_partial
    )


def load_configured_weights(model: nn.Module) -> list[LoadReport]:
    """Load the files a model's config names, in order: ViT, BLIP-2 pretrained, fine-tuned."""
    cfg = model.cfg
    reports = []
    if cfg.vit_pretrained:
        reports.append(load_eva_vit(model, cfg.vit_pretrained, cfg.allow_partial_load))
    if cfg.pretrained:
        reports.append(load_blip2_pretrained(model, cfg.pretrained, cfg.allow_partial_load))
    if cfg.finetuned:
        reports.append(load_finetuned(model, cfg.finetuned, cfg.allow_partial_load))
    return reports
