"""SeViLA: a localizer that picks keyframes and an answerer that answers from them (Yu et al., NeurIPS 2023).

One frozen EVA ViT and one frozen Flan-T5 carry two named Q-Former branches of the shared body
(:mod:`lavis.models.blip2`): the **answerer** (LAVIS' plain names ``Qformer``, ``query_tokens``,
``t5_proj``, ``ln_vision``, as BLIP-2) and the **localizer** (the same names with ``_loc``), so the released
``sevila_pretrained.pth`` maps one to one.

* Localizer: every sampled frame alone, as ``"Frame: "`` + its localizer queries + the localization prompt;
  its score is the logit of "yes" at the first decoding step (the original's raw logit; ``localizer_score:
  prob`` uses the softmax probability instead). The top ``num_keyframes`` frames are kept in time order.
* Answerer: ``"Frame {i}: "`` + answerer queries for each keyframe, then the question / options prompt; the
  answer is the argmax over the option-letter logits at the second decoding step (after ``"▁Option"``).

What a training step does is the config switch ``mode`` (one model, four behaviours, reference §B.7-B.8):

=====================  ===========================================================  ===============
mode                   forward                                                      trained branch
=====================  ===========================================================  ===============
``localizer_pretrain`` QVHighlights: "yes"/"no" per frame from the relevant windows localizer
``answerer_finetune``  forward chain: the localizer's keyframes → "Option X"        answerer
``localizer_refine``   reverse chain: the frozen answerer labels each frame alone   localizer
                       ("yes" iff it answers right), the localizer learns them
``inference``          zero-shot / evaluation only                                  none
=====================  ===========================================================  ===============

``keyframes: uniform`` replaces the localizer by evenly spaced frames (BLIP-2^concat, the ``uni_eval`` switch);
``answerer_input: voting`` lets each keyframe answer alone and takes the majority (BLIP-2^voting).
A frozen branch is frozen whole -- Q-Former, query tokens, projection and ``ln_vision`` -- and kept in eval mode.
QVHighlights evaluation turns the localizer's "yes" frames into spans (:func:`frame_spans`, the paper's rule).

Weights (all optional, loaded in this order, each by the key rules of its kind): ``vit_pretrained``;
``pretrained`` (``sevila_pretrained.pth``, a BLIP-2 file or an answerer checkpoint: the answerer, and the
localizer if the file has one); ``localizer_init`` (``qformer_loc.pth``, a BLIP-2 file copied under the ``_loc``
names, or a localizer checkpoint: only the localizer is read); ``finetuned`` (the runner's checkpoint of the
mode's trainable tensors). A file that holds part of a branch, or a localizer-using mode whose files hold no
localizer, is an error.

Deliberate differences from the original code: padded frames are never selected; option letters beyond a
sample's option count are never predicted (the original could answer "D" to a 3-option question);
``localizer_init`` never overwrites a fine-tuned localizer (the original's ``load_qformer_loc`` did, §B.15);
the frozen branch's projection and LayerNorm are frozen too (the original left them "trainable" without
gradients, §B.15), and the frozen Q-Former runs in eval mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from lavis.common.config import GenerationConfig, one_of
from lavis.common.errors import CheckpointError, ConfigError
from lavis.common.registry import register_model
from lavis.models.blip2 import FINETUNED, LAVIS_BLIP2
from lavis.models.blip2_t5 import Blip2T5, Blip2T5Config
from lavis.models.checkpoints import KeyRules, load_weights, model_rules
from lavis.models.components.llm import LORA_ADAPTERS
from lavis.models.components.qformer import QFORMER_TEXT_KEYS
from lavis.models.components.vision import EVA_VIT

MODES = ("inference", "localizer_pretrain", "answerer_finetune", "localizer_refine")
TRAINED_BRANCH = {
    "inference": None,
    "localizer_pretrain": "localizer",
    "answerer_finetune": "answerer",
    "localizer_refine": "localizer",
}
LETTERS = "ABCDE"

# --- prompts (reference §B.3) ---------------------------------------------------------------------

QA_SUFFIX = "Considering the information presented in the frame, select the correct answer from the options."
LOC_SUFFIX = "Does the information within the frame provide the necessary details to accurately answer the given question?"
VLEP_QA = "Upon observing the provided frames, what is the most probable subsequent event?"
VLEP_LOC_SUFFIX = "Does the information within the frame provide the necessary details to predict next event?"
PROMPT_STYLES = ("qa", "vlep")


def _options_text(options: Sequence[str]) -> str:
    return " ".join(f"Option {LETTERS[i]}: {option}" for i, option in enumerate(options))


def qa_prompt(question: str, options: Sequence[str], style: str = "qa") -> str:
    """The answerer's prompt: ``Question: {q} Option A: {a0} ... Considering ...`` (VLEP: no question)."""
    _check_options(options, style)
    if style == "vlep":
        return f"{VLEP_QA} {_options_text(options)}"
    return f"Question: {question} {_options_text(options)} {QA_SUFFIX}"


