"""BLIP-2 with Flan-T5 (LAVIS ``blip2_t5``): image or video → text, and the base of the T5-based systems.

The Q-Former's query outputs are projected to the T5 width (``t5_proj``) and placed in front of the text
prompt, as in LAVIS ``blip2_t5`` and transformers' ``Blip2ForConditionalGeneration``. Video input
``(B, T, C, H, W)`` gives each frame its own queries, concatenated in time order. Everything is the shared
body (:mod:`lavis.models.blip2`); this file only names the variant and its presets.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lavis.common.registry import register_model
from lavis.models.blip2 import Blip2Base, Blip2Config


@dataclass
class Blip2T5Config(Blip2Config):
    arch: str = "blip2_t5"
    model_type: str = "pretrain_flant5xl"


@register_model("blip2_t5")
class Blip2T5(Blip2Base):
    Config = Blip2T5Config
    PRETRAINED_MODEL_CONFIG_DICT = {
        "pretrain_flant5xl": "configs/models/blip2_t5/pretrain_flant5xl.yaml",
        "tiny": "configs/models/blip2_t5/tiny.yaml",
    }

    @property
    def t5(self) -> nn.Module:
        """The underlying ``T5ForConditionalGeneration`` (inside the LoRA wrapper if any)."""
        return self.llm.base
