"""Text side of moment retrieval: how times are written for the LLM, and how its answers are read back.

Times inside the framework are float seconds. A *time format* decides how they become text in the prompt
and in the target (Mr. BLIP: integer seconds); the same format decodes generated text back to seconds, so
every format works for training and for generation alike.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any


class TimeFormat:
    """Seconds ↔ the integers the LLM reads and writes."""

    name = "base"

    def encode(self, seconds: float, duration: float) -> int:
        raise NotImplementedError

    def decode(self, value: float, duration: float) -> float:
        raise NotImplementedError


class SecondsIntegers(TimeFormat):
    """Absolute whole seconds (Mr. BLIP's ``seconds_integers``): ``[[82, 150]]``."""

    name = "seconds_integers"

    def encode(self, seconds: float, duration: float) -> int:
        return int(round(seconds))

    def decode(self, value: float, duration: float) -> float:
        return float(value)


class RelativeIntegers(TimeFormat):
    """Percent of the video's duration, 0..100: independent of video length."""

    name = "relative_integers"

    def encode(self, seconds: float, duration: float) -> int:
        return int(round(100.0 * seconds / duration)) if duration > 0 else 0

    def decode(self, value: float, duration: float) -> float:
        return float(value) * duration / 100.0


TIME_FORMATS = {f.name: f for f in (SecondsIntegers(), RelativeIntegers())}


def get_time_format(name: str) -> TimeFormat:
    from lavis.common.errors import ConfigError

    if name not in TIME_FORMATS:
        raise ConfigError(f"unknown time format {name!r}; available: {', '.join(TIME_FORMATS)}")
    return TIME_FORMATS[name]


def format_windows(windows: list[list[Any]], duration: float, time_format: TimeFormat) -> str:
    """The target string: Python's repr of ``[[start, end(, 'label')], ...]`` in the time format's units."""
    out = []
    for w in windows:
        item: list[Any] = [time_format.encode(w[0], duration), time_format.encode(w[1], duration)]
        if len(w) > 2:
            item.append(str(w[2]))
        out.append(item)
    return str(out)


INVALID = [[-1, -1]]
_WINDOW_LIST = re.compile(r"\[\[.*\]\]", re.S)


def repair_window_text(text: str) -> str | None:
    """Light repairs of generated window lists (Mr. BLIP's post-processing); None if not a window list.

    Repairs: cut at ``</s>``; commas missing between numbers (``"3 7"`` → ``"3, 7"``); repeated or trailing
    commas; a two-number window written backwards is swapped.
    """
    text = text.split("</s>")[0].strip()
    match = _WINDOW_LIST.search(text)
    if match is None:
        return None
    inner = match.group(0)[1:-1].strip()
    windows = re.split(r"\s*(?=\[)", inner)
    fixed = []
    for window in windows:
        window = window.strip().rstrip(",").strip()
        if not window:
            continue
        window = re.sub(r"(\d)\s+(?=[-\d])", r"\1, ", window)
        window = re.sub(r",(\s*,)+", ",", window)
        numbers = re.fullmatch(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]", window)
        if numbers and float(numbers.group(1)) > float(numbers.group(2)):
            window = f"[{numbers.group(2)}, {numbers.group(1)}]"
        fixed.append(window)
    return "[" + ", ".join(fixed) + "]"


def original_window_text(text: str) -> str:
    """Mr. BLIP's published ``post_process``, step for step; ``[[-1, -1]]`` when the text is not a window list.

    The window list must open the text (``re.match``, no ``re.S``); the outer brackets are cut off blindly
    (first and last character); windows are split only at whitespace before ``[``; per window: trailing commas
    dropped, ``"d d"`` → ``"d, d"``, repeated commas collapsed, and the window is rewritten as
    ``[smaller, larger]`` only when it holds exactly two digit runs (``\\d+``) in decreasing order. Nothing else
    is repaired or removed: a window that is not a pair is judged later, by :func:`_literal_windows` (the
    original ``moment_str_to_list``). So ``[[1.5, 0.5]]`` (four digit runs) stays as written and reads as the
    reversed window ``[1.5, 0.5]``, exactly as in the original.
    """
    text = text.split("</s>")[0]
    if not re.match(r"\[\[.*\]\]", text):
        return "[[-1, -1]]"
    out = []
    for window in re.split(r"\s+(?=\[)", text[1:-1]):
        window = re.sub(r",+$", "", window)
        window = re.sub(r"(\d) (\d)", r"\1, \2", window)
        window = re.sub(r",+", ",", window)
        numbers = re.findall(r"\d+", window)
        if len(numbers) == 2 and int(numbers[0]) > int(numbers[1]):
            window = "[" + numbers[1] + ", " + numbers[0] + "]"
        out.append(window)
    return "[" + ", ".join(out) + "]"


PARSE_MODES = ("lenient", "original", "calce")


@dataclass
class ParsedWindows:
    text: str  # the repaired text (or the raw text when it could not be repaired)
    windows: list[list[Any]]  # in seconds; [[-1, -1]] when invalid
    valid: bool
    rescued: bool = False  # lenient mode: valid only thanks to a repair the original code did not make


def parse_windows(
    raw: str, duration: float, time_format: TimeFormat, with_labels: bool = False, mode: str = "lenient"
) -> ParsedWindows:
    """Generated text → windows in seconds, in generation order (which is their rank).

    Unparsable output becomes ``[[-1, -1]]`` and is counted as invalid by the metrics; a malformed window
    inside an otherwise valid list becomes ``[-1, -1]`` at its position. ``mode="original"`` parses as the
    published Mr. BLIP code did (:func:`original_window_text`); the default lenient mode also repairs text the
    original rejected and marks such answers ``rescued``.
    """
    if mode not in PARSE_MODES:
        raise ValueError(f"parse mode must be one of {PARSE_MODES}, got {mode!r}")
    if mode == "original":
        return _literal_windows(original_window_text(raw), duration, time_format, with_labels)
    if mode == "calce":
        windows, valid = calce_windows(raw, time_format.encode(duration, duration))
        decoded = [[time_format.decode(s, duration), time_format.decode(e, duration)] for s, e in windows]
        return ParsedWindows(raw.split("</s>")[0], decoded, valid)
    parsed = _literal_windows(repair_window_text(raw), duration, time_format, with_labels, raw)
    if parsed.valid:
        parsed.rescued = not _literal_windows(
            original_window_text(raw), duration, time_format, with_labels
        ).valid
    return parsed


def _literal_windows(
    repaired: str | None, duration: float, time_format: TimeFormat, with_labels: bool, raw: str = ""
) -> ParsedWindows:
    if repaired is None:
        return ParsedWindows(raw, [list(w) for w in INVALID], False)
    try:
        value = ast.literal_eval(repaired)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ParsedWindows(repaired, [list(w) for w in INVALID], False)
    if not isinstance(value, list) or not value:
        return ParsedWindows(repaired, [list(w) for w in INVALID], False)
    windows: list[list[Any]] = []
    for item in value:
        ok_len = (2, 3) if with_labels else (2,)
        if (
            isinstance(item, (list, tuple))
            and len(item) in ok_len
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in item[:2])
        ):
            window: list[Any] = [time_format.decode(item[0], duration), time_format.decode(item[1], duration)]
            if len(item) == 3:
                window.append(str(item[2]))
            windows.append(window)
        else:
            windows.append([-1, -1])
    valid = not (windows[0][0] < 0 or windows[0][1] < 0)
    return ParsedWindows(repaired, windows, valid)


