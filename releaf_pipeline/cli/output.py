"""How commands print: JSON for machines, an aligned table for people, a line when there is
none; and the dates, months and numbers a command is given.

Every text a person reads goes through `lib.safe_text` (escape sequences, line breaks and
bidi overrides shown escaped, overlong values cut). JSON is for scripts and keeps exact
values: `json.dumps` writes every control and non-ASCII character as `\\uXXXX`, so it
cannot drive a terminal either.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import click

from releaf_pipeline.app import UserError
from releaf_pipeline.cli.formats import ellipsis
from releaf_pipeline.lib.dates import month_bounds, strict_date, strict_int
from releaf_pipeline.lib.safe_text import SHOWN_MAX, shown, shown_line

# Columns whose values are numbers line up on the right.
NUMERIC = frozenset({"pages", "trees", "days", "adjustment"})
# Free text that may wrap on a narrow terminal; every other cell (names, codes, dates, ids,
# paths) is kept whole, so it can be read and copied as it is.
WRAPS = frozenset({"why", "next"})
# The most characters of a free-text cell shown; other cells get SHOWN_MAX.
WRAPS_MAX = 2000


def say(message: str, *, err: bool = False) -> None:
    """Print one line that quotes values (names, codes, reasons) safe for a terminal."""
    click.echo(shown_line(message, ellipsis=ellipsis()), err=err)


class WholeNumber(click.ParamType):
    """An option's whole number in ASCII digits, from `low` to `high` (click's own int
    takes any script's digits)."""

    name = "integer"

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            number = value
        else:
            try:
                number = strict_int(str(value))
            except ValueError:
                self.fail(f"{shown(value)!r} is not a whole number in digits 0-9", param, ctx)
        if not self.low <= number <= self.high:
            self.fail(f"{number} is not in the range {self.low}-{self.high}", param, ctx)
        return number


class _Buffer(io.StringIO):
    """Text kept for stdout, with stdout's encoding: rich reads it to choose between
    line-drawing and plain ASCII characters."""

    def __init__(self, encoding: str) -> None:
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print an aligned table: column headers, a rule, one line per row.

    On a terminal it fits the terminal's width (the why and next columns wrap) and may
    use bold; piped, it is plain text at its natural width, with no colour and no
    trailing spaces, so that `grep` and `cut` see every cell whole.
    """
    # rich is imported here, not at module load: most commands never print a table.
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for head in headers:
        table.add_column(
            # Text, never a str: rich would read "[...]" in a header or cell as markup.
            Text(shown(head)),
            justify="right" if head in NUMERIC else "left",
            no_wrap=head not in WRAPS,
            # On a terminal too narrow even for the whole cells, fold them: never "…".
            overflow="fold",
        )
    dots = ellipsis()
    limits = [WRAPS_MAX if head in WRAPS else SHOWN_MAX for head in headers]
    for row in rows:
        table.add_row(
            *(Text(shown(v, limit, ellipsis=dots)) for v, limit in zip(row, limits, strict=True))
        )
    out = sys.stdout
    if out.isatty():
        Console(file=out, highlight=False, emoji=False).print(table)
        return
    buffer = _Buffer(getattr(out, "encoding", None) or "utf-8")
    Console(
        file=buffer, width=100_000, color_system=None, highlight=False, emoji=False,
        legacy_windows=False, force_terminal=False,
    ).print(table)  # fmt: skip
    click.echo("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()))


def emit(
    rows: Sequence[dict[str, Any]],
    *,
    as_json: bool,
    empty: str,
    headers: Sequence[str] | None = None,
    table: Callable[[dict[str, Any]], Sequence[object]] | None = None,
    cells: Sequence[Sequence[object]] | None = None,
) -> None:
    """Print `rows` as JSON (exact values, every control character escaped by JSON), or
    as a table (values made safe to show), or the `empty` line when there are none.

    The table's rows are `cells` (one per row of `rows`, as a person reads them), else
    each row through `table`, else each row's values; `headers` default to the keys.
    """
    if as_json:
        click.echo(json.dumps(list(rows), indent=2))
    elif not rows:
        click.echo(empty)
    else:
        heads = list(headers) if headers else list(rows[0])
        if cells is None:
            cells = [table(r) if table else list(r.values()) for r in rows]
        print_table(heads, cells)


def parse_date(value: str, what: str) -> date:
    """A YYYY-MM-DD date, or a UserError naming the option."""
    try:
        return strict_date(value)
    except ValueError:
        raise UserError(
            f"{what} must be a date as YYYY-MM-DD in digits 0-9, got {value!r}"
        ) from None


def check_month(value: str) -> str:
    """A YYYY-MM month, or a UserError."""
    try:
        month_bounds(value)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return value


def iso(value: object) -> str | None:
    """A date or moment as ISO text (None stays None)."""
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]
