"""ActivityNet-1.3 TAL preparation: labelled windows per video and the class list from the taxonomy."""

from __future__ import annotations

import json

from lavis.datasets.prepare import prepare_dataset


def write(root, taxonomy):
    root.mkdir(parents=True, exist_ok=True)
    database = {
        "aaa": {
            "subset": "training",
            "duration": 120.5,
            "annotations": [
                {"segment": [3.2, 60.1], "label": "Long jump"},
                {"segment": [70.0, 121.0], "label": "Long jump"},
            ],
        },
        "bbb": {
            "subset": "validation",
            "duration": 30.0,
            "annotations": [{"segment": [0.0, 12.5], "label": "Knitting"}],
        },
        "ccc": {"subset": "testing", "duration": 50.0, "annotations": []},
    }
    (root / "activity_net.v1-3.min.json").write_text(json.dumps({"taxonomy": taxonomy, "database": database}))
    return root


TAXONOMY = [
    {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
    {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
    {"nodeId": 2, "nodeName": "Long jump", "parentId": 1, "parentName": "Sports"},
    {"nodeId": 3, "nodeName": "Crafts", "parentId": 0, "parentName": "Root"},
    {"nodeId": 4, "nodeName": "Knitting", "parentId": 3, "parentName": "Crafts"},
    {"nodeId": 5, "nodeName": "Shot put", "parentId": 1, "parentName": "Sports"},
]


def test_records_and_the_leaf_classes_of_the_taxonomy(tmp_path):
    result = prepare_dataset("anet_tal", write(tmp_path / "in", TAXONOMY), tmp_path / "out")
    assert (tmp_path / "out" / "classes.txt").read_text().splitlines() == [
        "Knitting",
        "Long jump",
        "Shot put",
    ]
    assert result.counts["classes.txt"] == 3
    train = json.loads((tmp_path / "out" / "train.json").read_text())
    assert train == [
        {
            "video": "v_aaa",
            "qid": "ActivityNetTAL_v_aaa",
            "query": "",
            "duration": 120,
            "relevant_windows": [[3, 60, "Long jump"], [70, 120, "Long jump"]],
        }
    ]


def test_without_a_taxonomy_the_annotated_labels_are_the_classes(tmp_path):
    result = prepare_dataset("anet_tal", write(tmp_path / "in", []), tmp_path / "out")
    assert (tmp_path / "out" / "classes.txt").read_text().splitlines() == ["Knitting", "Long jump"]
    assert any("no taxonomy" in note for note in result.notes)
