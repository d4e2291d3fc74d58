"""The frozen-feature cache: what its key depends on, what it refuses, and that a hit equals a computation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import tiny_model

from lavis.common.errors import ConfigError
from lavis.datasets.frame_sources import FrameSource, enable_frame_sources
from lavis.models.feature_cache import FrozenFeatureCache
from lavis.processors.video_processors import VideoEvalProcessor, VideoProcessorConfig, VideoTrainProcessor


def cached_model(tmp_path: Path, level: str = "vit", dtype: str = "fp32", **overrides):
    cache = {"root": str(tmp_path / "features"), "level": level, "dtype": dtype}
    return tiny_model(freeze_vit=True, feature_cache=cache, **overrides)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not really a video, but it has a size and an mtime")
    return path


def eval_processor(**cfg) -> VideoEvalProcessor:
    return VideoEvalProcessor(VideoProcessorConfig(image_size=32, **cfg))


# --- (a) the key -----------------------------------------------------------------------------------


def test_key_changes_with_indices_preprocessing_and_video_mtime(tmp_path, video):
    cache = FrozenFeatureCache(tmp_path / "features")
    base = FrameSource.of(video, [0, 5, 9], eval_processor())
    key = cache.key(base, "w" * 64, "{}")
    assert cache.key(FrameSource.of(video, [0, 5, 9], eval_processor()), "w" * 64, "{}") == key
    assert cache.key(FrameSource.of(video, [0, 5, 10], eval_processor()), "w" * 64, "{}") != key
    assert (
        cache.key(
            FrameSource.of(video, [0, 5, 9], VideoEvalProcessor(VideoProcessorConfig(image_size=48))),
            "w" * 64,
            "{}",
        )
        != key
    )
    assert (
        cache.key(FrameSource.of(video, [0, 5, 9], eval_processor(mean=[0.5, 0.5, 0.5])), "w" * 64, "{}")
        != key
    )
    train = VideoTrainProcessor(VideoProcessorConfig(image_size=32, min_scale=1.0))
    assert cache.key(FrameSource.of(video, [0, 5, 9], train), "w" * 64, "{}") != key  # processor name
    assert cache.key(FrameSource.of(video, [0, 5, 9], eval_processor(reader="decord")), "w" * 64, "{}") != key
    assert cache.key(base, "v" * 64, "{}") != key  # weights
    assert cache.key(base, "w" * 64, '{"autocast": "torch.bfloat16"}') != key  # numerics
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert cache.key(FrameSource.of(video, [0, 5, 9], eval_processor()), "w" * 64, "{}") != key


def test_weights_hash_changes_with_the_frozen_weights_only(tmp_path):
    model = cached_model(tmp_path)
    vit, qformer = model.frozen_weights_hash("vit"), model.frozen_weights_hash("qformer")
    assert vit != qformer
    model._weights_hashes.clear()
    with torch.no_grad():
        model.ln_vision.weight.add_(1.0)  # trained by Mr. BLIP: not part of the ViT-level key
    assert model.frozen_weights_hash("vit") == vit
    assert model.frozen_weights_hash("qformer") != qformer
    model._weights_hashes.clear()
    with torch.no_grad():
        model.visual_encoder.blocks[0].mlp.fc1.weight.add_(1e-3)
    assert model.frozen_weights_hash("vit") != vit


def test_a_changed_weight_hash_misses_and_lives_in_its_own_folder(tmp_path, video):
    cache = FrozenFeatureCache(tmp_path / "features", dtype="fp32")
    source = FrameSource.of(video, [1, 2], eval_processor())
    cache.write(source, "a" * 64, "{}", torch.ones(2, 3, 4))
    assert cache.read(source, "a" * 64, "{}") is not None
    assert cache.read(source, "b" * 64, "{}") is None
    assert [p.name for p in (tmp_path / "features").iterdir()] == ["a" * 16]


def test_unreadable_entry_is_recomputed(tmp_path, video):
    cache = FrozenFeatureCache(tmp_path / "features", dtype="bf16")
    source = FrameSource.of(video, [1, 2], eval_processor())
    path = cache.write(source, "a" * 64, "{}", torch.ones(2, 3))
    path.write_bytes(b"truncated")
    calls = []

    def compute(positions):
        calls.append(positions)
        return [torch.full((2, 3), 2.0) for _ in positions]

    (out,) = cache.fetch([source], "a" * 64, "{}", compute)
    assert calls == [[0]] and cache.stats.unreadable == 1 and torch.equal(out, torch.full((2, 3), 2.0))
    (again,) = cache.fetch([source], "a" * 64, "{}", compute)
    assert len(calls) == 1 and torch.equal(again, out) and cache.stats.hits == 1


# --- a hit equals a computation ---------------------------------------------------------------------


def batch_with_sources(video: Path, model, batch: int = 3, frames: int = 4) -> dict:
    g = torch.Generator().manual_seed(1)
    proc = eval_processor()
    return {
        "video": torch.randn(batch, frames, 3, 32, 32, generator=g),
        "frame_mask": torch.ones(batch, frames, dtype=torch.bool),
        "frame_source": [FrameSource.of(video, list(range(i, i + frames)), proc) for i in range(batch)],
    }


@pytest.mark.parametrize(
    "level,extra", [("vit", {}), ("qformer", {"train_ln_vision": False, "freeze_qformer": True})]
)
def test_cached_queries_equal_computed_ones(tmp_path, video, level, extra):
    model = cached_model(tmp_path, level=level, **extra).eval()
    batch = batch_with_sources(video, model)
    frames = batch["video"].flatten(0, 1)
    with torch.no_grad():
        plain = model.encode_images(frames)
        first = model.encode_images(frames, sources=batch["frame_source"])  # fills
        second = model.encode_images(frames, sources=batch["frame_source"])  # reads
    assert model.feature_cache.stats.misses == 3 and model.feature_cache.stats.hits == 3
    torch.testing.assert_close(first, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(second, first, atol=0, rtol=0)


def test_ln_vision_gets_gradients_through_cached_vit_tokens(tmp_path, video):
    model = cached_model(tmp_path, level="vit").train()
    batch = batch_with_sources(video, model)
    frames = batch["video"].flatten(0, 1)
    for _ in range(2):  # miss, then hit
        model.zero_grad()
        model.encode_images(frames, sources=batch["frame_source"]).sum().backward()
        assert model.ln_vision.weight.grad is not None and model.ln_vision.weight.grad.abs().sum() > 0
        assert model.visual_encoder.patch_embed.proj.weight.grad is None


# --- (e) what the levels need frozen -----------------------------------------------------------------


def test_qformer_level_is_refused_when_ln_vision_trains(tmp_path):
    with pytest.raises(ConfigError, match="train_ln_vision is true.*level: vit"):
        cached_model(tmp_path, level="qformer", train_ln_vision=True, freeze_qformer=True)
    with pytest.raises(ConfigError, match="freeze_qformer is false"):
        cached_model(tmp_path, level="qformer", train_ln_vision=False, freeze_qformer=False)
    cached_model(tmp_path, level="qformer", train_ln_vision=False, freeze_qformer=True)  # valid


def test_any_level_needs_a_frozen_vit(tmp_path):
    with pytest.raises(ConfigError, match="freeze_vit: true"):
        tiny_model(freeze_vit=False, feature_cache={"root": str(tmp_path), "level": "vit"})


# --- (c) pixel augmentation is refused ---------------------------------------------------------------


class FakeDataset:
    def __init__(self, processor) -> None:
        self.processor = processor
        self.frame_sources = False


def test_pixel_augmentation_is_refused_with_the_setting_and_the_fix():
    crop = VideoTrainProcessor(VideoProcessorConfig(image_size=32, min_scale=0.5))
    with pytest.raises(ConfigError) as err:
        enable_frame_sources({"qvh": {"train": FakeDataset(crop)}})
    msg = str(err.value)
    for part in (
        "datasets.qvh",
        "min_scale=0.5",
        "vis_processor.train.min_scale: 1.0",
        "name: video_eval",
        "feature_cache: null",
    ):
        assert part in msg, part
    flip = VideoTrainProcessor(VideoProcessorConfig(image_size=32, min_scale=1.0, flip_prob=0.5))
    with pytest.raises(ConfigError, match="flip_prob=0.5"):
        enable_frame_sources({"qvh": {"train": FakeDataset(flip)}})


def test_frame_choice_alone_is_allowed_and_switches_samples_on():
    random_frames = VideoTrainProcessor(VideoProcessorConfig(image_size=32, min_scale=1.0))
    frames = torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(
        random_frames.transform(frames, np.random.default_rng(0)), random_frames.normalize(frames)
    )
    train, val = FakeDataset(random_frames), FakeDataset(eval_processor())
    assert enable_frame_sources({"qvh": {"train": train, "val": val}}) == 2
    assert train.frame_sources and val.frame_sources


# --- every registered system: reads the cache if it claims to, refuses it otherwise --------------------


def tiny_with_cache(arch: str, root: Path, level: str = "vit"):
    import warnings

    from omegaconf import OmegaConf

    from lavis.common import registry
    from lavis.common.config import default_config_path, load_yaml, merge_with_schema

    cls = registry.models.get(arch)
    preset = load_yaml(default_config_path(cls.PRETRAINED_MODEL_CONFIG_DICT["tiny"]))
    overrides = OmegaConf.create(
        {"freeze_vit": True, "feature_cache": {"root": str(root), "level": level, "dtype": "fp32"}}
    )
    cfg = merge_with_schema(cls.Config, preset, overrides, path="model", source=arch)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(OmegaConf.to_object(cfg))


def registered_archs() -> list[str]:
    from lavis.common import registry

    return registry.list_models()


@pytest.mark.parametrize("arch", registered_archs())
def test_every_system_reads_the_cache_it_accepts(tmp_path, video, arch):
    from lavis.common import registry

    if "vit" not in registry.models.get(arch).FEATURE_CACHE_LEVELS:
        with pytest.raises(ConfigError, match="not supported by"):
            tiny_with_cache(arch, tmp_path / "features")
        return
    model = tiny_with_cache(arch, tmp_path / "features").eval()
    samples = model.dummy_inputs(batch_size=2, num_frames=3)  # sample 1 has 2 real frames
    counts = samples["frame_mask"].sum(1).tolist()
    proc = eval_processor()
    sources = [
        FrameSource.of(video, list(range(10 * i, 10 * i + int(n))), proc) for i, n in enumerate(counts)
    ]
    with torch.no_grad():
        plain = model(samples)["loss"]
        first = model({**samples, "frame_source": sources})["loss"]
        second = model({**samples, "frame_source": sources})["loss"]
    stats = model.feature_cache.stats
    assert stats.misses == 2 and stats.hits >= 2, f"{arch} does not read the cache it accepts: {stats}"
    torch.testing.assert_close(first, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(second, first, atol=0, rtol=0)


def test_sevila_refuses_the_qformer_level_its_qformers_train(tmp_path):
    with pytest.raises(ConfigError, match="not supported by"):
        tiny_with_cache("sevila", tmp_path, level="qformer")
