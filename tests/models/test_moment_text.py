import pytest

from lavis.models.moment_text import (
    SecondsIntegers,
    annoying_number_replacements,
    find_annoying_numbers,
    format_windows,
    get_time_format,
    parse_windows,
    repair_window_text,
)

SEC = SecondsIntegers()
REL = get_time_format("relative_integers")


def test_format_windows_matches_python_repr_of_integer_windows():
    assert format_windows([[82.4, 149.6]], 150, SEC) == "[[82, 150]]"
    assert format_windows([[14, 38], [68, 90]], 150, SEC) == "[[14, 38], [68, 90]]"
    assert format_windows([[0, 126, "Beer pong"]], 200, SEC) == "[[0, 126, 'Beer pong']]"
    assert format_windows([[15, 30]], 60, REL) == "[[25, 50]]"


@pytest.mark.parametrize(
    "raw, windows, valid",
    [
        ("[[82, 150]]", [[82.0, 150.0]], True),
        ("[[14, 38], [68, 90]]", [[14.0, 38.0], [68.0, 90.0]], True),
        ("[[14 38] [68 90]]", [[14.0, 38.0], [68.0, 90.0]], True),  # missing commas
        ("[[38, 14]]", [[14.0, 38.0]], True),  # backwards window swapped
        ("[[3, 7],, [9, 12]]", [[3.0, 7.0], [9.0, 12.0]], True),  # stray commas
        ("[[3, 7], [9, 12],]", [[-1, -1]], False),  # not a [[...]] list: invalid, as in the original
        ("[[3, 7]]</s> trailing", [[3.0, 7.0]], True),
        ("no windows here", [[-1, -1]], False),
        ("[[3, 7, 9]]", [[-1, -1]], False),  # malformed first window
        ("[[3, 7], [1]]", [[3.0, 7.0], [-1, -1]], True),  # malformed later window keeps its rank
        ("[[", [[-1, -1]], False),
    ],
)
def test_parse_windows(raw, windows, valid):
    parsed = parse_windows(raw, 150.0, SEC)
    assert parsed.windows == windows and parsed.valid is valid


def test_relative_format_decodes_to_seconds():
    parsed = parse_windows("[[25, 50]]", 60.0, REL)
    assert parsed.windows == [[15.0, 30.0]]


def test_repair_returns_none_without_a_window_list():
    assert repair_window_text("12, 30") is None


def test_annoying_numbers_with_the_real_flan_t5_tokenizer(flan_t5_tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(flan_t5_tokenizer_dir))
    bare = tok.convert_tokens_to_ids("▁")
    assert bare == 3
    annoying = find_annoying_numbers(tok, 200)
    for n in range(200):
        ids = tok(str(n), add_special_tokens=False).input_ids
        assert (n in annoying) == (len(ids) > 1 and ids[0] != bare)
    replacements = annoying_number_replacements(annoying)
    assert set(replacements) == annoying
    for n, r in replacements.items():
        assert r not in annoying
        nearer = [m for m in range(max(0, n - abs(r - n) + 1), n + abs(r - n)) if m not in annoying]
        assert not nearer, f"{n} -> {r} but {nearer} is nearer"
