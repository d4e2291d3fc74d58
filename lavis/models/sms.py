"""SMS: Mr. BLIP with an audio branch -- each frame's CLAP audio embedding gated into its visual tokens.

The only change to Mr. BLIP is inside ``frame_embeddings``: the Q-Former tokens of a frame read that
frame's audio through gated cross-attention (:mod:`lavis.models.components.fusion`), before ``t5_proj``
(early fusion, the reported model) or after it (``fusion.late_fusion``). With the gate forced to 0
(``gate_value: 0``) the block is the identity, so the model is Mr. BLIP on the same weights; this is what
makes a Mr. BLIP checkpoint a sound starting point.

Audio arrives per frame either as clips (``audio``: (B, T, samples) at the encoder's sample rate, encoded here
by the frozen CLAP tower) or as precomputed embeddings (``audio_features``: (B, T, 512), e.g. from the audio
feature cache); ``audio_mask`` (B, T) marks frames whose audio exists (a missing track gets gate 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from lavis.common.registry import register_model
from lavis.models.components.audio import AudioEncoderConfig, ClapAudioEncoder
from lavis.models.components.fusion import FusionConfig, build_fusion
from lavis.models.mr_blip import Blip2MR, Blip2MRConfig


@dataclass
class Blip2SMSConfig(Blip2MRConfig):
    arch: str = "blip2_sms"
    audio_encoder: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    gate_value: float | None = None  # force the fusion gate (0: exactly Mr. BLIP; None: learned)


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

    def expected_missing_keys(self) -> list[str]:
        # the frozen CLAP tower comes from its own folder (model.audio_encoder.path), never from a checkpoint
        return super().expected_missing_keys() + [r"^audio_encoder\."]

    def audio_embeddings(self, samples: dict[str, Any]) -> torch.Tensor:
        """(B, T, audio_dim) per-frame audio embeddings, from ``audio_features`` or by encoding ``audio``."""
        if "audio_features" in samples:
            return samples["audio_features"].to(self.device)
        if "audio" not in samples:
            raise KeyError("blip2_sms needs per-frame 'audio' clips or 'audio_features' in the batch")
        return self.audio_encoder(samples["audio"], samples.get("audio_mask"))

    def frame_embeddings(self, samples: dict[str, Any]) -> torch.Tensor:
        video = samples["video"]
        frame_mask = samples.get("frame_mask")
        if frame_mask is None:
            frame_mask = torch.ones(video.shape[:2], dtype=torch.bool)
        frame_mask = frame_mask.bool()
        queries = self.encode_images(video[frame_mask].to(self.device))
        audio = self.audio_embeddings(samples)[frame_mask.to(self.device)]
        audio_mask = samples.get("audio_mask")
        if audio_mask is not None:
            audio_mask = audio_mask.bool().to(self.device)[frame_mask.to(self.device)]
        proj = self.part("proj")
        if self.cfg.fusion.late_fusion:
            embeds = self.fusion(proj(queries), audio, audio_mask, self.cfg.gate_value)
        else:
            embeds = proj(self.fusion(queries, audio, audio_mask, self.cfg.gate_value))
        if self.cfg.frame_token_aggregation == "mean":
            embeds = embeds.mean(dim=1, keepdim=True)
        return embeds

    def dummy_inputs(self, batch_size: int = 2, num_frames: int = 3) -> dict[str, Any]:
        samples = super().dummy_inputs(batch_size, num_frames)
        generator = torch.Generator().manual_seed(0)
        audio = torch.randn(batch_size, num_frames, self.cfg.fusion.audio_dim, generator=generator)
        samples["audio_features"] = torch.nn.functional.normalize(audio, dim=-1)
        samples["audio_mask"] = torch.ones(batch_size, num_frames, dtype=torch.bool)
        samples["audio_mask"][0, -1] = False  # a frame without audio
        return samples
