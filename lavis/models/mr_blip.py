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
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lavis.common.config import GenerationConfig, one_of
from lavis.common.registry import register_model
from lavis.models.blip2 import FINETUNED
from lavis.models.blip2_t5 import Blip2T5, Blip2T5Config
from lavis.models.checkpoints import KeyRules
from lavis.models.moment_text import (
    annoying_number_replacements,
    find_annoying_numbers,
    format_windows,
    get_time_format,
    parse_windows,
)

FRAME_SLOT = -100  # placeholder id marking where frame embeddings go in a token template

MR_BLIP = dataclasses.replace(
    FINETUNED,
    kind="mr_blip",
    about="fine-tuned checkpoint with the trainable tensors only (ln_vision, t5_proj, LoRA): the original "
    "Mr. BLIP's checkpoint_best.pth or ours",
)


@dataclass
class Blip2MRConfig(Blip2T5Config):
    arch: str = "blip2_mr"
    model_type: str = "pretrain_flant5xl"
    time_format: str = one_of("seconds_integers", "seconds_integers", "relative_integers")
    interleave_timestamps: bool = True  # False: frames only (no per-frame time tokens)
    frame_token_aggregation: str | None = one_of(None, None, "mean")  # mean: one token per frame, not Nq
    annoying_numbers_limit: int = 200  # remap input integers < limit that tokenize badly (0: off)
    parse_mode: str = one_of("lenient", "lenient", "original", "calce")  # original: the published post-processing, strict; calce: CALCE's
    query_prompt: str = "Query: {query}\n"
    task_prompt: str = "Given the video and the query, find the relevant windows.\nRelevant windows: "
    # original: evaluate as the published code did (README "Differences"): its precision per module, its
    # parser, min_length=1 (an immediate end of sequence is allowed), one query at a time
    reproduce: str = one_of("off", "off", "original")
    window_labels: bool = False  # windows carry a class label, [[s, e, 'Label'], ...] (action localization)


