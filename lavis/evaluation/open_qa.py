"""Open-ended video QA and generative classification: top-1 / top-5 exact match over returned beams.

MA-LMM generates 5 beams per question (open QA: MSRVTT-QA, MSVD-QA, ActivityNet-QA; classification:
LVU, Breakfast, COIN) and compares each with the label by exact string match: **top-1** is a hit when
the first beam matches, **top-5** when any of the first five does; ``agg_metrics`` = top-1 (percent).

Both sides are normalised the same way, by the rule of the datasets' text processor (BLIP's
``blip_caption``): lowercase; the characters ``. ! " ( ) * # : ; ~`` become spaces; whitespace runs
collapse; ends are stripped; at most 50 words. So "Yes." equals "yes", while commas, hyphens, question
marks and apostrophes are kept (the processor keeps them). ``normalize=False`` compares raw strings,
as MA-LMM's own scorer does on already-processed labels.

For MSRVTT-QA and MSVD-QA, MA-LMM keeps only the first word of each beam (answers there are single words
and the LLM may go on): ``first_word=True``. The first word is taken after normalisation, so "dog." and
"(dog) running" both give "dog".

A question without a prediction, or a prediction for an unknown question, is an error; so is an empty
beam list. Answers may be one string or a list of acceptable strings (a hit is a match with any).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lavis.common.errors import DataError
from lavis.evaluation.moment_retrieval import check_matching_qids, round2

TOP_K = 5
MAX_WORDS = 50
_PUNCTUATION = re.compile(r"[.!\"()*#:;~]")
_SPACES = re.compile(r"\s{2,}")


def normalize_text(text: str, max_words: int = MAX_WORDS) -> str:
    """BLIP's ``blip_caption`` rule (see the module docstring); identical for predictions and answers."""
    text = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text.lower())).strip()
    words = text.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else text


def first_word(text: str) -> str:
    words = text.split()
    return words[0] if words else ""


def _strings(value: Any, where: str, what: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, str) for v in values):
        raise DataError(f"{where}: expected {what} (a string or a non-empty list of strings), got {value!r}")
    return list(values)


def _by_qid(obj: Any, value_key: str, source: str) -> dict[Any, Any]:
    """A mapping as it is, or ``[{"qid", value_key}, ...]`` records (duplicates are an error)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if not isinstance(obj, list):
        raise DataError(f"{source}: expected an object keyed by qid or a list of records")
    out: dict[Any, Any] = {}
    for i, record in enumerate(obj):
        if not isinstance(record, Mapping) or "qid" not in record or value_key not in record:
            raise DataError(
                f"{source}: record #{i} is not an object with 'qid' and {value_key!r}: {str(record)[:120]}"
            )
        if record["qid"] in out:
            raise DataError(f"{source}: qid {record['qid']!r} appears twice")
        out[record["qid"]] = record[value_key]
    return out


def evaluate_open_qa(
    predictions: Any,
    answers: Any,
    first_word_only: bool = False,
    normalize: bool = True,
    sources: tuple[str, str] = ("predictions", "answers"),
) -> dict[str, Any]:
    """Top-1 / top-5 exact-match accuracy (percent, two decimals).

    ``predictions``: ``{qid: beams}`` or ``[{"qid", "prediction": beams}]``, where beams is one string or
    the list of returned sequences, best first (only the first :data:`TOP_K` count). ``answers``:
    ``{qid: answer}`` or ``[{"qid", "answer"}]``, where answer is a string or a list of accepted strings.
    """
    preds = _by_qid(predictions, "prediction", sources[0])
    gts = _by_qid(answers, "answer", sources[1])
    try:
        check_matching_qids(preds, gts, noun="question")
    except DataError as err:
        raise DataError(f"{sources[0]} vs {sources[1]}: {err}") from None
    if not gts:
        raise DataError(f"{sources[1]}: no questions to score")

    def clean(text: str) -> str:
        return normalize_text(text) if normalize else text

    top1 = top5 = 0
    for qid, answer in gts.items():
        accepted = {clean(a) for a in _strings(answer, f"{sources[1]}: qid {qid!r}", "the answer")}
        if "" in accepted:
            raise DataError(f"{sources[1]}: qid {qid!r} has an empty answer {answer!r}")
        beams = [clean(b) for b in _strings(preds[qid], f"{sources[0]}: qid {qid!r}", "beams")[:TOP_K]]
        if first_word_only:
            beams = [first_word(b) for b in beams]
        hits = [b in accepted for b in beams]
        top1 += hits[0]
        top5 += any(hits)
    n = len(gts)
    metrics = {"top1": round2(top1 * 100.0 / n), "top5": round2(top5 * 100.0 / n)}
    return {**metrics, "agg_metrics": metrics["top1"], "num_questions": n}
