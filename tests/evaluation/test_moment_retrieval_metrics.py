"""Hand-computed cases for the moment-retrieval and highlight metrics (no data files needed)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from lavis.common.errors import DataError
from lavis.evaluation.highlight import (
    evaluate_highlight,
    fit_length,
    highlight_average_precision,
    hit_at_one,
    precision_recall_curve,
)
from lavis.evaluation.moment_retrieval import (
    IOU_THRESHOLDS,
    best_gt_iou,
    detection_average_precision,
    evaluate_moment_retrieval,
    filter_by_length,
    interpolated_average_precision,
    temporal_iou_cross,
    temporal_iou_paired,
)
from lavis.evaluation.qvhighlights import eval_submission, format_table

KEYS = [str(t) for t in IOU_THRESHOLDS]


def _gt(qid, *windows):
    return {"qid": qid, "relevant_windows": [list(w) for w in windows]}


def _pred(qid, *windows):
    return {"qid": qid, "pred_relevant_windows": [list(w) for w in windows]}


def _all(value, keys=KEYS):
    return {k: value for k in keys}


# ---------------------------------------------------------------------------------------------- IoU


def test_iou_values() -> None:
    cross = temporal_iou_cross(np.array([[0, 10], [2, 4]]), np.array([[5, 15], [10, 20], [0, 10]]))
    np.testing.assert_allclose(cross, [[1 / 3, 0, 1], [0, 0, 0.2]])
    paired = temporal_iou_paired(np.array([[0, 10], [0, 10], [5, 5]]), np.array([[5, 15], [20, 30], [5, 5]]))
    np.testing.assert_allclose(paired, [1 / 3, 0, 0])  # disjoint -> 0; zero union -> 0, not NaN
    assert temporal_iou_cross(np.array([[5, 5]]), np.array([[5, 5]]))[0, 0] == 0
    assert temporal_iou_cross(np.array([[-1, -1]]), np.array([[0, 10]]))[0, 0] == 0


def test_best_gt_iou_uses_the_best_overlapping_gt() -> None:
    gt = np.array([[0, 10], [20, 30]], dtype=float)
    assert best_gt_iou(np.array([21, 30]), gt) == pytest.approx(0.9)
    assert best_gt_iou(None, gt) == 0.0


# ----------------------------------------------------------------------------------------------- R1


def test_r1_takes_first_listed_window_and_its_best_gt() -> None:
    """First window [21, 30] (low score) vs best GT [20, 30]: IoU 0.9. Ranking by score would pick the
    perfect [0, 10] (R1@0.95 = 100); matching only the first GT would give IoU 0."""
    gt = [_gt(1, (0, 10), (20, 30))]
    pred = [_pred(1, (21, 30, 0.1), (0, 10, 0.9))]
    r1 = evaluate_moment_retrieval(pred, gt)["full"]["MR-R1"]
    assert r1 == {**_all(100.0), "0.95": 0.0}


# ---------------------------------------------------------------------------------------------- mAP


def test_official_sorts_by_score_and_caps_at_10_while_mr_blip_keeps_generation_order() -> None:
    """q1 lists [hit (score .1), miss (.9)]: official ranks miss first -> AP 1/2; mr_blip -> AP 1.
    q2 lists 10 misses then the hit: official drops the hit -> AP 0; mr_blip finds it at rank 11 ->
    AP 1/11. Hence mAP = (50 + 0) / 2 = 25 vs (100 + 9.0909) / 2 = 54.55 at every threshold."""
    gt = [_gt(1, (0, 10)), _gt(2, (0, 10))]
    misses = [(50 + 5 * i, 52 + 5 * i, 1.0) for i in range(10)]
    pred = [_pred(1, (0, 10, 0.1), (100, 110, 0.9)), _pred(2, *misses, (0, 10, 0.5))]

    official = evaluate_moment_retrieval(pred, gt, protocol="official")["full"]["MR-mAP"]
    mr_blip = evaluate_moment_retrieval(pred, gt, protocol="mr_blip")["full"]["MR-mAP"]
    assert official == {**_all(25.0), "average": 25.0}
    assert mr_blip == {**_all(54.55), "average": 54.55}

    one = detection_average_precision(np.array([[100, 110], [0, 10]]), np.array([[0, 10]]))
    np.testing.assert_allclose(one, 0.5)


def test_score_ties_keep_listed_order() -> None:
    gt = [_gt(1, (0, 10))]
    pred = [_pred(1, (0, 10, 0.5), (40, 50, 0.5))]  # stable sort keeps the hit first -> AP 1
    assert evaluate_moment_retrieval(pred, gt)["full"]["MR-mAP"]["average"] == 100.0


def test_greedy_matching_locks_gt_windows() -> None:
    """p1 [0,10] takes GT0; p2 [1,10] (IoU .9 with GT0, 0 with GT1) finds GT0 locked -> FP; p3 takes
    GT1. precision (1, 1/2, 2/3), recall (1/2, 1/2, 1) -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6."""
    ap = detection_average_precision(np.array([[0, 10], [1, 10], [20, 30]]), np.array([[0, 10], [20, 30]]))
    np.testing.assert_allclose(ap, 5 / 6)


def test_greedy_matching_falls_back_to_next_gt_only_above_threshold() -> None:
    """Two copies of [0, 10] vs GT [0, 10] and [2, 12] (IoU 8/12 = .667): the copy takes the second GT
    at thresholds <= .65 (AP 1), otherwise it is an FP (precision 1, 1/2; recall 1/2 -> AP 1/2)."""
    gt = [_gt(1, (0, 10), (2, 12))]
    pred = [_pred(1, (0, 10, 0.9), (0, 10, 0.8))]
    mean_ap = evaluate_moment_retrieval(pred, gt)["full"]["MR-mAP"]
    expected = {k: (100.0 if float(k) <= 0.65 else 50.0) for k in KEYS}
    assert mean_ap == {**expected, "average": 70.0}


def test_voc_interpolation_matches_brute_force() -> None:
    """VOC all-point AP equals (1/G) * sum over TPs of the best precision at or after that TP."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        num_gts = int(rng.integers(1, 6))
        tp = (rng.random(int(rng.integers(1, 12))) < 0.5).astype(float)
        tp[np.cumsum(tp) > num_gts] = 0  # cannot have more TPs than GT windows
        cum_tp = np.cumsum(tp)
        precision = cum_tp / np.arange(1, len(tp) + 1)
        brute = sum(precision[i:].max() for i in np.flatnonzero(tp)) / num_gts
        assert interpolated_average_precision(precision, cum_tp / num_gts) == pytest.approx(brute)


