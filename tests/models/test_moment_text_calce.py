"""CALCE's output post-processing (``parse_mode: calce``), case by case from its published rules."""

from __future__ import annotations

import pytest

from lavis.models.moment_text import calce_windows, get_time_format, parse_windows


@pytest.mark.parametrize(
    "text, duration, windows",
    [
        ("[[10, 20]]</s> [[1, 2]]", 150, [[10, 20]]),
        ("[[30, 10], [5, 8]]", 150, [[5, 8], [10, 30]]),  # swapped, then sorted by start
        ("[[10], [20]]", 150, [[10, 20]]),  # lone numbers pair up
        ("[[10, 20], [40]]", 150, [[10, 20], [40, 150]]),  # a dangling number runs to the end
        ("[[10, 15030]]", 150, [[10, 30]]),  # an embedded copy of the duration is removed
        ("[[10, 1234]]", 150, [[10, 34]]),  # 4 digits: mod 100
        ("[[10, 123456]]", 500, [[10, 456]]),  # 6 digits: mod 1000
        ("[[10, 999]]", 150, [[10, 150]]),  # otherwise the duration
        ("[[1, 2, 3, 4]]", 150, [[1, 2]]),  # the first two integers of a window
        ("[[10, 20],]", 150, [[10, 20]]),
    ],
)
def test_repairs(text, duration, windows):
    assert calce_windows(text, duration) == (windows, True)


@pytest.mark.parametrize("text", ["no windows here", " [[1, 2]]", "[1, 2]", "[[]]"])
def test_unreadable_text_is_the_whole_video(text):
    assert calce_windows(text, 150) == ([[0, 150]], False)


def test_parse_mode_calce_decodes_seconds_and_flags_the_fallback():
    fmt = get_time_format("seconds_integers")
    parsed = parse_windows("[[30, 10]]", 150.0, fmt, mode="calce")
    assert parsed.windows == [[10.0, 30.0]] and parsed.valid
    fallback = parse_windows("junk", 150.0, fmt, mode="calce")
    assert fallback.windows == [[0.0, 150.0]] and not fallback.valid
