"""BLIP-2 with a T5 language model: the image → text model, and the base of the T5-based systems.

The Q-Former's query outputs are projected to the T5 width (``t5_proj``) and placed in front of the text
prompt, as in LAVIS ``blip2_t5`` and transformers' ``Blip2ForConditionalGeneration``. Video input
``(B, T, C, H, W)`` gives each frame its own queries, concatenated in time order. Systems that assemble
the encoder input differently (Mr. BLIP interleaves timestamps) override :meth:`encoder_inputs`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from lavis.common.registry import register_model
from lavis.models.blip2 import Blip2Base, Blip2Config
from lavis.models.components.llm import LLMConfig, LoraSettings, apply_lora, build_t5
from lavis.models.components.tokenizer import load_tokenizer


@dataclass
class Blip2T5Config(Blip2Config):
    arch: str = "blip2_t5"
    model_type: str = "pretrain_flant5xl"
    llm: LLMConfig = field(default_factory=LLMConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    freeze_llm: bool = True  # base LLM weights (LoRA adapters stay trainable)
    max_txt_len: int = 200  # prompt tokens
    max_target_len: int = 200  # target tokens
    prompt: str = ""  # prepended to samples["text_input"] (image → text model only)


@register_model("blip2_t5")
class Blip2T5(Blip2Base):
    Config = Blip2T5Config
    PRETRAINED_MODEL_CONFIG_DICT = {
        "pretrain_flant5xl": "configs/models/blip2_t5/pretrain_flant5xl.yaml",
        "tiny": "configs/models/blip2_t5/tiny.yaml",
    }

    def __init__(self, cfg: Blip2T5Config, tokenizer: Any | None = None) -> None:
        super().__init__(cfg)
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(cfg.llm.tokenizer or cfg.llm.path)
        t5 = build_t5(cfg.llm, vocab_size=len(self.tokenizer))
        self.t5_proj = nn.Linear(cfg.qformer.hidden_size, t5.config.d_model)
        if cfg.lora.enabled:
            t5 = apply_lora(t5, cfg.lora)
        self.t5_model = t5
        self.apply_freezing()

    @classmethod
    def from_config(cls, cfg: DictConfig | Blip2T5Config) -> Blip2T5:
        from lavis.models.checkpoints import load_configured_weights

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_object(cfg)
        model = cls(cfg)
        load_configured_weights(model)
        return model

    def apply_freezing(self) -> None:
        super().apply_freezing()
        if self.cfg.lora.enabled:
            # peft froze the base model and left the adapters trainable; unfreeze the base only if asked.
            if not self.cfg.freeze_llm:
                for name, p in self.t5_model.named_parameters():
                    if "lora_" not in name:
                        p.requires_grad_(True)
        else:
            self.t5_model.requires_grad_(not self.cfg.freeze_llm)
        self.t5_proj.requires_grad_(True)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        super().set_grad_checkpointing(enable)
        if enable:
            self.t5_model.gradient_checkpointing_enable()
        else:
            self.t5_model.gradient_checkpointing_disable()

    def expected_missing_keys(self) -> list[str]:
        patterns = super().expected_missing_keys()
        if self.cfg.lora.enabled and self.cfg.freeze_llm:
            patterns.append(r"^t5_model\.(?!.*lora_)")
        elif not self.cfg.lora.enabled and self.cfg.freeze_llm:
            patterns.append(r"^t5_model\.")
        return patterns

    @property
    def t5(self) -> nn.Module:
        """The underlying ``T5ForConditionalGeneration`` (inside the LoRA wrapper if any)."""
        return self.t5_model.get_base_model() if hasattr(self.t5_model, "get_base_model") else self.t5_model

    def _llm_autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.cfg.llm.bf16_autocast:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # --- input assembly --------------------------------------------------------------------------

    def visual_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) → projected query embeddings (N, num_query_tokens, d_model)."""
        return self.t5_proj(self.encode_images(images.to(self.device)))

    def prompt_texts(self, samples: dict[str, Any]) -> list[str]:
        return [self.cfg.prompt + text for text in samples["text_input"]]

    def encoder_inputs(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``[visual query embeddings ; prompt embeddings]`` and the attention mask (prompt padding masked)."""
        pixels = samples["image"] if "image" in samples else samples["video"]
        if pixels.dim() == 5:  # video: each frame's queries, in time order
            b, t = pixels.shape[:2]
            visual = self.visual_embeddings(pixels.flatten(0, 1)).view(b, -1, self.t5.config.d_model)
        else:
            visual = self.visual_embeddings(pixels)
        text = self.tokenizer(
            self.prompt_texts(samples),
            padding="longest",
            truncation=True,
            max_length=self.cfg.max_txt_len,
            return_tensors="pt",
        ).to(self.device)
        text_embeds = self.t5_model.get_input_embeddings()(text.input_ids)
        visual_mask = torch.ones(visual.shape[:2], dtype=text.attention_mask.dtype, device=self.device)
        embeds = torch.cat([visual.to(text_embeds.dtype), text_embeds], dim=1)
        return embeds, torch.cat([visual_mask, text.attention_mask], dim=1)

    def target_texts(self, samples: dict[str, Any]) -> list[str]:
        return list(samples["text_output"])

    # --- training and inference ------------------------------------------------------------------

    def forward(self, samples: dict[str, Any]) -> dict[str, torch.Tensor]:
        embeds, mask = self.encoder_inputs(samples)
        targets = self.tokenizer(
            self.target_texts(samples),
            padding="longest",
            truncation=True,
            max_length=self.cfg.max_target_len,
            return_tensors="pt",
        ).to(self.device)
        labels = targets.input_ids.masked_fill(targets.attention_mask == 0, -100)
        with self._llm_autocast():
            out = self.t5_model(
                inputs_embeds=embeds,
                attention_mask=mask,
                labels=labels,
                decoder_attention_mask=targets.attention_mask,
                return_dict=True,
            )
        return {"loss": out.loss, "logits": out.logits}

    @torch.no_grad()
    def generate(
        self,
        samples: dict[str, Any],
        num_beams: int = 5,
        max_new_tokens: int = 50,
        min_new_tokens: int = 1,
        length_penalty: float = 1.0,
        repetition_penalty: float = 1.0,
        do_sample: bool = False,
        top_p: float = 0.9,
        temperature: float = 1.0,
    ) -> list[str]:
        """Generated text per sample (special tokens removed)."""
        embeds, mask = self.encoder_inputs(samples)
        kwargs: dict[str, Any] = {
            "num_beams": num_beams,
            "max_new_tokens": max_new_tokens,
            "min_new_tokens": min_new_tokens,
            "length_penalty": length_penalty,
            "repetition_penalty": repetition_penalty,
            "do_sample": do_sample,
        }
        if do_sample:
            kwargs.update(top_p=top_p, temperature=temperature)
        with self._llm_autocast():
            out = self.t5_model.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)
