"""lavis.load_model and the Predictor on real clips of any length, frame rate and size."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import lavis
from lavis.common.errors import CheckpointError, ConfigError, DataError
from lavis.inference import MomentRetrievalResult, probe_video
from lavis.inference.results import clip_windows

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def predictor(tiny_mr_checkpoint):
    return lavis.load_model(checkpoint=tiny_mr_checkpoint, device="cpu")


def test_importing_lavis_stays_cheap():
    code = "import sys, lavis; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"  # torch and the models load only when load_model is first used
    assert lavis.load_model.__module__ == "lavis.inference.api"


def test_the_checkpoint_brings_its_evaluation_settings(predictor):
    assert predictor.name == "blip2_mr"
    assert predictor.processor.cfg.n_frms == 16 and predictor.processor.cfg.image_size == 32
    assert predictor.generation.num_beams == 3 and predictor.generation.max_new_tokens == 12
    assert not predictor.model.training
    assert predictor.capabilities == ("moment_retrieval",)


def test_windows_on_every_shared_clip_lie_inside_the_video(predictor, shared_videos):
    for video in shared_videos:
        info = probe_video(video)
        result = predictor.moments(video, "the screen turns red")
        assert isinstance(result, MomentRetrievalResult)
        assert result.duration == pytest.approx(info.num_frames / info.fps, abs=1e-3)
        assert result.valid and result.windows, result.text
        for w in result.windows:
            assert 0 <= w.start < w.end <= result.duration
        scores = [w.score for w in result.windows]
        assert scores == sorted(scores, reverse=True)
        assert len(result.frame_times) == 16 and max(result.frame_times) <= result.duration
        json.dumps(result.to_dict())  # plain JSON


def test_several_queries_on_one_video_match_one_at_a_time(predictor, shared_videos):
    video = shared_videos[0]
    together = predictor.moments_batch(video, ["the screen turns red", "a blue square"], ["a", "b"])
    assert [r.qid for r in together] == ["a", "b"]
    for r in together:
        alone = predictor.moments(video, r.query)
        assert alone.raw_windows == r.raw_windows


def test_a_video_held_in_memory_gives_the_same_windows(predictor, shared_videos):
    from lavis.datasets.video import InMemoryVideo

    video = shared_videos[0]
    in_memory = InMemoryVideo(video.read_bytes(), name=video.name)
    assert (
        predictor.moments(in_memory, "a person drinks").raw_windows
        == predictor.moments(video, "a person drinks").raw_windows
    )


def test_thumbnails_keep_the_aspect_ratio(shared_videos):
    from lavis.inference.api import video_thumbnails

    info = probe_video(shared_videos[0])
    thumbs = video_thumbnails(shared_videos[0], count=5, height=40)
    assert len(thumbs) == 5 and all(0 <= t < info.duration for t, _ in thumbs)
    assert thumbs[0][1].shape == (40, round(info.width * 40 / info.height), 3)


def write_video(path, frames: int, fps: int, width: int, height: int):
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.full((height, width, 3), (i * 40) % 255, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("frames,fps,width,height", [(1, 5, 98, 62), (7, 3, 130, 34), (90, 30, 64, 360)])
def test_any_length_rate_and_size(predictor, tmp_path, frames, fps, width, height):
    video = write_video(tmp_path / "clip.mp4", frames, fps, width, height)
    result = predictor.moments(video, "the screen turns red")
    assert result.duration == pytest.approx(frames / fps, abs=1e-3)
    assert len(result.frame_times) == 16  # short videos repeat frames rather than giving fewer
    for w in result.windows:
        assert 0 <= w.start < w.end <= result.duration


def test_task_families_a_model_lacks_name_the_model(predictor, shared_videos):
    for call in (
        lambda: predictor.multiple_choice(shared_videos[0], "what?", ["a", "b"]),
        lambda: predictor.answer(shared_videos[0], "what?"),
        lambda: predictor.caption(shared_videos[0]),
        lambda: predictor.classify(shared_videos[0]),
    ):
        with pytest.raises(NotImplementedError, match="'blip2_mr'.*it can do: moment_retrieval"):
            call()
    with pytest.raises(ConfigError, match="unknown task family"):
        predictor.predict("dancing", shared_videos[0])


def test_unreadable_videos_raise_data_errors_naming_the_file(predictor, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    for bad in (empty, text, tmp_path / "missing.mp4"):
        with pytest.raises(DataError, match=bad.name):
            predictor.moments(bad, "anything")


def test_load_by_name_and_preset_without_weights(shared_videos):
    p = lavis.load_model("mr_blip", model_type="tiny", device="cpu", num_frames=4)
    assert p.name == "blip2_mr" and p.config is None and p.processor.cfg.n_frms == 4
    result = p.moments(shared_videos[0], "a person drinks")
    assert len(result.frame_times) == 4
    json.dumps(result.to_dict())


def test_load_errors_are_user_errors(tiny_mr_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        lavis.load_model("mr_blip", checkpoint=tmp_path / "nope.pth")
    with pytest.raises(ConfigError, match="not 'blip2_sms'"):
        lavis.load_model("sms", checkpoint=tiny_mr_checkpoint, device="cpu")
    with pytest.raises(ConfigError, match="name the model"):
        lavis.load_model()


def test_clip_windows_keeps_rank_scores_and_drops_unreadable():
    kept = clip_windows([[-1, -1], [5, 2], [8, 30], [12, 12]], duration=10.0)
    assert [w.to_list() for w in kept] == [[2.0, 5.0, 0.999], [8.0, 10.0, 0.998]]
