"""Pictures of predictions: predicted vs ground-truth windows on a time axis, one row per query."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from lavis.common.io import atomic_open


def plot_windows(records: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "") -> None:
    """Draw ground truth (green, upper half) and predictions (blue, lower half; invalid ones in red).

    ``records``: dicts with ``qid``, ``query``, ``duration``, ``gt_windows`` and ``pred_windows`` (seconds).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(records))
    fig, ax = plt.subplots(figsize=(9, 0.7 * n + 1.2))
    for row, rec in enumerate(records):
        y = n - 1 - row
        duration = float(rec["duration"])
        ax.barh(y, duration, left=0, height=0.9, color="#eeeeee", edgecolor="#999999")
        for s, e, *_ in rec["gt_windows"]:
            ax.barh(y + 0.2, e - s, left=s, height=0.4, color="#2ca02c")
        for rank, (s, e, *_) in enumerate(rec["pred_windows"]):
            if s < 0 or e < 0:
                ax.text(0.5, y - 0.2, "invalid output", color="#d62728", va="center", fontsize=8)
                continue
            ax.barh(y - 0.2, e - s, left=s, height=0.4, color="#1f77b4", alpha=1.0 if rank == 0 else 0.45)
        label = str(rec.get("query", ""))
        ax.text(duration * 1.01, y, (label[:48] + "…") if len(label) > 49 else label, va="center", fontsize=8)
    ax.set_yticks(range(n))
    ax.set_yticklabels([str(r.get("qid", "")) for r in reversed(records)], fontsize=7)
    ax.set_xlabel("seconds   (green: ground truth, blue: prediction, faded: lower-ranked windows)")
    if title:
        ax.set_title(title, fontsize=10)
    right = max((float(r["duration"]) for r in records), default=1.0)
    ax.set_xlim(0, right * 1.45)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def plot_timeline(
    thumbnails: Sequence[tuple[float, Any]],
    duration: float,
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike | None = None,
    title: str = "",
) -> Any:
    """Predicted windows of several queries on one video, under a strip of its frames.

    ``thumbnails``: ``(time in seconds, HxWx3 uint8 array)`` pairs, drawn side by side over the time axis;
    ``rows``: dicts with ``query`` and ``windows`` (``[start, end, score]`` in seconds, best first).
    Writes a PNG to ``path`` when given; returns the picture as an HxWx3 uint8 array.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    duration = max(float(duration), 1e-3)
    n = max(1, len(rows))
    # layout in inches: the frame strip keeps the frames' aspect ratio; one 0.5-inch row per query
    plot_w, margin_l, margin_r = 7.0, 0.3, 2.7
    count = max(1, len(thumbnails))
    aspect = thumbnails[0][1].shape[0] / max(thumbnails[0][1].shape[1], 1) if thumbnails else 0.5625
    strip_h = min(plot_w / count * aspect, 2.0)
    rows_h, axis_h, top = 0.5 * n, 0.55, 0.35 if title else 0.1
    fig_w, fig_h = margin_l + plot_w + margin_r, top + strip_h + 0.08 + rows_h + axis_h
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax_img = fig.add_axes((margin_l / fig_w, (axis_h + rows_h + 0.08) / fig_h, plot_w / fig_w, strip_h / fig_h))
    ax = fig.add_axes((margin_l / fig_w, axis_h / fig_h, plot_w / fig_w, rows_h / fig_h))
    width = duration / count
    for k, (_, image) in enumerate(thumbnails):
        ax_img.imshow(image, extent=(k * width, (k + 1) * width, 0, 1), aspect="auto", zorder=0)
    if len(rows) == 1 and rows[0]["windows"]:  # one query: mark its best window on the frames too
        s, e = rows[0]["windows"][0][:2]
        ax_img.axvspan(s, e, facecolor="#1f77b4", alpha=0.3, zorder=2)
        for x in (s, e):
            ax_img.axvline(x, color="#1f77b4", linewidth=2, zorder=3)
    ax_img.set_xlim(0, duration)
    ax_img.set_ylim(0, 1)
    ax_img.axis("off")
    for row, rec in enumerate(rows):
        y = n - 1 - row
        ax.barh(y, duration, left=0, height=0.8, color="#eeeeee", edgecolor="#999999")
        for rank, (s, e, *_) in enumerate(rec["windows"]):
            ax.barh(y, e - s, left=s, height=0.8, color="#1f77b4", alpha=1.0 if rank == 0 else 0.4)
            if rank == 0:
                ax.text(s, y, f" {s:.1f}-{e:.1f}s", va="center", fontsize=8, color="white", clip_on=True)
        if not rec["windows"]:
            ax.text(duration / 2, y, "no readable window", va="center", ha="center", fontsize=8, color="#d62728")
        label = str(rec.get("query", ""))
        ax.text(duration * 1.02, y, (label[:40] + "…") if len(label) > 41 else label, va="center", fontsize=9)
    ax.set_xlim(0, duration)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_yticks([])
    for spine in ("top", "right", "left"):
        ax.spines[spine].set_visible(False)
    ax.set_xlabel("seconds   (blue: predicted windows; faded: lower-ranked)", fontsize=8)
    if title:
        ax_img.set_title(title, fontsize=10, loc="left")
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    if path is not None:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return picture
