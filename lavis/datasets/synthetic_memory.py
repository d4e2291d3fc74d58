"""A generated long-video QA set whose answer is at the very start: "what colour did the video start with?".

Each clip has ``num_frames`` frames. The first ``cue_frames`` are filled with the answer colour; every later
frame is neutral grey with pixel noise and, with probability ``distractor_prob``, a small square of a random
colour (any of them, the answer's included) at a random place. So nothing after the start tells the answer,
and a model that only remembers the recent past (FIFO memory) can do no better than chance.

Clips are drawn on the fly from ``(seed, split, index)``, so a split is the same in every epoch and process
and needs no files. Pixel values are already in the model's normalised range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from lavis.datasets.collate import collate_samples

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (1.0, -1.0, -1.0),
    "green": (-1.0, 1.0, -1.0),
    "blue": (-1.0, -1.0, 1.0),
    "yellow": (1.0, 1.0, -1.0),
}
QUESTION = "what colour did the video start with?"
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


@dataclass
class SyntheticMemorySpec:
    num_videos: dict[str, int] = field(default_factory=lambda: {"train": 512, "val": 64, "test": 128})
    num_frames: int = 64
    image_size: int = 32
    cue_frames: int = 2  # frames of the answer colour at the start
    distractor_prob: float = 0.5  # chance that a later frame shows a small coloured square
    noise: float = 0.1  # std of the pixel noise on every frame
    seed: int = 0


class SyntheticMemoryDataset(Dataset):
    """Samples in the video QA layout: ``video`` (T, 3, H, W), ``text_input``, ``text_output``, ``answer``..."""

    collater = staticmethod(collate_samples)

    def __init__(
        self, spec: SyntheticMemorySpec, split: str, prompt: str = "Question: {question} Short answer:"
    ):
        if split not in spec.num_videos:
            raise KeyError(
                f"the synthetic memory spec has no '{split}' split (has {sorted(spec.num_videos)})"
            )
        if not 0 < spec.cue_frames < spec.num_frames:
            raise ValueError(
                f"cue_frames must be in [1, num_frames); got {spec.cue_frames} of {spec.num_frames}"
            )
        self.spec, self.split, self.prompt = spec, split, prompt

    def __len__(self) -> int:
        return self.spec.num_videos[self.split]

    def set_epoch(self, epoch: int) -> None:  # clips do not change between epochs
        pass

    def clip(self, index: int) -> tuple[torch.Tensor, str]:
        s = self.spec
        rng = np.random.default_rng([s.seed, SPLIT_IDS.get(self.split, 3), index])
        names = list(COLOURS)
        answer = names[int(rng.integers(len(names)))]
        size = s.image_size
        video = rng.normal(0.0, s.noise, size=(s.num_frames, 3, size, size)).astype(np.float32)
        video[: s.cue_frames] += np.asarray(COLOURS[answer], dtype=np.float32)[None, :, None, None]
        side = max(size // 4, 1)
        for t in range(s.cue_frames, s.num_frames):
            if rng.random() < s.distractor_prob:
                colour = np.asarray(COLOURS[names[int(rng.integers(len(names)))]], dtype=np.float32)
                y, x = (int(v) for v in rng.integers(0, size - side + 1, size=2))
                video[t, :, y : y + side, x : x + side] += colour[:, None, None]
        return torch.from_numpy(video), answer

    def __getitem__(self, index: int) -> dict:
        video, answer = self.clip(index)
        qid = f"{self.split}_{index}"
        return {
            "video": video,
            "qid": qid,
            "vid": qid,
            "index": index,
            "question": QUESTION,
            "answer": answer,
            "text_input": self.prompt.format(question=QUESTION),
            "text_output": answer,
        }
