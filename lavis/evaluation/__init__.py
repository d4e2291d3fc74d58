"""Evaluation metrics that run without a model: moment retrieval, highlight detection, QVHighlights,
multiple-choice QA, NExT-GQA grounding, open-ended QA / classification, captioning.

Kept free of torch so that a prediction file can be scored on any machine, by the CLI or by a test.
"""
