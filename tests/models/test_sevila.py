"""SeViLA: keyframe selection, prompts and their token layout, the option argmax, the modes' targets and freezing."""

from __future__ import annotations

import warnings

import pytest
import torch
from omegaconf import OmegaConf

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.common.errors import ConfigError
from lavis.models.sevila import (
    SeViLA,
    choose_options,
    frame_labels,
    loc_prompt,
    qa_prompt,
    qvh_loc_prompt,
    refinement_labels,
    select_keyframes,
    uniform_keyframes,
)


def tiny_sevila(seed: int = 0, **overrides) -> SeViLA:
    preset = load_yaml(default_config_path("configs/models/sevila/tiny.yaml"))
    cfg = merge_with_schema(SeViLA.Config, preset, OmegaConf.create(overrides), path="model", source="test")
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SeViLA(OmegaConf.to_object(cfg))


# --- pure pieces ----------------------------------------------------------------------------------


def test_top_k_keyframes_are_the_best_scores_in_time_order():
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.7, 0.2], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    assert select_keyframes(scores, 3) == [[1, 3, 4], [0, 1, 2]]
    assert select_keyframes(scores, 1) == [[1], [0]]


def test_keyframes_skip_padding_prefer_earlier_ties_and_keep_short_clips_whole():
    scores = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 2.0, 9.0, 9.0]])
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    assert select_keyframes(scores, 2, mask) == [[0, 1], [0, 1]]
    assert select_keyframes(scores, 3, mask) == [[0, 1, 2], [0, 1]]
    assert uniform_keyframes([32, 3], 4) == [[4, 12, 20, 28], [0, 1, 2]]


def test_option_argmax_reads_only_the_letter_ids_of_the_real_options():
    letter_ids = [71, 272, 205, 309, 262]
    logits = torch.zeros(3, 32128)
    logits[:, 0] = 100.0  # a non-letter token is never an answer
    logits[0, 205] = 3.0  # C
    logits[1, 262] = 9.0  # E, but the question has 3 options ...
    logits[1, 272] = 1.0  # ... so B
    logits[2, [71, 272]] = torch.tensor([-1.0, -2.0])  # A
    assert choose_options(logits, letter_ids, [5, 3, 2]) == [2, 1, 0]


def test_qvh_frame_labels_come_from_the_relevant_windows_ends_included():
    assert frame_labels([0.0, 2.0, 4.0, 6.0, 8.0], [[2.0, 4.0], [7.5, 9.0]]) == [
        "no",
        "yes",
        "yes",
        "no",
        "yes",
    ]
    assert frame_labels([1.0, 2.0], []) == ["no", "no"]


def test_refinement_pseudo_labels_follow_the_rule():
    # per frame, the answerer's choice from that frame alone; "yes" iff it equals the answer
    assert refinement_labels([[2, 0, 2, 1], [1, 1, 1]], [2, 0]) == [
        ["yes", "no", "yes", "no"],
        ["no", "no", "no"],
    ]


def test_prompts_are_the_reference_strings():
    q, opts = "why did the boy run?", ["to play.", "to eat.", "to hide."]
    assert qa_prompt(q, opts) == (
        "Question: why did the boy run? Option A: to play. Option B: to eat. Option C: to hide. "
        "Considering the information presented in the frame, select the correct answer from the options."
    )
    assert loc_prompt(q, opts) == (
        "Question: why did the boy run? Options: (to play. to eat. to hide. ) Does the information within the "
        "frame provide the necessary details to accurately answer the given question?"
    )
    assert qa_prompt("ignored", ["a", "b"], "vlep") == (
        "Upon observing the provided frames, what is the most probable subsequent event? Option A: a Option B: b"
    )
    assert loc_prompt("ignored", ["a", "b"], "vlep").endswith(
        "Option B: b Does the information within the frame provide the necessary details to predict next event?"
    )
    assert (
        qvh_loc_prompt("a man talks")
        == qvh_loc_prompt("a man talks.")
        == (
            "Question: a man talks. Option A: yes. Option B: no. Does the information within the frame provide the "
            "necessary details to accurately answer the given question?"
        )
    )
    with pytest.raises(ValueError, match="2..5 options"):
        qa_prompt(q, ["a"] * 6)


# --- token layout with the real Flan-T5 tokenizer ---------------------------------------------------


