"""How commands print: JSON for machines, a table for people, a line when there is none."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import click

from releaf_pipeline.app import UserError
from releaf_pipeline.lib.dates import month_bounds, strict_date
from releaf_pipeline.lib.markdown import markdown_table


def emit(
    rows: Sequence[dict[str, Any]],
    *,
    as_json: bool,
    empty: str,
    table: Callable[[dict[str, Any]], Sequence[object]] | None = None,
    headers: Sequence[str] | None = None,
) -> None:
    """Print `rows` as JSON, as a table (each row through `table`, or its values), or the
    `empty` line when there are none."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2))
    elif not rows:
        click.echo(empty)
    else:
        heads = list(headers) if headers else list(rows[0])
        click.echo(markdown_table(heads, [table(r) if table else list(r.values()) for r in rows]))


def parse_date(value: str, what: str) -> date:
    """A YYYY-MM-DD date, or a UserError naming the option."""
    try:
        return strict_date(value)
    except ValueError:
        raise UserError(f"{what} must be a date as YYYY-MM-DD, got {value!r}") from None


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