@register_model("blip2_mr")
class Blip2MR(Blip2T5):
    Config = Blip2MRConfig
    PRETRAINED_MODEL_CONFIG_DICT = {
        "pretrain_flant5xl": "configs/models/blip2_mr/pretrain_flant5xl.yaml",
        "tiny": "configs/models/blip2_mr/tiny.yaml",
    }
    inference_tasks = ("moment_retrieval",)  # lavis.inference: video + query -> ranked windows

    def __init__(self, cfg: Blip2MRConfig, tokenizer: Any | None = None) -> None:
        super().__init__(cfg, tokenizer)
        self.time_format = get_time_format(cfg.time_format)
        self._setup_prompt_tokens()

    @property
    def reproducing(self) -> bool:
        return self.cfg.reproduce == "original"

    # --- reproduction mode: the published code's numerics -------------------------------------------

    def apply_original_precision(self) -> None:
        """LAVIS's dtypes: in the frozen ViT only Linear / Conv weights and biases in fp16 (LayerNorms, position
        embeddings and the separate q / v biases stay fp32); Q-Former, ``ln_vision`` and ``t5_proj`` fp32; the
        T5 in bf16 (LoRA weights fp32)."""
        for module in self.visual_encoder.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                module.weight.data = module.weight.data.half()
                if module.bias is not None:
                    module.bias.data = module.bias.data.half()
        for name, p in self.llm.model.named_parameters():
            p.data = p.data.float() if "lora_" in name else p.data.to(torch.bfloat16)

    # The part each autocast region covers when reproducing on a GPU (None: fp32, autocast off).
    ORIGINAL_AUTOCAST = {"vit": torch.float16, "qformer": None, "llm": torch.bfloat16}

    def prepare_for_device(self, device: torch.device) -> None:
        if not (self.reproducing and device.type == "cuda"):
            return super().prepare_for_device(device)
        self.to(device)
        self.apply_original_precision()

    def _autocast(self, part: str) -> contextlib.AbstractContextManager:
        """Reproduction mode on a GPU: run ``part`` under the original's dtype, whatever ``run.amp`` says. On a
        CPU (where the original never ran, and fp16 autocast is not supported) the model stays in fp32."""
        if not self.reproducing or self.device.type != "cuda":
            return contextlib.nullcontext()
        dtype = self.ORIGINAL_AUTOCAST[part]
        if dtype is None:
            return torch.autocast("cuda", enabled=False)
        return torch.autocast("cuda", dtype=dtype)

    def vit_features(self, images: torch.Tensor) -> torch.Tensor:
        if not self.reproducing:
            return super().vit_features(images)
        with self._autocast("vit"):
            return super().vit_features(images.float())

    def qformer_queries(self, vit_tokens: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        with self._autocast("qformer"):
            return super().qformer_queries(vit_tokens.float(), *args, **kwargs)

    def checkpoint_rules(self) -> list[KeyRules]:
        return [MR_BLIP if r is FINETUNED else r for r in super().checkpoint_rules()]

    def fill_feature_cache(self, samples: dict[str, Any]) -> None:
        with self._autocast("qformer"):  # as encoder_inputs runs frame_embeddings
            super().fill_feature_cache(samples)

    def frozen_numerics(self) -> str:
        # reproduction mode runs the ViT under its own fp16 autocast on a GPU
        reproducing = self.reproducing and self.device.type == "cuda"
        return json.dumps({"base": super().frozen_numerics(), "reproduce_original": reproducing})

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
        prompts = self.llm.encode(self.prompt_texts(samples), self.cfg.max_txt_len)
        slots = self.frame_token_counts(samples, [int(n) for n in frame_counts])
        extras = self.after_video_ids(samples)
        fmt = self.time_format
        templates = []
        for ts, n_frames, duration, prompt, counts, extra in zip(
            timestamps, frame_counts, durations, prompts, slots, extras
        ):
            ids: list[int] = []
            for t, n_tokens in zip(ts[: int(n_frames)], counts):
                ids += [FRAME_SLOT] * n_tokens
                if self.cfg.interleave_timestamps:
                    ids += self.number_token_ids(fmt.encode(t, duration))
            ids += [self.gt_id] + self.number_token_ids(fmt.encode(duration, duration))
            ids += [self.video_end_id]
            ids += extra
            ids += list(prompt)
            templates.append(ids)
        return templates

    def frame_token_counts(self, samples: dict[str, Any], frame_counts: list[int]) -> list[list[int]]:
        """Per sample, the number of embedding slots of each real frame (a system may vary it per frame)."""
        return [[self.tokens_per_frame] * n for n in frame_counts]

    def after_video_ids(self, samples: dict[str, Any]) -> list[list[int]]:
        """Per sample, token ids between the video block and the text prompt (none for Mr. BLIP)."""
        return [[] for _ in samples["query"]]

    def frame_embeddings(self, samples: dict[str, Any]) -> torch.Tensor:
        """Real frames of the batch, in (sample, frame) order → (num_frames, tokens_per_frame, d_model)."""
        video = samples["video"]
        frame_mask = samples.get("frame_mask")
        frames = video[frame_mask] if frame_mask is not None else video.flatten(0, 1)
        embeds = self.visual_embeddings(
            frames, instructions=self.frame_instructions(samples), sources=samples.get("frame_source")
        )
        if self.cfg.frame_token_aggregation == "mean":
            embeds = embeds.mean(dim=1, keepdim=True)
        return embeds

    def frame_instructions(self, samples: dict[str, Any]) -> list[str] | None:
        """Per real frame, the text an instruction-aware Q-Former reads (None: Mr. BLIP's query-only Q-Former)."""
        instructions = self.qformer_instructions(samples)
        if instructions is None:
            return None
        frame_mask = samples.get("frame_mask")
        counts = frame_mask.sum(1).tolist() if frame_mask is not None else [samples["video"].shape[1]] * len(instructions)
        return [text for text, n in zip(instructions, counts) for _ in range(int(n))]

    def encoder_inputs(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs_embeds`` (B, L, d_model) and ``attention_mask`` (B, L); padding is on the right and masked."""
        text = self.llm.pad(self.token_templates(samples), self.device)
        ids, mask = text.ids, text.mask
        slots = ids == FRAME_SLOT
        embeds = self.llm.embed(ids.masked_fill(slots, self.llm.pad_id))
        with self._autocast("qformer"):  # t5_proj in fp32 when reproducing
            frames = self.frame_embeddings(samples)
        frames = frames.to(embeds.dtype)
        if frames.shape[0] * frames.shape[1] != int(slots.sum()):
            raise RuntimeError("frame embeddings do not match the frame slots of the prompt template")
        embeds = embeds.masked_scatter(slots.unsqueeze(-1), frames.reshape(-1, frames.shape[-1]))
        return embeds, mask

    def dummy_inputs(self, batch_size: int = 2, num_frames: int = 3) -> dict[str, Any]:
        samples = super().dummy_inputs(batch_size, num_frames)
        samples["query"] = [f"the screen turns red {i}" for i in range(batch_size)]
        samples["relevant_windows"] = [[[0.0, 1.0]] for _ in range(batch_size)]
        return samples

    def target_texts(self, samples: dict[str, Any]) -> list[str]:
        return [
            format_windows(w, float(d), self.time_format)
            for w, d in zip(samples["relevant_windows"], samples["duration"])
        ]

    # --- training and inference ------------------------------------------------------------------

    @torch.no_grad()
    def predict(
        self, samples: dict[str, Any], generation: GenerationConfig | None = None, **overrides: Any
    ) -> list[dict[str, Any]]:
        """Generate and parse: per sample ``raw`` text, repaired ``text``, ``windows`` in seconds, ``valid``."""
        config = self.generation_config(generation, **overrides, num_return_sequences=1)
        if self.reproducing:
            # min_length=1 in the original counts T5's start token: the answer may end at once. Queries go one
            # at a time: the original's batches left-padded the video part with attended zeros, which a
            # batch of one never has, so per-query results match the original's batch-size-1 evaluation.
            config = dataclasses.replace(config, min_new_tokens=0)
            with self._autocast("llm"):
                raws = [self.generate(one, config)[0] for one in split_batch(samples)]
        else:
            raws = self.generate(samples, config)
        results = []
        for raw, duration in zip(raws, samples["duration"]):
            mode = "original" if self.reproducing else self.cfg.parse_mode
            parsed = parse_windows(raw, float(duration), self.time_format, self.cfg.window_labels, mode=mode)
            results.append(
                {
                    "raw": raw,
                    "text": parsed.text,
                    "windows": parsed.windows,
                    "valid": parsed.valid,
                    "rescued": parsed.rescued,
                }
            )
        return results


def split_batch(samples: dict[str, Any]) -> list[dict[str, Any]]:
    """A collated batch → one batch of size 1 per sample (tensors and lists sliced, scalars kept)."""
    size = len(samples["query"])

    def pick(value: Any, i: int) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == size:
            return value[i : i + 1]
        if isinstance(value, list) and len(value) == size:
            return value[i : i + 1]
        return value

    return [{k: pick(v, i) for k, v in samples.items()} for i in range(size)]