@pytest.fixture(scope="module")
def flan_model(flan_t5_tokenizer_dir):
    return tiny_sevila(llm={"tokenizer": str(flan_t5_tokenizer_dir)}).eval()


def test_flan_t5_ids_are_the_reference_constants(flan_model):
    assert flan_model.letter_ids == [71, 272, 205, 309, 262]
    assert (flan_model.yes_id, flan_model.no_id) == (4273, 150)
    assert flan_model.option_prefix == [10231]  # "▁Option"
    assert flan_model.frame_prefix_ids() == [16015, 10]  # "▁Frame", ":"
    assert flan_model.frame_prefix_ids(3) == [16015, 220, 10]  # "▁Frame", "▁3", ":"


def test_answerer_input_is_frame_prefixes_and_queries_per_keyframe_then_the_prompt(flan_model, monkeypatch):
    model = flan_model
    samples = model.dummy_inputs(batch_size=2, num_frames=3)
    captured = {}
    original = model.pack

    def spy(rows):
        captured["rows"] = rows
        return original(rows)

    monkeypatch.setattr(model, "pack", spy)
    vit, mask = model.vit_tokens(samples)
    embeds, emask = model.answerer_inputs(vit, [[0, 2], [1]], model.qa_prompts(samples))
    rows = captured["rows"]
    nq = model.cfg.qformer.num_query_tokens
    tok = model.tokenizer
    prompt0 = tok(model.qa_prompts(samples)[0]).input_ids
    assert prompt0[-1] == 1 and len(prompt0) <= 77
    first = rows[0]
    assert first[0] == tok("Frame 1: ", add_special_tokens=False).input_ids == [16015, 209, 10]
    assert first[1].shape == (nq, model.llm.hidden_size)
    assert first[2] == [16015, 204, 10] and first[3].shape[0] == nq  # "Frame 2: " for the second keyframe
    assert first[4] == prompt0
    assert len(rows[1]) == 3 and rows[1][0] == [16015, 209, 10]
    # the sequence: 2 x (3 + Nq) + prompt; the shorter sample is padded and masked
    assert int(emask[0].sum()) == 2 * (3 + nq) + len(prompt0)
    assert int(emask[1].sum()) == 3 + nq + len(tok(model.qa_prompts(samples)[1]).input_ids)
    # keyframe 2 of sample 0 is frame index 2: its queries are that frame's
    alone = model.branch_embeddings(vit[0, 2:3], "answerer")[0]
    torch.testing.assert_close(first[3], alone)


def test_long_prompts_are_cut_at_77_tokens_keeping_eos(flan_model):
    ids = flan_model.prompt_ids([qa_prompt("why " * 100, ["a", "b"])])[0]
    assert len(ids) == 77 and ids[-1] == 1


# --- modes: trainable parameters and targets ---------------------------------------------------------


BRANCH_PARTS = {
    "answerer": {"Qformer", "query_tokens", "t5_proj", "ln_vision"},
    "localizer": {"Qformer_loc", "query_tokens_loc", "t5_proj_loc", "ln_vision_loc"},
}


def trainable_roots(model) -> set[str]:
    return {n.split(".")[0] for n in model.trainable_parameter_names()}


@pytest.mark.parametrize(
    "mode, branch",
    [
        ("localizer_pretrain", "localizer"),
        ("answerer_finetune", "answerer"),
        ("localizer_refine", "localizer"),
        ("inference", None),
    ],
)
def test_each_mode_trains_exactly_its_branch(mode, branch):
    model = tiny_sevila(mode=mode, freeze_vit=True, freeze_llm=True)
    assert trainable_roots(model) == (BRANCH_PARTS[branch] if branch else set())
    model.train()
    other = "localizer" if branch == "answerer" else "answerer"
    assert not model.part("qformer", other).training
    if branch:
        assert model.part("qformer", branch).training


def test_localizer_pretrain_targets_are_frame_labels_from_the_windows():
    model = tiny_sevila(mode="localizer_pretrain")
    samples = model.dummy_inputs(
        batch_size=2, num_frames=3
    )  # timestamps 0.5, 1.5, 2.5; sample 1 has 2 frames
    del samples["options"]
    samples["relevant_windows"] = [[[1.0, 3.0]], [[0.0, 0.5]]]
    embeds, mask, targets = model.training_inputs(samples)
    assert targets == ["no", "yes", "yes", "yes", "no"]
    assert embeds.shape[0] == 5


