"""CALCE stage 1: Mr. BLIP with audio captions in the prompt and fewer tokens away from event boundaries.

What CALCE (caption-assisted coarse-to-fine moment retrieval) changes in Mr. BLIP's encoder input, per sample:

* frames where the video changes (DPC-KNN cluster boundaries of the mean ``ln_vision`` frame features,
  dilated by ``key_frame_bias``; the speech frames instead when the query is about talking) keep all
  Q-Former queries; every other frame is squeezed to ``nonkey_tokens`` by a trained Linear over the query
  axis, applied before ``t5_proj``;
* after ``<extra_id_0>`` come the query-relevant captions, ``[ start text end ]`` each (chosen by the cosine
  of the Q-Former text encoder's [CLS] states, top 5 above 0.9; ``[-1 *None* -1]`` when none), then
  ``<extra_id_1>``;
* the text block adds the ``Items:`` line and CALCE's task prompt.

Samples carry ``subtitles`` (a list of :class:`~lavis.datasets.subtitles.Cue` per sample), ``subtitle_durations``
(speech spans) and ``items``. Stage 2 (re-clustering on Q-Former features, vote filtering with the stage-1
windows, the frame budget and the ``ref:`` line) is not built yet; its frame-selection functions are in
:mod:`lavis.models.components.clustering`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lavis.common.config import one_of
from lavis.common.errors import ConfigError
from lavis.common.registry import register_model
from lavis.datasets.subtitles import Cue
from lavis.models import calce_text
from lavis.models.components import clustering
from lavis.models.mr_blip import FRAME_SLOT, Blip2MR, Blip2MRConfig


@dataclass
class CalceStage1Config(Blip2MRConfig):
    arch: str = "blip2_calce_stage1"
    model_type: str = "pretrain_flant5xl"
    key_frame_selection: str = one_of("cluster", "cluster", "none")  # none: every frame keeps all queries
    num_clusters: int = 12
    cluster_k: int = 5
    key_frame_bias: int = 1
    nonkey_tokens: int = 8
    caption_top: int = 5
    caption_threshold: float = 0.9
    caption_max_len: int = 200
    task_prompt: str = calce_text.TASK_PROMPT


@register_model("blip2_calce_stage1")
class CalceStage1(Blip2MR):
    Config = CalceStage1Config
    PRETRAINED_MODEL_CONFIG_DICT = {
        "pretrain_flant5xl": "configs/models/blip2_calce_stage1/pretrain_flant5xl.yaml",
        "tiny": "configs/models/blip2_calce_stage1/tiny.yaml",
    }

    def __init__(self, cfg: CalceStage1Config, tokenizer: Any | None = None) -> None:
        if not cfg.qformer.use_text_input:
            raise ConfigError(
                "blip2_calce_stage1 ranks captions with the Q-Former's text encoder: set model.qformer.use_text_input: true"
            )
        if not 0 < cfg.nonkey_tokens <= cfg.qformer.num_query_tokens:
            raise ConfigError(
                f"model.nonkey_tokens must be in 1..{cfg.qformer.num_query_tokens} (the queries), got {cfg.nonkey_tokens}"
            )
        super().__init__(cfg, tokenizer)
        self.query_proj = nn.Linear(cfg.qformer.num_query_tokens, cfg.nonkey_tokens)
        self.audio_end_id = self.tokenizer.convert_tokens_to_ids(calce_text.AUDIO_END)
        self.open_ids = self.tokenizer("[", add_special_tokens=False).input_ids
        self.close_ids = self.tokenizer("]", add_special_tokens=False).input_ids

    def apply_freezing(self) -> None:
        super().apply_freezing()
        # The Q-Former's text path only ranks captions (a hard top-k choice): no gradient ever reaches it.
        text_path = re.compile(
            r"^bert\.(embeddings\.(word|position)_embeddings|encoder\.layer\.\d+\.(intermediate|output)\.)"
        )
        for name, p in self.part("qformer").named_parameters():
            if text_path.match(name):
                p.requires_grad_(False)

    def expected_missing_keys(self) -> list[str]:
        # the frozen text path comes with the pretrained weights, like any frozen part
        return super().expected_missing_keys() + [
            r"^Qformer\.bert\.embeddings\.(word|position)_embeddings\.",
            r"^Qformer\.bert\.encoder\.layer\.\d+\.(intermediate|output)\.",
        ]

    def qformer_instructions(self, samples: dict[str, Any]) -> list[str] | None:
        return None  # frames go through the Q-Former with queries only, as in BLIP-2

    # --- text --------------------------------------------------------------------------------------

    def prompt_texts(self, samples: dict[str, Any]) -> list[str]:
        items = samples.get("items") or [[] for _ in samples["query"]]
        return [calce_text.text_block(q, it) for q, it in zip(samples["query"], items)]

    def text_cls(self, texts: list[str]) -> torch.Tensor:
        """[CLS] states (N, hidden) of the Q-Former's text encoder."""
        tok = self.qformer_tokenizer
        enc = tok(
            list(texts),
            padding="longest",
            truncation=True,
            max_length=self.cfg.caption_max_len,
            return_tensors="pt",
        )
        hidden = self.part("qformer").encode_text(
            enc.input_ids.to(self.device), enc.attention_mask.to(self.device)
        )
        return hidden[:, 0]

    def selected_captions(self, samples: dict[str, Any]) -> list[list[Cue]]:
        subtitles = samples.get("subtitles") or [[] for _ in samples["query"]]
        chosen = []
        with torch.no_grad():
            for query, cues in zip(samples["query"], subtitles):
                if not cues:
                    chosen.append([])
                    continue
                vectors = self.text_cls([query + "\n"] + [c.text for c in cues])
                chosen.append(
                    calce_text.select_captions(
                        vectors[0], vectors[1:], list(cues), self.cfg.caption_top, self.cfg.caption_threshold
                    )
                )
        return chosen

    def after_video_ids(self, samples: dict[str, Any]) -> list[list[int]]:
        captions = samples.get("_captions") or self.selected_captions(samples)
        out = []
        for cues in captions:
            ids: list[int] = []
            for start, text, end in calce_text.caption_segments(cues, lambda s: int(round(s))):
                ids += self.open_ids + self._time_ids(start)
                ids += self.tokenizer(text, add_special_tokens=False).input_ids
                ids += self._time_ids(end) + self.close_ids
            out.append(ids + [self.audio_end_id])
        return out

    def _time_ids(self, value: str) -> list[int]:
        number = int(value)
        return (
            self.number_token_ids(number)
            if number >= 0
            else self.tokenizer(value, add_special_tokens=False).input_ids
        )

    # --- frames ------------------------------------------------------------------------------------

    def key_frame_mask(
        self, frame_features: torch.Tensor, query: str, speech: list, duration: float
    ) -> torch.Tensor:
        """Key frames of one video from its (T, width) mean ``ln_vision`` features."""
        frames = frame_features.shape[0]
        if self.cfg.key_frame_selection == "none":
            return torch.ones(frames, dtype=torch.bool)
        ids = clustering.dpc_knn(frame_features, min(self.cfg.num_clusters, frames), self.cfg.cluster_k)
        mask = clustering.key_frame_mask(ids, self.cfg.key_frame_bias)
        prompt = self.cfg.query_prompt.format(query=query)
        return clustering.talk_override(mask, prompt, speech, duration)

    def frame_token_counts(self, samples: dict[str, Any], frame_counts: list[int]) -> list[list[int]]:
        masks = samples.get("_key_masks")
        if masks is None:
            raise RuntimeError(
                "CALCE's frame token counts are known once the frames are encoded (encoder_inputs)"
            )
        nq, nk = self.cfg.qformer.num_query_tokens, self.cfg.nonkey_tokens
        return [[nq if key else nk for key in mask.tolist()] for mask in masks]

    def encode_frames(self, samples: dict[str, Any]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per sample: the key-frame mask (T_i,) and the frame embeddings, flattened to (slots, d_model)."""
        video = samples["video"]
        frame_mask = samples.get("frame_mask")
        counts = frame_mask.sum(1).tolist() if frame_mask is not None else [video.shape[1]] * video.shape[0]
        frames = video[frame_mask] if frame_mask is not None else video.flatten(0, 1)
        vit = self.vit_features(frames.to(self.device))
        with torch.no_grad():
            features = self.part("ln_vision")(vit.float()).mean(dim=1)
        queries = self.qformer_queries(vit)
        speech = samples.get("subtitle_durations") or [[] for _ in counts]
        proj = self.part("proj")
        masks, embeds, start = [], [], 0
        for i, n in enumerate(int(c) for c in counts):
            q = queries[start : start + n]
            key = self.key_frame_mask(
                features[start : start + n], samples["query"][i], speech[i], float(samples["duration"][i])
            )
            squeezed = self.query_proj(q.transpose(1, 2)).transpose(1, 2)
            rows = [proj(q[j]) if key[j] else proj(squeezed[j]) for j in range(n)]
            masks.append(key)
            embeds.append(torch.cat(rows, dim=0))
            start += n
        return masks, embeds

    def encoder_inputs(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        masks, frame_embeds = self.encode_frames(samples)
        samples = {**samples, "_key_masks": masks, "_captions": self.selected_captions(samples)}
        text = self.llm.pad(self.token_templates(samples), self.device)
        slots = text.ids == FRAME_SLOT
        embeds = self.llm.embed(text.ids.masked_fill(slots, self.llm.pad_id))
        frames = torch.cat(frame_embeds, dim=0).to(embeds.dtype)
        if frames.shape[0] != int(slots.sum()):
            raise RuntimeError("frame embeddings do not match the frame slots of the prompt template")
        return embeds.masked_scatter(slots.unsqueeze(-1), frames), text.mask

    def dummy_inputs(self, batch_size: int = 2, num_frames: int = 3) -> dict[str, Any]:
        samples = super().dummy_inputs(batch_size, num_frames)
        # A query about speech with speech at the start only: frame 0 is the key frame, the rest are squeezed.
        samples["query"] = [f"a voice says the screen turns red {i}" for i in range(batch_size)]
        samples["items"] = [["screen"] for _ in range(batch_size)]
        samples["subtitles"] = [[Cue(0.0, 0.1, "the screen turns red")] for _ in range(batch_size)]
        samples["subtitle_durations"] = [[[0.0, 0.1]] for _ in range(batch_size)]
        return samples
