"""SMS (blip2_sms): the audio branch is a pure addition to Mr. BLIP, and audio reaches the frames it belongs to."""

from __future__ import annotations

import pytest
import torch
from model_helpers import fake_batch, tiny_model
from omegaconf import OmegaConf

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.models.sms import Blip2SMS, Blip2SMSConfig


def sms(**overrides) -> Blip2SMS:
    preset = load_yaml(default_config_path("configs/models/blip2_sms/tiny.yaml"))
    merged = merge_with_schema(
        Blip2SMSConfig, preset, OmegaConf.create(overrides), path="model", source="test"
    )
    torch.manual_seed(1)
    return Blip2SMS(OmegaConf.to_object(merged)).eval()


def with_audio(batch: dict, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    b, t = batch["video"].shape[:2]
    batch["audio_features"] = torch.nn.functional.normalize(torch.randn(b, t, 512, generator=g), dim=-1)
    return batch


def mr_blip_with_the_same_weights(model: Blip2SMS):
    mr = tiny_model().eval()
    missing, unexpected = mr.load_state_dict(model.state_dict(), strict=False)
    assert not missing
    assert all(k.startswith(("audio_encoder.", "fusion.")) for k in unexpected)
    return mr


def test_gate_zero_is_exactly_mr_blip():
    model = sms(gate_value=0.0)
    mr = mr_blip_with_the_same_weights(model)
    batch = with_audio(fake_batch(batch=2, frames=4))
    with torch.no_grad():
        a, a_mask = model.encoder_inputs(batch)
        b, b_mask = mr.encoder_inputs(batch)
        assert torch.equal(a, b) and torch.equal(a_mask, b_mask)
        assert torch.equal(model(batch)["loss"], mr(batch)["loss"])
    assert model.generate(batch, max_new_tokens=6) == mr.generate(batch, max_new_tokens=6)


def test_learned_gate_lets_the_audio_change_the_input_but_masked_frames_stay_visual():
    model = sms()
    mr = mr_blip_with_the_same_weights(model)
    batch = with_audio(fake_batch(batch=1, frames=3))
    with torch.no_grad():
        fused, _ = model.encoder_inputs(batch)
        visual, _ = mr.encoder_inputs(batch)
        assert not torch.allclose(fused, visual)
        other, _ = model.encoder_inputs(with_audio(dict(batch), seed=5))
        assert not torch.allclose(fused, other)
        batch["audio_mask"] = torch.zeros(1, 3, dtype=torch.bool)
        masked, _ = model.encoder_inputs(batch)
        assert torch.equal(masked, visual)


def test_raw_clips_are_encoded_per_frame_and_missing_audio_gives_zeros():
    model = sms()
    clips = torch.randn(1, 3, 48000 * 2, generator=torch.Generator().manual_seed(0)) * 0.1
    mask = torch.tensor([[True, False, True]])
    emb, emb_mask = model.audio_embeddings({"audio": clips, "audio_mask": mask})
    assert torch.equal(emb_mask, mask)
    assert emb.shape == (1, 3, 512)
    assert torch.equal(emb[0, 1], torch.zeros(512))
    assert torch.allclose(emb[0, 0].norm(), torch.tensor(1.0), atol=1e-5)
    alone = model.audio_encoder(clips[0, 2:3])
    assert torch.allclose(emb[0, 2], alone[0], atol=1e-5)


def test_late_fusion_trains():
    model = sms(fusion={"late_fusion": True}).train()
    loss = model(with_audio(fake_batch(batch=2, frames=3)))["loss"]
    loss.backward()
    assert model.fusion.audio_t5_proj.weight.grad is not None
    assert model.fusion.gca.gate.weight.grad is not None


def test_deferred_audio_is_embedded_once_then_read_from_the_cache(tmp_path):
    """A dataset with ``audio.defer`` hands the model an AudioSource; the features equal encoding the
    clips directly, and a second pass reads the cache instead of running CLAP again."""
    from media_helpers import tones, write_av_clip

    from lavis.datasets.audio import AudioClipConfig, AudioSource, load_audio_clips

    video = write_av_clip(tmp_path / "v.mp4", 3.0, tones([(1.0, 2.0, 880.0)], 48000))
    cfg = AudioClipConfig(clip_seconds=1.0, defer=True)
    source = AudioSource(str(video), ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0)), cfg)
    model = sms(audio_cache=str(tmp_path / "cache"))
    calls = []
    encode = model.audio_encoder.forward
    model.audio_encoder.forward = lambda clips, mask=None: calls.append(len(clips)) or encode(clips, mask)
    features, mask = model.audio_embeddings({"audio_source": [source]})
    clips = load_audio_clips(str(video), source.intervals, cfg)
    assert torch.allclose(features[0], encode(clips.clips, clips.mask), atol=1e-6)
    assert mask.tolist() == [[True, True, True]] and calls == [3]
    again, _ = model.audio_embeddings({"audio_source": [source]})
    assert torch.equal(again, features) and calls == [3]  # served from the cache
    assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == 1


def test_deferred_audio_with_another_sample_rate_is_a_config_error(tmp_path):
    from lavis.common.errors import ConfigError
    from lavis.datasets.audio import AudioClipConfig, AudioSource

    source = AudioSource("missing.mp4", ((0.0, 1.0),), AudioClipConfig(sample_rate=16000, defer=True))
    with pytest.raises(ConfigError, match="16000 Hz.*48000 Hz"):
        sms().audio_embeddings({"audio_source": [source]})


def test_audio_norm_batch_standardises_only_frames_with_audio():
    from lavis.common.errors import ConfigError

    model = sms(audio_norm="batch").train()
    audio = torch.randn(5, 512) * 0.5 + 3.0
    mask = torch.tensor([True, True, True, False, True])
    out = model.normalise_audio(audio, mask)
    assert torch.equal(out[3], audio[3])  # a frame without audio keeps its stand-in
    assert torch.allclose(out[mask].mean(0), torch.zeros(512), atol=1e-4)
    assert torch.allclose(out[mask].std(0, unbiased=False), torch.ones(512), atol=1e-2)
    with pytest.raises(ConfigError, match="audio_norm"):
        sms(audio_norm="layer")


def test_a_trained_audio_norm_keeps_its_running_statistics_in_the_checkpoint():
    model = sms(audio_norm="batch").train()
    model(with_audio(fake_batch(batch=2, frames=3)))["loss"].backward()
    state = model.trainable_state_dict()
    assert {"audio_norm.running_mean", "audio_norm.running_var", "audio_norm.num_batches_tracked"} <= set(state)
    restored = sms(audio_norm="batch")
    restored.load_state_dict(state, strict=False)
    assert torch.equal(restored.audio_norm.running_mean, model.audio_norm.running_mean)
