"""QVHighlights submission scoring: the official output structure, a text table and a CLI.

``eval_submission`` returns exactly what moment_detr's ``standalone_eval`` writes (same keys, same
order, same values), so numbers from this framework can be put next to published ones; the
``"mr_blip"`` protocol keeps that structure and adds Mr. BLIP's extra metrics. Usage::

    python -m lavis.evaluation.qvhighlights --submission PRED.jsonl --gt GT.jsonl [--out METRICS.json]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.common.io import read_json, read_jsonl
from lavis.evaluation import reporting
from lavis.evaluation.highlight import evaluate_highlight, has_highlight_labels
from lavis.evaluation.moment_retrieval import (
    ProtocolName,
    check_matching_qids,
    evaluate_moment_retrieval,
    index_by_qid,
    summarize,
)


def _highlight_brief(hl: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``HL-min-Fair-mAP``, ``HL-min-Fair-Hit1``, ... in the official order (levels, then mAP/Hit1)."""
    return {
        f"{level}-{key.split('-')[1]}": value for level, values in hl.items() for key, value in values.items()
    }


def eval_submission(
    submission: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    protocol: ProtocolName = "official",
) -> dict[str, Any]:
    """Score moment retrieval and (if predicted and labelled) highlight detection.

    As in the official tool, what is scored is decided by the first prediction record: MR if it has
    ``pred_relevant_windows``, HL if it has ``pred_saliency_scores`` (and the GT has saliency labels).
    Returns ``{"brief": {...}, <sections sorted by name>}``.
    """
    if not isinstance(submission, Sequence) or not submission:
        raise DataError("the submission is empty: expected one prediction record per query")
    first = submission[0]
    if not isinstance(first, Mapping):
        raise DataError(f"submission record #0 is not an object: {str(first)[:120]}")
    check_matching_qids(index_by_qid(submission, "predictions"), index_by_qid(ground_truth, "ground truth"))
    sections: dict[str, Any] = {}
    brief: dict[str, Any] = {}
    if "pred_relevant_windows" in first:
        mr = evaluate_moment_retrieval(submission, ground_truth, protocol=protocol)
        sections.update(mr)
        brief.update(summarize(mr, protocol))
    gt_is_labelled = any(isinstance(r, Mapping) and has_highlight_labels(r) for r in ground_truth)
    if "pred_saliency_scores" in first and gt_is_labelled:
        hl = evaluate_highlight(submission, ground_truth)
        sections.update(hl)
        brief.update(_highlight_brief(hl))
    if not sections:
        raise DataError(
            "nothing to evaluate: the first prediction has no 'pred_relevant_windows' and no "
            "'pred_saliency_scores' (or the ground truth has no saliency labels)"
        )
    return {"brief": brief, **dict(sorted(sections.items()))}


def format_table(metrics: Mapping[str, Any]) -> str:
    """The brief metrics as an aligned two-column table (``n/a`` for an empty length bucket)."""
    return reporting.format_table(metrics.get("brief", {}).items())


def _read_records(path: str) -> list[Any]:
    """JSON lines (the QVHighlights format) or, for ``.json``, a JSON list (the Mr. BLIP format)."""
    if Path(path).suffix == ".json":
        records = read_json(path)
        if not isinstance(records, list):
            raise DataError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
        return records
    return read_jsonl(path)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lavis.evaluation.qvhighlights",
        description="Score a QVHighlights-format submission (moment retrieval and highlight detection).",
    )
    parser.add_argument("--submission", required=True, help="predictions, .jsonl (or a .json list)")
    parser.add_argument("--gt", required=True, help="ground truth, e.g. highlight_val_release.jsonl")
    parser.add_argument("--out", help="write the metrics JSON here (atomically)")
    parser.add_argument(
        "--protocol",
        choices=("official", "mr_blip"),
        default="official",
        help="official: moment_detr standalone_eval rules; mr_blip: generation order, no cap, extra metrics",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    return reporting.run_metrics_cli(
        lambda: eval_submission(
            _read_records(args.submission), _read_records(args.gt), protocol=args.protocol
        ),
        format_table,
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
