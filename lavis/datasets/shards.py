"""Webdataset shards of videos + annotations, and a dataset that streams them.

At scale, opening tens of thousands of small files (or reading them over a network file system) costs
more than decoding them; tar shards turn that into a few large sequential reads.

Layout: one tar member pair per *video* (not per query, so a video with several queries is stored
once): ``<key>.video`` (the encoded file, unchanged) and ``<key>.json`` =
``{"video": name, "items": [{"index": i, "record": {...}}, ...]}``, where ``index`` is the record's
position in the annotation file. Keys are running numbers because video names may contain dots, which
webdataset would read as extensions. ``manifest.json`` beside the shards records the annotation file,
its hash, counts and the brace URL to use.

Streaming gives the same samples as :class:`MomentRetrievalDataset`: each record is turned into a
sample by ``MomentRetrievalDataset.__getitem__`` itself (same processor, same per-sample RNG seeded by
``(seed, epoch, index)``), only the video comes from memory instead of a file. What differs is the
order: shards are read in order (shuffled per epoch for training), records in file order within them.

Distributed use: shard URLs are split first across ranks (``webdataset.split_by_node``: rank r takes
shards r, r + world_size, ...), then across DataLoader workers (``split_by_worker``). Each shard is
therefore read by exactly one worker of one rank. Ranks receive whole shards, so their sample counts
differ unless the shards are balanced; use at least ``world_size x num_workers`` shards (ideally a
multiple), or some workers get nothing to read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset

from lavis.common.errors import DataError
from lavis.common.io import sha256, write_json
from lavis.datasets.annotations import load_annotations
from lavis.datasets.collate import collate_samples
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.datasets.video import InMemoryVideo

MANIFEST = "manifest.json"
SHARD_PATTERN = "shard-{:06d}.tar"


@dataclass
class ShardManifest:
    annotations: str
    annotations_sha256: str
    num_records: int
    num_videos: int
    samples_per_shard: int
    video_ext: str
    shards: list[str]
    url: str  # brace-expandable webdataset URL of all shards

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def shard_url(output_dir: str | Path, num_shards: int) -> str:
    last = num_shards - 1
    if num_shards == 1:
        return str(Path(output_dir) / SHARD_PATTERN.format(0))
    return str(Path(output_dir) / f"shard-{{{0:06d}..{last:06d}}}.tar")


def write_shards(
    video_root: str | Path,
    annotation_file: str | Path,
    output_dir: str | Path,
    samples_per_shard: int = 100,
    video_ext: str = ".mp4",
    progress: bool = True,
) -> ShardManifest:
    """Pack every video referenced by ``annotation_file`` with its records; all shards or none.

    Shards are built in a temporary directory inside ``output_dir`` and moved into place only when all
    are complete; ``manifest.json`` is written last, so its presence means the set is complete.
    """
    import webdataset as wds
    from tqdm import tqdm

    if samples_per_shard < 1:
        raise DataError(f"--samples-per-shard must be >= 1, got {samples_per_shard}")
    video_root, output_dir = Path(video_root), Path(output_dir)
    records = load_annotations(annotation_file)
    groups: dict[str, list[dict[str, Any]]] = {}
    for index, rec in enumerate(records):
        groups.setdefault(rec["video"], []).append({"index": index, "record": rec})
    missing = [v for v in groups if not (video_root / f"{v}{video_ext}").is_file()]
    if missing:
        listed = ", ".join(str(video_root / f"{v}{video_ext}") for v in missing[:10])
        raise DataError(
            f"{len(missing)} referenced video(s) not found ({listed}{' ...' if len(missing) > 10 else ''}); "
            "run `python -m lavis.datasets.prepare check-videos` first"
        )
    existing = sorted(p.name for p in output_dir.glob("shard-*.tar")) if output_dir.is_dir() else []
    if existing or (output_dir / MANIFEST).exists():
        raise DataError(f"{output_dir} already holds shards or a {MANIFEST}; choose an empty --output")
    created = not output_dir.exists()
    output_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".shards-", dir=output_dir))
    names: list[str] = []
    try:
        writer = None
        for i, (video, items) in enumerate(tqdm(groups.items(), desc="writing shards", unit="video",
                                                 disable=not progress)):
            if i % samples_per_shard == 0:
                if writer is not None:
                    writer.close()
                names.append(SHARD_PATTERN.format(len(names)))
                writer = wds.TarWriter(str(tmp_dir / names[-1]), encoder=False, mtime=0.0)
            meta = {"video": video, "items": items}
            writer.write(
                {
                    "__key__": f"{i:09d}",
                    "video": (video_root / f"{video}{video_ext}").read_bytes(),
                    "json": json.dumps(meta, ensure_ascii=False).encode("utf-8"),
                }
            )
        if writer is not None:
            writer.close()
        for name in names:
            os.replace(tmp_dir / name, output_dir / name)
    except BaseException:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(output_dir / name)
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if created:
            shutil.rmtree(output_dir, ignore_errors=True)
        raise
    shutil.rmtree(tmp_dir, ignore_errors=True)
    manifest = ShardManifest(
        annotations=str(annotation_file),
        annotations_sha256=sha256(Path(annotation_file)),
        num_records=len(records),
        num_videos=len(groups),
        samples_per_shard=samples_per_shard,
        video_ext=video_ext,
        shards=names,
        url=shard_url(output_dir, len(names)),
    )
    try:
        write_json(output_dir / MANIFEST, manifest.to_json())
    except BaseException:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(output_dir / name)
        raise
    return manifest


class ShardMomentRetrievalDataset(IterableDataset):
    """Streams moment-retrieval samples from shards written by :func:`write_shards`.

    ``len()`` is the total number of records in all shards (from ``manifest.json`` when the shards are
    local files, or ``length``), not the share of one rank or worker.
    """

    def __init__(
        self,
        urls: str | list[str],
        processor,
        seed: int = 0,
        shuffle_shards: bool = False,
        on_bad_video: str = "error",
        length: int | None = None,
    ) -> None:
        self.urls = expand_urls(urls)
        if not self.urls:
            raise DataError(f"no shard URLs in {urls!r}")
        self.processor = processor
        self.seed = seed
        self.shuffle_shards = shuffle_shards
        self.on_bad_video = on_bad_video
        self.length = length if length is not None else _manifest_length(self.urls)
        self.epoch = 0

    collater = staticmethod(collate_samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("number of records unknown: no manifest.json beside the shards and no length given")
        return self.length

    def shard_order(self) -> list[str]:
        """All shards in this epoch's order (the same on every rank), before splitting."""
        urls = list(self.urls)
        if self.shuffle_shards:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(urls))
            urls = [urls[i] for i in order]
        return urls

    def __iter__(self) -> Iterator[dict[str, Any] | None]:
        import webdataset as wds

        mine = wds.split_by_worker(wds.split_by_node(self.shard_order()))
        for url in mine:
            for sample in wds.tarfile_samples([{"url": url}]):
                yield from self._samples(sample, url)

    def _samples(self, sample: dict[str, Any], url: str) -> Iterator[dict[str, Any] | None]:
        if "json" not in sample or "video" not in sample:
            raise DataError(f"{url}: sample {sample.get('__key__')!r} lacks its .json or .video member")
        meta = json.loads(sample["json"])
        source = _RecordsFromMemory(url, self.processor, self.seed, self.epoch, self.on_bad_video)
        source.videos[meta["video"]] = InMemoryVideo(sample["video"], f"{url}:{meta['video']}")
        for item in meta["items"]:
            source.records[item["index"]] = item["record"]
            yield source[item["index"]]