def calce_windows(text: str, duration: int) -> tuple[list[list[int]], bool]:
    """CALCE's ``post_process``: ``(start-sorted integer windows, parsed)``; ``[[0, duration]]`` (the whole
    video, not Mr. BLIP's ``[[-1, -1]]``) when the text is not a window list.

    Per window the first two integers count; a window holding one number is paired with the next such
    window's number, and a last unpaired one ends at ``duration``. An end past ``duration`` is repaired in
    this order: an embedded copy of the duration's digits removed, 4 digits → mod 100, 6 digits → mod 1000,
    else ``duration``. Reversed windows are swapped, then all are sorted by start.
    """
    text = text.split("</s>")[0]
    if not re.match(r"\[\[.*\],*\]", text):
        return [[0, duration]], False
    numbers_per_window = [re.findall(r"\d+", w) for w in re.split(r"\s+(?=\[)", text.strip()[1:-1])]
    pairs: list[list[str]] = []
    pending: str | None = None
    for numbers in numbers_per_window:
        if len(numbers) >= 2:
            pairs.append(numbers[:2])
        elif len(numbers) == 1:
            if pending is None:
                pending = numbers[0]
            else:
                pairs.append([pending, numbers[0]])
                pending = None
    if pending is not None:
        pairs.append([pending, str(duration)])
    if not pairs:
        return [[0, duration]], False
    windows = []
    for start_text, end_text in pairs:
        start, end = max(0, int(start_text)), _calce_end(end_text, duration)
        windows.append([min(start, end), max(start, end)])
    return sorted(windows, key=lambda w: w[0]), True


def _calce_end(text: str, duration: int) -> int:
    end = int(text)
    if end <= duration:
        return end
    stripped = text.replace(str(duration), "", 1)
    if stripped != text and stripped and int(stripped) <= duration:
        return int(stripped)
    if len(text) == 4 and end % 100 <= duration:
        return end % 100
    if len(text) == 6 and end % 1000 <= duration:
        return end % 1000
    return duration


def find_annoying_numbers(tokenizer, limit: int = 200) -> set[int]:
    """Integers in [0, limit) that the tokenizer splits into several pieces not starting with a bare ``▁``.

    Mr. BLIP replaces such numbers in the *input* (frame timestamps, duration) with the nearest
    well-behaved integer, so that each time in the prompt is one piece the model can attend to.
    """
    bare = tokenizer.convert_tokens_to_ids("▁")
    annoying = set()
    for i in range(limit):
        ids = tokenizer(str(i), add_special_tokens=False).input_ids
        if len(ids) > 1 and ids[0] != bare:
            annoying.add(i)
    return annoying


def annoying_number_replacements(annoying: set[int], search: int = 100) -> dict[int, int]:
    """Each annoying number → the nearest non-annoying one (ties: the larger first, as in Mr. BLIP)."""
    out = {}
    for i in sorted(annoying):
        for j in range(search):
            if i + j not in annoying:
                out[i] = i + j
                break
            if i - j >= 0 and i - j not in annoying:
                out[i] = i - j
                break
    return out
