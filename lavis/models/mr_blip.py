"""Mr. BLIP (a.k.a. Chrono): BLIP-2 + Flan-T5 for video moment retrieval.

Every frame becomes Q-Former query embeddings projected into the T5 space; the encoder reads, per frame,
those embeddings followed by the frame's timestamp written as ordinary number tokens, then ``>``, the
video duration, ``<extra_id_0>`` and the text prompt. The decoder writes the answer as a window list such
as ``[[82, 150]]``; the order of generation is the ranking.

Differences from the original code, all deliberate: padding inside a batch is masked (the original
attended to zero vectors), every sample's sequence is contiguous (so a sample's encoding does not depend
on its batch), generation settings come from the config, and every time format works in generation.
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
from lavis.models.moment_text import (
    annoying_number_replacements,
    find_annoying_numbers,
    format_windows,
    get_time_format,
    parse_windows,
)

FRAME_SLOT = -100  # placeholder id marking where frame embeddings go in a token template


@dataclass
class Blip2MRConfig(Blip2Config):
    arch: str = "blip2_mr"
    model_type: str = "pretrain_flant5xl"
    llm: LLMConfig = field(default_factory=LLMConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    freeze_llm: bool = True  # base LLM weights (LoRA adapters stay trainable)
    time_format: str = "seconds_integers"  # seconds_integers | relative_integers
    interleave_timestamps: bool = True  # False: frames only (no per-frame time tokens)
    frame_token_aggregation: str | None = None  # "mean": one token per frame instead of num_query_tokens
    annoying_numbers_limit: int = 200  # remap input integers < limit that tokenize badly (0: off)
    max_txt_len: int = 200
    max_target_len: int = 200
    query_prompt: str = "Query: {query}\n"
    task_prompt: str = "Given the video and the query, find the relevant windows.\nRelevant windows: "


@register_model("blip2_mr")
class Blip2MR(Blip2Base):
    Config = Blip2MRConfig
    PRETRAINED_MODEL_CONFIG_DICT = {
        "pretrain_flant5xl": "configs/models/blip2_mr/pretrain_flant5xl.yaml",
        "tiny": "configs/models/blip2_mr/tiny.yaml",
    }

    def __init__(self, cfg: Blip2MRConfig, tokenizer: Any | None = None) -> None:
        super().__init__(cfg)
        if cfg.frame_token_aggregation not in (None, "mean"):
            raise ValueError(f"frame_token_aggregation must be null or 'mean', got {cfg.frame_token_aggregation!r}")
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(cfg.llm.tokenizer or cfg.llm.path)
        t5 = build_t5(cfg.llm, vocab_size=len(self.tokenizer))
        self.t5_proj = nn.Linear(cfg.qformer.hidden_size, t5.config.d_model)
        if cfg.lora.enabled:
            t5 = apply_lora(t5, cfg.lora)
        self.t5_model = t5
        self.time_format = get_time_format(cfg.time_format)
        self._setup_prompt_tokens()
        self.apply_freezing()

    # --- construction helpers --------------------------------------------------------------------

    def _setup_prompt_tokens(self) -> None:
        tok = self.tokenizer
        self.bare_space_id = tok.convert_tokens_to_ids("▁")
        self.gt_id = tok.convert_tokens_to_ids(">")
        self.video_end_id = tok.convert_tokens_to_ids("<extra_id_0>")
        for name, value in (("'>'", self.gt_id), ("'<extra_id_0>'", self.video_end_id)):
            if value is None or value == tok.unk_token_id:
                raise ValueError(f"the tokenizer has no {name} token, which Mr. BLIP's prompt needs")
        limit = self.cfg.annoying_numbers_limit
        self.number_replacements = annoying_number_replacements(find_annoying_numbers(tok, limit)) if limit else {}
        self._number_cache: dict[int, list[int]] = {}

    def apply_freezing(self) -> None:
        super().apply_freezing()
        if self.cfg.lora.enabled:
            # peft froze the base model; LoRA adapters are trainable. Unfreeze the base only if asked.
            if not self.cfg.freeze_llm:
                for name, p in self.t5_model.named_parameters():
                    if "lora_" not in name:
                        p.requires_grad_(True)
        else:
            self.t5_model.requires_grad_(not self.cfg.freeze_llm)
        self.t5_proj.requires_grad_(True)

    @classmethod
    def from_config(cls, cfg: DictConfig | Blip2MRConfig) -> Blip2MR:
        from lavis.models.checkpoints import load_configured_weights

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_object(cfg)
        model = cls(cfg)
        load_configured_weights(model)
        return model

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

    # --- input assembly --------------------------------------------------------------------------

    def number_token_ids(self, value: int) -> list[int]:
        """Token ids of an integer as it appears in the prompt (annoying numbers remapped, bare ``▁`` dropped)."""
        if value not in self._number_cache:
            shown = self.number_replacements.get(value, value)
            ids = self.tokenizer(str(shown), add_special_tokens=False).input_ids
            if ids and ids[0] == self.bare_space_id:
                ids = ids[1:]
            self._number_cache[value] = ids
        return self._number_cache[value]

    @property
    def tokens_per_frame(self) -> int:
        return 1 if self.cfg.frame_token_aggregation == "mean" else self.cfg.qformer.num_query_tokens

    def prompt_texts(self, samples: dict[str, Any]) -> list[str]:
        return [self.cfg.query_prompt.format(query=q) + self.cfg.task_prompt for q in samples["query"]]

    def token_templates(self, samples: dict[str, Any]) -> list[list[int]]:
        """Per sample, the encoder input as token ids with ``FRAME_SLOT`` where frame embeddings go."""
        timestamps = samples["timestamps"].tolist()
        frame_mask = samples.get("frame_mask")
        frame_counts = (
            frame_mask.sum(1).tolist() if frame_mask is not None else [len(t) for t in timestamps]
        )
        durations = [float(d) for d in samples["duration"]]
        prompts = self.tokenizer(
            self.prompt_texts(samples), add_special_tokens=True, truncation=True, max_length=self.cfg.max_txt_len
        ).input_ids
        fmt = self.time_format
        templates = []
        for ts, n_frames, duration, prompt in zip(timestamps, frame_counts, durations, prompts):
            ids: list[int] = []
            for t in ts[: int(n_frames)]:
                ids += [FRAME_SLOT] * self.tokens_per_frame
                if self.cfg.interleave_timestamps:
                    ids += self.number_token_ids(fmt.encode(t, duration))
            ids += [self.gt_id] + self.number_token_ids(fmt.encode(duration, duration))
            ids += [self.video_end_id]
            ids += list(prompt)
            templates.append(ids)
        return templates

    def frame_embeddings(self, samples: dict[str, Any]) -> torch.Tensor:
        """Real frames of the batch, in (sample, frame) order → (num_frames, tokens_per_frame, d_model)."""
        video = samples["video"]
        frame_mask = samples.get("frame_mask")
        frames = video[frame_mask] if frame_mask is not None else video.flatten(0, 1)
        queries = self.encode_images(frames.to(self.device))
        embeds = self.t5_proj(queries)
        if self.cfg.frame_token_aggregation == "mean":
            embeds = embeds.mean(dim=1, keepdim=True)
        return embeds

    def encoder_inputs(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs_embeds`` (B, L, d_model) and ``attention_mask`` (B, L); padding is on the right and masked."""
        templates = self.token_templates(samples)
        device = self.device
        length = max(len(t) for t in templates)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(templates), length), pad, dtype=torch.long)
        mask = torch.zeros(len(templates), length, dtype=torch.long)
        for i, t in enumerate(templates):
            ids[i, : len(t)] = torch.tensor(t)
            mask[i, : len(t)] = 1
        ids, mask = ids.to(device), mask.to(device)
        slots = ids == FRAME_SLOT
        embed = self.t5_model.get_input_embeddings()
        embeds = embed(ids.masked_fill(slots, pad))
        frames = self.frame_embeddings(samples).to(embeds.dtype)
        if frames.shape[0] * frames.shape[1] != int(slots.sum()):
            raise RuntimeError("frame embeddings do not match the frame slots of the prompt template")
        embeds = embeds.masked_scatter(slots.unsqueeze(-1), frames.reshape(-1, frames.shape[-1]))
        return embeds, mask

    def target_texts(self, samples: dict[str, Any]) -> list[str]:
        return [
            format_windows(w, float(d), self.time_format)
            for w, d in zip(samples["relevant_windows"], samples["duration"])
        ]

    # --- training and inference ------------------------------------------------------------------

    def _llm_autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.cfg.llm.bf16_autocast:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

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
        return {"loss": out.loss}

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
        """Generated window text per sample (special tokens removed)."""
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

    def predict(self, samples: dict[str, Any], **generation: Any) -> list[dict[str, Any]]:
        """Generate and parse: per sample ``raw`` text, repaired ``text``, ``windows`` in seconds, ``valid``."""
        raws = self.generate(samples, **generation)
        results = []
        for raw, duration in zip(raws, samples["duration"]):
            parsed = parse_windows(raw, float(duration), self.time_format)
            results.append({"raw": raw, "text": parsed.text, "windows": parsed.windows, "valid": parsed.valid})
        return results
