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
