"""CALCE prompt text: the caption block and the stage-1/stage-2 text block.

Layout (reference §1.5): after Mr. BLIP's video block ``... > duration <extra_id_0>`` comes one segment
``[ start text end ]`` per selected caption, then ``<extra_id_1>``, then
``Query: q\\n`` [``ref: windows\\n``] ``Items: a,b\\n`` and the task prompt. No caption selected means
the single placeholder ``[-1 *None* -1]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from lavis.datasets.subtitles import Cue

PLACEHOLDER = Cue(-1.0, -1.0, "*None*")
AUDIO_END = "<extra_id_1>"
TASK_PROMPT = (
    "Given the video and the subtitle and the query, find the query relevant windows.\nRelevant windows: "
)


def caption_segments(cues: Sequence[Cue], encode_time: Callable[[float], int]) -> list[tuple[str, str, str]]:
    """Per caption (start, text, end) as strings; times via ``encode_time`` (annoying-number remap)."""
    chosen = list(cues) or [PLACEHOLDER]
    out = []
    for cue in chosen:
        if cue is PLACEHOLDER or cue.start < 0:
            out.append(("-1", cue.text, "-1"))
        else:
            out.append((str(encode_time(cue.start)), cue.text, str(encode_time(cue.end))))
    return out


def text_block(
    query: str, items: Sequence[str], stage1_windows: Sequence[Sequence[int]] | None = None
) -> str:
    """The tokenizer-padded text part; ``stage1_windows`` adds stage 2's ``ref:`` line."""
    ref = "" if stage1_windows is None else f"ref: {[list(w) for w in stage1_windows]}\n"
    return f"Query: {query}\n{ref}Items: {','.join(items)}\n{TASK_PROMPT}"


def select_captions(
    query_vector: torch.Tensor,
    caption_vectors: torch.Tensor,
    cues: Sequence[Cue],
    top: int = 5,
    threshold: float = 0.9,
) -> list[Cue]:
    """The captions worth reading: the ``top`` most similar to the query (cosine of Q-Former [CLS] states),
    then only those above ``threshold``, most similar first. Empty when none pass (the caller then writes the
    placeholder), so a video whose speech is unrelated to the query costs no prompt tokens."""
    if len(cues) != len(caption_vectors):
        raise ValueError(f"{len(cues)} captions but {len(caption_vectors)} caption vectors")
    if not cues:
        return []
    sims = torch.nn.functional.cosine_similarity(query_vector[None].float(), caption_vectors.float(), dim=-1)
    best = sims.topk(min(top, len(cues)))
    return [cues[int(i)] for s, i in zip(best.values, best.indices) if float(s) > threshold]
