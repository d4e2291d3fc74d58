import pytest

from lavis.common.errors import DataError
from lavis.datasets.prepare.calce_merge import merge_stage1


def test_merge_sorts_and_rounds():
    anns = [{"qid": "q1", "relevant_windows": [[1, 2]]}]
    out = merge_stage1(anns, {"q1": [[30.4, 40.6], [2.0, 8.0]]})
    assert out[0]["stage1_result"] == [[2, 8], [30, 41]]
    assert "stage1_result" not in anns[0]


def test_missing_prediction_is_located():
    with pytest.raises(DataError, match="preds.json: no stage-1 prediction for qid 'q2'"):
        merge_stage1([{"qid": "q2"}], {}, source="preds.json")
