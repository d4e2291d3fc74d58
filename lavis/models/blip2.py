"""The shared BLIP-2 body: images → EVA ViT → ``ln_vision`` → Q-Former queries.

Systems (Mr. BLIP, MA-LMM, SeViLA, ...) subclass :class:`Blip2Base` and add only what makes them
themselves: the language model, how its input is assembled and what it is trained to say. Module names
match LAVIS (``visual_encoder``, ``ln_vision``, ``Qformer``, ``query_tokens``) so LAVIS checkpoints map 1:1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lavis.models.base import BaseModel
from lavis.models.components.qformer import QFormer, QFormerConfig
from lavis.models.components.vision import PRECISIONS, FP32LayerNorm, VisionConfig, build_vision_encoder


@dataclass
class Blip2Config:
    arch: str = "???"
    model_type: str = "???"
    vision: VisionConfig = field(default_factory=VisionConfig)
    qformer: QFormerConfig = field(default_factory=QFormerConfig)
    freeze_vit: bool = True
    freeze_qformer: bool = True  # Q-Former and query tokens
    train_ln_vision: bool = True  # Mr. BLIP trains ln_vision (the original never froze it)
    vision_chunk_size: int = 0  # encode at most this many frames at once (0: all); bounds ViT memory
    grad_checkpointing: bool = False
    # weights (local paths; loaded in this order, later files override earlier ones)
    vit_pretrained: str | None = None  # e.g. eva_vit_g.pth
    pretrained: str | None = None  # e.g. blip2_pretrained_flant5xl.pth (Q-Former, query tokens, ln_vision, proj)
    finetuned: str | None = None  # a fine-tuned checkpoint (trainable tensors only)
    allow_partial_load: bool = False  # load checkpoints with unexplained missing/unexpected keys (reported)


class Blip2Base(BaseModel):
    def __init__(self, cfg: Blip2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.visual_encoder = build_vision_encoder(cfg.vision)
        self.ln_vision = FP32LayerNorm(cfg.vision.width)
        self.Qformer = QFormer(cfg.qformer, cfg.vision.width)
        self.query_tokens = nn.Parameter(torch.zeros(1, cfg.qformer.num_query_tokens, cfg.qformer.hidden_size))
        nn.init.normal_(self.query_tokens, std=cfg.qformer.initializer_range)

    # --- training switches -----------------------------------------------------------------------

    def apply_freezing(self) -> None:
        if self.cfg.freeze_vit:
            self.visual_encoder.requires_grad_(False)
        if self.cfg.freeze_qformer:
            self.Qformer.requires_grad_(False)
            self.query_tokens.requires_grad_(False)
        self.ln_vision.requires_grad_(self.cfg.train_ln_vision)

    def train(self, mode: bool = True) -> Blip2Base:
        super().train(mode)
        if self.cfg.freeze_vit:
            self.visual_encoder.eval()  # a frozen encoder keeps eval behaviour (no drop-path)
        if self.cfg.freeze_qformer:
            self.Qformer.eval()
        return self

    def prepare_for_device(self, device: torch.device) -> None:
        self.to(device)
        if device.type == "cuda" and self.cfg.freeze_vit:
            self.visual_encoder.to(PRECISIONS[self.cfg.vision.precision])

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        if not self.cfg.freeze_vit:
            self.visual_encoder.set_grad_checkpointing(enable)
        self.Qformer.grad_checkpointing = enable

    # --- encoding --------------------------------------------------------------------------------

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) → Q-Former query outputs (N, num_query_tokens, qformer_hidden)."""
        chunk = self.cfg.vision_chunk_size or images.shape[0]
        outs = [self._encode_chunk(images[i : i + chunk]) for i in range(0, images.shape[0], chunk)]
        return torch.cat(outs, dim=0)

    def _encode_chunk(self, images: torch.Tensor) -> torch.Tensor:
        vit_dtype = self.visual_encoder.patch_embed.proj.weight.dtype
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.freeze_vit):
            tokens = self.visual_encoder.forward_features(images.to(vit_dtype))
        tokens = self.ln_vision(tokens.float())
        needs_grad = self.ln_vision.weight.requires_grad or not self.cfg.freeze_qformer
        with torch.set_grad_enabled(torch.is_grad_enabled() and needs_grad):
            queries = self.query_tokens.expand(tokens.shape[0], -1, -1)
            return self.Qformer(queries, tokens)

    def expected_missing_keys(self) -> list[str]:
        """Frozen parts are restored from their pretrained files, not from a fine-tuned checkpoint."""
        patterns = []
        if self.cfg.freeze_vit:
            patterns.append(r"^visual_encoder\.")
        if self.cfg.freeze_qformer:
            patterns += [r"^Qformer\.", r"^query_tokens$"]
        if not self.cfg.train_ln_vision:
            patterns.append(r"^ln_vision\.")
        return patterns
