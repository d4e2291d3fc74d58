"""The vision encoder: timm's EVA ViT, shaped and named like BLIP-2's ``visual_encoder``.

BLIP-2 uses EVA-CLIP ViT-g/14 truncated to its first 39 of 40 blocks, with no final norm and no head: the
output is the full token sequence (CLS + patches). timm's ``Eva`` stores its weights under the same names
as LAVIS (``blocks.N.attn.qkv.weight``, ``q_bias``, ``v_bias``, ...), so ``eva_vit_g.pth`` loads without
renaming.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from timm.layers import LayerNorm
from timm.models.eva import Eva

from lavis.common.config import one_of
from lavis.models.checkpoints import KeyRules


@dataclass
class VisionConfig:
    img_size: int = 224
    patch_size: int = 14
    width: int = 1408
    depth: int = 39
    num_heads: int = 16
    mlp_ratio: float = 4.3637  # int(1408 * 4.3637) = 6144, as in LAVIS
    drop_path_rate: float = 0.0
    precision: str = one_of("fp16", "fp16", "bf16", "fp32")  # weights of a *frozen* encoder on GPU (CPU: fp32)


def build_vision_encoder(cfg: VisionConfig) -> Eva:
    """An EVA ViT returning all tokens (B, 1 + (img/patch)^2, width)."""
    return Eva(
        img_size=cfg.img_size,
        patch_size=cfg.patch_size,
        embed_dim=cfg.width,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        qkv_bias=True,
        qkv_fused=True,
        num_classes=0,
        global_pool="",
        use_post_transformer_norm=False,
        drop_path_rate=cfg.drop_path_rate,
        norm_layer=functools.partial(LayerNorm, eps=1e-6),
    )


class FP32LayerNorm(torch.nn.LayerNorm):
    """LayerNorm computed in fp32 and cast back, so a half-precision ViT output is normalised stably."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


PRECISIONS = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


# --- checkpoint rules ------------------------------------------------------------------------------

EVA_VIT = KeyRules(
    kind="eva_vit",
    about="EVA-CLIP ViT-g/14 image tower (eva_vit_g.pth): bare ViT names (blocks.N.attn.qkv.weight, q_bias, ...)",
    renames=((r"^(?!visual_encoder\.)", "visual_encoder."),),  # bare names, or ours (already prefixed)
    drop=(
        r"^visual_encoder\.blocks\.(?!(?:{kept_blocks})\.)\d+\.",  # EVA-CLIP-g has 40 blocks; BLIP-2 uses 39
        r"^visual_encoder\.(norm|fc_norm|head)\.",  # timm/open_clip final norm and head; LAVIS has neither
    ),
    missing_ok=(r"^(?!visual_encoder\.)",),  # the file holds the image tower only
    detect=r"^(visual_encoder\.|blocks\.|cls_token$|pos_embed$|patch_embed\.)",
    config_key="vit_pretrained",
)
