"""mr_BLIP_data/data_preprocess.ipynb runs top to bottom on small fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prepare_fixtures import make_video, write_all_downloads

NOTEBOOK = Path(__file__).resolve().parents[2] / "mr_BLIP_data" / "data_preprocess.ipynb"


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    downloads = write_all_downloads(tmp_path / "downloads")
    videos = tmp_path / "data" / "qvh" / "videos"
    for i, name in enumerate(["vidD_0.0_150.0", "vidE_0.0_150.0"]):  # the QVH fixture's val videos
        make_video(videos / f"{name}.mp4", seconds=2.0, seed=i)
    fixtures = {
        "DATA_ROOT": str(tmp_path / "data"),
        "DOWNLOADS": {name: str(path) for name, path in downloads.items()},
        "NEXT_VIDEO_MAP": str(downloads["nextqa"] / "map_vid_vidorID.json"),
        "CHARADES_VAL_VIDEOS": 2,
        "VIDEO_ROOTS": {"qvh": str(videos), "anet": str(tmp_path / "no_videos_here")},
        "WRITE_SHARDS": True,
        "SHARD_ROOT": str(tmp_path / "shards"),
    }
    config = tmp_path / "fixtures.json"
    config.write_text(json.dumps(fixtures))
    monkeypatch.setenv("LAVIS_NOTEBOOK_FIXTURES", str(config))

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()

    text = "\n".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    for dataset in ("qvh", "charades_sta", "anet", "anet_tal", "nextqa", "nextgqa"):
        assert f"$ python -m lavis.datasets.prepare {dataset} " in text
        assert (tmp_path / "data" / dataset / "annotations" / "prepare_manifest.json").is_file()
    assert "skipping" not in text
    # only the 2 val videos exist, and they are 2 s long where 150 s are annotated
    assert "qvh: 7 of 7 referenced videos have problems: 5 missing, 2 too_short" in text
    assert "equals the folder sample: True" in text
