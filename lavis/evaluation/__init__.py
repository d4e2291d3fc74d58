"""Evaluation metrics that run without a model: moment retrieval, highlight detection, QVHighlights.

Kept free of torch so that a prediction file can be scored on any machine, by the CLI or by a test.
"""
