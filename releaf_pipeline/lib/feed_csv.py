"""Feeds as users give them: one on the command line, or many in a CSV file."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from releaf_pipeline.lib.certificates import check_account_name
from releaf_pipeline.lib.dates import strict_date
from releaf_pipeline.lib.rules import SCOPES
from releaf_pipeline.lib.store.registry import FeedSpec

FEED_CSV_COLUMNS = ["server", "customer_code", "account", "activation_date", "scope"]
FEED_CSV_OPTIONAL = ["account_name"]
"""Columns a CSV may add after FEED_CSV_COLUMNS; an empty cell gives no value."""


class FeedCsvError(ValueError):
    """A feed CSV cannot be imported; the message names the file and line."""


def feed_spec(
    server: str,
    code: str,
    account: str,
    activation: str,
    scope: str,
    account_name: str | None = None,
) -> FeedSpec:
    """A feed to register, checked; ValueError naming the bad value.

    ``account_name`` is the account's display name (None: leave the account's as it is).
    """
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
        account_name=None if account_name is None else check_account_name(account_name),
    )


def read_feed_csv(path: Path) -> tuple[list[FeedSpec], list[int]]:
    """The feeds of a CSV with the columns of FEED_CSV_COLUMNS (and optionally those of
    FEED_CSV_OPTIONAL), and the line of each."""
    if not path.is_file():
        raise FeedCsvError(f"{path} does not exist")
    try:
        return _read_feed_csv(path)
    except UnicodeDecodeError as exc:
        raise FeedCsvError(
            f"{path} is not UTF-8 text ({exc.reason}): save it as CSV UTF-8"
        ) from None
    except _CsvSyntaxError as exc:
        raise FeedCsvError(f"{path}:{exc.line}: {exc.why}: is it the CSV of feeds?") from None


class _CsvSyntaxError(Exception):
    def __init__(self, line: int, why: str) -> None:
        self.line, self.why = line, why


def _read_feed_csv(path: Path) -> tuple[list[FeedSpec], list[int]]:
    specs: list[FeedSpec] = []
    lines: list[int] = []
    # UTF-8 whatever the locale, as account names need; "-sig" drops the byte-order mark
    # spreadsheets put in front of a CSV UTF-8 export.
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if header not in (FEED_CSV_COLUMNS, FEED_CSV_COLUMNS + FEED_CSV_OPTIONAL):
            raise FeedCsvError(
                f"{path}:1: the header must be {','.join(FEED_CSV_COLUMNS)}"
                f"[,{','.join(FEED_CSV_OPTIONAL)}], got {','.join(header)}"
            )
        # Cells keyed by the stripped names, as the header was checked.
        reader.fieldnames = header
        for row in _rows(reader):
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise FeedCsvError(f"{path}:{line}: expected {len(header)} columns")
            name = row.get("account_name", "")
            try:
                specs.append(
                    feed_spec(
                        *(row[c] for c in FEED_CSV_COLUMNS),
                        account_name=name if name.strip() else None,
                    )
                )
            except ValueError as exc:
                raise FeedCsvError(f"{path}:{line}: {exc}") from None
            lines.append(line)
    if not specs:
        raise FeedCsvError(f"{path} has no feed rows")
    return specs, lines


def _rows(reader: csv.DictReader[str]) -> Iterator[dict[str, str]]:
    """The rows of `reader`; a line the csv module cannot read (a cell over its field size
    limit, a stray quote in strict mode) as a _CsvSyntaxError naming the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # line_num counts the lines read before the one that failed.
            raise _CsvSyntaxError(reader.line_num + 1, str(exc)) from None
        yield row
