"""The language model behind one interface: Flan-T5 (encoder-decoder) or any causal LM (LLaMA/Vicuna, OPT).

Systems never branch on the kind of LLM. They hand :class:`LanguageModel` a *prefix* -- embeddings plus a
mask, e.g. ``[visual query embeddings ; instruction tokens]`` -- and ask for a loss on target texts, for
generated texts, or for next-token logits. What differs per kind lives here:

* ``t5``: the prefix is the encoder input, targets are decoder labels (``</s>`` appended, padding -100).
* ``causal``: InstructBLIP's layout -- per sample ``[prefix (unpadded) ; target tokens + eos ; padding]``
  with labels -100 on the prefix and padding; for generation the prefix is left-padded. Token ids 0 and 1
  in generated text are mapped to ``</s>`` before decoding, as LAVIS does for Vicuna (reference §A.8).

Real weights come from a local transformers folder (``path``); with no folder the model is built with
random weights from ``arch``, which is how tiny configs and meta-device size checks work. ``arch`` fields
given together with ``path`` are checked against the folder's ``config.json`` (a preset describing one
model cannot silently load another).

The HF model is a plain ``nn.Module``; the body registers it under its checkpoint name (``t5_model`` /
``llm_model``, LAVIS' names) so that published checkpoints map one to one. :class:`LanguageModel` itself
is not a module: it holds that module and the tokenizer and knows how to talk to them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lavis.common.config import GenerationConfig, one_of
from lavis.common.errors import CheckpointError, ConfigError
from lavis.models.checkpoints import KeyRules
from lavis.models.components.tokenizer import load_tokenizer

LLM_KINDS = ("t5", "causal")
# Module names of the LLM and of the Q-Former → LLM projection, per kind: LAVIS' names, so checkpoints map.
MODULE_NAMES = {"t5": ("t5_model", "t5_proj"), "causal": ("llm_model", "llm_proj")}
# peft target modules per architecture (every Linear of the transformer, as Mr. BLIP does for T5).
LORA_TARGETS = {
    "t5": ["q", "k", "v", "o", "wi_0", "wi_1", "wo", "lm_head"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
}
T5_LINEAR_MODULES = LORA_TARGETS["t5"]
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class LLMArch:
    """Architecture of a language model built from scratch (no ``path``), or the expected one (with ``path``).

    Fields left ``None`` keep transformers' defaults. T5 fields and causal-LM fields are separate; a field
    of the other kind is a config error, so ``d_modle`` or a T5 field under a LLaMA config cannot pass.
    """

    vocab_size: int | None = None  # default: the tokenizer's size
    tie_word_embeddings: bool | None = None
    # --- t5 (transformers T5Config) ---
    d_model: int | None = None
    d_kv: int | None = None
    d_ff: int | None = None
    num_layers: int | None = None
    num_decoder_layers: int | None = None
    num_heads: int | None = None
    feed_forward_proj: str | None = None
    relative_attention_num_buckets: int | None = None
    relative_attention_max_distance: int | None = None
    dropout_rate: float | None = None
    layer_norm_epsilon: float | None = None
    # --- causal (transformers LlamaConfig / OPTConfig) ---
    model_type: str | None = None  # llama | opt | ... (default llama)
    hidden_size: int | None = None
    intermediate_size: int | None = None  # llama
    ffn_dim: int | None = None  # opt
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    max_position_embeddings: int | None = None
    rms_norm_eps: float | None = None
    hidden_act: str | None = None
    word_embed_proj_dim: int | None = None  # opt

    # As a mapping (``dict(arch)``), an arch is the fields that are set: what overrides transformers' defaults.
    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


COMMON_FIELDS = ("vocab_size", "tie_word_embeddings")
T5_FIELDS = (
    "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads", "feed_forward_proj",
    "relative_attention_num_buckets", "relative_attention_max_distance", "dropout_rate", "layer_norm_epsilon",
)
CAUSAL_FIELDS = (
    "model_type", "hidden_size", "intermediate_size", "ffn_dim", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "hidden_act", "word_embed_proj_dim",
)
# Fields that only change numbers, not names or shapes: not compared with a folder's config.json.
UNCHECKED_FIELDS = ("dropout_rate", "tie_word_embeddings")


ATTN_IMPLEMENTATIONS = ("sdpa", "eager")


@dataclass
class LLMConfig:
    kind: str = one_of("t5", *LLM_KINDS)
    path: str | None = None  # local HF folder with config + weights (e.g. flan-t5-xl); None: random from `arch`
    tokenizer: str | None = None  # local tokenizer folder, or "tiny"; default: `path`
    arch: LLMArch = field(default_factory=LLMArch)
    dense_act_fn: str = "gelu"  # t5 only: LAVIS/BLIP-2 run Flan-T5's gated FFN with exact GELU (HF: gelu_new)
    autocast: str = one_of("bf16", "off", "bf16", "fp16")  # compute dtype of the LLM on GPU (LAVIS: bf16 T5)
    precision: str = one_of("fp32", *PRECISIONS)  # weight dtype of the frozen base LLM on GPU
    # transformers' attention kernel: sdpa (torch.nn.functional.scaled_dot_product_attention) or eager (the
    # explicit softmax(QK^T)V, as the original code ran); same outputs within 1e-5 in fp32
    attn_implementation: str = one_of("sdpa", *ATTN_IMPLEMENTATIONS)


@dataclass
class LoraSettings:
    enabled: bool = True
    r: int = 8
    alpha: int = 8
    dropout: float = 0.05
    target_modules: list[str] | None = None  # None: every Linear of the architecture (LORA_TARGETS)


def arch_overrides(cfg: LLMConfig) -> dict[str, Any]:
    """The ``arch`` fields that are set, checked against the kind (a field of the other kind is an error)."""
    arch = cfg.arch if isinstance(cfg.arch, LLMArch) else LLMArch(**dict(cfg.arch))
    given = dict(arch)
    allowed = COMMON_FIELDS + (T5_FIELDS if cfg.kind == "t5" else CAUSAL_FIELDS)
    wrong = sorted(set(given) - set(allowed))
    if wrong:
        raise ConfigError(
            f"model.llm.arch.{wrong[0]} is not a field of a {cfg.kind!r} language model "
            f"(model.llm.kind={cfg.kind}); allowed: {', '.join(allowed)}"
        )
    return given


# --- checkpoint rules ------------------------------------------------------------------------------

# LoRA adapters are not part of any released base model: they start from their initialisation.
LORA_ADAPTERS = r"\.lora_(A|B|embedding_A|embedding_B|magnitude_vector)\."
# Old T5 checkpoints carry a relative bias in the first cross-attention that T5 never uses (HF ignores it too).
T5_UNUSED = r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight$"

HF_T5 = KeyRules(
    kind="hf_t5",
    about="transformers T5 folder (e.g. google/flan-t5-xl: config.json + model*.safetensors)",
    renames=((r"^", "{llm}."),),
    drop=(T5_UNUSED,),
    missing_ok=(r"^(?!{llm}\.)", LORA_ADAPTERS),
    folder_types=("t5", "mt5", "umt5"),
    config_key="llm.path",
)
HF_CAUSAL_LM = KeyRules(
    kind="hf_causal_lm",
    about="transformers causal LM folder (e.g. lmsys/vicuna-7b-v1.1, facebook/opt-2.7b)",
    renames=((r"^", "{llm}."),),
    missing_ok=(r"^(?!{llm}\.)", LORA_ADAPTERS),
    folder_types=("llama", "opt", "mistral", "qwen2"),
    config_key="llm.path",
)
FOLDER_RULES = {"t5": HF_T5, "causal": HF_CAUSAL_LM}


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------


def _config_class(kind: str, model_type: str | None):
    from transformers import AutoConfig, T5Config

    if kind == "t5":
        return T5Config
    return AutoConfig.for_model(model_type or "llama").__class__


def _model_class(kind: str):
    from transformers import AutoModelForCausalLM, T5ForConditionalGeneration

    return T5ForConditionalGeneration if kind == "t5" else AutoModelForCausalLM


def _check_folder_config(cfg: LLMConfig, config: Any, folder: Path) -> None:
    for name, want in arch_overrides(cfg).items():
        if name in UNCHECKED_FIELDS:
            continue
        have = getattr(config, name, None)
        if have != want:
            raise ConfigError(
                f"model.llm.arch.{name} is {want!r} but {folder}/config.json has {have!r}: the preset describes "
                "another model than the folder holds. Use the preset of that model, or fix model.llm.arch."
            )


def build_hf_model(cfg: LLMConfig, vocab_size: int | None = None) -> nn.Module:
    """The transformers model: loaded from ``cfg.path``, or random from ``cfg.arch`` (tiny / meta builds)."""
    model_cls = _model_class(cfg.kind)
    if cfg.path:
        folder = Path(cfg.path)
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"model.llm.path: no config.json in {folder}. Put the local Hugging Face folder of the "
                "language model there (e.g. google/flan-t5-xl, lmsys/vicuna-7b-v1.1); nothing is downloaded."
            )
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        _check_folder_config(cfg, config, folder)
        if cfg.kind == "t5":
            config.dense_act_fn = cfg.dense_act_fn
        # fp32 base weights as in the original (LoRA branch); precision/autocast decide the GPU dtypes.
        model, info = model_cls.from_pretrained(
            str(folder), config=config, local_files_only=True, dtype=torch.float32, output_loading_info=True,
            attn_implementation=cfg.attn_implementation,
        )
        gaps = {k: v for k, v in info.items() if k != "error_msgs" and v}
        if gaps or info.get("error_msgs"):
            details = "; ".join(f"{k}: {sorted(v)[:5]}" for k, v in gaps.items())
            raise CheckpointError(f"{folder} does not match its config.json ({details} {info.get('error_msgs') or ''})")
        return model
    arch = arch_overrides(cfg)
    if vocab_size is not None:
        arch.setdefault("vocab_size", vocab_size)
    if cfg.kind == "t5":
        arch.setdefault("decoder_start_token_id", 0)
        arch.setdefault("pad_token_id", 0)
        arch.setdefault("eos_token_id", 1)
        arch["dense_act_fn"] = cfg.dense_act_fn
    config = _config_class(cfg.kind, arch.get("model_type"))(**{k: v for k, v in arch.items() if k != "model_type"})
    config._attn_implementation = cfg.attn_implementation
    if cfg.kind == "t5":
        return model_cls(config)
    return model_cls.from_config(config, attn_implementation=cfg.attn_implementation)


def apply_lora(model: nn.Module, lora: LoraSettings, targets: list[str]) -> nn.Module:
    """Wrap ``model`` with LoRA adapters; base weights become frozen, adapters trainable.

    The wrapper's parameter names (``base_model.model.<...>.lora_A.default.weight``) are the ones the
    published Mr. BLIP checkpoints use.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias="none",
        target_modules=list(lora.target_modules or targets),
    )
    return get_peft_model(model, config)