# ------------------------------------------------------------------------------------------ buckets


def test_length_buckets_filter_gt_windows_and_queries() -> None:
    gt = [_gt(1, (0, 5), (20, 60)), _gt(2, (0, 20)), _gt(3, (0, 10))]
    pred = [_pred(1, (20, 60, 0.9), (0, 5, 0.5)), _pred(2, (0, 20, 1.0)), _pred(3, (0, 10, 1.0))]
    result = evaluate_moment_retrieval(pred, gt)
    assert list(result) == ["full", "short", "middle", "long"]
    assert result["full"]["MR-R1"] == _all(100.0) and result["full"]["MR-mAP"]["average"] == 100.0
    # short (0, 10]: q1 keeps [0, 5] (its first window [20, 60] misses it; AP 1/2), q3 keeps [0, 10].
    assert result["short"]["MR-R1"] == _all(50.0)
    assert result["short"]["MR-mAP"] == {**_all(75.0), "average": 75.0}
    # middle (10, 30]: only q2 (a length of exactly 10 is short, not middle).
    assert result["middle"]["MR-R1"] == _all(100.0)
    # long (30, 150]: q1 with [20, 60] only; its second window is now an FP after the TP -> AP 1.
    assert result["long"]["MR-mAP"]["average"] == 100.0

    kept = filter_by_length({1: np.array([[0.0, 5.0], [20.0, 60.0]]), 2: np.array([[0.0, 20.0]])}, 30, 150)
    assert list(kept) == [1] and kept[1].tolist() == [[20.0, 60.0]]


def test_empty_bucket_reports_none() -> None:
    result = evaluate_moment_retrieval([_pred(1, (0, 5, 1.0))], [_gt(1, (0, 5))])
    assert result["long"]["MR-mAP"]["average"] is None and result["long"]["MR-R1"]["0.5"] is None
    assert "n/a" in format_table(eval_submission([_pred(1, (0, 5, 1.0))], [_gt(1, (0, 5))]))


# ------------------------------------------------------------------------------------------ mr_blip


def test_mr_blip_extra_metrics() -> None:
    """q1: [0, 4] vs [0, 10] -> IoU .4 (hit only at .3); q2 perfect. mIoU 70, R1@.5+ 50, R1@.3 100."""
    gt = [_gt(1, (0, 10)), _gt(2, (0, 10))]
    pred = [_pred(1, (0, 4)), _pred(2, (0, 10))]
    full = evaluate_moment_retrieval(pred, gt, protocol="mr_blip")["full"]
    assert full["MR-R1"] == {"0.3": 100.0, **_all(50.0)}
    assert full["MR-mIoU"] == 70.0 and full["MR-R1-avg"] == 50.0 and full["MR-invalid"] == 0.0
    custom = evaluate_moment_retrieval(pred, gt, protocol="mr_blip", r1_thresholds=(0.3, 0.7))
    assert custom["full"]["MR-R1"] == {"0.3": 100.0, "0.7": 50.0} and custom["full"]["MR-R1-avg"] == 50.0


