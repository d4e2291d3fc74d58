"""Video captioning metrics: BLEU-1..4, METEOR, ROUGE_L, CIDEr, as pycocoevalcap computes them.

Published captioning numbers (MA-LMM on MSRVTT, MSVD, YouCook2) come from ``COCOEvalCap``, so the
numbers here are pycocoevalcap's own: its PTBTokenizer (Stanford CoreNLP, lowercases and drops
punctuation tokens) on references and predictions, then its Bleu(4), Meteor, Rouge and Cider scorers
(CIDEr-D, with document frequencies from the evaluated references). What we leave out of
``COCOEvalCap`` is the COCO object plumbing and SPICE, which needs a ~1 GB Stanford model download and
is not part of MA-LMM's ``agg_metrics`` = CIDEr + BLEU-4 + METEOR + ROUGE_L. Scores are fractions, as
pycocoevalcap returns them (papers print them x 100).

PTBTokenizer and METEOR are Java programs: without a ``java`` executable on PATH this raises
:class:`~lavis.common.errors.DependencyError` before anything runs.

Two input rules the original pipeline leaves implicit:

* **Duplicates.** Distributed evaluation pads the last batch, so a result list can hold the same video
  twice. As LAVIS's ``save_result(remove_duplicate=...)`` does, the **first** record of an id wins; the
  number of dropped records (and of those whose text differed) is reported, never hidden.
* **Line breaks.** The tokenizer runs line by line, and a caption containing a carriage return or
  another line separator would shift every later caption onto the wrong video without any error.
  Every line-break character is therefore replaced by a space first (a plain space is what the
  tokenizer makes of a ``\\n`` anyway).
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Hashable, Mapping
from typing import Any

from lavis.common.errors import DataError, DependencyError
from lavis.evaluation.moment_retrieval import check_matching_qids, format_examples

METRIC_NAMES = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")
AGG_METRICS = ("CIDEr", "Bleu_4", "METEOR", "ROUGE_L")
# str.splitlines() boundaries; Java's line reader splits on several of them, not only on "\n".
_LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})

_JAVA_HELP = (
    "captioning metrics need a Java runtime (pycocoevalcap's PTBTokenizer and METEOR are Java programs), "
    "but no `java` executable was found on PATH; install Java 8 or newer, e.g. "
    "`sudo apt-get install default-jre-headless` or `conda install -c conda-forge openjdk`, "
    "and check that `java -version` works"
)


def require_java() -> str:
    """Path of the ``java`` executable the scorers will run; a clear error instead of a Popen crash."""
    java = shutil.which("java")
    if java is None:
        raise DependencyError(_JAVA_HELP)
    return java


# --------------------------------------------------------------------------------------------------
# Inputs


def deduplicate_predictions(
    predictions: Any, source: str = "predictions"
) -> tuple[dict[Hashable, str], int, int]:
    """``{id: caption}`` (as is) or ``[{"image_id", "caption"}, ...]`` (first record of an id wins).

    Returns ``(captions, dropped, conflicting)``: how many records were dropped as duplicates and how
    many of those had a different caption from the kept one.
    """
    if isinstance(predictions, Mapping):
        captions = dict(predictions)
        dropped = conflicting = 0
    elif isinstance(predictions, list):
        captions, dropped, conflicting = {}, 0, 0
        for i, record in enumerate(predictions):
            if not isinstance(record, Mapping) or "image_id" not in record or "caption" not in record:
                raise DataError(
                    f"{source}: record #{i} is not an object with 'image_id' and 'caption': {str(record)[:120]}"
                )
            video = record["image_id"]
            if not isinstance(video, Hashable):
                raise DataError(f"{source}: record #{i} has an unusable image_id {video!r}")
            if video in captions:
                dropped += 1
                conflicting += captions[video] != record["caption"]
                continue
            captions[video] = record["caption"]
    else:
        raise DataError(
            f"{source}: expected an object {{id: caption}} or a list of {{image_id, caption}} records"
        )
    bad = [video for video, caption in captions.items() if not isinstance(caption, str)]
    if bad:
        raise DataError(f"{source}: {len(bad)} prediction(s) are not a string (ids {format_examples(bad)})")
    return captions, dropped, conflicting


def references_by_id(references: Any, source: str = "references") -> dict[Hashable, list[str]]:
    """``{id: [captions]}`` or a COCO-format ground truth (``{"images"?, "annotations": [{"image_id",
    "caption"}]}``, MA-LMM's ``coco_gt`` files; with ``images``, those ids are the evaluated set)."""
    if isinstance(references, Mapping) and isinstance(references.get("annotations"), list):
        refs: dict[Hashable, list[str]] = {}
        if isinstance(references.get("images"), list):
            refs = {image["id"]: [] for image in references["images"]}
        for i, ann in enumerate(references["annotations"]):
            if not isinstance(ann, Mapping) or "image_id" not in ann or "caption" not in ann:
                raise DataError(f"{source}: annotations[{i}] is not an object with 'image_id' and 'caption'")
            refs.setdefault(ann["image_id"], []).append(ann["caption"])
    elif isinstance(references, Mapping):
        refs = {video: caps for video, caps in references.items()}
    else:
        raise DataError(f"{source}: expected {{id: [captions]}} or a COCO-format object with 'annotations'")
    for video, caps in refs.items():
        if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
            raise DataError(
                f"{source}: id {video!r} needs a non-empty list of reference captions, got {caps!r}"
            )
    return refs


# --------------------------------------------------------------------------------------------------
# Scoring


def ptb_tokenize(tokenizer: Any, captions: Mapping[Hashable, list[str]]) -> dict[Hashable, list[str]]:
    """pycocoevalcap's PTBTokenizer on ``{id: [captions]}``, with line breaks made harmless."""
    batch = {
        video: [{"caption": c.translate(_LINE_BREAKS)} for c in caps] for video, caps in captions.items()
    }
    try:
        tokens = tokenizer.tokenize(batch)
    except PermissionError as err:  # it writes its temporary file next to its jar
        raise DependencyError(
            f"pycocoevalcap's PTBTokenizer could not write its temporary file ({err}); it needs a writable "
            "package directory (install pycocoevalcap in a virtual environment you own)"
        ) from None
    if [len(tokens.get(v, ())) for v in captions] != [len(c) for c in captions.values()]:
        raise RuntimeError("PTBTokenizer returned a different number of lines than it was given")
    return tokens


def _scorers() -> list[tuple[Any, tuple[str, ...]]]:
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.meteor.meteor import Meteor
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError as err:
        raise DependencyError(
            f"captioning metrics need pycocoevalcap ({err}); `pip install pycocoevalcap`"
        ) from None
    return [
        (Bleu(4), METRIC_NAMES[:4]),
        (Meteor(), ("METEOR",)),
        (Rouge(), ("ROUGE_L",)),
        (Cider(), ("CIDEr",)),
    ]


def _close_meteor(scorer: Any) -> None:
    """Stop METEOR's Java process now. Its ``__del__`` waits for a lock that a failed ``compute_score``
    never releases, which would hang the interpreter at exit."""
    process = getattr(scorer, "meteor_p", None)
    if process is None:
        return
    if scorer.lock.locked():
        scorer.lock.release()
    process.kill()
    process.wait()


def evaluate_captioning(
    predictions: Any, references: Any, sources: tuple[str, str] = ("predictions", "references")
) -> dict[str, Any]:
    """Score one predicted caption per video against its reference captions.

    ``predictions``: ``{id: caption}`` or LAVIS result records ``[{"image_id", "caption"}]`` (see
    :func:`deduplicate_predictions`); ``references``: see :func:`references_by_id`. Every referenced id
    needs a prediction and every prediction a reference. Returns :data:`METRIC_NAMES` (pycocoevalcap's
    key names and values), ``agg_metrics``, ``num_videos``, ``duplicate_predictions`` and
    ``conflicting_duplicates``.
    """
    captions, dropped, conflicting = deduplicate_predictions(predictions, sources[0])
    refs = references_by_id(references, sources[1])
    if not refs:
        raise DataError(f"{sources[1]}: no videos to score")
    try:
        check_matching_qids(captions, refs, noun="video id")
    except DataError as err:
        raise DataError(f"{sources[0]} vs {sources[1]}: {err}") from None
    require_java()
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    gts = ptb_tokenize(tokenizer, refs)
    res = ptb_tokenize(tokenizer, {video: [captions[video]] for video in refs})
    metrics: dict[str, Any] = {}
    for scorer, names in _scorers():
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # Bleu prints its length statistics
                score, _ = scorer.compute_score(gts, res)
        finally:
            _close_meteor(scorer)
        metrics.update(zip(names, score if len(names) > 1 else [score]))
    metrics = {name: float(metrics[name]) for name in METRIC_NAMES}
    metrics["agg_metrics"] = sum(metrics[name] for name in AGG_METRICS)
    metrics.update(num_videos=len(refs), duplicate_predictions=dropped, conflicting_duplicates=conflicting)
    return metrics
