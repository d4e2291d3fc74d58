"""What every metrics CLI does the same way: a readable table, an atomic ``--out`` JSON, exit code 2.

A metrics command is run by people comparing numbers, often in a loop over result files, so bad input
must end in one ``error:`` line and exit code 2 (no traceback), and a metrics file must never be left
half-written. Anything that is not a :class:`~lavis.common.errors.LavisError` is a bug and keeps its
traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lavis.common.errors import LavisError
from lavis.common.io import write_json


def format_table(rows: Iterable[tuple[str, float | int | None]], decimals: int = 2) -> str:
    """Aligned ``metric  value`` lines; ``None`` (nothing to score) prints as ``n/a``."""

    def cell(value: float | int | None) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return f"{value:.{decimals}f}"

    cells = [(name, cell(value)) for name, value in rows]
    width = max([len("metric"), *(len(name) for name, _ in cells)])
    value_width = max([6, *(len(value) for _, value in cells)])
    lines = [f"{'metric':<{width}}  {'value':>{value_width}}", f"{'-' * width}  {'-' * value_width}"]
    lines += [f"{name:<{width}}  {value:>{value_width}}" for name, value in cells]
    return "\n".join(lines)


def run_metrics_cli(
    compute: Callable[[], Mapping[str, Any]],
    render: Callable[[Mapping[str, Any]], str],
    out: str | None,
) -> int:
    """Compute, print ``render(metrics)``, write ``out``; user errors -> one stderr line, exit 2."""
    try:
        metrics = compute()
    except LavisError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(render(metrics))
    if out:
        try:
            write_json(out, metrics)
        except OSError as err:  # e.g. a read-only directory: a user problem, not a bug
            print(f"error: cannot write {out}: {err.strerror or err}", file=sys.stderr)
            return 2
        print(f"metrics written to {out}")
    return 0
