"""Gated cross-attention fusion: SMS's formula, identity at gate 0, masking, gradients, late variant."""

from __future__ import annotations

import pytest
import torch

from lavis.common.errors import ConfigError
from lavis.models.components.fusion import (
    FusionConfig,
    GatedCrossAttention,
    LateGatedFusion,
    build_fusion,
)

N, L, D, DA = 6, 32, 64, 48


@pytest.fixture
def gca():
    torch.manual_seed(0)
    return GatedCrossAttention(D, DA, num_heads=8)


def inputs(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, L, D, generator=g), torch.randn(N, DA, generator=g)


def test_matches_sms_formula_with_repeated_audio(gca):
    vision, audio = inputs()
    repeated = audio.unsqueeze(1).expand(-1, L, -1)  # SMS repeats the clip embedding over the 32 tokens
    a = gca.audio_proj(repeated)
    attended, _ = gca.cross_attn(a, vision, vision)
    g = torch.sigmoid(gca.gate(a))
    expected = g * attended + (1 - g) * vision
    assert torch.allclose(gca(vision, repeated), expected, atol=1e-6)
    assert torch.allclose(gca(vision, audio), expected, atol=1e-5)  # one query per frame: same numbers
    assert gca(vision, audio).shape == (N, L, D)


def test_gate_zero_is_exactly_the_identity(gca):
    vision, audio = inputs()
    assert torch.equal(gca(vision, audio, gate_value=0.0), vision)
    late = LateGatedFusion(llm_dim=D, audio_dim=DA, num_heads=4)
    assert torch.equal(late(vision, audio, gate_value=0.0), vision)
    # gate 1: the attention output alone, the same at every token of a frame
    out = gca(vision, audio, gate_value=1.0)
    assert torch.allclose(out, out[:, :1].expand_as(out))


def test_starts_open_like_sms(gca):
    """Default Linear init of the sigmoid gate: about 0.5 at the start, so audio acts from step one."""
    vision, audio = inputs()
    gate = torch.sigmoid(gca.gate(gca.audio_proj(audio)))
    assert gate.min() > 0.2 and gate.max() < 0.8
    assert not torch.allclose(gca(vision, audio), vision)


def test_masked_frames_pass_through_and_their_audio_is_ignored(gca):
    vision, audio = inputs()
    mask = torch.tensor([True, False, True, False, False, True])
    out = gca(vision, audio, audio_mask=mask)
    assert torch.equal(out[~mask], vision[~mask])
    assert not torch.allclose(out[mask], vision[mask])
    noisy = audio.clone()
    noisy[~mask] = 1e3 * torch.randn(int((~mask).sum()), DA)
    assert torch.equal(gca(vision, noisy, audio_mask=mask), out)


def test_gradients_reach_the_gate_and_not_from_masked_frames(gca):
    vision, audio = inputs()
    vision.requires_grad_(True)
    gca(vision, audio).pow(2).sum().backward()
    for name, param in gca.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert gca.gate.weight.grad.abs().sum() > 0 and gca.gate.bias.grad.abs() > 0
    gca.zero_grad()
    gca(vision, audio, audio_mask=torch.zeros(N, dtype=torch.bool)).pow(2).sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in gca.parameters())


def test_late_fusion_works_at_llm_width():
    torch.manual_seed(0)
    late = build_fusion(
        FusionConfig(late_fusion=True, audio_dim=DA, num_heads=8), qformer_dim=D, llm_dim=2 * D
    )
    assert isinstance(late, LateGatedFusion)
    names = {n for n, _ in late.named_parameters()}
    assert {
        "audio_t5_proj.weight",
        "gca.audio_proj.weight",
        "gca.cross_attn.in_proj_weight",
        "gca.gate.weight",
    } <= names
    vision = torch.randn(N, L, 2 * D)
    out = late(vision, torch.randn(N, DA), audio_mask=torch.tensor([True] * 3 + [False] * 3))
    assert out.shape == (N, L, 2 * D) and torch.equal(out[3:], vision[3:])


def test_build_early_and_errors():
    early = build_fusion(FusionConfig(audio_dim=DA), qformer_dim=D, llm_dim=2 * D)
    assert isinstance(early, GatedCrossAttention) and early.audio_proj.in_features == DA
    assert {n for n, _ in early.named_parameters()} == {
        "audio_proj.weight",
        "audio_proj.bias",
        "cross_attn.in_proj_weight",
        "cross_attn.in_proj_bias",
        "cross_attn.out_proj.weight",
        "cross_attn.out_proj.bias",
        "gate.weight",
        "gate.bias",
    }  # SMS's GatedCrossAttention names
    with pytest.raises(ConfigError, match="unknown 'lcam'"):
        build_fusion(FusionConfig(method="lcam"), D, D)
    with pytest.raises(ConfigError, match="not divisible"):
        GatedCrossAttention(30, DA, num_heads=8)
    with pytest.raises(ValueError, match="does not fit"):
        GatedCrossAttention(D, DA)(torch.randn(N, L, D), torch.randn(N, 3, DA))
