"""BLIP's text processors (``blip_caption`` / ``blip_question``) as one rule, applied to training text.

Lowercase; the characters ``. ! " ( ) * # : ; ~`` become spaces; whitespace runs collapse; ends are
stripped; at most ``max_words`` words (50). MA-LMM passes questions, labels and captions through it before
they reach the model; the evaluation (:mod:`lavis.evaluation.open_qa`) normalises predictions and answers
by the same rule.
"""

from __future__ import annotations

import re

TEXT_RULES = ("blip",)
_PUNCTUATION = re.compile(r"[.!\"()*#:;~]")
_SPACES = re.compile(r"\s{2,}")


def blip_text(text: str, max_words: int = 50) -> str:
    text = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text.lower())).strip()
    return " ".join(text.split(" ")[:max_words])


def apply_text_rule(text: str, rule: str | None) -> str:
    """``rule`` None keeps the text as written; ``"blip"``: :func:`blip_text`."""
    if rule is None:
        return text
    if rule not in TEXT_RULES:
        raise ValueError(f"unknown text rule {rule!r}; choose one of {TEXT_RULES} or none")
    return blip_text(text)
