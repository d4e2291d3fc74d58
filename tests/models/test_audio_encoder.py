"""The CLAP audio encoder matches ``ClapModel.get_audio_features`` and stays frozen."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lavis.common.errors import ConfigError
from lavis.models.components.audio import TINY_CLAP_ARCH, AudioEncoderConfig, ClapAudioEncoder

SR = 48000
TINY = AudioEncoderConfig(arch=dict(TINY_CLAP_ARCH), max_length_s=2.5)


def reference_clap(seed: int = 0):
    """A tiny random full ``ClapModel`` (audio + text towers) and its feature extractor."""
    from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapTextConfig

    torch.manual_seed(seed)
    audio = ClapAudioConfig(enable_fusion=True, fusion_type="aff_2d", **TINY_CLAP_ARCH)
    text = ClapTextConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    model = ClapModel(
        ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=512)
    )
    return model.eval(), ClapFeatureExtractor(max_length_s=2.5)


def reference_features(model, extractor, clips: torch.Tensor) -> torch.Tensor:
    """What SMS computes (get_audio_features: projection + F.normalize), with is_longer all False."""
    inputs = extractor(
        [c.numpy() for c in clips], sampling_rate=SR, max_length=int(2.5 * SR), return_tensors="pt"
    )
    with torch.no_grad():
        out = model.get_audio_features(
            input_features=inputs["input_features"], is_longer=torch.zeros(len(clips), 1, dtype=torch.bool)
        )
    return out.pooler_output  # transformers 5 returns a model output; 4.x returned the tensor itself


def clips_of(seconds: float, n: int = 3, seed: int = 1) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    waves = [
        0.3 * np.sin(2 * np.pi * (200 + 400 * i) * t) + 0.05 * rng.standard_normal(len(t)) for i in range(n)
    ]
    return torch.tensor(np.stack(waves), dtype=torch.float32)


@pytest.fixture(scope="module")
def reference():
    return reference_clap()


def test_parity_with_get_audio_features(reference):
    model, extractor = reference
    encoder = ClapAudioEncoder(TINY)
    audio_keys = {
        k: v for k, v in model.state_dict().items() if k.startswith(("audio_model.", "audio_projection."))
    }
    encoder.clap.load_state_dict(audio_keys, strict=True)
    clips = clips_of(1.5)
    ours = encoder(clips)
    expected = reference_features(model, extractor, clips)
    assert ours.shape == (3, 512) and torch.allclose(ours.norm(dim=-1), torch.ones(3), atol=1e-6)
    assert (ours - expected).abs().max().item() < 1e-5
    # the three tones give three different embeddings
    assert (ours @ ours.T - torch.eye(3)).abs().max() > 1e-3


def test_loads_a_saved_clap_folder_and_skips_the_text_tower(reference, tmp_path):
    model, extractor = reference
    model.save_pretrained(tmp_path)
    extractor.save_pretrained(tmp_path)
    encoder = ClapAudioEncoder(AudioEncoderConfig(path=str(tmp_path)))
    assert encoder.max_samples == int(2.5 * SR)  # from the folder's preprocessor_config.json
    clips = clips_of(2.5, n=2, seed=4)
    assert (encoder(clips) - reference_features(model, extractor, clips)).abs().max().item() < 1e-5
    assert not any(k.startswith("text") for k in encoder.clap.state_dict())


def test_batch_shape_mask_and_chunking():
    torch.manual_seed(0)
    encoder = ClapAudioEncoder(AudioEncoderConfig(arch=dict(TINY_CLAP_ARCH), max_length_s=2.5, chunk_size=2))
    clips = clips_of(1.5, n=6).reshape(2, 3, -1)
    full = encoder(clips)
    assert full.shape == (2, 3, 512)
    mask = torch.tensor([[True, False, True], [False, False, True]])
    masked = encoder(clips, mask)
    assert torch.equal(masked[~mask], torch.zeros(3, 512))
    assert (masked[mask] - full[mask]).abs().max().item() < 1e-6
    # an embedding does not depend on the other clips of the call (no random is_longer pick)
    assert (encoder(clips[1:, 2]) - full[1:, 2]).abs().max().item() < 1e-6


def test_frozen_and_always_in_eval_mode():
    encoder = ClapAudioEncoder(TINY)
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training and not any(m.training for m in encoder.modules())
    out = encoder(clips_of(1.0, n=2))
    assert not out.requires_grad


def test_is_longer_is_the_truth_and_the_numpy_rng_is_untouched():
    encoder = ClapAudioEncoder(TINY)
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    _, is_longer = encoder.extract_features(clips_of(1.5, n=4))
    assert not is_longer.any()
    assert np.array_equal(np.random.get_state()[1], before)
    assert encoder._is_longer(int(2.5 * SR) + 480 * 3)


def test_weight_hash_follows_weights_and_settings():
    torch.manual_seed(0)
    a = ClapAudioEncoder(TINY)
    torch.manual_seed(0)
    b = ClapAudioEncoder(TINY)
    assert a.weight_hash() == b.weight_hash()
    with torch.no_grad():
        b.clap.audio_projection.linear1.weight[0, 0] += 1e-3
    assert a.weight_hash() != b.weight_hash()
    torch.manual_seed(0)
    c = ClapAudioEncoder(AudioEncoderConfig(arch=dict(TINY_CLAP_ARCH), max_length_s=2.0))
    assert c.weight_hash() != a.weight_hash()


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        ClapAudioEncoder(AudioEncoderConfig(path=str(tmp_path)))
    with pytest.raises(ConfigError, match="lower max_length_s"):
        ClapAudioEncoder(AudioEncoderConfig(arch=dict(TINY_CLAP_ARCH), max_length_s=10.0))


def test_unnormalised_projection_option():
    torch.manual_seed(0)
    raw = ClapAudioEncoder(AudioEncoderConfig(arch=dict(TINY_CLAP_ARCH), max_length_s=2.5, normalize=False))
    clips = clips_of(1.0, n=2)
    emb = raw(clips)
    normalised = F.normalize(emb, dim=-1)
    raw.cfg.normalize = True
    assert (raw(clips) - normalised).abs().max().item() < 1e-6


def test_the_extractors_random_is_longer_pick_is_what_we_avoid(reference):
    """SMS passed the extractor's ``is_longer`` on: one random short clip per call took the fusion branch."""
    model, extractor = reference
    clips = clips_of(1.5)
    inputs = extractor(
        [c.numpy() for c in clips], sampling_rate=SR, max_length=int(2.5 * SR), return_tensors="pt"
    )
    picked = inputs["is_longer"].flatten()
    assert picked.sum() == 1
    with torch.no_grad():
        sms = model.get_audio_features(**inputs).pooler_output
    ours = reference_features(model, extractor, clips)
    assert torch.allclose(sms[~picked], ours[~picked], atol=1e-6)
    assert (sms[picked] - ours[picked]).abs().max() > 1e-3