def test_empty_predictions_error_in_official_and_count_invalid_in_mr_blip() -> None:
    gt = [_gt(1, (0, 10)), _gt("q2", (0, 10)), _gt(3, (0, 10)), _gt(4, (0, 10))]
    pred = [_pred(1, (0, 10, 1.0)), _pred("q2"), _pred(3, (-1, -1, 0.0)), _pred(4, (0, 10, 1.0))]
    with pytest.raises(DataError, match=r"1 prediction\(s\) have an empty .*'q2'"):
        evaluate_moment_retrieval(pred, gt, protocol="official")
    full = evaluate_moment_retrieval(pred, gt, protocol="mr_blip")["full"]
    assert full["MR-invalid"] == 50.0  # the empty answer and the parser's [-1, -1]
    assert full["MR-mIoU"] == 50.0 and full["MR-R1"]["0.5"] == 50.0
    assert full["MR-mAP"]["average"] == 50.0  # both count as AP 0 instead of being dropped


# ------------------------------------------------------------------------------------------- errors


def test_qid_mismatch_is_reported_with_counts_and_examples() -> None:
    gt = [_gt(q, (0, 10)) for q in range(1, 4)]
    pred = [_pred(q, (0, 10, 1.0)) for q in (1, "2", 7)]
    with pytest.raises(DataError) as err:
        evaluate_moment_retrieval(pred, gt)
    message = str(err.value)
    assert "2 of 3 GT qid(s) have no prediction (e.g. 2, 3)" in message
    assert "2 predicted qid(s) are not in the ground truth (e.g. '2', 7)" in message
    assert "differ only in type" in message


def test_duplicate_qids_are_rejected() -> None:
    with pytest.raises(DataError, match="duplicate qid"):
        evaluate_moment_retrieval([_pred(1, (0, 1, 1)), _pred(1, (0, 1, 1))], [_gt(1, (0, 1))])


@pytest.mark.parametrize(
    ("pred", "gt", "pattern"),
    [
        (_pred(5, (0, 10)), _gt(5, (0, 10)), r"qid 5: pred_relevant_windows\[0\] .*\[start, end, score\]"),
        (_pred(5, (0, "x", 1)), _gt(5, (0, 10)), r"qid 5: pred_relevant_windows\[0\]"),
        ({"qid": 5}, _gt(5, (0, 10)), r"qid 5: missing field 'pred_relevant_windows'"),
        (_pred(5, (0, 10, 1)), _gt(5, (0,)), r"qid 5: relevant_windows\[0\] .*\[start, end\]"),
        (_pred(5, (0, 10, 1)), _gt(5, (10, 0)), r"ends before it starts"),
        (_pred(5, (0, 10, 1)), _gt(5), r"qid 5: 'relevant_windows' is empty"),
    ],
)
def test_malformed_windows_name_the_qid(pred, gt, pattern) -> None:
    with pytest.raises(DataError, match=pattern):
        evaluate_moment_retrieval([pred], [gt])


def test_gt_window_label_is_ignored_and_score_optional_in_mr_blip() -> None:
    result = evaluate_moment_retrieval([_pred(1, (0, 10))], [_gt(1, (0, 10, "label"))], protocol="mr_blip")
    assert result["full"]["MR-mAP"]["average"] == 100.0


def test_no_torch_import_in_lavis_evaluation() -> None:
    root = Path(__file__).resolve().parents[2] / "lavis" / "evaluation"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] in {"torch", "sklearn"} for n in names), path


# -------------------------------------------------------------------------------------- highlights


