from pathlib import Path

import pytest

from lavis.common.errors import ConfigError
from lavis.datasets.prepare.transcribe import transcribe_all, whisper_transcriber
from lavis.datasets.subtitles import Cue, read_srt


def test_stub_transcriber_round_trips(tmp_path):
    videos = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    cues = [Cue(1.0, 2.5, "hello world"), Cue(3661.25, 3662.0, "late")]
    n = transcribe_all(videos, tmp_path / "srts", lambda v: cues)
    assert n == 2
    assert read_srt(tmp_path / "srts" / "a.srt") == cues
    assert transcribe_all(videos, tmp_path / "srts", lambda v: cues) == 0  # kept


def test_missing_model_path_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="ASR model path does not exist"):
        whisper_transcriber(Path(tmp_path / "whisper"))
