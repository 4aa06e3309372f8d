"""The docs' settings table, rendered from the settings model: `make settings-table` writes
it between the markers, and a test fails when the docs hold another."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from releaf_pipeline.settings import VARIABLES, Settings

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "operating.md"


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown" in extra:
        return str(extra["shown"])
    value = field.default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == frozenset():
        return "unset"
    if isinstance(value, int):
        return f"{value:,}"
    return f"`{value}`"


def _bounds(field: FieldInfo) -> str:
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    return "" if low is None or high is None else f"{low:,} to {high:,}: "


def _meaning(field: FieldInfo) -> str:
    return " ".join((field.description or "").split())


def render() -> str:
    """The settings table, one row per variable, as Markdown."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for field in Settings.model_fields.values():
        rows.append(f"| `{field.alias}` | {_default(field)} | {_bounds(field)}{_meaning(field)} |")
    rows.append(f"| `RELEAF_DEBUG` | unset | {VARIABLES['RELEAF_DEBUG']} |")
    return "\n".join(rows)


def with_table(text: str) -> str:
    """`text` with the table between its markers replaced by the rendered one."""
    if START not in text or END not in text:
        raise ValueError(f"the settings table's markers {START} and {END} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render()}\n{END}{tail}"


def main() -> int:
    """Write the rendered table into the docs."""
    DOCS.write_text(with_table(DOCS.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the settings table into {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