def loc_prompt(question: str, options: Sequence[str], style: str = "qa") -> str:
    """The localizer's prompt: ``Question: {q} Options: ({a0} {a1} ... ) Does the information ...?``."""
    _check_options(options, style)
    if style == "vlep":
        return f"{qa_prompt(question, options, style)} {VLEP_LOC_SUFFIX}"
    return f"Question: {question} Options: ({''.join(o + ' ' for o in options)}) {LOC_SUFFIX}"


def qvh_loc_prompt(query: str) -> str:
    """QVHighlights pre-training: the query (with a final ".") as a yes/no question to the localizer."""
    query = query.strip()
    if not query.endswith("."):
        query += "."
    return f"Question: {query} Option A: yes. Option B: no. {LOC_SUFFIX}"


def _check_options(options: Sequence[str], style: str) -> None:
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {style!r}")
    if not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"SeViLA answers with the letters {LETTERS}: 2..5 options, got {len(options)}")


# --- the pieces of the method, as pure functions --------------------------------------------------


def frame_labels(timestamps: Sequence[float], windows: Sequence[Sequence[float]]) -> list[str]:
    """QVHighlights frame labels: "yes" when the frame time lies in a relevant window (ends included)."""
    return ["yes" if any(s <= t <= e for s, e in windows) else "no" for t in timestamps]


def select_keyframes(scores: torch.Tensor, k: int, frame_mask: torch.Tensor | None = None) -> list[list[int]]:
    """Per sample, the indices of the ``k`` best-scoring real frames, in time order.

    Ties go to the earlier frame; a sample with fewer than ``k`` real frames keeps all of them.
    """
    if k < 1:
        raise ValueError(f"the number of keyframes must be >= 1, got {k}")
    scores = scores.detach().float()
    if frame_mask is not None:
        scores = scores.masked_fill(~frame_mask.bool().to(scores.device), float("-inf"))
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    real = frame_mask.sum(1).tolist() if frame_mask is not None else [scores.shape[1]] * scores.shape[0]
    return [sorted(order[i, : min(k, int(n))].tolist()) for i, n in enumerate(real)]


def uniform_keyframes(num_frames: Sequence[int], k: int) -> list[list[int]]:
    """``k`` evenly spaced frames of each sample (all of them when it has at most ``k``)."""
    out = []
    for n in num_frames:
        n = int(n)
        out.append(list(range(n)) if n <= k else [int((i + 0.5) * n / k) for i in range(k)])
    return out


def choose_options(logits: torch.Tensor, letter_ids: Sequence[int], num_options: Sequence[int]) -> list[int]:
    """Per row, the option index whose letter has the highest logit among the row's first ``n`` letters."""
    letters = logits[:, list(letter_ids)].float()
    limit = (
        torch.arange(letters.shape[1], device=letters.device)[None, :]
        >= torch.tensor([int(n) for n in num_options], device=letters.device)[:, None]
    )
    return letters.masked_fill(limit, float("-inf")).argmax(dim=1).tolist()


def refinement_labels(predictions: Sequence[Sequence[int]], answers: Sequence[int]) -> list[list[str]]:
    """Self-refinement pseudo-labels: a frame is "yes" when the answerer, reading it alone, answers right."""
    return [["yes" if p == int(a) else "no" for p in row] for row, a in zip(predictions, answers)]


def majority_vote(choices: Sequence[int], probs: Sequence[Sequence[float]]) -> int:
    """BLIP-2^voting: the option most frames chose; a tie goes to the tied option with the highest summed
    probability over the frames (then the lower index)."""
    counts: dict[int, int] = {}
    for c in choices:
        counts[int(c)] = counts.get(int(c), 0) + 1
    top = max(counts.values())
    tied = [c for c in sorted(counts) if counts[c] == top]
    return max(tied, key=lambda c: (sum(p[c] for p in probs), -c))


