"""Multiple-choice questions on the synthetic videos (:mod:`lavis.datasets.synthetic`): "what colour is the shape?"

Per video, one question about its first event: the options are the event's colour and ``num_options - 1``
other colours of the palette, in a random order; the record keeps the event's window as
``relevant_windows`` (so it is a grounded question, like NExT-GQA). With short events inside longer
clips (``min/max_event_fraction`` small), a few evenly spaced frames often miss the event: picking the
right frames is what answers the question -- SeViLA's point, in miniature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lavis.common.io import read_json, write_json
from lavis.datasets.synthetic import SyntheticSpec

QUESTIONS = {"shape": "what colour is the shape?", "tint": "what colour does the screen turn?"}


def annotation_name(split: str, num_options: int, shuffle: bool) -> str:
    return f"{split}_mcqa_{num_options}{'' if shuffle else '_fixed'}.json"


def write_mcqa_annotations(
    folder: Path, spec: SyntheticSpec, num_options: int = 4, shuffle: bool = True
) -> None:
    """``{split}_mcqa_*.json`` beside the generated moment-retrieval files (derived from them; idempotent).

    ``shuffle=False``: the options are the palette's first ``num_options`` colours in palette order (the
    spec's palette must then hold exactly ``num_options`` colours), so a letter always means one colour.
    """
    if not shuffle and len(spec.colours) != num_options:
        raise ValueError(f"fixed options need a palette of exactly {num_options} colours, got {spec.colours}")
    if num_options > len(spec.colours):
        raise ValueError(f"{num_options} options need as many colours; the spec has {len(spec.colours)}")
    for split in spec.num_videos:
        target = Path(folder) / annotation_name(split, num_options, shuffle)
        if target.is_file():
            continue
        first: dict[str, dict[str, Any]] = {}
        for rec in read_json(Path(folder) / f"{split}.json"):
            known = first.get(rec["video"])
            if known is None or rec["relevant_windows"][0][0] < known["relevant_windows"][0][0]:
                first[rec["video"]] = rec
        rng = np.random.default_rng([spec.seed, num_options, len(split)])
        records = []
        for vid, rec in sorted(first.items()):
            colour = next(c for c in spec.colours if c in rec["query"].split())
            if shuffle:
                pool = [c for c in spec.colours if c != colour]
                options = [str(c) for c in rng.choice(pool, num_options - 1, replace=False)]
                answer = int(rng.integers(0, num_options))
                options.insert(answer, colour)
            else:
                options = [str(c) for c in spec.colours]
                answer = options.index(colour)
            records.append(
                {
                    "video": vid,
                    "qid": f"synthetic_mcqa_{vid}",
                    "question": QUESTIONS[spec.event_style],
                    "options": options,
                    "answer": answer,
                    "duration": rec["duration"],
                    "relevant_windows": rec["relevant_windows"],
                }
            )
        write_json(target, records, indent=None)
