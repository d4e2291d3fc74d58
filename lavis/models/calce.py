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
(speech spans) and ``items``.

CALCE stage 2 (:class:`CalceStage2`, same parameters, initialised from the stage-1 checkpoint) sees more
frames and keeps only those worth reading: it clusters the frames' Q-Former outputs, keeps the clusters the
stage-1 windows (``stage1_result``) vote for plus the windows themselves, re-clusters the kept frames to find
key frames, and cuts the rest to a frame budget; dropped frames leave the prompt with their timestamps. The
prompt adds ``ref: <stage-1 windows>``.
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
    FEATURE_CACHE_LEVELS = ("vit",)  # its frame path reads ViT tokens (frozen_vit_tokens), then its own Q-Former use
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

    def encode_frames(
        self, samples: dict[str, Any]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor] | None]:
        """Per sample: the key-frame mask of the frames the LLM reads, their embeddings flattened to
        (slots, d_model), and which of the T_i frames those are (None: all; stage 1 keeps every frame)."""
        video = samples["video"]
        frame_mask = samples.get("frame_mask")
        counts = frame_mask.sum(1).tolist() if frame_mask is not None else [video.shape[1]] * video.shape[0]
        frames = video[frame_mask] if frame_mask is not None else video.flatten(0, 1)
        vit = self.frozen_vit_tokens(frames.to(self.device), samples.get("frame_source"))
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
        return masks, embeds, None

    def encoder_inputs(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        masks, frame_embeds, kept = self.encode_frames(samples)
        samples = {**samples, "_key_masks": masks, "_captions": self.selected_captions(samples)}
        if kept is not None:
            samples.update(_kept_frames(samples["timestamps"], kept))
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


def _kept_frames(timestamps: torch.Tensor, kept: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """``timestamps`` and ``frame_mask`` of only the kept frames, left-aligned (the prompt drops the rest)."""
    longest = max(int(k.sum()) for k in kept)
    out_ts = torch.zeros(len(kept), longest, dtype=timestamps.dtype)
    out_mask = torch.zeros(len(kept), longest, dtype=torch.bool)
    for i, k in enumerate(kept):
        chosen = timestamps[i, : len(k)][k.to(timestamps.device)]
        out_ts[i, : len(chosen)] = chosen
        out_mask[i, : len(chosen)] = True
    return {"timestamps": out_ts, "frame_mask": out_mask}


@dataclass
class CalceStage2Config(CalceStage1Config):
    arch: str = "blip2_calce_stage2"
    key_frame_bias: int = 3  # bias1: key frames widened by this many frames on each side
    vote_bias: int = 1  # bias2: the vote filter widened (QVHighlights 1, Charades-STA 2)
    vote_clusters: int = 8  # clusters kept: the most voted for by frames inside the stage-1 windows
    frame_budget: float = 0.5  # at most int(T * frame_budget) frames reach the LLM (T // 2 in CALCE)
    budget_seed: int = 42  # the budget's random drops (seeded per sample: independent of batching)
    parse_mode: str = one_of("calce", "lenient", "original", "calce")


@register_model("blip2_calce_stage2")
class CalceStage2(CalceStage1):
    Config = CalceStage2Config
    PRETRAINED_MODEL_CONFIG_DICT = {
        "pretrain_flant5xl": "configs/models/blip2_calce_stage2/pretrain_flant5xl.yaml",
        "tiny": "configs/models/blip2_calce_stage2/tiny.yaml",
    }

    @staticmethod
    def stage1_windows(samples: dict[str, Any]) -> list[list[list[float]]]:
        if "stage1_result" not in samples:
            raise KeyError(
                "blip2_calce_stage2 needs 'stage1_result' (the stage-1 windows) in every record: "
                "write them with `lavis-prepare calce-merge`"
            )
        return samples["stage1_result"]

    def prompt_texts(self, samples: dict[str, Any]) -> list[str]:
        items = samples.get("items") or [[] for _ in samples["query"]]
        return [
            calce_text.text_block(q, it, ref)
            for q, it, ref in zip(samples["query"], items, self.stage1_windows(samples))
        ]

    def stage2_masks(
        self,
        features: torch.Tensor,
        timestamps: list[float],
        windows: list[list[float]],
        query: str,
        speech: list,
        duration: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(key, non-key) frame masks of one video from its (T, C) normalised Q-Former features.

        A video whose stage-1 windows select no frame (e.g. ``[[-1, -1]]``) keeps every frame for the
        second clustering: CALCE would hand the LLM an empty video.
        """
        frames = features.shape[0]
        cfg = self.cfg
        ids = clustering.dpc_knn(features, min(cfg.num_clusters, frames), cfg.cluster_k)
        kept = clustering.vote_filter(ids, timestamps, windows, cfg.vote_clusters, cfg.vote_bias)
        if not kept.any():
            kept = torch.ones(frames, dtype=torch.bool)
        ids = clustering.dpc_knn(features, min(cfg.num_clusters, int(kept.sum())), cfg.cluster_k, mask=kept)
        key = clustering.boundary_mask(ids.masked_fill(~kept, -1))
        key = clustering.talk_override(key, cfg.query_prompt.format(query=query), speech, duration)
        key = clustering.dilate(key, cfg.key_frame_bias) & kept
        generator = torch.Generator().manual_seed(cfg.budget_seed)
        return clustering.compress_mask(key, kept & ~key, int(frames * cfg.frame_budget), generator)

    def encode_frames(
        self, samples: dict[str, Any]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor] | None]:
        video = samples["video"]
        frame_mask = samples.get("frame_mask")
        counts = frame_mask.sum(1).tolist() if frame_mask is not None else [video.shape[1]] * video.shape[0]
        frames = video[frame_mask] if frame_mask is not None else video.flatten(0, 1)
        queries = self.qformer_queries(self.frozen_vit_tokens(frames.to(self.device), samples.get("frame_source")))
        features = torch.nn.functional.normalize(queries.detach().float(), dim=-1).flatten(1)
        speech = samples.get("subtitle_durations") or [[] for _ in counts]
        windows = self.stage1_windows(samples)
        proj = self.part("proj")
        masks, embeds, kept_masks, start = [], [], [], 0
        for i, n in enumerate(int(c) for c in counts):
            q = queries[start : start + n]
            key, nonkey = self.stage2_masks(
                features[start : start + n],
                samples["timestamps"][i, :n].tolist(),
                windows[i],
                samples["query"][i],
                speech[i],
                float(samples["duration"][i]),
            )
            kept = key | nonkey
            squeezed = self.query_proj(q.transpose(1, 2)).transpose(1, 2)
            rows = [proj(q[j]) if key[j] else proj(squeezed[j]) for j in range(n) if kept[j]]
            masks.append(key[kept])
            embeds.append(torch.cat(rows, dim=0))
            kept_masks.append(kept)
            start += n
        return masks, embeds, kept_masks

    def dummy_inputs(self, batch_size: int = 2, num_frames: int = 3) -> dict[str, Any]:
        # enough frames that the budget leaves both key and non-key frames (every part gets a gradient)
        samples = super().dummy_inputs(batch_size, max(num_frames, 8))
        samples["stage1_result"] = [[[0, 100]] for _ in range(batch_size)]
        return samples