def frame_spans(
    margins: Sequence[float], timestamps: Sequence[float], duration: float, max_gap: int = 6
) -> list[list[float]]:
    """Frame-level yes/no (``margin`` = logit(yes) - logit(no) > 0) → moment windows, best first.

    The paper's aggregation (§B.8): "yes" frames form one span until more than ``max_gap`` consecutive "no"
    frames separate them. A span covers its frames' sampling intervals (half the mean frame spacing around
    each first / last frame, clipped to the video) and is ranked by the mean margin of its "yes" frames.
    With no "yes" frame, the single best frame's interval is returned (the answer is then marked invalid).
    """
    n = len(margins)
    if n == 0:
        return []
    half = duration / (2 * n)

    def window(first: int, last: int) -> list[float]:
        return [
            max(0.0, float(timestamps[first]) - half),
            min(float(duration), float(timestamps[last]) + half),
        ]

    yes = [i for i, m in enumerate(margins) if m > 0]
    if not yes:
        best = max(range(n), key=lambda i: margins[i])
        return [window(best, best)]
    groups: list[list[int]] = [[yes[0]]]
    for i in yes[1:]:
        if i - groups[-1][-1] - 1 > max_gap:
            groups.append([i])
        else:
            groups[-1].append(i)
    ranked = sorted(groups, key=lambda g: -sum(margins[i] for i in g) / len(g))
    return [window(g[0], g[-1]) for g in ranked]


# --- checkpoint rules -----------------------------------------------------------------------------

LOCALIZER_PARTS = r"(Qformer_loc\.|query_tokens_loc$|t5_proj_loc\.|ln_vision_loc\.)"

SEVILA_PRETRAINED = dataclasses.replace(
    LAVIS_BLIP2,
    kind="sevila_pretrained",
    about="SeViLA's sevila_pretrained.pth ({'model': ...}): the QVH-pretrained localizer (*_loc) and the "
    "zero-shot BLIP-2 answerer; also a BLIP-2 file or an answerer checkpoint (localizer then from localizer_init)",
    optional_parts=(
        "visual_encoder.",
        "{llm}.",
        "Qformer_loc.",
        "query_tokens_loc",
        "t5_proj_loc.",
        "ln_vision_loc.",
    ),
    detect=r"^(Qformer\.|query_tokens$)",  # the answerer is required; a localizer-only file is sevila_localizer
)
# A localizer file is read for its localizer only: every other key it holds (an answerer, a ViT, a T5) is set
# aside under this prefix and dropped, so ``localizer_init`` never overwrites what ``pretrained`` loaded.
NOT_LOCALIZER = "__not_for_the_localizer__."
SEVILA_LOCALIZER = KeyRules(
    kind="sevila_localizer",
    about="a localizer under SeViLA's _loc names (qformer_loc.pth, sevila_pretrained.pth, a localizer "
    "checkpoint): the *_loc tensors are loaded; anything else in the file is ignored",
    renames=((rf"^(?!{LOCALIZER_PARTS})", NOT_LOCALIZER),),
    drop=(*QFORMER_TEXT_KEYS, "^" + re.escape(NOT_LOCALIZER)),
    missing_ok=(rf"^(?!{LOCALIZER_PARTS})", LORA_ADAPTERS),
    optional_parts=("t5_proj_loc.", "ln_vision_loc."),
    detect=r"^(Qformer_loc\.|query_tokens_loc$)",
    config_key="localizer_init",
)
BLIP2_AS_LOCALIZER = KeyRules(
    kind="blip2_as_localizer",
    about="a BLIP-2 file (blip2_pretrained_flant5xl.pth) or an answerer checkpoint copied into the localizer: "
    "Qformer → Qformer_loc, query_tokens → query_tokens_loc, ...; anything else in the file is ignored",
    # (rename patterns take no placeholders: t5_proj is SeViLA's projection name)
    renames=((r"^(Qformer|query_tokens|t5_proj|ln_vision)(?=\.|$)", r"\1_loc"), (r"^", NOT_LOCALIZER)),
    drop=(*QFORMER_TEXT_KEYS, "^" + re.escape(NOT_LOCALIZER)),
    missing_ok=(rf"^(?!{LOCALIZER_PARTS})", LORA_ADAPTERS),
    optional_parts=("t5_proj_loc.", "ln_vision_loc."),
    detect=r"^Qformer\.",
    config_key="localizer_init",
)
SEVILA_FINETUNED = dataclasses.replace(
    FINETUNED,
    kind="sevila_finetuned",
    about="a SeViLA checkpoint of the trainable tensors of the configured mode (the runner's checkpoint_best.pth)",
    detect=r"^(ln_vision|{proj}|Qformer|query_tokens)(_loc)?(\.|$)",
)
WEIGHT_KEYS = ("vit_pretrained", "pretrained", "localizer_init", "finetuned")  # in loading order


