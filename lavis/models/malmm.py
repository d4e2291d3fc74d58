"""MA-LMM (He et al., CVPR 2024): InstructBLIP reading a long video online, one frame at a time, with memory.

Frames go through the instruction-aware Q-Former one at a time. Two kinds of memory bank carry the past
(:mod:`lavis.models.components.memory_bank`):

* the **visual bank**: ``ln_vision`` output of past frames plus a learned frame position embedding
  (``image_pe``, ``max_num_frames`` rows, zero-initialised, so InstructBLIP weights work unchanged). The
  current frame appended to it is the key/value source of every cross-attention layer;
* one **query bank per self-attention layer**: that layer's input hidden states (queries *and*
  instruction tokens) at past steps, prepended to its keys and values (:meth:`QFormer.step`).

After each step both kinds are appended to and, beyond ``memory_bank_length`` slots, shortened by one
(MBC, or FIFO as the paper's ablation). Only the last step's query outputs are projected into the LLM, so
the LLM input length does not depend on the number of frames. The rest (instruction after the queries,
the LM loss, generation) is InstructBLIP's.

As in the authors' code, banks hold detached tensors: only the last step is differentiated, so of
``image_pe`` only the row of the last frame is ever trained. Earlier steps run without autograd, which
gives the same gradients with memory flat in the number of frames.

Deliberate differences from the original: the banks are local to the forward call (the original keeps
them on the attention modules and deletes them when a frame counter reaches the configured
``num_frames``, so a batch with another number of frames leaks its banks into the next batch); samples
with padded frames (``frame_mask``) are read over their own frames only (the original assumes a fixed T);
a clip longer than ``max_num_frames`` is a named error instead of an index error.

``memory_bank_length: 0`` is the plain InstructBLIP path (every frame separately, query outputs
concatenated): the paper's "Concat" baseline. ``image_pe`` is then unused and frozen.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lavis.common.config import one_of
from lavis.common.errors import ConfigError, DataError
from lavis.common.registry import register_model
from lavis.models.blip2 import FINETUNED
from lavis.models.blip2_instruct import (
    HF_INSTRUCTBLIP,
    LAVIS_INSTRUCTBLIP,
    Blip2Instruct,
    Blip2InstructConfig,
)
from lavis.models.checkpoints import KeyRules
from lavis.models.components.memory_bank import COMPRESSIONS, MemoryBank

FRAME_PE = r"^image_pe\.weight$"

# InstructBLIP files predate the frame position embedding: it keeps its zero initialisation.
LAVIS_INSTRUCTBLIP_FOR_MALMM = dataclasses.replace(
    LAVIS_INSTRUCTBLIP, missing_ok=(*LAVIS_INSTRUCTBLIP.missing_ok, FRAME_PE)
)
HF_INSTRUCTBLIP_FOR_MALMM = dataclasses.replace(
    HF_INSTRUCTBLIP, missing_ok=(*HF_INSTRUCTBLIP.missing_ok, FRAME_PE)
)
MALMM_FINETUNED = dataclasses.replace(
    FINETUNED,
    kind="malmm",
    about="MA-LMM fine-tuned checkpoint with the trainable tensors only (the released saved_model/<dataset>/"
    "checkpoint_best.pth: Qformer, query_tokens, ln_vision, llm_proj, image_pe; or ours)",
    detect=r"^(ln_vision|image_pe|{proj}|{llm})\.",
)


@dataclass
class MALMMConfig(Blip2InstructConfig):
    memory_bank_length: int = (
        10  # M: past slots kept per bank; 0 = InstructBLIP's concatenation of all frames
    )
    compression: str = one_of("mbc", *COMPRESSIONS)  # mbc: Memory Bank Compression; fifo: drop the oldest
    max_num_frames: int = 120  # rows of the frame position embedding: the longest clip the model reads
    visual_memory: bool = True  # ablation (paper Table 6): cross-attention to past frames
    query_memory: bool = True  # ablation (paper Table 6): self-attention to past query/instruction states


class MALMM(Blip2Instruct):
    """The memory-bank video path over any InstructBLIP body (the LLM kind comes from the preset)."""
    FEATURE_CACHE_LEVELS = ()  # frames go through the ViT step by step with the memory bank: not cached

    def __init__(self, cfg: MALMMConfig, *args: Any, **kwargs: Any) -> None:
        if cfg.memory_bank_length < 0:
            raise ConfigError(f"model.memory_bank_length must be >= 0, got {cfg.memory_bank_length}")
        if cfg.max_num_frames < 1:
            raise ConfigError(f"model.max_num_frames must be >= 1, got {cfg.max_num_frames}")
        super().__init__(cfg, *args, **kwargs)
        self.image_pe = nn.Embedding(cfg.max_num_frames, cfg.vision.width)
        nn.init.zeros_(self.image_pe.weight)
        self.apply_freezing()

    @property
    def uses_memory(self) -> bool:
        return self.cfg.memory_bank_length > 0

    # --- weights and training switches ------------------------------------------------------------

    def checkpoint_rules(self) -> list[KeyRules]:
        swap = {
            id(LAVIS_INSTRUCTBLIP): LAVIS_INSTRUCTBLIP_FOR_MALMM,
            id(HF_INSTRUCTBLIP): HF_INSTRUCTBLIP_FOR_MALMM,
            id(FINETUNED): MALMM_FINETUNED,
        }
        return [swap.get(id(rule), rule) for rule in super().checkpoint_rules()]

    def apply_freezing(self) -> None:
        super().apply_freezing()
        if hasattr(self, "image_pe"):
            self.image_pe.requires_grad_(self.uses_memory)

    def expected_missing_keys(self) -> list[str]:
        return super().expected_missing_keys() + ([] if self.uses_memory else [FRAME_PE])

    # --- the online video path --------------------------------------------------------------------

    def frame_embeddings(
        self, samples: dict[str, Any], branch: str = "main"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample, the last step's projected queries (B, Nq, D) and a mask of ones; see the module doc.

        Samples are grouped by their number of real frames, so a sample's result does not depend on its batch.
        """
        if not self.uses_memory:
            return super().frame_embeddings(samples, branch)
        pixels = samples["image"] if "image" in samples else samples["video"]
        if pixels.dim() == 4:
            pixels = pixels.unsqueeze(1)
        b, t = pixels.shape[:2]
        frame_mask = samples.get("frame_mask")
        frame_mask = frame_mask.bool().cpu() if frame_mask is not None else torch.ones(b, t, dtype=torch.bool)
        counts = frame_mask.sum(1)
        if (counts == 0).any():
            raise DataError(
                f"sample(s) {(counts == 0).nonzero().flatten().tolist()} of the batch have no frames"
            )
        instructions = self.qformer_instructions(samples)
        out: torch.Tensor | None = None
        for n in sorted(set(counts.tolist())):
            rows = (counts == n).nonzero().flatten().tolist()
            clips = torch.stack([pixels[i][frame_mask[i].to(pixels.device)] for i in rows]).to(self.device)
            ids = mask = None
            if instructions is not None:
                ids, mask = self.qformer_text([instructions[i] for i in rows])
            projected = self.part("proj", branch)(self.memory_queries(clips, ids, mask, branch))
            if out is None:
                out = projected.new_zeros(b, *projected.shape[1:])
            out[rows] = projected
        assert out is not None
        return out, torch.ones(out.shape[:2], dtype=torch.long, device=out.device)

    def memory_queries(
        self,
        clips: torch.Tensor,
        text_ids: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        branch: str = "main",
    ) -> torch.Tensor:
        """Clips (B, T, C, H, W) read online → the Q-Former's query outputs at the last frame (B, Nq, hidden)."""
        b, t = clips.shape[:2]
        if t > self.cfg.max_num_frames:
            raise ConfigError(
                f"a clip has {t} frames but model.max_num_frames is {self.cfg.max_num_frames} (rows of the frame "
                "position embedding); raise model.max_num_frames or sample fewer frames"
            )
        m, method = self.cfg.memory_bank_length, self.cfg.compression
        qformer, ln_vision = self.part("qformer", branch), self.part("ln_vision", branch)
        queries = self.part("query_tokens", branch).expand(b, -1, -1)
        visual: MemoryBank | None = None
        query_banks: list[MemoryBank] | None = None
        grad = torch.is_grad_enabled()
        for step in range(t):
            last = step == t - 1
            with torch.set_grad_enabled(grad and last):  # earlier steps only feed detached banks
                position = torch.full((1,), step, dtype=torch.long, device=clips.device)
                frame = (
                    ln_vision(self.vit_features(clips[:, step]).float()) + self.image_pe(position)[:, None]
                )
                context = frame if visual is None else torch.cat([visual.flat(), frame], dim=1)
                memory = [bank.flat() for bank in query_banks] if query_banks is not None else None
                out, layer_inputs = qformer.step(
                    queries, context, text_ids=text_ids, text_mask=text_mask, memory=memory
                )
            if last:
                return out
            if self.cfg.visual_memory:
                visual = MemoryBank.start(frame) if visual is None else visual.append(frame).shrink(m, method)
            if self.cfg.query_memory:
                if query_banks is None:
                    query_banks = [MemoryBank.start(h) for h in layer_inputs]
                else:
                    query_banks = [
                        bank.append(h).shrink(m, method) for bank, h in zip(query_banks, layer_inputs)
                    ]
        raise DataError("a clip with no frames")