def test_hl_ap_official_quirk_hand_computed() -> None:
    """Labels (0, 1, 1) ranked by score: P = (0, 1/2, 2/3), R = (0, 1/2, 1). The running max runs
    towards lower recall, so both recall changes see 2/3: AP = 2/3 (textbook AP would be 7/12)."""
    assert highlight_average_precision(np.array([0, 1, 1]), np.array([0.9, 0.8, 0.7])) == pytest.approx(2 / 3)
    assert highlight_average_precision(
        np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.1])
    ) == pytest.approx(5 / 6)
    assert highlight_average_precision(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert highlight_average_precision(np.zeros(3), np.arange(3)) == 0.0
    assert highlight_average_precision(np.ones(3), np.arange(3)) == 1.0


def test_precision_recall_curve_shape() -> None:
    precision, recall = precision_recall_curve(np.array([0, 1, 1, 0]), np.array([0.1, 0.4, 0.35, 0.8]))
    np.testing.assert_allclose(precision, [0.5, 2 / 3, 0.5, 0.0, 1.0])
    np.testing.assert_allclose(recall, [1.0, 1.0, 0.5, 0.0, 0.0])


def _brute_force_hl_ap(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The same definition spelled out point by point: one curve point per distinct score."""
    if len(set(y_true.tolist())) == 1:
        return float(y_true[0] != 0)
    points = []  # from the lowest threshold (recall 1) up to the highest
    for threshold in sorted(set(y_score.tolist())):
        selected = y_score >= threshold
        points.append((y_true[selected].sum() / selected.sum(), y_true[selected].sum() / y_true.sum()))
    points.append((1.0, 0.0))
    chosen = []
    for i in range(len(points) - 1):
        if np.float32(points[i][1]) != np.float32(points[i + 1][1]):
            chosen.append(max(p for p, _ in points[: i + 1]))
    return float(np.mean(chosen))


def test_hl_ap_matches_brute_force_on_random_inputs() -> None:
    rng = np.random.default_rng(1234)
    for trial in range(400):
        n = int(rng.integers(1, 30))
        y_true = (rng.random(n) < rng.random()).astype(float)
        y_score = rng.integers(0, 5, n).astype(float) if trial % 2 else rng.normal(size=n)  # ties and none
        assert highlight_average_precision(y_true, y_score) == pytest.approx(
            _brute_force_hl_ap(y_true, y_score)
        )


def test_fit_length_and_hit_at_one() -> None:
    assert fit_length([1, 2, 3], 2).tolist() == [1, 2]
    assert fit_length([1, 2], 4).tolist() == [1, 2, 0, 0]
    labels = np.array([[0, 0, 0], [0, 1, 0]], dtype=float)
    assert hit_at_one([0.1, 0.9], labels) == 1.0
    assert hit_at_one([0.9, 0.9], labels) == 0.0  # ties -> the first clip
    assert hit_at_one([0, 0, 5], labels) == 0.0  # beyond the video -> miss


def test_evaluate_highlight_hand_computed() -> None:
    """q1: 4 clips, clip 1 = (4, 2, 0), clip 2 = (1, 3, 4); predicted scores padded to (.1, .9, .5, 0).
    q2: 2 clips, clip 0 = (4, 4, 4); scores truncated to (0, 0) -> AP 1/2 per annotator, and the top
    clip (index 2) is outside the video -> no hit.
    Per-annotator APs of q1: Fair (1, 1, 1/2), Good (1, 1/2, 1/2), VeryGood (1, 0, 1/2)."""
    gt = [
        {"qid": 1, "duration": 8, "relevant_clip_ids": [1, 2], "saliency_scores": [[4, 2, 0], [1, 3, 4]]},
        {"qid": 2, "duration": 4.5, "relevant_clip_ids": [0], "saliency_scores": [[4, 4, 4]]},
    ]
    pred = [
        {"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.5]},
        {"qid": 2, "pred_saliency_scores": [0, 0, 5]},
    ]
    assert evaluate_highlight(pred, gt) == {
        "HL-min-Fair": {"HL-mAP": 66.67, "HL-Hit1": 50.0},
        "HL-min-Good": {"HL-mAP": 58.33, "HL-Hit1": 50.0},
        "HL-min-VeryGood": {"HL-mAP": 50.0, "HL-Hit1": 50.0},
    }


def test_highlight_input_errors() -> None:
    gt = [{"qid": 1, "duration": 4, "relevant_clip_ids": [5], "saliency_scores": [[4, 4, 4]]}]
    with pytest.raises(DataError, match=r"qid 1: relevant clip id 5 is not in \[0, 2\)"):
        evaluate_highlight([{"qid": 1, "pred_saliency_scores": [1, 2]}], gt)
    gt[0]["relevant_clip_ids"] = [0]
    with pytest.raises(DataError, match="qid 1: 'pred_saliency_scores'"):
        evaluate_highlight([{"qid": 1, "pred_saliency_scores": []}], gt)


def test_eval_submission_structure_and_hl_skipped_without_labels() -> None:
    pred = [{"qid": 1, "pred_relevant_windows": [[0, 10, 1.0]], "pred_saliency_scores": [1.0, 0.0]}]
    metrics = eval_submission(pred, [_gt(1, (0, 10))])  # GT without saliency labels: MR only
    assert list(metrics) == ["brief", "full", "long", "middle", "short"]
    assert list(metrics["brief"]) == sorted(metrics["brief"])
    with pytest.raises(DataError, match="empty"):
        eval_submission([], [_gt(1, (0, 10))])
