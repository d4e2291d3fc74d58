"""The frozen audio encoder: CLAP's audio tower (HTSAT) + projection from transformers, as SMS uses it.

SMS embeds every per-frame clip with ``laion/clap-htsat-fused``: ``ClapFeatureExtractor`` (48 kHz, 64 mel
bins, clips repeat-padded to 10 s) → ``ClapModel.get_audio_features`` → a 512-d vector, L2-normalised.
Here the same computation runs on ``ClapAudioModelWithProjection`` (the audio half of ``ClapModel``, with
the same parameter names, so the full CLAP checkpoint loads into it and the text tower is skipped).

The encoder is frozen and stays in eval mode (HTSAT has BatchNorm layers); ``forward`` runs without
gradients. Real weights come from a local folder (``path``); with no path the architecture is built from
``arch`` with random weights, which is how the tiny configs run on a CPU offline.

One deliberate difference from SMS: ``is_longer``. With ``truncation="fusion"``, when no clip of a call
is longer than the 10 s limit, ``ClapFeatureExtractor`` marks one clip, chosen at random, as longer, so
that clip alone goes through HTSAT's fusion branch (SMS's 1.5 / 2.5 s clips are never longer: in every
batch one random frame got a different embedding). Here ``is_longer`` is the truth (False for clips up
to the limit), so a clip's embedding does not depend on its batch or on a random draw and can be cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lavis.common.errors import CheckpointError, ConfigError

# laion/clap-htsat-fused's audio architecture differs from ClapAudioConfig's defaults only in fusion.
CLAP_HTSAT_FUSED_ARCH: dict[str, Any] = {"enable_fusion": True, "fusion_type": "aff_2d"}
# A CPU-sized HTSAT (about 20k parameters) with the real input pipeline, for tiny configs and tests:
# spec_size 128 takes mel inputs up to 256 frames, i.e. clips up to 2.55 s (max_length_s <= 2.55).
TINY_CLAP_ARCH: dict[str, Any] = {
    "spec_size": 128,
    "window_size": 4,
    "depths": [1, 1],
    "num_attention_heads": [2, 2],
    "patch_embeds_hidden_size": 16,
    "hidden_size": 32,
    "projection_dim": 512,
}
_TEXT_TOWER_KEYS = ("text_model.", "text_projection.", "logit_scale")


@dataclass
class AudioEncoderConfig:
    path: str | None = (
        None  # local laion/clap-htsat-fused folder (config.json, weights, preprocessor_config.json)
    )
    arch: dict[str, Any] = field(
        default_factory=dict
    )  # ClapAudioConfig fields over CLAP_HTSAT_FUSED_ARCH, path None
    sample_rate: int = 48000
    max_length_s: float = 10.0  # clips are repeat-padded to this; `path`: its preprocessor_config.json
    chunk_size: int = 0  # clips per CLAP forward pass (0: all at once); bounds memory
    normalize: bool = True  # L2-normalise the projected embedding, as get_audio_features does


class ClapAudioEncoder(nn.Module):
    """Waveform clips → L2-normalised CLAP audio embeddings (``embed_dim``, 512 for the real model)."""

    def __init__(self, cfg: AudioEncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.clap = _build_clap(cfg)
        self.feature_extractor = _build_feature_extractor(cfg, self.clap.config)
        self.max_samples = int(round(self.feature_extractor.nb_max_samples))
        self._check_input_size()
        self.requires_grad_(False)
        self.eval()

    @property
    def embed_dim(self) -> int:
        return int(self.clap.config.projection_dim)

    def train(self, mode: bool = True) -> ClapAudioEncoder:
        return super().train(False)  # frozen: BatchNorm keeps its running statistics

    def extract_features(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, S) waveforms at ``sample_rate`` → (log-mel ``input_features`` (N, C, frames, 64), ``is_longer`` (N, 1))."""
        waves = [np.asarray(c, dtype=np.float32) for c in clips.detach().float().cpu().numpy()]
        truncation = "fusion" if self.clap.config.enable_fusion else "rand_trunc"
        with _numpy_rng_untouched():  # the extractor draws from numpy's global RNG (see the module docstring)
            out = self.feature_extractor(
                waves,
                sampling_rate=self.cfg.sample_rate,
                max_length=self.max_samples,
                truncation=truncation,
                padding="repeatpad",
                return_tensors="pt",
            )
        return out["input_features"], torch.tensor([[self._is_longer(len(w))] for w in waves])

    def _is_longer(self, num_samples: int) -> bool:
        """The extractor's own rule, without its random pick: a clip longer than the limit whose mel
        spectrogram has more frames than the limit's (fusion then crops it)."""
        hop = self.feature_extractor.hop_length
        if num_samples <= self.max_samples:
            return False
        return not self.clap.config.enable_fusion or num_samples // hop != self.max_samples // hop

    @torch.no_grad()
    def embed_features(self, input_features: torch.Tensor, is_longer: torch.Tensor) -> torch.Tensor:
        """CLAP audio tower + projection (+ L2 normalisation) on extracted features: (N, embed_dim) float32."""
        param = next(self.clap.parameters())
        out = self.clap(
            input_features=input_features.to(param.device, param.dtype), is_longer=is_longer.to(param.device)
        )
        emb = out.audio_embeds.float()
        return F.normalize(emb, dim=-1) if self.cfg.normalize else emb

    @torch.no_grad()
    def forward(self, clips: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(..., S) clips → (..., embed_dim) embeddings on the encoder's device.

        ``mask`` (same leading shape, bool): only clips marked True are encoded; the others get zero
        vectors. Without a mask every clip is encoded, silent ones included (what SMS does).
        """
        lead = clips.shape[:-1]
        flat = clips.reshape(-1, clips.shape[-1])
        device = next(self.clap.parameters()).device
        out = torch.zeros(flat.shape[0], self.embed_dim, device=device)
        keep = torch.arange(flat.shape[0]) if mask is None else mask.reshape(-1).cpu().nonzero().flatten()
        chunk = self.cfg.chunk_size or max(len(keep), 1)
        for i in range(0, len(keep), chunk):
            idx = keep[i : i + chunk]
            out[idx.to(device)] = self.embed_features(*self.extract_features(flat[idx]))
        return out.reshape(*lead, self.embed_dim)

    def weight_hash(self) -> str:
        """A digest of the weights and the input pipeline: what a cached feature depends on.

        Hashes every tensor (~0.2 s for the real encoder): compute it once per run, the weights are frozen.
        """
        digest = hashlib.sha256()
        settings = {k: v for k, v in self.feature_extractor.to_dict().items() if not k.startswith("_")}
        settings.update(max_samples=self.max_samples, normalize=self.cfg.normalize, is_longer="actual")
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
        for name, tensor in sorted(self.clap.state_dict().items()):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def _check_input_size(self) -> None:
        c = self.clap.config
        frames = self.max_samples // self.feature_extractor.hop_length + 1
        freq_ratio = c.spec_size // c.num_mel_bins
        if freq_ratio < 1 or frames > c.spec_size * freq_ratio:
            raise ConfigError(
                f"audio encoder: clips of {self.max_samples / self.cfg.sample_rate:g} s give {frames} mel frames, "
                f"more than spec_size {c.spec_size} takes ({c.spec_size * max(freq_ratio, 0)}); "
                "lower max_length_s or raise arch.spec_size"
            )


def _build_clap(cfg: AudioEncoderConfig) -> nn.Module:
    from transformers import ClapAudioConfig, ClapAudioModelWithProjection, ClapConfig

    if not cfg.path:
        return ClapAudioModelWithProjection(ClapAudioConfig(**{**CLAP_HTSAT_FUSED_ARCH, **cfg.arch}))
    folder = Path(cfg.path)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ConfigError(
            f"model.audio_encoder.path: no config.json in {folder}. Put the local Hugging Face folder of "
            "laion/clap-htsat-fused there; nothing is downloaded at run time."
        )
    if json.loads(config_file.read_text()).get("model_type") == "clap":  # the full CLAP checkpoint
        audio_config = ClapConfig.from_pretrained(str(folder), local_files_only=True).audio_config
    else:
        audio_config = ClapAudioConfig.from_pretrained(str(folder), local_files_only=True)
    with _quiet_transformers():
        model, info = ClapAudioModelWithProjection.from_pretrained(
            str(folder),
            config=audio_config,
            local_files_only=True,
            dtype=torch.float32,
            output_loading_info=True,
        )
    unexpected = [k for k in info.get("unexpected_keys", ()) if not k.startswith(_TEXT_TOWER_KEYS)]
    gaps = {"missing": sorted(info.get("missing_keys", ())), "unexpected": sorted(unexpected)}
    gaps["mismatched"] = sorted(str(k) for k in info.get("mismatched_keys", ()))
    if any(gaps.values()) or info.get("error_msgs"):
        details = "; ".join(f"{k}: {v[:5]}{' ...' if len(v) > 5 else ''}" for k, v in gaps.items() if v)
        raise CheckpointError(f"{folder}: CLAP audio weights do not match the audio config ({details})")
    return model


def _build_feature_extractor(cfg: AudioEncoderConfig, audio_config: Any):
    from transformers import ClapFeatureExtractor

    if cfg.path and (Path(cfg.path) / "preprocessor_config.json").is_file():
        extractor = ClapFeatureExtractor.from_pretrained(cfg.path, local_files_only=True)
        if extractor.sampling_rate != cfg.sample_rate:
            raise ConfigError(
                f"model.audio_encoder.sample_rate is {cfg.sample_rate} but {cfg.path} expects {extractor.sampling_rate}"
            )
        return extractor
    return ClapFeatureExtractor(
        feature_size=audio_config.num_mel_bins,
        sampling_rate=cfg.sample_rate,
        max_length_s=cfg.max_length_s,
        truncation="fusion" if audio_config.enable_fusion else "rand_trunc",
        padding="repeatpad",
    )


@contextlib.contextmanager
def _numpy_rng_untouched() -> Iterator[None]:
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bar; the skipped text tower is checked above."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
