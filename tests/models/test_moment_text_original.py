"""The published Mr. BLIP post-processing (``parse_mode: original``) next to our lenient parser."""

from __future__ import annotations

import pytest

from lavis.models.moment_text import get_time_format, parse_windows

SECONDS = get_time_format("seconds_integers")
# Rejected by the original (window list not at the start, no space between windows, trailing text, floats),
# all read by the lenient parser.
REPAIRED_ONLY = ["windows: [[1, 2]]", " [[1, 2]]", "[[1, 2]] junk", "[[1, 2][3, 4]]", "[[1.5, 0.5]]"]
WELL_FORMED = ["[[82, 150]]", "[[14, 38], [68, 90]]", "[[3, 7]]</s>", "[[9, 4]]", "[[0 5]]", "[[2,, 6]]"]


@pytest.mark.parametrize("text", REPAIRED_ONLY)
def test_original_mode_rejects_what_only_the_lenient_parser_repairs(text):
    original = parse_windows(text, 200.0, SECONDS, mode="original")
    assert original.windows == [[-1, -1]] and not original.valid
    lenient = parse_windows(text, 200.0, SECONDS)
    assert lenient.valid and lenient.rescued


@pytest.mark.parametrize("text", WELL_FORMED)
def test_both_modes_agree_on_well_formed_output(text):
    original = parse_windows(text, 200.0, SECONDS, mode="original")
    lenient = parse_windows(text, 200.0, SECONDS)
    assert original.valid and lenient.valid and not lenient.rescued
    assert original.windows == lenient.windows


def test_original_swaps_reversed_integer_windows_and_blanks_malformed_ones():
    assert parse_windows("[[9, 4]]", 200.0, SECONDS, mode="original").windows == [[4, 9]]
    # a window with three numbers is blanked at its position, the others are kept
    parsed = parse_windows("[[1, 2] [3, 4, 5] [6, 7]]", 200.0, SECONDS, mode="original")
    assert parsed.windows == [[1, 2], [-1, -1], [6, 7]]


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="parse mode"):
        parse_windows("[[1, 2]]", 10.0, SECONDS, mode="strict")
