"""Dagster metadata the UI can sort and plot: tables with a schema, numbers as numbers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

import dagster as dg

from releaf_pipeline.lib.dates import utc_text

OWNERS = ["team:releaf-data"]
"""Who answers for every asset: the data engineers who watch the nightly runs."""

Cell = str | int | float | bool | None


def cell(value: object) -> Cell:
    """A table cell: dates as ISO text, times to the second, anything else as itself."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return utc_text(value)
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def table(
    columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[object]]
) -> dg.TableMetadataValue:
    """A table the UI shows with its columns typed: `columns` are (name, type) pairs, the
    types those of `dg.TableColumn` ("string", "int", "float", "date", "bool")."""
    names = [name for name, _ in columns]
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord({n: cell(v) for n, v in zip(names, row, strict=True)}) for row in rows
        ],
        schema=dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in columns]),
    )


def numbers(values: Mapping[str, int | float]) -> dict[str, dg.MetadataValue]:
    """Numeric metadata the Plots tab draws across partitions."""
    return {
        k: dg.MetadataValue.int(v) if isinstance(v, int) else dg.MetadataValue.float(v)
        for k, v in values.items()
    }
