"""MA-LMM's memory banks: a bounded, temporally ordered store of past per-frame token states.

A bank holds ``features`` (B, T, N, C) -- T time slots of N tokens each (257 ViT tokens for the visual
bank; 32 queries + the instruction tokens for a Q-Former self-attention layer's query bank) -- and
``sizes`` (B, T, N): how many original frames each slot stands for (1 when appended).

When a bank holds more than ``M`` slots it is shortened by one:

* **MBC** (Memory Bank Compression, MA-LMM §3.3; the authors' code): independently for every batch item
  and every token position n, the cosine similarity of each temporally adjacent pair ``(t, t+1)`` is
  computed and the most similar pair ``k`` (first one on ties) is merged into slot ``k`` as the
  size-weighted mean ``(S_k·X_k + S_{k+1}·X_{k+1}) / (S_k + S_{k+1})`` with size ``S_k + S_{k+1}``; the
  later slots move up by one. The paper's Eq. 7 writes the plain mean, which agrees only while both slots
  are single frames; the code's weighted mean is what the published numbers come from. Different token
  positions may merge different pairs, so after compression a slot is no longer one coherent frame.
* **FIFO** (the paper's ablation): the oldest slot is dropped.

Banks are values, not module state: every operation returns a new :class:`MemoryBank`, and a bank lives
only as long as the forward call that builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

COMPRESSIONS = ("mbc", "fifo")


def merge_most_similar_adjacent(
    features: torch.Tensor, sizes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One MBC step: (B, T, N, C), (B, T, N) → (B, T-1, N, C), (B, T-1, N). Needs T >= 2."""
    b, t, n, c = features.shape
    if t < 2:
        raise ValueError(f"compression needs at least 2 time slots, the bank has {t}")
    similarity = F.cosine_similarity(features[:, :-1], features[:, 1:], dim=-1)  # (B, T-1, N)
    k = similarity.argmax(dim=1)  # (B, N): first maximum on ties
    idx = k[:, None, :, None].expand(b, 1, n, c)
    x_k, x_next = features.gather(1, idx), features.gather(1, idx + 1)  # (B, 1, N, C)
    s_k, s_next = sizes.gather(1, k[:, None]), sizes.gather(1, k[:, None] + 1)  # (B, 1, N)
    total = s_k + s_next
    merged = (s_k[..., None] * x_k + s_next[..., None] * x_next) / total[..., None]
    # slot j of the result: j < k → j, j == k → merged, j > k → j + 1
    slots = torch.arange(t - 1, device=features.device)[None, :, None]  # (1, T-1, 1)
    source = slots + (slots > k[:, None, :]).long()  # (B, T-1, N)
    out = features.gather(1, source[..., None].expand(b, t - 1, n, c))
    out_sizes = sizes.gather(1, source)
    at_k = slots == k[:, None, :]
    out = torch.where(at_k[..., None], merged.to(out.dtype), out)
    out_sizes = torch.where(at_k, total, out_sizes)
    return out, out_sizes


@dataclass(frozen=True)
class MemoryBank:
    """Past token states of one stream: ``features`` (B, T, N, C) and ``sizes`` (B, T, N)."""

    features: torch.Tensor
    sizes: torch.Tensor

    @classmethod
    def start(cls, x: torch.Tensor) -> MemoryBank:
        """A bank holding one step ``x`` (B, N, C), detached (only the current step is differentiated)."""
        x = x.detach()[:, None]
        return cls(x, torch.ones(x.shape[:3], dtype=x.dtype, device=x.device))

    def __len__(self) -> int:
        return self.features.shape[1]

    def flat(self) -> torch.Tensor:
        """(B, T·N, C): the slots in time order, as keys/values of an attention."""
        b, t, n, c = self.features.shape
        return self.features.reshape(b, t * n, c)

    def append(self, x: torch.Tensor) -> MemoryBank:
        """The bank with ``x`` (B, N, C) added as the newest slot (detached, size 1)."""
        new = MemoryBank.start(x)
        return MemoryBank(
            torch.cat([self.features, new.features.to(self.features.dtype)], dim=1),
            torch.cat([self.sizes, new.sizes.to(self.sizes.dtype)], dim=1),
        )

    def shrink(self, max_length: int, method: str = "mbc") -> MemoryBank:
        """While longer than ``max_length`` slots: one MBC merge (``mbc``) or drop the oldest (``fifo``)."""
        if method not in COMPRESSIONS:
            raise ValueError(f"unknown memory bank compression {method!r}; choose one of {COMPRESSIONS}")
        if max_length < 1:
            raise ValueError(f"a memory bank needs max_length >= 1, got {max_length}")
        bank = self
        while len(bank) > max_length:
            if method == "fifo":
                bank = MemoryBank(bank.features[:, 1:], bank.sizes[:, 1:])
            else:
                bank = MemoryBank(*merge_most_similar_adjacent(bank.features, bank.sizes))
        return bank

    def frames_covered(self) -> torch.Tensor:
        """(B, N): how many original frames each token position's slots stand for (the sizes summed)."""
        return self.sizes.sum(dim=1)
