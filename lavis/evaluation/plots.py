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
