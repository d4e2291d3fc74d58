"""The shared BLIP-2 body: frames → EVA ViT → (per Q-Former) ``ln_vision`` → Q-Former → projection → LLM.

One frozen ViT, one language model (:class:`~lavis.models.components.llm.LanguageModel`: Flan-T5 or a
causal LM), and one or more *named* Q-Former branches -- each with its own ``ln_vision``, Q-Former, query
tokens and projection. BLIP-2 and InstructBLIP have one branch (``main``); SeViLA has two (its answerer
and localizer). A system subclasses :class:`Blip2Base` and overrides only what makes it itself: how the
LLM input is assembled (:meth:`encoder_inputs`), what the target text is (:meth:`target_texts`), how
outputs are parsed (:meth:`predict`).

Module names are LAVIS': ``visual_encoder``, ``ln_vision``, ``Qformer``, ``query_tokens``, ``t5_proj`` /
``llm_proj``, ``t5_model`` / ``llm_model``, and a branch's suffix (``Qformer_loc``, ``query_tokens_loc``,
...), so LAVIS checkpoints map 1:1.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from lavis.common.config import GenerationConfig
from lavis.common.errors import CheckpointError, ConfigError
from lavis.models.base import BaseModel
from lavis.models.checkpoints import KeyRules
from lavis.models.components.llm import (
    FOLDER_RULES,
    LORA_ADAPTERS,
    PRECISIONS,
    T5_UNUSED,
    LanguageModel,
    LLMConfig,
    LoraSettings,
)
from lavis.models.components.qformer import QFORMER_POSITION_IDS, QFORMER_TEXT_KEYS, QFormer, QFormerConfig
from lavis.models.components.tokenizer import add_qformer_bos, load_tokenizer
from lavis.models.components.vision import EVA_VIT, FP32LayerNorm, VisionConfig, build_vision_encoder
from lavis.models.components.vision import PRECISIONS as VISION_PRECISIONS
from lavis.models.feature_cache import FeatureCacheConfig, FrozenFeatureCache, weights_hash


@dataclass
class Blip2Config:
    arch: str = "???"
    model_type: str = "???"
    vision: VisionConfig = field(default_factory=VisionConfig)
    qformer: QFormerConfig = field(default_factory=QFormerConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    freeze_vit: bool = True
    freeze_qformer: bool = True  # Q-Former(s) and query tokens
    freeze_llm: bool = True  # base LLM weights (LoRA adapters stay trainable)
    train_ln_vision: bool = True  # Mr. BLIP trains ln_vision (the original never froze it)
    vision_chunk_size: int = 0  # encode at most this many frames at once (0: all); bounds ViT memory
    grad_checkpointing: bool = False
    # Which parts run.grad_checkpointing checkpoints (activations recomputed in the backward pass); the ViT only
    # when it trains (freeze_vit: false)
    checkpoint_vit: bool = True
    checkpoint_qformer: bool = True
    checkpoint_llm: bool = True
    max_txt_len: int = 200  # prompt tokens
    max_target_len: int = 200  # target tokens
    prompt: str = ""  # prepended to samples["text_input"]
    # weights (local paths; loaded in this order, later files override earlier ones)
    vit_pretrained: str | None = None  # e.g. eva_vit_g.pth
    pretrained: str | None = None  # e.g. blip2_pretrained_flant5xl.pth (Q-Former, query tokens, ln_vision, proj)
    finetuned: str | None = None  # a fine-tuned checkpoint (trainable tensors only)
    allow_partial_load: bool = False  # load checkpoints with unexplained missing/unexpected keys (reported)
    # frozen-feature cache on disk (lavis/models/feature_cache.py); null: off. Refuses pixel augmentation.
    feature_cache: FeatureCacheConfig | None = None


# --- checkpoint rules ------------------------------------------------------------------------------

LAVIS_BLIP2 = KeyRules(
    kind="lavis_blip2",
    about="LAVIS BLIP-2 checkpoint (blip2_pretrained_*.pth, {'model': ...}): Q-Former, query_tokens, "
    "ln_vision, the LLM projection",
    drop=(*QFORMER_TEXT_KEYS, r"^(vision_proj|text_proj|itm_head)\.", r"^temp$", T5_UNUSED),  # + stage-1 heads
    missing_ok=(LORA_ADAPTERS,),
    optional_parts=("visual_encoder.", "{llm}."),  # from eva_vit_g.pth and the LLM folder when absent
    detect=r"^(Qformer(_\w+)?\.|query_tokens)",
    config_key="pretrained",
)

# transformers' Blip2ForConditionalGeneration / InstructBlip* → LAVIS names (the reverse of transformers'
# convert_*_original_to_pytorch.py). The fused ViT ``qkv.bias`` is split afterwards.
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
    (r"^language_projection\.", "{proj}."),
    (r"^language_model\.", "{llm}."),
    (r"^query_tokens$", "query_tokens"),
)


def hf_folder_notes(module: nn.Module, config: dict[str, Any]) -> list[str]:
    """Config facts of a transformers BLIP-2 / InstructBLIP folder that change numbers without changing shapes."""
    notes = []
    text = config.get("text_config") or {}
    llm = getattr(module, "llm", None)
    if llm is not None:
        is_t5 = text.get("model_type", "t5") == "t5"
        if is_t5 != (llm.kind == "t5"):
            raise CheckpointError(
                f"the transformers folder has a {text.get('model_type')!r} language model; this model's "
                f"model.llm.kind is {llm.kind!r}"
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
    if act and ours and llm is not None and llm.kind == "t5" and act != ours:
        notes.append(f"the folder's T5 dense_act_fn is {act!r}; this model runs {ours!r} (LAVIS: gelu)")
    return notes


HF_BLIP2 = KeyRules(
    kind="hf_blip2",
    about="transformers Blip2ForConditionalGeneration folder (config.json + model*.safetensors)",
    renames=HF_BLIP2_RENAMES,
    split_fused_qkv_bias=True,
    drop=(QFORMER_POSITION_IDS, T5_UNUSED),
    missing_ok=(LORA_ADAPTERS,),
    folder_types=("blip-2", "blip_2"),
    config_key="pretrained",
    notes=hf_folder_notes,
)

FINETUNED = KeyRules(
    kind="finetuned",
    about="fine-tuned checkpoint with the trainable tensors only (what the runner's checkpoint_best.pth holds)",
    drop=(QFORMER_POSITION_IDS,),  # LAVIS runners kept buffers, this one among them
    missing_from_model=True,
    detect=r"^(ln_vision|{proj}|{llm})\.",
    config_key="finetuned",
)


@dataclass(frozen=True)
class QFormerBranch:
    """One Q-Former branch's module names on the body (suffix "" = LAVIS' plain names)."""

    name: str
    suffix: str

    @property
    def ln_vision(self) -> str:
        return "ln_vision" + self.suffix

    @property
    def qformer(self) -> str:
        return "Qformer" + self.suffix

    @property
    def query_tokens(self) -> str:
        return "query_tokens" + self.suffix


class Blip2Base(BaseModel):
    """The body. Subclasses set ``QFORMERS`` (branch name → LAVIS suffix) when they need more than one."""

    Config = Blip2Config
    QFORMERS: ClassVar[dict[str, str]] = {"main": ""}
    PROMPT_TRUNCATION: ClassVar[str] = "right"  # InstructBLIP keeps the end of long instructions: "left"
    # Systems whose frame encoding goes through encode_images(..., sources) read model.feature_cache; a system
    # that encodes frames its own way sets () and the config refuses the cache.
    FEATURE_CACHE_LEVELS: ClassVar[tuple[str, ...]] = ("vit", "qformer")

    def __init__(self, cfg: Blip2Config, tokenizer: Any | None = None, qformer_tokenizer: Any | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.branches = {name: QFormerBranch(name, suffix) for name, suffix in self.QFORMERS.items()}
        self.visual_encoder = build_vision_encoder(cfg.vision)
        for branch in self.branches.values():
            setattr(self, branch.ln_vision, FP32LayerNorm(cfg.vision.width))
            setattr(self, branch.qformer, QFormer(cfg.qformer, cfg.vision.width))
            queries = nn.Parameter(torch.zeros(1, cfg.qformer.num_query_tokens, cfg.qformer.hidden_size))
            nn.init.normal_(queries, std=cfg.qformer.initializer_range)
            setattr(self, branch.query_tokens, queries)
        self.qformer_tokenizer = None
        if cfg.qformer.use_text_input:
            self.qformer_tokenizer = qformer_tokenizer or load_tokenizer(cfg.qformer.tokenizer, style="bert")
            add_qformer_bos(self.qformer_tokenizer)
            if len(self.qformer_tokenizer) > cfg.qformer.vocab_size:
                raise CheckpointError(
                    f"the Q-Former tokenizer has {len(self.qformer_tokenizer)} tokens but model.qformer.vocab_size "
                    f"is {cfg.qformer.vocab_size}"
                )
        # Build order (LLM, projections, then LoRA) fixes the random initialisation of tiny models.
        self.llm = LanguageModel.build(cfg.llm, tokenizer)
        for branch in self.branches.values():
            setattr(self, self.projection_name(branch.name), nn.Linear(cfg.qformer.hidden_size, self.llm.hidden_size))
        self.llm.wrap_lora(cfg.lora)
        setattr(self, self.llm.module_name, self.llm.model)
        self.apply_freezing()
        self.feature_cache: FrozenFeatureCache | None = None
        if cfg.feature_cache is not None:
            self.check_feature_cache(cfg)
            self.feature_cache = FrozenFeatureCache(Path(cfg.feature_cache.root), cfg.feature_cache.dtype)
        self._weights_hashes: dict[tuple[str, str], str] = {}

    @classmethod
    def from_config(cls, cfg: DictConfig | Blip2Config) -> Blip2Base:
        from lavis.models.checkpoints import load_configured_weights

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_object(cfg)
        model = cls(cfg)
        load_configured_weights(model)
        return model

    # --- names -----------------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        return self.llm.tokenizer

    def projection_name(self, branch: str = "main") -> str:
        return self.llm.projection_name + self.branches[branch].suffix

    def part(self, kind: str, branch: str = "main") -> Any:
        """A branch's ``ln_vision`` / ``qformer`` / ``query_tokens`` / ``proj`` module."""
        if kind == "proj":
            return getattr(self, self.projection_name(branch))
        return getattr(self, getattr(self.branches[branch], kind))

    def checkpoint_names(self) -> dict[str, str]:
        """Values of the placeholders in key rules: this model's LLM / projection names, kept ViT blocks."""
        blocks = len(self.visual_encoder.blocks)
        return {
            "llm": self.llm.module_name,
            "proj": self.llm.projection_name,
            "kept_blocks": "|".join(str(i) for i in range(blocks)) or "(?!)",
        }

    def checkpoint_rules(self) -> list[KeyRules]:
        """The files this model loads, in ``kind=auto`` detection order."""
        return [LAVIS_BLIP2, EVA_VIT, FINETUNED, HF_BLIP2, FOLDER_RULES[self.llm.kind]]

    # --- training switches -----------------------------------------------------------------------

    def apply_freezing(self) -> None:
        if self.cfg.freeze_vit:
            self.visual_encoder.requires_grad_(False)
        for branch in self.branches:
            if self.cfg.freeze_qformer:
                self.part("qformer", branch).requires_grad_(False)
                self.part("query_tokens", branch).requires_grad_(False)
            self.part("ln_vision", branch).requires_grad_(self.cfg.train_ln_vision)
            self.part("proj", branch).requires_grad_(True)
        if self.cfg.lora.enabled:
            # peft froze the base model and left the adapters trainable; unfreeze the base only if asked.
            if not self.cfg.freeze_llm:
                for name, p in self.llm.model.named_parameters():
                    if "lora_" not in name:
                        p.requires_grad_(True)
        else:
            self.llm.model.requires_grad_(not self.cfg.freeze_llm)

    def train(self, mode: bool = True) -> Blip2Base:
        super().train(mode)
        if self.cfg.freeze_vit:
            self.visual_encoder.eval()  # a frozen encoder keeps eval behaviour (no drop-path)
        if self.cfg.freeze_qformer and not self.cfg.qformer.train_dropout:
            for branch in self.branches:
                self.part("qformer", branch).eval()
        return self

    def prepare_for_device(self, device: torch.device) -> None:
        self.to(device)
        if device.type != "cuda":
            return
        if self.cfg.freeze_vit:
            self.visual_encoder.to(VISION_PRECISIONS[self.cfg.vision.precision])
        if self.cfg.freeze_llm and self.cfg.llm.precision != "fp32":
            dtype = PRECISIONS[self.cfg.llm.precision]
            for name, p in self.llm.model.named_parameters():
                if "lora_" not in name:
                    p.data = p.data.to(dtype)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Checkpoint the parts the config's ``checkpoint_vit`` / ``checkpoint_qformer`` / ``checkpoint_llm``
        select (``enable=False`` turns every part off)."""
        cfg = self.cfg
        if not cfg.freeze_vit:
            self.visual_encoder.set_grad_checkpointing(enable and cfg.checkpoint_vit)
        for branch in self.branches:
            self.part("qformer", branch).grad_checkpointing = enable and cfg.checkpoint_qformer
        if enable and cfg.checkpoint_llm:
            self.llm.model.gradient_checkpointing_enable()
        else:
            self.llm.model.gradient_checkpointing_disable()

    def fsdp_units(self) -> list[nn.Module]:
        """Every ViT block, Q-Former layer and LLM block (transformers' ``_no_split_modules``: T5Block, ...),
        except the frozen parts :meth:`fsdp_ignored_parameters` keeps whole."""
        units: list[nn.Module] = list(self.visual_encoder.blocks)
        for branch in self.branches:
            units += list(self.part("qformer", branch).bert.encoder.layer)
        block_types = set(getattr(self.llm.base, "_no_split_modules", None) or ())
        units += [m for m in self.llm.model.modules() if type(m).__name__ in block_types]
        ignored = self.fsdp_ignored_parameters()
        return [u for u in units if not any(p in ignored for p in u.parameters())]

    def fsdp_ignored_parameters(self) -> set[nn.Parameter]:
        """With the feature cache on, what it may skip: a rank whose samples all hit runs no ViT (level ``qformer``:
        no ``ln_vision`` / Q-Former either) while another rank computes them, so sharded weights there would leave
        ranks in different collectives. Those frozen parts stay whole on every rank, as under DDP."""
        if self.feature_cache is None:
            return set()
        params = set(self.visual_encoder.parameters())
        if self.cfg.feature_cache.level == "qformer":
            for branch in self.branches:
                for kind in ("ln_vision", "qformer"):
                    params.update(self.part(kind, branch).parameters())
                params.add(self.part("query_tokens", branch))
        return params

    def expected_missing_keys(self) -> list[str]:
        """Frozen parts are restored from their pretrained files, not from a fine-tuned checkpoint."""
        patterns = []
        if self.cfg.freeze_vit:
            patterns.append(r"^visual_encoder\.")
        for branch in self.branches.values():
            if self.cfg.freeze_qformer:
                patterns += [rf"^{branch.qformer}\.", rf"^{branch.query_tokens}$"]
            if not self.cfg.train_ln_vision:
                patterns.append(rf"^{branch.ln_vision}\.")
        llm = self.llm.module_name
        if self.cfg.lora.enabled and self.cfg.freeze_llm:
            patterns.append(rf"^{llm}\.(?!.*lora_)")
        elif not self.cfg.lora.enabled and self.cfg.freeze_llm:
            patterns.append(rf"^{llm}\.")
        return patterns

    # --- frozen-feature cache ---------------------------------------------------------------------

    @classmethod
    def check_feature_cache(cls, cfg: Blip2Config) -> None:
        """ConfigError unless what ``model.feature_cache.level`` stores is frozen in this configuration
        (a classmethod: ``python -m lavis.check`` calls it without building the model)."""
        level = cfg.feature_cache.level
        if level not in cls.FEATURE_CACHE_LEVELS:
            supported = ", ".join(cls.FEATURE_CACHE_LEVELS) or "none"
            raise ConfigError(
                f"model.feature_cache.level {level!r} is not supported by {cfg.arch} (supported: {supported}); "
                "set model.feature_cache: null"
            )
        if not cfg.freeze_vit:
            raise ConfigError("model.feature_cache needs a frozen ViT: set model.freeze_vit: true or turn the cache off")
        if level == "qformer":
            problems = []
            if cfg.train_ln_vision:
                problems.append("model.train_ln_vision is true (set it false, or use level: vit)")
            if not cfg.freeze_qformer:
                problems.append("model.freeze_qformer is false")
            if cfg.qformer.train_dropout:
                problems.append("model.qformer.train_dropout is true (outputs are random in training)")
            if cfg.qformer.use_text_input:
                problems.append("the Q-Former reads instruction text (its outputs depend on the prompt)")
            if problems:
                raise ConfigError(
                    "model.feature_cache.level 'qformer' stores Q-Former outputs, which must not change in "
                    f"training: {'; '.join(problems)}. Use level: vit to cache only the frozen ViT."
                )

    def frozen_weights_hash(self, level: str, branch: str = "main") -> str:
        """Digest of the weights a cache level depends on (computed once: they are frozen)."""
        if (level, branch) not in self._weights_hashes:
            tensors = [(f"visual_encoder.{k}", v) for k, v in self.visual_encoder.state_dict().items()]
            settings: dict[str, Any] = {"vision": dataclasses.asdict(self.cfg.vision), "level": level}
            if level == "qformer":
                for kind in ("ln_vision", "qformer"):
                    tensors += [(f"{kind}.{k}", v) for k, v in self.part(kind, branch).state_dict().items()]
                tensors.append(("query_tokens", self.part("query_tokens", branch)))
                settings["qformer"] = dataclasses.asdict(self.cfg.qformer)
            self._weights_hashes[(level, branch)] = weights_hash(tensors, settings)
        return self._weights_hashes[(level, branch)]

    def frozen_numerics(self) -> str:
        """How the frozen part runs besides its weights (autocast); a subclass adds its own precision rules."""
        device = self.device.type
        autocast = str(torch.get_autocast_dtype(device)) if torch.is_autocast_enabled(device) else "off"
        return json.dumps({"autocast": autocast})

    def cached(
        self, images: torch.Tensor, sources: list[Any], level: str, branch: str,
        compute: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """``compute(images)`` through the feature cache; ``sources[i]`` names sample i's frames (in order)."""
        counts = [len(s.indices) for s in sources]
        if sum(counts) != images.shape[0]:
            raise RuntimeError(f"{images.shape[0]} frames but the samples' frame sources list {sum(counts)}")
        per_sample = images.split(counts)

        def compute_missing(positions: list[int]) -> list[torch.Tensor]:
            out = compute(torch.cat([per_sample[i] for i in positions]))
            return list(out.split([counts[i] for i in positions]))

        weights = self.frozen_weights_hash(level, branch)
        feats = self.feature_cache.fetch(sources, weights, self.frozen_numerics(), compute_missing)
        return torch.cat([f.to(images.device) for f in feats])

    @torch.no_grad()
    def fill_feature_cache(self, samples: dict[str, Any]) -> None:
        """Store the frozen features of a batch's frames, through the path training reads them by."""
        if self.feature_cache is None:
            raise ConfigError("model.feature_cache is null: there is no cache to fill")
        sources = samples.get("frame_source")
        if sources is None:
            raise ConfigError("the batch carries no frame_source: its dataset cannot key the feature cache")
        pixels = samples["image"] if "image" in samples else samples["video"]
        if pixels.dim() == 4:
            pixels = pixels.unsqueeze(1)
        frame_mask = samples.get("frame_mask")
        frames = pixels[frame_mask.bool()] if frame_mask is not None else pixels.flatten(0, 1)
        if self.cfg.feature_cache.level == "vit":
            self.frozen_vit_tokens(frames.to(self.device), list(sources))
            return
        for branch in self.branches:
            self.encode_images(frames.to(self.device), branch, sources=list(sources))

    # --- encoding --------------------------------------------------------------------------------

    def vit_features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) → frozen ViT tokens (N, 1 + patches, width), before any ``ln_vision``."""
        chunk = self.cfg.vision_chunk_size or images.shape[0]
        vit_dtype = self.visual_encoder.patch_embed.proj.weight.dtype
        outs = []
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.freeze_vit):
            for i in range(0, images.shape[0], chunk):
                outs.append(self.visual_encoder.forward_features(images[i : i + chunk].to(vit_dtype)))
        return torch.cat(outs, dim=0)

    def frozen_vit_tokens(self, images: torch.Tensor, sources: list[Any] | None = None) -> torch.Tensor:
        """:meth:`vit_features`, read from ``model.feature_cache`` (level ``vit``) when it is on and ``sources``
        names each sample's frames (consecutive in ``images``); what a system with its own frame path calls."""
        if self.feature_cache is None or sources is None or self.cfg.feature_cache.level != "vit":
            return self.vit_features(images)
        return self.cached(images, sources, "vit", "main", self.vit_features)

    def qformer_queries(
        self,
        vit_tokens: torch.Tensor,
        branch: str = "main",
        text_ids: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """ViT tokens → the branch's ``ln_vision`` → its Q-Former → query outputs (N, num_queries, hidden)."""
        tokens = self.part("ln_vision", branch)(vit_tokens.float())
        needs_grad = self.part("ln_vision", branch).weight.requires_grad or not self.cfg.freeze_qformer
        with torch.set_grad_enabled(torch.is_grad_enabled() and needs_grad):
            queries = self.part("query_tokens", branch).expand(tokens.shape[0], -1, -1)
            return self.part("qformer", branch)(queries, tokens, text_ids=text_ids, text_mask=text_mask)

    def encode_images(
        self,
        images: torch.Tensor,
        branch: str = "main",
        text_ids: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        sources: list[Any] | None = None,
    ) -> torch.Tensor:
        """(N, C, H, W) → Q-Former query outputs (N, num_query_tokens, qformer_hidden).

        ``sources`` (one :class:`~lavis.datasets.frame_sources.FrameSource` per sample, whose frames are
        consecutive in ``images``) routes the frozen part through ``model.feature_cache`` when it is on.
        """
        if self.feature_cache is not None and sources is not None:
            if self.cfg.feature_cache.level == "qformer":
                return self.cached(images, sources, "qformer", branch, lambda x: self.encode_images(x, branch))
            return self._chunked(self.frozen_vit_tokens(images, sources), branch, text_ids, text_mask, lambda x: x)
        return self._chunked(images, branch, text_ids, text_mask, self.vit_features)

    def _chunked(
        self, inputs: torch.Tensor, branch: str, text_ids: torch.Tensor | None, text_mask: torch.Tensor | None,
        to_vit: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        chunk = self.cfg.vision_chunk_size or inputs.shape[0]
        outs = []
        for i in range(0, inputs.shape[0], chunk):
            ids = text_ids[i : i + chunk] if text_ids is not None else None
            mask = text_mask[i : i + chunk] if text_mask is not None else None
            outs.append(self.qformer_queries(to_vit(inputs[i : i + chunk]), branch, ids, mask))
        return torch.cat(outs, dim=0)

    def visual_embeddings(
        self,
        images: torch.Tensor,
        branch: str = "main",
        instructions: list[str] | None = None,
        sources: list[Any] | None = None,
    ) -> torch.Tensor:
        """(N, C, H, W) → projected query embeddings (N, num_query_tokens, llm_hidden).

        ``instructions`` (one per image) feed an instruction-aware Q-Former (InstructBLIP); ``sources``: see
        :meth:`encode_images`.
        """
        ids = mask = None
        if instructions is not None and self.cfg.qformer.use_text_input:
            ids, mask = self.qformer_text(instructions)
        return self.part("proj", branch)(self.encode_images(images.to(self.device), branch, ids, mask, sources))

    def qformer_text(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Instruction ids for the Q-Former: BERT WordPiece, ``[CLS] ... [SEP]``, long ones cut on the left."""
        tok = self.qformer_tokenizer
        rows = []
        for ids in tok(list(texts), add_special_tokens=False).input_ids:
            budget = self.cfg.max_txt_len - 2
            rows.append([tok.cls_token_id] + ids[max(len(ids) - budget, 0) :] + [tok.sep_token_id])
        width = max(len(r) for r in rows)
        out = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return out.to(self.device), mask.to(self.device)

    # --- input assembly --------------------------------------------------------------------------

    def prompt_texts(self, samples: dict[str, Any]) -> list[str]:
        return [self.cfg.prompt + text for text in samples["text_input"]]

    def qformer_instructions(self, samples: dict[str, Any]) -> list[str] | None:
        """What an instruction-aware Q-Former reads (the LLM prompt, as InstructBLIP); None: queries only."""
        return self.prompt_texts(samples) if self.cfg.qformer.use_text_input else None

    def frame_embeddings(self, samples: dict[str, Any], branch: str = "main") -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample, every frame's projected queries in time order: (B, T·Nq, D) and their mask (B, T·Nq).

        Images count as one-frame videos. Padded frames (``frame_mask`` False) are not encoded and are
        masked out, so a sample's input does not depend on its batch.
        """
        pixels = samples["image"] if "image" in samples else samples["video"]
        if pixels.dim() == 4:
            pixels = pixels.unsqueeze(1)
        b, t = pixels.shape[:2]
        frame_mask = samples.get("frame_mask")
        frame_mask = frame_mask.to(pixels.device).bool() if frame_mask is not None else torch.ones(b, t, dtype=torch.bool)
        instructions = self.qformer_instructions(samples)
        per_frame = None
        if instructions is not None:
            per_frame = [text for text, n in zip(instructions, frame_mask.sum(1).tolist()) for _ in range(int(n))]
        real = self.visual_embeddings(pixels[frame_mask], branch, per_frame, samples.get("frame_source"))
        nq = real.shape[1]
        out = real.new_zeros(b, t, nq, real.shape[-1])
        out[frame_mask.to(out.device)] = real
        mask = frame_mask.to(self.device).repeat_interleave(nq, dim=1).long()
        return out.view(b, t * nq, -1), mask

    def encoder_inputs(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The LLM's conditioning input -- the T5 encoder input, or a causal LM's prefix: embeddings and mask.

        ``[visual query embeddings of every frame ; prompt embeddings]``; padding is masked.
        """
        visual, visual_mask = self.frame_embeddings(samples)
        text, text_mask = self.llm.embed_texts(
            self.prompt_texts(samples), self.cfg.max_txt_len, self.device, self.PROMPT_TRUNCATION
        )
        embeds = torch.cat([visual.to(text.dtype), text], dim=1)
        return embeds, torch.cat([visual_mask.to(text_mask.dtype), text_mask], dim=1)

    def target_texts(self, samples: dict[str, Any]) -> list[str]:
        return list(samples["text_output"])

    def dummy_inputs(self, batch_size: int = 2, num_frames: int = 3) -> dict[str, Any]:
        size = self.cfg.vision.img_size
        g = torch.Generator().manual_seed(0)
        frame_mask = torch.ones(batch_size, num_frames, dtype=torch.bool)
        frame_mask[1:, num_frames - 1 :] = False  # later samples are one frame shorter: padding is exercised
        return {
            "video": torch.randn(batch_size, num_frames, 3, size, size, generator=g),
            "frame_mask": frame_mask,
            "timestamps": torch.arange(num_frames, dtype=torch.float32).repeat(batch_size, 1) + 0.5,
            "duration": [float(num_frames)] * batch_size,
            "text_input": [f"Question: what colour is shape {i}? Short answer:" for i in range(batch_size)],
            "text_output": ["red", "a blue square"][:1] * (batch_size - 1) + ["a blue square"],
            "index": list(range(batch_size)),
        }

    # --- training and inference ------------------------------------------------------------------

    def forward(self, samples: dict[str, Any]) -> dict[str, torch.Tensor]:
        embeds, mask = self.encoder_inputs(samples)
        return self.llm.loss(embeds, mask, self.target_texts(samples), self.cfg.max_target_len)

    @staticmethod
    def generation_config(generation: GenerationConfig | dict | None = None, **overrides: Any) -> GenerationConfig:
        """One place that turns config sections and keyword overrides into a :class:`GenerationConfig`."""
        if isinstance(generation, dict | DictConfig):
            generation = GenerationConfig(**dict(generation))
        return dataclasses.replace(generation or GenerationConfig(), **overrides)

    @torch.no_grad()
    def generate(self, samples: dict[str, Any], generation: GenerationConfig | None = None, **overrides: Any) -> list[str]:
        """Generated text per sample (``num_return_sequences`` per sample, in a row)."""
        embeds, mask = self.encoder_inputs(samples)
        return self.llm.generate(embeds, mask, self.generation_config(generation, **overrides))

    @torch.no_grad()
    def predict(
        self, samples: dict[str, Any], generation: GenerationConfig | None = None, **overrides: Any
    ) -> list[dict[str, Any]]:
        """Per sample: ``text`` (the best sequence) and ``candidates`` (all returned sequences, best first)."""
        gen = self.generation_config(generation, **overrides)
        texts = self.generate(samples, gen)
        n = gen.num_return_sequences
        return [{"text": texts[i * n], "candidates": texts[i * n : (i + 1) * n]} for i in range(len(texts) // n)]