@dataclass
class SeViLAConfig(Blip2T5Config):
    arch: str = "sevila"
    model_type: str = "flant5xl"
    mode: str = one_of("inference", *MODES)
    keyframes: str = one_of("localizer", "localizer", "uniform")  # uniform: BLIP-2^concat (no localizer)
    num_keyframes: int = 4  # the original's model.frame_num
    # concat: one answer from all keyframes ("Frame i: " + queries each); voting: each keyframe answers alone
    # and the majority wins (BLIP-2^voting, the original's task strings without "vid")
    answerer_input: str = one_of("concat", "concat", "voting")
    localizer_score: str = one_of("logit", "logit", "prob")  # logit: the original code; prob: softmax p(yes)
    # inference reads the letter logits after the greedy first token (the original's scores[1]); forced: after "Option"
    answer_step: str = one_of("greedy", "greedy", "forced")
    max_txt_len: int = 77  # prompt tokens (the original's fixed limit, right truncation)
    max_target_len: int = 8
    localizer_init: str | None = None  # qformer_loc.pth, a BLIP-2 file, or a localizer checkpoint
    span_max_gap: int = 6  # QVH evaluation: more "no" frames than this between "yes" frames start a new span


@register_model("sevila")
class SeViLA(Blip2T5):
    Config = SeViLAConfig
    QFORMERS: ClassVar[dict[str, str]] = {"answerer": "", "localizer": "_loc"}
    FEATURE_CACHE_LEVELS: ClassVar[tuple[str, ...]] = ("vit",)  # its Q-Formers train
    inference_tasks = ("multiple_choice_qa",)  # lavis.inference: video + question + options -> the option
    PRETRAINED_MODEL_CONFIG_DICT = {
        "flant5xl": "configs/models/sevila/flant5xl.yaml",
        "tiny": "configs/models/sevila/tiny.yaml",
    }

    def __init__(self, cfg: SeViLAConfig, tokenizer: Any | None = None) -> None:
        if cfg.lora.enabled:
            raise ConfigError(
                "model.lora.enabled: SeViLA trains its Q-Formers, not LoRA adapters; set it false"
            )
        if not cfg.freeze_qformer or not cfg.train_ln_vision:
            raise ConfigError(
                "model.freeze_qformer / model.train_ln_vision do not apply to SeViLA: model.mode decides which "
                "branch (Q-Former, queries, projection, ln_vision) trains; leave them at their defaults"
            )
        super().__init__(cfg, tokenizer)
        self._setup_token_ids()

    @classmethod
    def from_config(cls, cfg) -> SeViLA:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_object(cfg)
        model = cls(cfg)
        model.load_weights_in_order()
        return model

    def load_weights_in_order(self) -> list:
        """ViT → ``pretrained`` → ``localizer_init`` → ``finetuned``; each file's kind is detected among the
        rules for its config key, so a later file only ever refines an earlier one."""
        rules = model_rules(self)
        reports = []
        for key in WEIGHT_KEYS:
            path = getattr(self.cfg, key, None)
            if path:
                kinds = [r.kind for r in rules.values() if r.config_key == key]
                report = load_weights(self, path, "auto", self.cfg.allow_partial_load, candidates=kinds)
                if not self.cfg.allow_partial_load:
                    self.check_whole_branches(report)
                reports.append(report)
        uses_localizer = (
            self.cfg.mode in ("localizer_pretrain", "localizer_refine") or self.cfg.keyframes == "localizer"
        )
        loc = self.branches["localizer"].qformer + "."
        loaded_loc = any(k.startswith(loc) for r in reports for k in r.loaded)
        if self.cfg.pretrained and uses_localizer and not loaded_loc and not self.cfg.allow_partial_load:
            raise ConfigError(
                f"model.mode={self.cfg.mode} (keyframes: {self.cfg.keyframes}) uses the localizer, but no "
                "configured file holds it: set model.localizer_init (qformer_loc.pth, a BLIP-2 file or a "
                "localizer checkpoint) or give a `pretrained` file with the _loc keys (sevila_pretrained.pth)"
            )
        return reports

    def check_whole_branches(self, report: Any) -> None:
        """A file gives a branch whole or not at all: its Q-Former with its query tokens, and for
        ``sevila_pretrained`` also its projection and LayerNorm (key rules can only make each part optional)."""
        loaded = set(report.loaded)
        for name, branch in self.branches.items():
            parts = {"Q-Former": branch.qformer + ".", "query tokens": branch.query_tokens}
            if report.kind == SEVILA_PRETRAINED.kind:
                parts.update(projection=self.projection_name(name) + ".", LayerNorm=branch.ln_vision + ".")
            present = {
                what: any(k == prefix or (prefix.endswith(".") and k.startswith(prefix)) for k in loaded)
                for what, prefix in parts.items()
            }
            if any(present.values()) and not all(present.values()):
                absent = ", ".join(
                    f"{what} ({parts[what].rstrip('.')})" for what, ok in present.items() if not ok
                )
                raise CheckpointError(
                    f"{report.source}: the {name} branch is incomplete: no {absent} beside its other parts. "
                    "Fix the file, or set model.allow_partial_load=true to keep the random initialisation."
                )

    def checkpoint_rules(self) -> list[KeyRules]:
        rules = [SEVILA_PRETRAINED, EVA_VIT, SEVILA_LOCALIZER, BLIP2_AS_LOCALIZER, SEVILA_FINETUNED]
        return rules + [r for r in super().checkpoint_rules() if r.config_key == "llm.path"]

    def _setup_token_ids(self) -> None:
        tok = self.tokenizer

        def single(text: str) -> int:
            ids = tok(text, add_special_tokens=False).input_ids
            if len(ids) != 1:
                raise ConfigError(f"SeViLA needs {text!r} as one token; this tokenizer gives {ids}")
            return ids[0]

        self.yes_id, self.no_id = single("yes"), single("no")
        self.option_prefix = tok("Option", add_special_tokens=False).input_ids
        self.letter_ids = []
        for letter in LETTERS:
            ids = tok(f"Option {letter}", add_special_tokens=False).input_ids
            if ids[:-1] != self.option_prefix:
                raise ConfigError(
                    f"'Option {letter}' does not tokenize as 'Option' + one letter token: {ids}"
                )
            self.letter_ids.append(ids[-1])
        self._prefix_cache: dict[str, list[int]] = {}

    # --- freezing --------------------------------------------------------------------------------

    @property
    def trained_branch(self) -> str | None:
        return TRAINED_BRANCH[self.cfg.mode]

    def apply_freezing(self) -> None:
        self.visual_encoder.requires_grad_(not self.cfg.freeze_vit)
        self.llm.model.requires_grad_(not self.cfg.freeze_llm)
        for branch in self.branches:
            trained = branch == self.trained_branch
            for kind in ("ln_vision", "qformer", "proj"):
                self.part(kind, branch).requires_grad_(trained)
            self.part("query_tokens", branch).requires_grad_(trained)

    def train(self, mode: bool = True) -> SeViLA:
        nn.Module.train(self, mode)
        if self.cfg.freeze_vit:
            self.visual_encoder.eval()
        for branch in self.branches:
            if branch != self.trained_branch:
                self.part("qformer", branch).eval()
        return self

    def expected_missing_keys(self) -> list[str]:
        patterns = [r"^visual_encoder\."] if self.cfg.freeze_vit else []
        if self.cfg.freeze_llm:
            patterns.append(rf"^{self.llm.module_name}\.")
        for name, branch in self.branches.items():
            if name != self.trained_branch:
                proj = self.projection_name(name)
                patterns += [
                    rf"^{branch.qformer}\.",
                    rf"^{branch.query_tokens}$",
                    rf"^{branch.ln_vision}\.",
                    rf"^{proj}\.",
                ]
        return patterns

    # --- encoding --------------------------------------------------------------------------------

    def frame_prefix_ids(self, index: int | None = None) -> list[int]:
        """``"Frame: "`` (one frame alone) or ``"Frame {index}: "`` (keyframe ``index``, from 1), no specials."""
        text = "Frame: " if index is None else f"Frame {index}: "
        if text not in self._prefix_cache:
            self._prefix_cache[text] = self.tokenizer(text, add_special_tokens=False).input_ids
        return self._prefix_cache[text]

    def vit_tokens(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Every real frame through the ViT once: (B, T, tokens, width) (zeros where padded) and (B, T) mask."""
        video = samples["video"].to(self.device)
        if video.dim() == 4:
            video = video.unsqueeze(1)
        b, t = video.shape[:2]
        mask = samples.get("frame_mask")
        mask = (
            mask.to(self.device).bool()
            if mask is not None
            else torch.ones(b, t, dtype=torch.bool, device=self.device)
        )
        real = self.frozen_vit_tokens(video[mask], samples.get("frame_source"))
        out = real.new_zeros(b, t, *real.shape[1:])
        out[mask] = real
        return out, mask

    def branch_embeddings(self, vit: torch.Tensor, branch: str) -> torch.Tensor:
        """ViT tokens (N, tokens, width) → the branch's projected queries (N, num_queries, d_model)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and branch == self.trained_branch):
            tokens = self.part("ln_vision", branch)(vit.float())
            queries = self.part("query_tokens", branch).expand(tokens.shape[0], -1, -1)
            return self.part("proj", branch)(self.part("qformer", branch)(queries, tokens))

    def pack(self, rows: list[list[torch.Tensor | list[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of segments (token ids or embeddings) → right-padded encoder input embeddings and mask."""
        device = self.device
        dtype = self.llm.embed(torch.zeros(1, dtype=torch.long, device=device)).dtype
        seqs = []
        for row in rows:
            parts = []
            for seg in row:
                if isinstance(seg, torch.Tensor):
                    parts.append(seg.to(dtype))
                else:
                    parts.append(self.llm.embed(torch.tensor(seg, dtype=torch.long, device=device)))
            seqs.append(torch.cat(parts, dim=0))
        width = max(s.shape[0] for s in seqs)
        embeds = seqs[0].new_zeros(len(seqs), width, seqs[0].shape[-1])
        mask = torch.zeros(len(seqs), width, dtype=torch.long, device=device)
        for i, s in enumerate(seqs):
            embeds[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = 1
        return embeds, mask

    def prompt_ids(self, texts: list[str]) -> list[list[int]]:
        return self.llm.encode(texts, self.cfg.max_txt_len)

    @staticmethod
    def styles(samples: dict[str, Any]) -> list[str]:
        return list(samples.get("prompt_style") or ["qa"] * len(samples["options"]))

    def qa_prompts(self, samples: dict[str, Any]) -> list[str]:
        return [
            qa_prompt(q, o, s)
            for q, o, s in zip(samples["question"], samples["options"], self.styles(samples))
        ]

    def loc_prompts(self, samples: dict[str, Any]) -> list[str]:
        if "options" not in samples:  # QVHighlights pre-training: a query, no options
            return [qvh_loc_prompt(q) for q in samples["query"]]
        return [
            loc_prompt(q, o, s)
            for q, o, s in zip(samples["question"], samples["options"], self.styles(samples))
        ]

    def single_frame_inputs(
        self, vit: torch.Tensor, mask: torch.Tensor, branch: str, prompts: list[str]
    ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        """One sequence per real frame: ``"Frame: "`` + the branch's queries + the sample's prompt.

        Returns the encoder input and, per row, its ``(sample, frame)``.
        """
        where = [(i, j) for i, j in mask.nonzero().tolist()]
        queries = self.branch_embeddings(vit[mask], branch)
        ids = self.prompt_ids(prompts)
        prefix = self.frame_prefix_ids()
        rows = [[prefix, queries[r], ids[i]] for r, (i, _) in enumerate(where)]
        embeds, emask = self.pack(rows)
        return embeds, emask, where

    def localizer_scores(self, vit: torch.Tensor, mask: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """(B, T) frame scores: the "yes" logit (or probability) at the first decoding step; -inf where padded."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.trained_branch == "localizer"):
            embeds, emask, where = self.single_frame_inputs(vit, mask, "localizer", prompts)
            logits = self.llm.logits(embeds, emask).float()
        values = (
            logits.softmax(-1)[:, self.yes_id]
            if self.cfg.localizer_score == "prob"
            else logits[:, self.yes_id]
        )
        scores = torch.full(mask.shape, float("-inf"), device=values.device)
        rows, cols = zip(*where)
        scores[list(rows), list(cols)] = values
        return scores

    def keyframe_indices(
        self, samples: dict[str, Any], vit: torch.Tensor, mask: torch.Tensor
    ) -> tuple[list[list[int]], torch.Tensor | None]:
        """The frames the answerer reads and the localizer's scores (None with ``keyframes: uniform``)."""
        k = self.cfg.num_keyframes
        if self.cfg.keyframes == "uniform":
            return uniform_keyframes(mask.sum(1).tolist(), k), None
        with torch.no_grad():
            scores = self.localizer_scores(vit.detach(), mask, self.loc_prompts(samples))
        return select_keyframes(scores, k, mask), scores

    def answerer_inputs(
        self, vit: torch.Tensor, keyframes: list[list[int]], prompts: list[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample: ``"Frame {i}: "`` + answerer queries of keyframe i, for each keyframe, then the prompt."""
        flat = torch.stack([vit[i, j] for i, frames in enumerate(keyframes) for j in frames])
        queries = self.branch_embeddings(flat, "answerer")
        ids = self.prompt_ids(prompts)
        rows, r = [], 0
        for i, frames in enumerate(keyframes):
            row: list[Any] = []
            for n in range(1, len(frames) + 1):
                row += [self.frame_prefix_ids(n), queries[r]]
                r += 1
            rows.append(row + [ids[i]])
        return self.pack(rows)

    def letter_logits(self, embeds: torch.Tensor, mask: torch.Tensor, step: str) -> torch.Tensor:
        """Logits at the second decoding step: after ``"▁Option"`` (forced) or after the greedy first token."""
        b = embeds.shape[0]
        if step == "forced":
            cont = torch.tensor(self.option_prefix, device=embeds.device).repeat(b, 1)
        else:
            cont = self.llm.logits(embeds, mask).argmax(-1, keepdim=True)
        return self.llm.logits(embeds, mask, cont)

    # --- training --------------------------------------------------------------------------------

    @staticmethod
    def answer_texts(answers: Sequence[int]) -> list[str]:
        return [f"Option {LETTERS[int(a)]}" for a in answers]

    def training_inputs(self, samples: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """The mode's encoder input, mask and target texts (one row per frame for the localizer modes)."""
        mode = self.cfg.mode
        vit, mask = self.vit_tokens(samples)
        if mode == "localizer_pretrain":
            embeds, emask, where = self.single_frame_inputs(vit, mask, "localizer", self.loc_prompts(samples))
            labels = [
                frame_labels(ts[: int(n)], w)
                for ts, n, w in zip(
                    samples["timestamps"].tolist(), mask.sum(1).tolist(), samples["relevant_windows"]
                )
            ]
            return embeds, emask, [labels[i][j] for i, j in where]
        if mode == "localizer_refine":
            labels = self.pseudo_labels(samples, vit, mask)
            embeds, emask, where = self.single_frame_inputs(vit, mask, "localizer", self.loc_prompts(samples))
            return embeds, emask, [labels[i][j] for i, j in where]
        keyframes, _ = self.keyframe_indices(samples, vit, mask)
        targets = self.answer_texts(samples["answer"])
        if self.cfg.answerer_input == "voting":  # every keyframe alone learns the answer
            embeds, emask, where = self.single_frame_inputs(
                vit, self.keyframe_mask(keyframes, mask), "answerer", self.qa_prompts(samples)
            )
            return embeds, emask, [targets[i] for i, _ in where]
        embeds, emask = self.answerer_inputs(vit, keyframes, self.qa_prompts(samples))
        return embeds, emask, targets

    @staticmethod
    def keyframe_mask(keyframes: list[list[int]], like: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(like, dtype=torch.bool)
        for i, frames in enumerate(keyframes):
            out[i, frames] = True
        return out

    @torch.no_grad()
    def pseudo_labels(
        self, samples: dict[str, Any], vit: torch.Tensor, mask: torch.Tensor
    ) -> list[list[str]]:
        """The reverse chain: per sample and real frame, "yes" iff the answerer reading that frame alone
        (``"Frame: "`` + queries + QA prompt, letter logits after a forced ``"▁Option"``) picks the answer."""
        embeds, emask, where = self.single_frame_inputs(
            vit.detach(), mask, "answerer", self.qa_prompts(samples)
        )
        logits = self.letter_logits(embeds, emask, "forced")
        counts = [len(samples["options"][i]) for i, _ in where]
        chosen = choose_options(logits, self.letter_ids, counts)
        per_sample: list[list[int]] = [[] for _ in range(mask.shape[0])]
        for (i, _), c in zip(where, chosen):
            per_sample[i].append(c)
        return refinement_labels(per_sample, samples["answer"])

    def forward(self, samples: dict[str, Any]) -> dict[str, torch.Tensor]:
        if self.trained_branch is None:
            raise ConfigError("model.mode is 'inference': nothing to train; choose a training mode")
        embeds, mask, targets = self.training_inputs(samples)
        return self.llm.loss(embeds, mask, targets, self.cfg.max_target_len)

    # --- inference -------------------------------------------------------------------------------

    @torch.no_grad()
    def predict(
        self, samples: dict[str, Any], generation: GenerationConfig | None = None, **overrides: Any
    ) -> list[dict[str, Any]]:
        """Per question: ``prediction`` (option index), ``text``, ``frame_idx`` and ``keyframe_times`` (s), and
        the localizer's ``frame_scores``. QVHighlights pre-training (no options): per frame "yes"/"no".

        Decoding settings do not apply: answers are read from letter logits, not generated.
        """
        vit, mask = self.vit_tokens(samples)
        if "options" not in samples:
            return self.predict_frames(samples, vit, mask)
        keyframes, scores = self.keyframe_indices(samples, vit, mask)
        counts = [len(o) for o in samples["options"]]
        per_frame = None
        if self.cfg.answerer_input == "voting":
            chosen, per_frame = self.vote(vit, keyframes, mask, samples, counts)
        else:
            embeds, emask = self.answerer_inputs(vit, keyframes, self.qa_prompts(samples))
            logits = self.letter_logits(embeds, emask, self.cfg.answer_step)
            chosen = choose_options(logits, self.letter_ids, counts)
            letters = logits[:, self.letter_ids].float()
            option_scores = [letters[i, :n].softmax(-1).tolist() for i, n in enumerate(counts)]
        times = samples.get("timestamps")
        out = []
        for i, (c, frames) in enumerate(zip(chosen, keyframes)):
            row = {"prediction": int(c), "text": f"Option {LETTERS[c]}", "frame_idx": frames}
            if per_frame is not None:
                row["frame_predictions"] = per_frame[i]
                row["option_scores"] = [per_frame[i].count(k) / len(per_frame[i]) for k in range(counts[i])]
            else:
                row["option_scores"] = option_scores[i]
            if times is not None:
                row["keyframe_times"] = [float(times[i][j]) for j in frames]
            if scores is not None:
                row["frame_scores"] = [float(s) for s in scores[i][mask[i]].tolist()]
            out.append(row)
        return out

    def vote(
        self,
        vit: torch.Tensor,
        keyframes: list[list[int]],
        mask: torch.Tensor,
        samples: dict[str, Any],
        counts: list[int],
    ) -> tuple[list[int], list[list[int]]]:
        """BLIP-2^voting: each keyframe alone (``"Frame: "`` + queries + QA prompt) → its option; the majority."""
        embeds, emask, where = self.single_frame_inputs(
            vit, self.keyframe_mask(keyframes, mask), "answerer", self.qa_prompts(samples)
        )
        logits = self.letter_logits(embeds, emask, self.cfg.answer_step)
        rows = choose_options(logits, self.letter_ids, [counts[i] for i, _ in where])
        probs = logits[:, self.letter_ids].float().softmax(-1).tolist()
        per_frame: list[list[int]] = [[] for _ in keyframes]
        per_probs: list[list[list[float]]] = [[] for _ in keyframes]
        for (i, _), c, p in zip(where, rows, probs):
            per_frame[i].append(c)
            per_probs[i].append(p)
        return [majority_vote(c, p) for c, p in zip(per_frame, per_probs)], per_frame

    def predict_multiple_choice(self, predictor: Any, video: Any, question: str, options: list[str]) -> Any:
        """One question on one video for :mod:`lavis.inference` (``Predictor.multiple_choice``): the sample is
        built by the evaluation dataset class with the predictor's frame processor and prompt settings."""
        from lavis.datasets.mc_video_qa import MultipleChoiceQADataset
        from lavis.inference.results import MultipleChoiceResult  # the result type of the calling layer

        class OneVideo(MultipleChoiceQADataset):
            def video_path(self, rec: dict[str, Any]) -> Any:
                return rec["_source"]

        settings = {k: v for k, v in predictor.dataset_kwargs.items() if k in ("prompt_style", "punctuate")}
        record = {
            "video": str(video),
            "qid": "q0",
            "question": question,
            "options": list(options),
            "answer": 0,
            "_source": video,
        }
        dataset = OneVideo(
            "<lavis.inference>",
            ".",
            predictor.processor,
            benchmark="how2qa",
            video_ext="",
            seed=predictor.seed,
            records=[record],
            **settings,
        )
        batch = dataset.collater([dataset[0]])
        context = predictor._autocast() if hasattr(predictor, "_autocast") else contextlib.nullcontext()
        with torch.no_grad(), context:
            out = self.predict(batch)[0]
        return MultipleChoiceResult(
            video=str(video),
            question=question,
            options=list(options),
            answer_index=int(out["prediction"]),
            scores=[round(float(x), 4) for x in out["option_scores"]],
            keyframes=[round(float(t), 2) for t in out.get("keyframe_times", [])],
            model=getattr(predictor, "label", "sevila"),
        )

    def predict_frames(
        self, samples: dict[str, Any], vit: torch.Tensor, mask: torch.Tensor
    ) -> list[dict[str, Any]]:
        """Localizer pre-training evaluation (QVHighlights): per frame the argmax of the [no, yes] logits, and
        the "yes" frames aggregated into windows (:func:`frame_spans`) for the moment-retrieval metrics."""
        embeds, emask, where = self.single_frame_inputs(vit, mask, "localizer", self.loc_prompts(samples))
        logits = self.llm.logits(embeds, emask).float()
        margins = (logits[:, self.yes_id] - logits[:, self.no_id]).tolist()
        per_sample: list[list[float]] = [[] for _ in range(mask.shape[0])]
        for (i, _), m in zip(where, margins):
            per_sample[i].append(m)
        out = []
        for i, m in enumerate(per_sample):
            frames = ["yes" if v > 0 else "no" for v in m]
            times = samples["timestamps"][i][: len(m)].tolist()
            windows = frame_spans(m, times, float(samples["duration"][i]), self.cfg.span_max_gap)
            text = "_".join(frames)
            out.append(
                {"frames": frames, "raw": text, "text": text, "windows": windows, "valid": "yes" in frames}
            )
        return out

    def dummy_inputs(self, batch_size: int = 2, num_frames: int = 3) -> dict[str, Any]:
        samples = super().dummy_inputs(batch_size, num_frames)
        options = [["red", "green", "blue"], ["a circle", "a square", "a star", "a bar", "nothing"]]
        samples.update(
            question=[f"what colour is shape {i}?" for i in range(batch_size)],
            options=[options[i % 2] for i in range(batch_size)],
            answer=[i % 3 for i in range(batch_size)],
            prompt_style=["qa"] * batch_size,
            query=[f"the screen turns red {i}" for i in range(batch_size)],
            relevant_windows=[[[0.0, 1.0]] for _ in range(batch_size)],
        )
        return samples
