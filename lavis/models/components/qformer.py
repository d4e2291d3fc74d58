"""The Q-Former: learned queries that read a frozen image encoder through cross-attention.

A BERT-style post-LayerNorm encoder (BLIP-2, Li et al. 2023). Queries attend to each other (and to optional
instruction text, as in InstructBLIP), and to the image tokens through cross-attention in every
``cross_attention_freq``-th layer; queries and text have separate feed-forward networks. Parameter names
follow LAVIS (``bert.encoder.layer.N.attention.self.query`` ...), so BLIP-2 checkpoints map one to one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

# A LAVIS buffer (BERT position ids, a constant arange) that our Q-Former does not keep.
QFORMER_POSITION_IDS = r"^Qformer(_\w+)?\.bert\.embeddings\.position_ids$"
# Keys of a LAVIS BLIP-2 checkpoint that a query-only Q-Former (no instruction input) has no place for.
QFORMER_TEXT_KEYS = (
    r"^Qformer(_\w+)?\.cls\.",  # stage-1 language-model head (None in the T5/OPT/Vicuna models)
    r"^Qformer(_\w+)?\.bert\.embeddings\.(word_embeddings|position_embeddings)\.",  # text embeddings
    QFORMER_POSITION_IDS,
    r"^Qformer(_\w+)?\.bert\.encoder\.layer\.\d+\.(intermediate|output)\.",  # text FFN (queries: *_query)
)


@dataclass
class QFormerConfig:
    num_query_tokens: int = 32
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    cross_attention_freq: int = 2
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    use_text_input: bool = False  # InstructBLIP-style instruction-aware queries
    tokenizer: str | None = None  # instruction tokenizer (use_text_input): a bert-base-uncased folder, or "tiny"
    vocab_size: int = 30523
    max_position_embeddings: int = 512
    initializer_range: float = 0.02  # std of the normal init of weights and query tokens (BERT: 0.02)
    # a frozen Q-Former keeps its dropout active while training, as the original LAVIS / Mr. BLIP code did
    # (False: a frozen Q-Former always runs in eval mode, which makes its output deterministic)
    train_dropout: bool = False


class MultiHeadAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_width: int, dropout: float) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads")
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(kv_width, hidden)
        self.value = nn.Linear(kv_width, hidden)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, lq, _ = x.shape
        q = self.query(x).view(b, lq, self.heads, -1).transpose(1, 2)
        k = self.key(kv).view(b, kv.shape[1], self.heads, -1).transpose(1, 2)
        v = self.value(kv).view(b, kv.shape[1], self.heads, -1).transpose(1, 2)
        mask = kv_mask[:, None, None, :].bool() if kv_mask is not None else None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, lq, -1)


class AddNorm(nn.Module):
    """``LayerNorm(dropout(dense(x)) + residual)``: BERT's output block (``dense`` + ``LayerNorm``)."""

    def __init__(self, in_dim: int, hidden: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_dim, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)  # noqa: N815 (LAVIS/BERT parameter name)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, cfg: QFormerConfig, kv_width: int) -> None:
        super().__init__()
        self.self = MultiHeadAttention(cfg.hidden_size, cfg.num_heads, kv_width, cfg.dropout)
        self.output = AddNorm(cfg.hidden_size, cfg.hidden_size, cfg.layer_norm_eps, cfg.dropout)

    def forward(self, x: torch.Tensor, kv: torch.Tensor, kv_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.self(x, kv, kv_mask), x)