@dataclass
class Blip2VicunaInstructMALMMConfig(MALMMConfig):
    arch: str = "blip2_vicuna_instruct_malmm"
    model_type: str = "vicuna7b"


@register_model("blip2_vicuna_instruct_malmm")
class Blip2VicunaInstructMALMM(MALMM):
    Config = Blip2VicunaInstructMALMMConfig
    PRETRAINED_MODEL_CONFIG_DICT = {
        "vicuna7b": "configs/models/blip2_vicuna_instruct_malmm/vicuna7b.yaml",
        "tiny": "configs/models/blip2_vicuna_instruct_malmm/tiny.yaml",
    }


@dataclass
class Blip2T5InstructMALMMConfig(MALMMConfig):
    arch: str = "blip2_t5_instruct_malmm"
    model_type: str = "flant5xl"


@register_model("blip2_t5_instruct_malmm")
class Blip2T5InstructMALMM(MALMM):
    """The paper's Table 9 variant: the same memory path with Flan-T5-XL."""

    Config = Blip2T5InstructMALMMConfig
    PRETRAINED_MODEL_CONFIG_DICT = {
        "flant5xl": "configs/models/blip2_t5_instruct_malmm/flant5xl.yaml",
        "tiny": "configs/models/blip2_t5_instruct_malmm/tiny.yaml",
    }