def test_answerer_finetune_reads_the_localizer_keyframes_and_targets_option_letters(monkeypatch):
    model = tiny_sevila(mode="answerer_finetune", num_keyframes=2)
    samples = model.dummy_inputs(batch_size=2, num_frames=3)
    samples["answer"] = [2, 4]
    fixed = torch.tensor([[0.0, 5.0, 4.0], [3.0, 1.0, float("-inf")]])
    monkeypatch.setattr(model, "localizer_scores", lambda vit, mask, prompts: fixed)
    seen = {}
    original = model.answerer_inputs

    def spy(vit, keyframes, prompts):
        seen["keyframes"] = keyframes
        return original(vit, keyframes, prompts)

    monkeypatch.setattr(model, "answerer_inputs", spy)
    _, _, targets = model.training_inputs(samples)
    assert targets == ["Option C", "Option E"]
    assert seen["keyframes"] == [[1, 2], [0, 1]]


def test_localizer_refine_targets_are_the_answerer_pseudo_labels(monkeypatch):
    model = tiny_sevila(mode="localizer_refine")
    samples = model.dummy_inputs(batch_size=2, num_frames=3)  # 3 + 2 real frames
    samples["answer"] = [1, 0]
    letters = torch.tensor(model.letter_ids)
    # per real frame the answerer's letter logits: frame choices [1, 0, 1] and [0, 2]
    choices = [1, 0, 1, 0, 2]
    logits = torch.zeros(5, len(model.tokenizer))
    for r, c in enumerate(choices):
        logits[r, letters[c]] = 1.0
    calls = []

    def fake(embeds, mask, step):
        calls.append(step)
        return logits

    monkeypatch.setattr(model, "letter_logits", fake)
    branches = []
    original = model.single_frame_inputs

    def spy(vit, mask, branch, prompts):
        branches.append((branch, prompts[0].split(" ")[-1]))
        return original(vit, mask, branch, prompts)

    monkeypatch.setattr(model, "single_frame_inputs", spy)
    _, _, targets = model.training_inputs(samples)
    assert calls == ["forced"]  # teacher-forced "Option" as in the original's reverse chain
    # the answerer reads each frame alone with the QA prompt; the localizer then learns with its own prompt
    assert branches == [("answerer", "options."), ("localizer", "question?")]
    assert targets == ["yes", "no", "yes", "yes", "no"]


def test_body_switches_that_the_mode_replaces_are_refused():
    with pytest.raises(ConfigError, match="model.mode decides"):
        tiny_sevila(freeze_qformer=False)
    with pytest.raises(ConfigError, match="LoRA"):
        tiny_sevila(lora={"enabled": True})


def test_inference_mode_has_nothing_to_train():
    model = tiny_sevila(mode="inference")
    with pytest.raises(ConfigError, match="inference"):
        model(model.dummy_inputs())


