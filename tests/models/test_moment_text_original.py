"""The published Mr. BLIP post-processing (``parse_mode: original``) next to our lenient parser.

The original is ``utils.post_process`` followed by ``moment_str_to_list`` (reference notes, mr_blip.md §1.6):
``re.match(r"\\[\\[.*\\]\\]")`` anchored at the start (a prefix match, no ``re.S``), the outer brackets cut off,
windows split at whitespace before ``[``, per-window comma repairs, a swap only for exactly two digit runs, then
``ast.literal_eval`` with sub-lists of length != 2 turned into ``[-1, -1]`` and any failure into ``[[-1, -1]]``.
"""

from __future__ import annotations

import pytest

from lavis.models.moment_text import get_time_format, original_window_text, parse_windows

SECONDS = get_time_format("seconds_integers")

# Rejected by the original, all read by the lenient parser (which marks them ``rescued``):
REJECTED_BY_ORIGINAL = [
    "windows: [[1, 2]]",  # re.match is anchored at the start
    " [[1, 2]]",  # ... so a leading space is enough
    "[[1, 2]] junk",  # the prefix matches, but the blind [1:-1] cut leaves "[[1, 2]] jun]": literal_eval fails
    "[[1, 2][3, 4]]",  # no whitespace before "[": one window "[1, 2][3, 4]", a subscript literal_eval refuses
    "[[1,\n 2]]",  # "." does not cross the newline
]
# Issue 14 lists "[[1.5, 0.5]]" among the strings the original rejects. The reference algorithm does not: "\d+"
# finds four digit runs (1, 5, 0, 5), so no swap happens, nothing else touches the window, literal_eval gives
# [[1.5, 0.5]] (a pair, kept) and the original scores that reversed window as a valid prediction.
WELL_FORMED = [
    "[[82, 150]]",
    "[[14, 38], [68, 90]]",
    "[[0, 1], [4, 7], [10, 20]]",
    "[[14, 38] [68, 90]]",  # whitespace-separated windows
    "[[3, 7]]</s>",
    "[[9, 4]]",  # swapped by both
    "[[5, 3], [7, 9]]",
    "[[0 5]]",  # missing comma
    "[[2,, 6]]",  # repeated comma
    "[[0.5, 2.5]]",  # floats in order
]


@pytest.mark.parametrize("text", REJECTED_BY_ORIGINAL)
def test_original_mode_rejects_what_only_the_lenient_parser_repairs(text):
    original = parse_windows(text, 200.0, SECONDS, mode="original")
    assert original.windows == [[-1, -1]] and not original.valid
    lenient = parse_windows(text, 200.0, SECONDS)
    assert lenient.valid and lenient.rescued


def test_reversed_float_window_is_kept_as_written_by_the_original():
    assert original_window_text("[[1.5, 0.5]]") == "[[1.5, 0.5]]"
    original = parse_windows("[[1.5, 0.5]]", 200.0, SECONDS, mode="original")
    assert original.windows == [[1.5, 0.5]] and original.valid
    lenient = parse_windows("[[1.5, 0.5]]", 200.0, SECONDS)
    # the lenient parser swaps it; not a rescue, since the original read it too (differently)
    assert lenient.windows == [[0.5, 1.5]] and lenient.valid and not lenient.rescued


@pytest.mark.parametrize("text", WELL_FORMED)
def test_both_modes_agree_on_well_formed_output(text):
    original = parse_windows(text, 200.0, SECONDS, mode="original")
    lenient = parse_windows(text, 200.0, SECONDS)
    assert original.valid and lenient.valid and not lenient.rescued
    assert original.windows == lenient.windows


def test_original_swaps_only_two_integers_and_blanks_non_pairs_after_literal_eval():
    assert parse_windows("[[9, 4]]", 200.0, SECONDS, mode="original").windows == [[4, 9]]
    # a window with three numbers survives post-processing and becomes [-1, -1] at its position
    assert original_window_text("[[1, 2] [3, 4, 5] [6, 7]]") == "[[1, 2], [3, 4, 5], [6, 7]]"
    parsed = parse_windows("[[1, 2] [3, 4, 5] [6, 7]]", 200.0, SECONDS, mode="original")
    assert parsed.windows == [[1, 2], [-1, -1], [6, 7]] and parsed.valid
    # a window that does not evaluate spoils the whole answer (no per-window rescue in the original)
    assert parse_windows("[[1, 2] [3 4 5 x]]", 200.0, SECONDS, mode="original").windows == [[-1, -1]]
    # the swap rewrites the whole window from its two digit runs: the sign and trailing junk are lost
    assert parse_windows("[[-9, 4]]", 200.0, SECONDS, mode="original").windows == [[4, 9]]
    assert parse_windows("[[2, 1]] x", 200.0, SECONDS, mode="original").windows == [[1, 2]]
    # "],]" is not "]]": the regex check fails
    assert parse_windows("[[1, 2],]", 200.0, SECONDS, mode="original").windows == [[-1, -1]]
    assert parse_windows("[[]]", 200.0, SECONDS, mode="original").windows == [[-1, -1]]


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="parse mode"):
        parse_windows("[[1, 2]]", 10.0, SECONDS, mode="strict")


def test_model_config_selects_the_parse_mode(monkeypatch):
    from model_helpers import fake_batch, tiny_config, tiny_model

    from lavis.common.config import check_choices
    from lavis.common.errors import ConfigError
    from lavis.models import mr_blip

    assert tiny_config().parse_mode == "lenient"
    check_choices(tiny_config(parse_mode="original"), mr_blip.Blip2MRConfig, "model", "test")
    with pytest.raises(ConfigError, match=r"model\.parse_mode"):
        check_choices(tiny_config(parse_mode="strict"), mr_blip.Blip2MRConfig, "model", "test")
    m = tiny_model(parse_mode="original")
    m.eval()
    seen = []

    def spy(raw, duration, time_format, with_labels=False, mode="lenient"):
        seen.append(mode)
        return parse_windows(raw, duration, time_format, with_labels, mode)

    monkeypatch.setattr(mr_blip, "parse_windows", spy)
    preds = m.predict(fake_batch(batch=2), num_beams=1, max_new_tokens=2)
    assert seen == ["original", "original"] and all(not p["rescued"] for p in preds)
