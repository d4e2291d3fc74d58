"""Audio-visual fusion for SMS: gated cross-attention (GCA) from a frame's audio into its visual tokens.

Per frame (batch = B·T), with visual tokens ``V`` (L × D, the Q-Former output) and the frame's audio
embedding ``a`` (CLAP, 512):

1. ``A = audio_proj(a)`` (512 → D);
2. ``C = MultiheadAttention(query=A, key=V, value=V)``: the audio reads the frame's visual tokens;
3. ``g = sigmoid(gate(A))``, one scalar per audio query;
4. ``fused = g · C + (1 − g) · V``.

SMS repeats ``a`` over the L token positions, so all L queries are equal and so are ``C`` and ``g`` at every
position: each visual token becomes ``(1 − g) · v_j + g · c``. Passing ``a`` as one vector per frame (N, 512)
computes that with a single query (the same numbers, L times less attention work); a per-token audio
sequence (N, L, 512) is accepted too. There is no mixing across frames.

The gate is ``sigmoid`` of a ``Linear`` with PyTorch's default initialisation, as in SMS, so it starts near
0.5 (audio contributes from the first step); it is not a Flamingo-style ``tanh`` gate initialised at 0.
``gate_value`` forces it (0: the block is exactly the identity on ``V``; 1: pure attention output). A frame
whose ``audio_mask`` is False gets gate 0: its tokens pass through unchanged and its audio has no effect.
SMS had no mask (a missing track was encoded as silence); pass ``audio_mask=None`` for that behaviour.

Placement is the model's choice (``FusionConfig.late_fusion``): early fusion, the reported SMS model, fuses
the Q-Former tokens (768) before ``t5_proj``; late fusion projects both modalities to the LLM width first
(``audio_t5_proj`` 512 → d_model, ``t5_proj``) and fuses there (:class:`LateGatedFusion`). Module names
(``audio_proj``, ``cross_attn``, ``gate``) are SMS's, so its fusion weights map by prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lavis.common.errors import ConfigError

FUSION_METHODS = ("gca",)


@dataclass
class FusionConfig:
    method: str = (
        "gca"  # gated cross-attention, the reported SMS model (its lcam/bigca/avde variants: not here)
    )
    late_fusion: bool = (
        False  # False: fuse Q-Former tokens, then t5_proj | True: t5_proj, then fuse at LLM width
    )
    audio_dim: int = 512  # width of the audio embedding (CLAP projection)
    num_heads: int = 8
    dropout: float = 0.0  # attention dropout (SMS: nn.MultiheadAttention's default, 0)


class GatedCrossAttention(nn.Module):
    def __init__(self, vision_dim: int, audio_dim: int, num_heads: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        if vision_dim % num_heads:
            raise ConfigError(f"fusion: width {vision_dim} is not divisible by num_heads {num_heads}")
        self.audio_proj = nn.Linear(audio_dim, vision_dim)
        self.cross_attn = nn.MultiheadAttention(vision_dim, num_heads, dropout=dropout, batch_first=True)
        self.gate = nn.Linear(vision_dim, 1)

    def forward(
        self,
        vision: torch.Tensor,
        audio: torch.Tensor,
        audio_mask: torch.Tensor | None = None,
        gate_value: float | None = None,
    ) -> torch.Tensor:
        """``vision`` (N, L, D), ``audio`` (N, Da) or (N, L, Da), ``audio_mask`` (N,) bool → (N, L, D)."""
        if audio.dim() == 2:
            audio = audio.unsqueeze(1)
        n, length, _ = vision.shape
        if audio.shape[0] != n or audio.shape[1] not in (1, length):
            raise ValueError(f"audio {tuple(audio.shape)} does not fit visual tokens {tuple(vision.shape)}")
        queries = self.audio_proj(audio.to(vision.dtype))
        attended, _ = self.cross_attn(queries, vision, vision, need_weights=False)
        if gate_value is None:
            gate = torch.sigmoid(self.gate(queries))
        else:
            gate = torch.full(
                (n, queries.shape[1], 1), float(gate_value), device=vision.device, dtype=vision.dtype
            )
        if audio_mask is not None:
            gate = gate * audio_mask.reshape(n, 1, 1).to(gate.dtype)
        return gate * attended + (1 - gate) * vision


class LateGatedFusion(nn.Module):
    """``late_fusion``: the audio is projected to the LLM width (``audio_t5_proj``), then GCA at that width
    on visual tokens already passed through ``t5_proj`` (by the model)."""

    def __init__(self, llm_dim: int, audio_dim: int, num_heads: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.audio_t5_proj = nn.Linear(audio_dim, llm_dim)
        self.gca = GatedCrossAttention(llm_dim, llm_dim, num_heads, dropout)

    def forward(
        self,
        vision: torch.Tensor,
        audio: torch.Tensor,
        audio_mask: torch.Tensor | None = None,
        gate_value: float | None = None,
    ) -> torch.Tensor:
        return self.gca(vision, self.audio_t5_proj(audio.to(vision.dtype)), audio_mask, gate_value)


def build_fusion(cfg: FusionConfig, qformer_dim: int, llm_dim: int) -> GatedCrossAttention | LateGatedFusion:
    """The fusion block for ``cfg``: at ``qformer_dim`` (early) or at ``llm_dim`` (late)."""
    if cfg.method not in FUSION_METHODS:
        raise ConfigError(
            f"model.fusion.method: unknown {cfg.method!r} (available: {', '.join(FUSION_METHODS)})"
        )
    if cfg.late_fusion:
        return LateGatedFusion(llm_dim, cfg.audio_dim, cfg.num_heads, cfg.dropout)
    return GatedCrossAttention(qformer_dim, cfg.audio_dim, cfg.num_heads, cfg.dropout)
