"""The docs' settings table is the one the settings model renders."""

from __future__ import annotations

import pytest

from releaf_pipeline.settings import Settings
from scripts.settings_table import DOCS, END, START, render, with_table


def test_the_settings_table_in_the_docs_is_the_one_the_model_renders() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert with_table(text) == text, "the settings table is out of date: run `make settings-table`"


def test_every_setting_has_a_row_with_its_bounds_and_default() -> None:
    table = render()
    for field in Settings.model_fields.values():
        assert f"| `{field.alias}` |" in table
    assert "| `RELEAF_WORKERS` | the cores | 1 to 256: " in table
    assert "| `RELEAF_CONCURRENCY_PER_SERVER` | 16 | 1 to 1,000: " in table
    assert "| `RELEAF_DEBUG` |" in table


def test_a_changed_model_is_a_changed_table() -> None:
    stale = f"intro\n{START}\n| `RELEAF_GONE` | 1 | removed |\n{END}\noutro\n"
    rendered = with_table(stale)
    assert "RELEAF_GONE" not in rendered
    assert rendered.startswith("intro\n") and rendered.endswith("outro\n")
    assert with_table(rendered) == rendered


def test_docs_without_the_markers_are_refused() -> None:
    with pytest.raises(ValueError, match="settings table's markers"):
        with_table("no table here")