# --- a tiny model trains and predicts ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["answerer_finetune", "localizer_refine", "localizer_pretrain"])
def test_tiny_model_trains_one_step_and_predicts(mode):
    model = tiny_sevila(mode=mode).train()
    samples = model.dummy_inputs(batch_size=2, num_frames=4)
    if mode == "localizer_pretrain":
        del samples["options"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    first = model(samples)["loss"]
    first.backward()
    opt.step()
    opt.zero_grad()
    with torch.no_grad():
        assert model(samples)["loss"] < first
    model.eval()
    preds = model.predict(samples)
    assert len(preds) == 2
    if mode == "localizer_pretrain":
        assert [len(p["frames"]) for p in preds] == [4, 3]
    else:
        assert all(0 <= p["prediction"] < len(o) for p, o in zip(preds, samples["options"]))
        assert all(len(p["frame_idx"]) == 2 and p["frame_idx"] == sorted(p["frame_idx"]) for p in preds)
        assert len(preds[1]["frame_scores"]) == 3


def test_uniform_keyframes_bypass_the_localizer(monkeypatch):
    model = tiny_sevila(mode="inference", keyframes="uniform", num_keyframes=2).eval()

    def boom(*args, **kwargs):
        raise AssertionError("the localizer must not run")

    monkeypatch.setattr(model, "localizer_scores", boom)
    preds = model.predict(model.dummy_inputs(batch_size=2, num_frames=4))
    assert [p["frame_idx"] for p in preds] == [[1, 3], [0, 2]] and "frame_scores" not in preds[0]


def test_frame_spans_join_yes_frames_across_short_gaps_and_rank_by_margin():
    from lavis.models.sevila import frame_spans

    times = [0.5 + i for i in range(20)]  # 20 frames over 20 s: each covers [t - 0.5, t + 0.5]
    margins = [-1.0] * 20
    for i in (1, 2, 8):  # gap of 5 "no" frames (3..7): one span
        margins[i] = 1.0
    for i in (15, 16):  # 6 "no" frames (9..14) after frame 8 ... still joined with max_gap 6
        margins[i] = 3.0
    assert frame_spans(margins, times, 20.0) == [[1.0, 17.0]]
    assert frame_spans(margins, times, 20.0, max_gap=5) == [[15.0, 17.0], [1.0, 9.0]]  # mean margin 3 > 1
    assert frame_spans([-2.0, -0.5, -1.0], [1.0, 3.0, 5.0], 6.0) == [[2.0, 4.0]]  # no "yes": the best frame
    assert frame_spans([1.0], [0.2], 4.0) == [[0.0, 2.2]]


def test_majority_vote_breaks_ties_by_summed_probability():
    from lavis.models.sevila import majority_vote

    assert majority_vote([2, 2, 0], [[0.9, 0, 0.1], [0.1, 0, 0.9], [0.1, 0, 0.9]]) == 2
    # 1 vs 1: option 0 has more probability mass over the frames
    assert majority_vote([0, 1], [[0.6, 0.4], [0.45, 0.55]]) == 0
    assert majority_vote([1, 0], [[0.5, 0.5], [0.5, 0.5]]) == 0  # a full tie: the lower index


def test_voting_answers_each_keyframe_alone_and_trains_on_each(monkeypatch):
    model = tiny_sevila(
        mode="answerer_finetune", answerer_input="voting", keyframes="uniform", num_keyframes=2
    )
    samples = model.dummy_inputs(batch_size=2, num_frames=4)  # 4 + 3 real frames → keyframes [1, 3], [0, 2]
    samples["answer"] = [2, 1]
    embeds, mask, targets = model.training_inputs(samples)
    assert targets == ["Option C", "Option C", "Option B", "Option B"] and embeds.shape[0] == 4
    nq = model.cfg.qformer.num_query_tokens
    prefix = len(model.frame_prefix_ids())
    assert int(mask[0].sum()) == prefix + nq + len(model.prompt_ids(model.qa_prompts(samples))[0])
    # per-frame choices [0, 0] and [2, 1] (tie broken by probability mass)
    logits = torch.zeros(4, len(model.tokenizer))
    letters = model.letter_ids
    for row, (c, v) in enumerate([(0, 5.0), (0, 4.0), (2, 3.0), (1, 1.0)]):
        logits[row, letters[c]] = v
    monkeypatch.setattr(model, "letter_logits", lambda e, m, step: logits)
    preds = model.eval().predict(samples)
    assert [p["frame_predictions"] for p in preds] == [[0, 0], [2, 1]]
    assert [p["prediction"] for p in preds] == [0, 2]


@pytest.mark.parametrize("kind", ["logit", "prob"])
def test_localizer_score_is_the_yes_logit_or_probability_of_each_frame_alone(kind):
    model = tiny_sevila(mode="inference", localizer_score=kind).eval()
    samples = model.dummy_inputs(batch_size=2, num_frames=3)
    vit, mask = model.vit_tokens(samples)
    prompts = model.loc_prompts(samples)
    with torch.no_grad():
        scores = model.localizer_scores(vit, mask, prompts)
        # frame 1 of sample 0, by hand: "Frame: " + its localizer queries + the sample's localization prompt
        queries = model.branch_embeddings(vit[0, 1:2], "localizer")[0]
        embeds, emask = model.pack([[model.frame_prefix_ids(), queries, model.prompt_ids(prompts)[:1][0]]])
        logits = model.llm.logits(embeds, emask)[0].float()
    expected = logits.softmax(-1)[model.yes_id] if kind == "prob" else logits[model.yes_id]
    torch.testing.assert_close(scores[0, 1], expected, atol=1e-5, rtol=1e-5)
    assert torch.isinf(scores[1, 2]) and scores[1, 2] < 0  # the padded frame never wins
    if kind == "prob":
        assert bool(((scores[mask] >= 0) & (scores[mask] <= 1)).all())
