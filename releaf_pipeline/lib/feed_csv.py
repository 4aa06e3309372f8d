"""Feeds as users give them: one on the command line, or many in a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path

from releaf_pipeline.lib.dates import strict_date
from releaf_pipeline.lib.rules import SCOPES
from releaf_pipeline.lib.store.registry import FeedSpec

FEED_CSV_COLUMNS = ["server", "customer_code", "account", "activation_date", "scope"]


class FeedCsvError(ValueError):
    """A feed CSV cannot be imported; the message names the file and line."""


def feed_spec(server: str, code: str, account: str, activation: str, scope: str) -> FeedSpec:
    """A feed to register, checked; ValueError naming the bad value."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be 'all' or 'managed', got {scope!r}")
    try:
        activation_date = strict_date(activation.strip())
    except ValueError:
        raise ValueError(
            f"activation date must be a date as YYYY-MM-DD, got {activation.strip()!r}"
        ) from None
    return FeedSpec(
        server=server.strip(),
        customer_code=code.strip(),
        account=account.strip(),
        activation_date=activation_date,
        scope=scope,
    )


def read_feed_csv(path: Path) -> tuple[list[FeedSpec], list[int]]:
    """The feeds of a CSV with the columns of FEED_CSV_COLUMNS, and the line of each."""
    if not path.is_file():
        raise FeedCsvError(f"{path} does not exist")
    specs: list[FeedSpec] = []
    lines: list[int] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if header != FEED_CSV_COLUMNS:
            raise FeedCsvError(
                f"{path}:1: the header must be {','.join(FEED_CSV_COLUMNS)}, got {','.join(header)}"
            )
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise FeedCsvError(f"{path}:{line}: expected {len(FEED_CSV_COLUMNS)} columns")
            try:
                specs.append(feed_spec(*(row[c] for c in FEED_CSV_COLUMNS)))
            except ValueError as exc:
                raise FeedCsvError(f"{path}:{line}: {exc}") from None
            lines.append(line)
    if not specs:
        raise FeedCsvError(f"{path} has no feed rows")
    return specs, lines
