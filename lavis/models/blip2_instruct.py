"""InstructBLIP: the BLIP-2 body with an instruction-aware Q-Former (LAVIS ``blip2_t5_instruct`` and
``blip2_vicuna_instruct``).

The instruction (``text_input``) is read twice: by the Q-Former, tokenised with BERT's WordPiece (plus the
``[DEC]`` bos token BLIP-2 adds), so the queries extract what the instruction asks about; and by the LLM
after the query embeddings. Long instructions are cut on the left (the end of a prompt -- "Short answer:"
-- matters most). Video ``(B, T, C, H, W)``: every frame goes through the Q-Former with the same
instruction; the query outputs are concatenated in time order (LAVIS' video path, and transformers'
``InstructBlipVideoForConditionalGeneration``). The two registered variants differ only in their presets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lavis.common.registry import register_model
from lavis.models.blip2 import FINETUNED, HF_BLIP2, LAVIS_BLIP2, Blip2Base, Blip2Config
from lavis.models.checkpoints import KeyRules
from lavis.models.components.llm import FOLDER_RULES
from lavis.models.components.vision import EVA_VIT

LAVIS_INSTRUCTBLIP = dataclasses.replace(
    LAVIS_BLIP2,
    kind="lavis_instructblip",
    about="LAVIS InstructBLIP checkpoint (instruct_blip_{flanxl,vicuna7b}_trimmed.pth): Q-Former with its "
    "instruction path, query_tokens, ln_vision, the LLM projection (no ViT, no LLM)",
)
HF_INSTRUCTBLIP = dataclasses.replace(
    HF_BLIP2,
    kind="hf_instructblip",
    about="transformers InstructBlipForConditionalGeneration / InstructBlipVideoForConditionalGeneration folder",
    folder_types=("instructblip", "instructblipvideo"),
)


@dataclass
class Blip2InstructConfig(Blip2Config):
    max_txt_len: int = 128  # instruction tokens (LLM and Q-Former), cut on the left
    max_target_len: int = 256


class Blip2Instruct(Blip2Base):
    PROMPT_TRUNCATION = "left"

    def checkpoint_rules(self) -> list[KeyRules]:
        return [LAVIS_INSTRUCTBLIP, EVA_VIT, FINETUNED, HF_INSTRUCTBLIP, FOLDER_RULES[self.llm.kind]]


@dataclass
class Blip2T5InstructConfig(Blip2InstructConfig):
    arch: str = "blip2_t5_instruct"
    model_type: str = "flant5xl"


@register_model("blip2_t5_instruct")
class Blip2T5Instruct(Blip2Instruct):
    Config = Blip2T5InstructConfig
    PRETRAINED_MODEL_CONFIG_DICT = {
        "flant5xl": "configs/models/blip2_t5_instruct/flant5xl.yaml",
        "tiny": "configs/models/blip2_t5_instruct/tiny.yaml",
    }


@dataclass
class Blip2VicunaInstructConfig(Blip2InstructConfig):
    arch: str = "blip2_vicuna_instruct"
    model_type: str = "vicuna7b"


@register_model("blip2_vicuna_instruct")
class Blip2VicunaInstruct(Blip2Instruct):
    Config = Blip2VicunaInstructConfig
    PRETRAINED_MODEL_CONFIG_DICT = {
        "vicuna7b": "configs/models/blip2_vicuna_instruct/vicuna7b.yaml",
        "tiny": "configs/models/blip2_vicuna_instruct/tiny.yaml",
    }
