"""CALCE's event-aware frame selection: DPC-KNN clustering of frames, key-frame masks, vote filtering.

CALCE keeps full detail (32 tokens) only at frames where the video changes and compresses the rest. "Where
the video changes" is read off a clustering of the frames: consecutive frames in different clusters mark an
event boundary. The clustering is density-peak clustering with k-nearest-neighbour density (DPC-KNN, as in
TCFormer), which needs no iterations and gives exactly ``num_clusters`` clusters. Stage 2 first narrows the
video to the clusters that the stage-1 windows vote for. The reference for every rule is CALCE §1.6 / §1.8.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch


def dpc_knn(
    features: torch.Tensor,
    num_clusters: int,
    k: int = 5,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cluster ids (T,) of the frames ``features`` (T, C); ids are 0..num_clusters-1 in centre-score order.

    Density is exp(-mean squared distance to the k nearest frames, self included) plus U(0, 1e-6) to break
    ties; a frame's separation is its distance to the nearest denser frame (the densest gets the largest
    distance); centres are the ``num_clusters`` largest density x separation; each frame joins its nearest
    centre. ``mask`` (T,) bool excludes frames: their distances become max+1 and their density 0, so they
    are never centres (their ids are still filled in; callers override them).
    """
    frames, channels = features.shape
    if not 0 < num_clusters <= frames:
        raise ValueError(f"num_clusters must be in 1..{frames} (the number of frames), got {num_clusters}")
    features = features.float()
    dist = torch.cdist(features[None], features[None])[0] / channels**0.5
    if mask is not None:
        mask = mask.bool()
        dist = torch.where(mask[None, :], dist, dist.max() + 1)
    nearest = dist.topk(min(k, frames), dim=-1, largest=False).values
    density = torch.exp(-(nearest**2).mean(dim=-1))
    density = density + torch.rand(frames, generator=generator) * 1e-6
    if mask is not None:
        density = density * mask
    denser = density[None, :] > density[:, None]  # [i, j]: j is denser than i
    separation = torch.where(denser, dist, dist.max()).min(dim=-1).values
    centres = (separation * density).topk(num_clusters).indices
    ids = dist[centres].argmin(dim=0)
    ids[centres] = torch.arange(num_clusters)
    return ids


def dilate(mask: torch.Tensor, bias: int) -> torch.Tensor:
    """Widen every marked frame by ``bias`` frames on each side."""
    if bias <= 0:
        return mask.bool().clone()
    kernel = torch.ones(1, 1, 2 * bias + 1)
    return torch.nn.functional.conv1d(mask.float()[None, None], kernel, padding=bias)[0, 0] > 0


def boundary_mask(cluster_ids: torch.Tensor) -> torch.Tensor:
    """Both frames of every adjacent pair in different clusters, plus the first and last frame."""
    change = cluster_ids[1:] != cluster_ids[:-1]
    mask = torch.zeros_like(cluster_ids, dtype=torch.bool)
    mask[1:] |= change
    mask[:-1] |= change
    mask[0] = mask[-1] = True
    return mask


def key_frame_mask(cluster_ids: torch.Tensor, bias: int) -> torch.Tensor:
    """Stage-1 key frames: event boundaries and the two ends, dilated by ``bias`` frames."""
    return dilate(boundary_mask(cluster_ids), bias)


def window_frame_mask(timestamps: Sequence[float], windows: Sequence[Sequence[float]]) -> torch.Tensor:
    """Frames inside the stage-1 windows: from the first frame with round(t) >= s up to, excluding, the last
    frame with round(t) <= e (the reference's end-exclusive range)."""
    rounded = [round(float(t)) for t in timestamps]
    mask = torch.zeros(len(rounded), dtype=torch.bool)
    for start, end in windows:
        first = next((i for i, t in enumerate(rounded) if t >= start), None)
        last = next((i for i in range(len(rounded) - 1, -1, -1) if rounded[i] <= end), None)
        if first is not None and last is not None and first < last:
            mask[first:last] = True
    return mask


def vote_filter(
    cluster_ids: torch.Tensor,
    timestamps: Sequence[float],
    windows: Sequence[Sequence[float]],
    top_clusters: int = 8,
    bias: int = 1,
) -> torch.Tensor:
    """Stage-2 frame filter: frames of the clusters most voted for by the in-window frames, anywhere in the
    video, or inside a window; dilated by ``bias`` frames. Equal vote counts keep the cluster voted first."""
    in_window = window_frame_mask(timestamps, windows)
    votes = Counter(cluster_ids[in_window].tolist())
    kept = [cluster for cluster, _ in votes.most_common(top_clusters)]
    in_kept = torch.isin(cluster_ids, torch.tensor(kept, dtype=cluster_ids.dtype))
    return dilate(in_kept | in_window, bias)


TALK_WORDS: tuple[str, ...] = ("talk", "speak", "say", "describe", "explain", "chat", "shout", "scream")


def speech_frame_mask(spans: Sequence[Sequence[float]], num_frames: int, duration: float) -> torch.Tensor:
    """Frames covered by speech spans: int(s*T/d) .. min(int(e*T/d), T-1), inclusive."""
    mask = torch.zeros(num_frames, dtype=torch.bool)
    for start, end in spans:
        first = int(start * num_frames / duration)
        last = min(int(end * num_frames / duration), num_frames - 1)
        if first <= last:
            mask[first : last + 1] = True
    return mask


def talk_override(
    mask: torch.Tensor, prompt: str, spans: Sequence[Sequence[float]], duration: float
) -> torch.Tensor:
    """When the query is about speech (a plain substring of TALK_WORDS in the prompt) and there is speech,
    the key frames are the speech frames instead: what is said, not what changes on screen, marks the event."""
    if not spans or not any(word in prompt for word in TALK_WORDS):
        return mask
    return speech_frame_mask(spans, len(mask), duration)


def _longest_run(mask: torch.Tensor) -> tuple[int, int]:
    """(start, length) of the longest run of True; the first one on ties; (0, 0) when there is none."""
    best, start = (0, 0), None
    for i, on in enumerate([*mask.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            if i - start > best[1]:
                best = (start, i - start)
            start = None
    return best


def _thin_longest_run(mask: torch.Tensor) -> None:
    start, length = _longest_run(mask)
    mask[start + 1 : start + length : 2] = False  # keep the 1st, 3rd, 5th ... frame of the run


def compress_mask(
    key: torch.Tensor, nonkey: torch.Tensor, target: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage-2 frame budget: at most ``target`` frames in key | nonkey.

    Alternately halves the longest run of non-key frames and then of key frames (up to 1000 rounds); if that
    is not enough, repeatedly drops a random non-key frame with p=0.7 and a random key frame with p=0.3.
    Stochastic by design (the reference seeds it; pass ``generator`` to make it reproducible).
    """
    key, nonkey = key.clone().bool(), nonkey.clone().bool()

    def count() -> int:
        return int((key | nonkey).sum())

    for _ in range(1000):
        if count() <= target:
            break
        _thin_longest_run(nonkey)
        if count() <= target:
            break
        _thin_longest_run(key)
    while count() > target:
        for mask, keep_prob in ((nonkey, 0.3), (key, 0.7)):
            on = mask.nonzero().flatten()
            if len(on) and count() > target:
                pick = on[torch.randint(len(on), (1,), generator=generator)]
                if torch.rand(1, generator=generator).item() >= keep_prob:
                    mask[pick] = False
    return key, nonkey