class Intermediate(nn.Module):
    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class QFormerLayer(nn.Module):
    def __init__(self, cfg: QFormerConfig, index: int, vision_width: int) -> None:
        super().__init__()
        self.attention = Attention(cfg, cfg.hidden_size)
        self.has_cross_attention = index % cfg.cross_attention_freq == 0
        if self.has_cross_attention:
            self.crossattention = Attention(cfg, vision_width)
        self.intermediate_query = Intermediate(cfg)
        self.output_query = AddNorm(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps, cfg.dropout)
        if cfg.use_text_input:
            self.intermediate = Intermediate(cfg)
            self.output = AddNorm(cfg.intermediate_size, cfg.hidden_size, cfg.layer_norm_eps, cfg.dropout)

    def forward(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor | None,
        image_embeds: torch.Tensor,
        image_mask: torch.Tensor | None,
        num_queries: int,
        memory: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``memory`` (B, m·L, hidden): this layer's input hidden states at m past steps (MA-LMM's query
        memory bank), prepended to the keys and values of the self-attention; the mask is tiled to match."""
        if memory is None:
            hidden = self.attention(hidden, hidden, attention_mask)
        else:
            context = torch.cat([memory, hidden], dim=1)
            context_mask = None
            if attention_mask is not None:
                context_mask = attention_mask.repeat(1, context.shape[1] // hidden.shape[1])
            hidden = self.attention(hidden, context, context_mask)
        queries, text = hidden[:, :num_queries], hidden[:, num_queries:]
        if self.has_cross_attention and queries.shape[1] > 0:
            queries = self.crossattention(queries, image_embeds, image_mask)
        queries = self.output_query(self.intermediate_query(queries), queries)
        if text.shape[1] > 0:
            text = self.output(self.intermediate(text), text)
            return torch.cat([queries, text], dim=1)
        return queries


class QFormerEmbeddings(nn.Module):
    def __init__(self, cfg: QFormerConfig) -> None:
        super().__init__()
        if cfg.use_text_input:
            self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
            self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # noqa: N815
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, query_embeds: torch.Tensor, text_ids: torch.Tensor | None = None) -> torch.Tensor:
        x = query_embeds
        if text_ids is not None:
            positions = torch.arange(text_ids.shape[1], device=text_ids.device)
            text = self.word_embeddings(text_ids) + self.position_embeddings(positions)[None]
            x = torch.cat([query_embeds, text], dim=1)
        return self.dropout(self.LayerNorm(x))


class QFormerEncoder(nn.Module):
    def __init__(self, cfg: QFormerConfig, vision_width: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(QFormerLayer(cfg, i, vision_width) for i in range(cfg.num_layers))


class QFormerBert(nn.Module):
    def __init__(self, cfg: QFormerConfig, vision_width: int) -> None:
        super().__init__()
        self.embeddings = QFormerEmbeddings(cfg)
        self.encoder = QFormerEncoder(cfg, vision_width)


class QFormer(nn.Module):
    """``forward(query_embeds, image_embeds) -> query outputs (B, num_queries, hidden)``."""

    def __init__(self, cfg: QFormerConfig, vision_width: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.bert = QFormerBert(cfg, vision_width)
        self.grad_checkpointing = False
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.cfg.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self,
        query_embeds: torch.Tensor,
        image_embeds: torch.Tensor,
        image_mask: torch.Tensor | None = None,
        text_ids: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.step(query_embeds, image_embeds, image_mask, text_ids, text_mask)[0]

    def step(
        self,
        query_embeds: torch.Tensor,
        image_embeds: torch.Tensor,
        image_mask: torch.Tensor | None = None,
        text_ids: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        memory: Sequence[torch.Tensor | None] | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """:meth:`forward` that also reads per-layer memories and returns every layer's input hidden states.

        ``memory[i]`` (B, m·L, hidden) or None is layer i's past input hidden states (see
        :meth:`QFormerLayer.forward`); the returned list holds layer i's input (B, L, hidden) at this step,
        queries and instruction tokens -- what MA-LMM stores in its query memory banks.
        """
        num_queries = query_embeds.shape[1]
        hidden = self.bert.embeddings(query_embeds, text_ids)
        mask = None
        if text_ids is not None and text_mask is not None:
            ones = torch.ones(hidden.shape[0], num_queries, dtype=text_mask.dtype, device=text_mask.device)
            mask = torch.cat([ones, text_mask], dim=1)
        inputs = []
        for i, layer in enumerate(self.bert.encoder.layer):
            inputs.append(hidden)
            past = memory[i] if memory is not None else None
            if self.grad_checkpointing and self.training:
                hidden = checkpoint(
                    layer, hidden, mask, image_embeds, image_mask, num_queries, past, use_reentrant=False
                )
            else:
                hidden = layer(hidden, mask, image_embeds, image_mask, num_queries, past)
        return hidden[:, :num_queries], inputs

    def encode_text(self, text_ids: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """Text alone through the Q-Former's BERT (no queries, no image): hidden states (B, L, hidden).

        BLIP-2's Q-Former doubles as a text encoder; CALCE ranks captions by its [CLS] state.
        """
        if not self.cfg.use_text_input:
            raise ValueError("this Q-Former has no text embeddings (model.qformer.use_text_input: false)")
        no_queries = torch.zeros(text_ids.shape[0], 0, self.cfg.hidden_size, device=text_ids.device)
        hidden = self.bert.embeddings(no_queries, text_ids)
        for layer in self.bert.encoder.layer:
            hidden = layer(hidden, text_mask, None, None, 0)
        return hidden
