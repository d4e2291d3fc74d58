"""BLIP's text processors, applied to the text a dataset hands the model (MA-LMM: ``text_rule: blip``).

* captions, labels and answers (``blip_caption``): lowercase; the characters ``. ! " ( ) * # : ; ~``
  become spaces; whitespace runs collapse; ends are stripped; at most 50 words. The evaluation
  (:mod:`lavis.evaluation.open_qa`) normalises predictions and answers by this rule;
* questions (``blip_question``): lowercase; the same characters are deleted (not replaced); trailing
  spaces are stripped; at most 50 words.
"""

from __future__ import annotations

import re

TEXT_RULES = ("blip",)
_PUNCTUATION = re.compile(r"[.!\"()*#:;~]")
_SPACES = re.compile(r"\s{2,}")


def blip_caption(text: str, max_words: int = 50) -> str:
    text = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text.lower())).strip()
    return " ".join(text.split(" ")[:max_words])


def blip_question(text: str, max_words: int = 50) -> str:
    text = _PUNCTUATION.sub("", text.lower()).rstrip(" ")
    return " ".join(text.split(" ")[:max_words])


def apply_text_rule(text: str, rule: str | None, kind: str = "caption") -> str:
    """``rule`` None keeps the text as written; ``"blip"``: :func:`blip_question` for ``kind="question"``,
    else :func:`blip_caption`."""
    if rule is None:
        return text
    if rule not in TEXT_RULES:
        raise ValueError(f"unknown text rule {rule!r}; choose one of {TEXT_RULES} or none")
    return blip_question(text) if kind == "question" else blip_caption(text)