class _RecordsFromMemory(MomentRetrievalDataset):
    """``MomentRetrievalDataset.__getitem__`` on records keyed by their original index and videos held in
    memory, so a streamed sample is built by exactly the code that builds a folder sample."""

    def __init__(self, url: str, processor, seed: int, epoch: int, on_bad_video: str) -> None:
        super().__init__(url, ".", processor, on_bad_video=on_bad_video, seed=seed, records={})
        self.epoch = epoch
        self.videos: dict[str, InMemoryVideo] = {}

    def video_path(self, rec: dict[str, Any]) -> InMemoryVideo:  # type: ignore[override]
        return self.videos[rec["video"]]


def expand_urls(urls: str | list[str]) -> list[str]:
    """Brace-expand (``shard-{000000..000009}.tar``) a URL string or each string of a list."""
    import braceexpand

    items = [urls] if isinstance(urls, str) else list(urls)
    return [u for item in items for u in braceexpand.braceexpand(item)]


def _manifest_length(urls: list[str]) -> int | None:
    first = urls[0]
    if "://" in first or first.startswith("pipe:"):
        return None
    manifest = Path(first).parent / MANIFEST
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text(encoding="utf-8"))
    shards = set(data.get("shards", []))
    if {Path(u).name for u in urls} != shards:
        return None  # a subset of the shards: the manifest's count does not apply
    return int(data["num_records"])