def build_t5(cfg: LLMConfig, vocab_size: int | None = None) -> nn.Module:
    """A T5 built or loaded as :func:`build_hf_model` does (kept for callers that want the bare model)."""
    return build_hf_model(dataclasses.replace(cfg, kind="t5"), vocab_size)


# --------------------------------------------------------------------------------------------------
# The interface the bodies use
# --------------------------------------------------------------------------------------------------


@dataclass
class TextIds:
    """Token ids of a batch of texts: right-padded ``ids`` and ``mask`` (B, L)."""

    ids: torch.Tensor
    mask: torch.Tensor


class LanguageModel:
    """A transformers LM + tokenizer behind the calls the BLIP-2 bodies need.

    Construct with :meth:`build`; the body registers :attr:`model` under :attr:`module_name`.
    """

    def __init__(self, cfg: LLMConfig, model: nn.Module, tokenizer: Any) -> None:
        if cfg.kind not in LLM_KINDS:
            raise ConfigError(f"model.llm.kind must be one of {', '.join(LLM_KINDS)}, got {cfg.kind!r}")
        self.cfg = cfg
        self.kind = cfg.kind
        self.model = model
        self.tokenizer = tokenizer
        self._specials = _special_layout(tokenizer)
        if self.kind == "causal":
            # InstructBLIP's causal layout: one BOS first (Vicuna: ``</s>``, §A.2), nothing after the text,
            # whatever the tokenizer's own post-processor adds.
            self._specials = ([int(tokenizer.bos_token_id)], [])

    @classmethod
    def build(cls, cfg: LLMConfig, tokenizer: Any | None = None) -> LanguageModel:
        if tokenizer is None:
            tokenizer = load_tokenizer(cfg.tokenizer or cfg.path, style="t5" if cfg.kind == "t5" else "llama")
        if cfg.kind == "causal":
            prepare_causal_tokenizer(tokenizer)
        model = build_hf_model(cfg, vocab_size=len(tokenizer))
        if cfg.kind == "causal" and model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))  # the added [PAD] (LAVIS: 32000 → 32001 for Vicuna)
        return cls(cfg, model, tokenizer)

    # --- facts -------------------------------------------------------------------------------------

    @property
    def module_name(self) -> str:
        return MODULE_NAMES[self.kind][0]

    @property
    def projection_name(self) -> str:
        return MODULE_NAMES[self.kind][1]

    @property
    def base(self) -> nn.Module:
        """The transformers model inside the LoRA wrapper, if any."""
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    @property
    def hidden_size(self) -> int:
        config = self.base.config
        return config.d_model if self.kind == "t5" else getattr(config, "word_embed_proj_dim", None) or config.hidden_size

    @property
    def lora_targets(self) -> list[str]:
        return LORA_TARGETS["t5" if self.kind == "t5" else str(getattr(self.base.config, "model_type", "llama"))]

    def wrap_lora(self, lora: LoraSettings) -> None:
        if lora.enabled:
            self.model = apply_lora(self.model, lora, self.lora_targets)

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if device.type == "cuda" and self.cfg.autocast != "off":
            return torch.autocast("cuda", dtype=PRECISIONS[self.cfg.autocast])
        return contextlib.nullcontext()

    # --- text → ids --------------------------------------------------------------------------------

    def encode(
        self, texts: list[str], max_length: int, truncation_side: str = "right"
    ) -> list[list[int]]:
        """Token ids per text with the tokenizer's special tokens (T5: ``... </s>``; LLaMA: ``<s> ...``).

        Truncation keeps the special tokens and cuts content from ``truncation_side`` (InstructBLIP
        truncates instructions on the left), without changing the tokenizer's state.
        """
        prefix, suffix = self._specials
        budget = max(max_length - len(prefix) - len(suffix), 0)
        out = []
        for ids in self.tokenizer(list(texts), add_special_tokens=False).input_ids:
            if len(ids) > budget:
                ids = ids[len(ids) - budget :] if truncation_side == "left" else ids[:budget]
            out.append(prefix + list(ids) + suffix)
        return out

    def pad(self, rows: list[list[int]], device: torch.device | None = None) -> TextIds:
        length = max((len(r) for r in rows), default=0)
        ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return TextIds(ids.to(device), mask.to(device))

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def embed_texts(self, texts: list[str], max_length: int, device: torch.device,
                    truncation_side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt embeddings (B, L, D) and mask (B, L), right-padded."""
        text = self.pad(self.encode(texts, max_length, truncation_side), device)
        return self.embed(text.ids), text.mask

    def target_ids(self, texts: list[str], max_length: int, device: torch.device) -> TextIds:
        """Targets as the model learns them: T5 ``... </s>``; causal LMs ``... </s>`` without the BOS."""
        if self.kind == "t5":
            return self.pad(self.encode(texts, max_length), device)
        eos = self.tokenizer.eos_token_id
        rows = [ids[: max(max_length - 1, 0)] + [eos] for ids in self.tokenizer(list(texts), add_special_tokens=False).input_ids]
        return self.pad(rows, device)

    # --- training ----------------------------------------------------------------------------------

    def loss(
        self, prefix: torch.Tensor, prefix_mask: torch.Tensor, targets: list[str], max_target_len: int
    ) -> dict[str, torch.Tensor]:
        """Cross-entropy of ``targets`` given the prefix; returns ``loss`` and ``logits``."""
        target = self.target_ids(targets, max_target_len, prefix.device)
        labels = target.ids.masked_fill(target.mask == 0, -100)
        with self.autocast(prefix.device):
            if self.kind == "t5":
                out = self.model(
                    inputs_embeds=prefix, attention_mask=prefix_mask, labels=labels,
                    decoder_attention_mask=target.mask, return_dict=True,
                )
            else:
                embeds, mask, full_labels = self.causal_sequence(prefix, prefix_mask, target.ids, target.mask)
                out = self.model(inputs_embeds=embeds, attention_mask=mask, labels=full_labels, return_dict=True)
        return {"loss": out.loss, "logits": out.logits}

    def causal_sequence(
        self, prefix: torch.Tensor, prefix_mask: torch.Tensor, target_ids: torch.Tensor, target_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per sample ``[prefix tokens ; target tokens ; padding]`` (InstructBLIP's layout) and its labels."""
        target_embeds = self.embed(target_ids).to(prefix.dtype)
        b = prefix.shape[0]
        n_prefix = prefix_mask.sum(1).tolist()
        n_target = target_mask.sum(1).tolist()
        length = max(int(p + t) for p, t in zip(n_prefix, n_target))
        embeds = prefix.new_zeros(b, length, prefix.shape[-1])
        mask = prefix_mask.new_zeros(b, length)
        labels = torch.full((b, length), -100, dtype=torch.long, device=prefix.device)
        for i in range(b):
            p, t = int(n_prefix[i]), int(n_target[i])
            embeds[i, :p] = prefix[i][prefix_mask[i].bool()]
            embeds[i, p : p + t] = target_embeds[i, :t]
            mask[i, : p + t] = 1
            labels[i, p : p + t] = target_ids[i, :t]
        return embeds, mask, labels

    # --- inference ---------------------------------------------------------------------------------

    def left_aligned(self, prefix: torch.Tensor, prefix_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The prefix with each sample's tokens at the right end (left padding), for causal generation."""
        b, length, d = prefix.shape
        n = prefix_mask.sum(1).tolist()
        width = int(max(n))
        embeds = prefix.new_zeros(b, width, d)
        mask = prefix_mask.new_zeros(b, width)
        for i in range(b):
            k = int(n[i])
            embeds[i, width - k :] = prefix[i][prefix_mask[i].bool()]
            mask[i, width - k :] = 1
        return embeds, mask

    @torch.no_grad()
    def generate(
        self, prefix: torch.Tensor, prefix_mask: torch.Tensor, generation: GenerationConfig | None = None
    ) -> list[str]:
        """Generated texts, ``num_return_sequences`` per sample in a row (special tokens removed)."""
        gen = generation or GenerationConfig()
        kwargs: dict[str, Any] = {
            "num_beams": gen.num_beams,
            "max_new_tokens": gen.max_new_tokens,
            "min_new_tokens": gen.min_new_tokens,
            "length_penalty": gen.length_penalty,
            "repetition_penalty": gen.repetition_penalty,
            "do_sample": gen.do_sample,
            "num_return_sequences": gen.num_return_sequences,
        }
        if gen.do_sample:
            kwargs.update(top_p=gen.top_p, temperature=gen.temperature)
        if self.kind == "causal":
            prefix, prefix_mask = self.left_aligned(prefix, prefix_mask)
            kwargs.update(pad_token_id=self.pad_id, eos_token_id=self.tokenizer.eos_token_id)
        with self.autocast(prefix.device):
            out = self.model.generate(inputs_embeds=prefix, attention_mask=prefix_mask, **kwargs)
        if self.kind == "causal":
            out = out.masked_fill(out < 2, int(self.tokenizer.eos_token_id))  # LAVIS: ids 0/1 → </s>
        return [text.strip() for text in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    def logits(
        self, prefix: torch.Tensor, prefix_mask: torch.Tensor, continuation: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Next-token logits after the prefix (and an optional forced continuation of ids, (B, K)): (B, V).

        T5: the decoder starts from its start token and reads ``continuation``; causal: the continuation
        follows the prefix. Used to score candidate tokens ("yes", option letters) without generating.
        """
        b = prefix.shape[0]
        cont = continuation if continuation is not None else prefix_mask.new_zeros(b, 0)
        with self.autocast(prefix.device):
            if self.kind == "t5":
                start = torch.full((b, 1), self.base.config.decoder_start_token_id, dtype=torch.long, device=prefix.device)
                dec = torch.cat([start, cont.long()], dim=1)
                out = self.model(inputs_embeds=prefix, attention_mask=prefix_mask, decoder_input_ids=dec)
                return out.logits[:, -1]
            embeds, mask = self.left_aligned(prefix, prefix_mask)
            embeds = torch.cat([embeds, self.embed(cont.long()).to(embeds.dtype)], dim=1)
            mask = torch.cat([mask, torch.ones_like(cont, dtype=mask.dtype)], dim=1)
            return self.model(inputs_embeds=embeds, attention_mask=mask).logits[:, -1]


def prepare_causal_tokenizer(tokenizer: Any) -> None:
    """InstructBLIP's Vicuna setup: a ``[PAD]`` token added; bos, eos and unk all ``</s>`` (reference §A.2).

    Idempotent, so a tokenizer passed in twice (tests, shared tokenizers) is set up once.
    """
    if tokenizer.pad_token is None or tokenizer.pad_token == tokenizer.eos_token:
        tokenizer.add_special_tokens({"pad_token": "[PAD]"})
    tokenizer.add_special_tokens({"bos_token": "</s>", "eos_token": "</s>", "unk_token": "</s>"})


def _special_layout(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special ids the tokenizer puts before and after a text (T5: ``[] / [</s>]``; LLaMA: ``[<s>] / []``)."""
    bare = tokenizer("x", add_special_tokens=False).input_ids
    full = tokenizer("x", add_special_tokens=True).input_ids
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return list(full[:start]), list(full[start + len(bare) :])
    raise ConfigError("cannot tell where the tokenizer puts its special tokens (tokenising 'x' is not stable)")
