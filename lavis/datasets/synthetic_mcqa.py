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


def write_mcqa_annotations(folder: Path, spec: SyntheticSpec, num_options: int = 4) -> None:
    """``{split}_mcqa.json`` beside the generated moment-retrieval files (derived from them; idempotent)."""
    if num_options > len(spec.colours):
        raise ValueError(f"{num_options} options need as many colours; the spec has {len(spec.colours)}")
    for split in spec.num_videos:
        target = Path(folder) / f"{split}_mcqa_{num_options}.json"
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
            others = [
                str(c)
                for c in rng.choice([c for c in spec.colours if c != colour], num_options - 1, replace=False)
            ]
            options = others[:]
            answer = int(rng.integers(0, num_options))
            options.insert(answer, colour)
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
