"""SMS: Mr. BLIP with an audio branch -- each frame's CLAP audio embedding gated into its visual tokens.

The only change to Mr. BLIP is inside ``frame_embeddings``: the Q-Former tokens of a frame read that
frame's audio through gated cross-attention (:mod:`lavis.models.components.fusion`), before ``t5_proj``
(early fusion, the reported model) or after it (``fusion.late_fusion``). With the gate forced to 0
(``gate_value: 0``) the block is the identity, so the model is Mr. BLIP on the same weights; this is what
makes a Mr. BLIP checkpoint a sound starting point.

Audio arrives per frame as clips (``audio``: (B, T, samples) at the encoder's sample rate, encoded here by
the frozen CLAP tower), as precomputed embeddings (``audio_features``: (B, T, 512)), or as ``audio_source``
(one :class:`~lavis.datasets.audio.AudioSource` per sample, from a dataset with ``audio.defer: true``): the
model then reads and embeds the clips itself through the audio feature cache under ``model.audio_cache``,
so the frozen CLAP runs once per video and clip layout instead of once per epoch. ``audio_mask`` (B, T)
marks frames whose audio exists (a missing track gets gate 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lavis.common.errors import ConfigError
from lavis.common.registry import register_model
from lavis.datasets.audio import AudioSource
from lavis.datasets.audio_cache import AudioFeatureCache, cached_audio_features
from lavis.models.components.audio import AudioEncoderConfig, ClapAudioEncoder
from lavis.models.components.fusion import FusionConfig, build_fusion
from lavis.models.mr_blip import Blip2MR, Blip2MRConfig


@dataclass
class Blip2SMSConfig(Blip2MRConfig):
    arch: str = "blip2_sms"
    audio_encoder: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    gate_value: float | None = None  # force the fusion gate (0: exactly Mr. BLIP; None: learned)
    # none: the CLAP embedding as is (SMS) | batch: a trainable BatchNorm1d over it first. Not in SMS; for
    # encoders whose embeddings barely vary (the tiny random CLAP: cosine 0.99 between a tone and silence)
    audio_norm: str = "none"
    audio_cache: str | None = None  # folder of cached per-video audio features (audio_source input); None: no cache


@register_model("blip2_sms")
class Blip2SMS(Blip2MR):
    Config = Blip2SMSConfig
    PRETRAINED_MODEL_CONFIG_DICT = {
        "pretrain_flant5xl": "configs/models/blip2_sms/pretrain_flant5xl.yaml",
        "tiny": "configs/models/blip2_sms/tiny.yaml",
    }

    def __init__(self, cfg: Blip2SMSConfig, tokenizer: Any | None = None) -> None:
        super().__init__(cfg, tokenizer)
        self.audio_encoder = ClapAudioEncoder(cfg.audio_encoder)
        self.fusion = build_fusion(cfg.fusion, cfg.qformer.hidden_size, self.llm.hidden_size)
        if cfg.audio_norm not in ("none", "batch"):
            raise ConfigError(f"model.audio_norm must be 'none' or 'batch', got {cfg.audio_norm!r}")
        self.audio_norm = nn.BatchNorm1d(cfg.fusion.audio_dim) if cfg.audio_norm == "batch" else None
        self._audio_feature_cache: AudioFeatureCache | None = None  # opened on first use (needs the weight hash)

    def expected_missing_keys(self) -> list[str]:
        # the frozen CLAP tower comes from its own folder (model.audio_encoder.path), never from a checkpoint
        return super().expected_missing_keys() + [r"^audio_encoder\."]

    def audio_embeddings(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, audio_dim) per-frame audio embeddings and the (B, T) audio mask (None: all real)."""
        mask = samples.get("audio_mask")
        if "audio_features" in samples:
            return samples["audio_features"].to(self.device), mask
        if "audio_source" in samples:
            return self.embed_audio_sources(samples["audio_source"])
        if "audio" not in samples:
            raise KeyError("blip2_sms needs per-frame 'audio' clips, 'audio_features' or 'audio_source' in the batch")
        return self.audio_encoder(samples["audio"], mask), mask

    def embed_audio_sources(self, sources: list[AudioSource]) -> tuple[torch.Tensor, torch.Tensor]:
        """Read, embed and cache each sample's clips; pad to the longest sample (mask False)."""
        if self._audio_feature_cache is None and self.cfg.audio_cache:
            self._audio_feature_cache = AudioFeatureCache(self.cfg.audio_cache, self.audio_encoder.weight_hash())
        per_sample = []
        for source in sources:
            if source.cfg.sample_rate != self.cfg.audio_encoder.sample_rate:
                raise ConfigError(
                    f"the dataset cuts audio at {source.cfg.sample_rate} Hz but model.audio_encoder expects "
                    f"{self.cfg.audio_encoder.sample_rate} Hz: set datasets.<name>.audio.sample_rate to match"
                )
            per_sample.append(
                cached_audio_features(
                    self._audio_feature_cache, source.video, source.intervals, source.cfg, self.audio_encoder
                )
            )
        length = max(f.features.shape[0] for f in per_sample)
        features = torch.zeros(len(per_sample), length, self.audio_encoder.embed_dim)
        mask = torch.zeros(len(per_sample), length, dtype=torch.bool)
        for i, f in enumerate(per_sample):
            features[i, : f.features.shape[0]] = f.features
            mask[i, : f.mask.shape[0]] = f.mask
        return features.to(self.device), mask

    def frame_embeddings(self, samples: dict[str, Any]) -> torch.Tensor:
        video = samples["video"]
        frame_mask = samples.get("frame_mask")
        if frame_mask is None:
            frame_mask = torch.ones(video.shape[:2], dtype=torch.bool)
        frame_mask = frame_mask.bool()
        queries = self.encode_images(video[frame_mask].to(self.device), sources=samples.get("frame_source"))
        audio, audio_mask = self.audio_embeddings(samples)
        audio = audio[frame_mask.to(self.device)]
        if audio_mask is not None:
            audio_mask = audio_mask.bool().to(self.device)[frame_mask.to(self.device)]
        if self.audio_norm is not None:
            audio = self.normalise_audio(audio, audio_mask)
        proj = self.part("proj")
        if self.cfg.fusion.late_fusion:
            embeds = self.fusion(proj(queries), audio, audio_mask, self.cfg.gate_value)
        else:
            embeds = proj(self.fusion(queries, audio, audio_mask, self.cfg.gate_value))
        if self.cfg.frame_token_aggregation == "mean":
            embeds = embeds.mean(dim=1, keepdim=True)
        return embeds

    def normalise_audio(self, audio: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``audio_norm: batch`` over the frames that have audio (silent stand-ins would skew the statistics)."""
        real = torch.ones(audio.shape[0], dtype=torch.bool, device=audio.device) if mask is None else mask
        if self.training and int(real.sum()) < 2:
            return audio  # batch statistics need two frames; such a frame is gated off or alone anyway
        out = audio.clone()
        out[real] = self.audio_norm(audio[real].float()).to(audio.dtype)
        return out

    def dummy_inputs(self, batch_size: int = 2, num_frames: int = 3) -> dict[str, Any]:
        samples = super().dummy_inputs(batch_size, num_frames)
        generator = torch.Generator().manual_seed(0)
        audio = torch.randn(batch_size, num_frames, self.cfg.fusion.audio_dim, generator=generator)
        samples["audio_features"] = torch.nn.functional.normalize(audio, dim=-1)
        samples["audio_mask"] = torch.ones(batch_size, num_frames, dtype=torch.bool)
        samples["audio_mask"][0, -1] = False  # a frame without audio
        return samples
