"""Tests of certificate ids, wording and PDF rendering."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from releaf_pipeline.lib.accounting import trees
from releaf_pipeline.lib.certificate_pdf import render_certificate_pdf
from releaf_pipeline.lib.certificates import Certificate, certificate_id, certificate_text

START = date(2026, 9, 1)
END = date(2026, 9, 30)
ID_ARGS = ("Acme Printing Co.", START, END, 1_234_567, 1_234)


def make_cert(pages: int = 1_234_567, adjustment_pages: int = 1_234, **changes) -> Certificate:
    fields = {
        "account": "Acme Printing Co.",
        "period_start": START,
        "period_end": END,
        "pages": pages,
        "adjustment_pages": adjustment_pages,
        "project_name": "Sierra Nevada Restoration",
        "project_location": "Plumas National Forest, California, USA",
        "issued_on": date(2026, 10, 3),
    } | changes
    cert_id = certificate_id(
        fields["account"],
        fields["period_start"],
        fields["period_end"],
        fields["pages"],
        fields["adjustment_pages"],
    )
    return Certificate(id=cert_id, **fields)


# ---------------------------------------------------------------------------------------
# Ids.


def test_certificate_id_format_and_stability() -> None:
    first = certificate_id(*ID_ARGS)
    assert re.fullmatch(r"RC-\d{6}-[0-9A-F]{10}", first)
    assert first.startswith("RC-202609-")
    assert certificate_id(*ID_ARGS) == first


@pytest.mark.parametrize(
    ("position", "other"),
    [
        (0, "Acme Printing Co"),
        (1, date(2026, 9, 2)),
        (2, date(2026, 9, 29)),
        (3, 1_234_568),
        (4, 1_233),
        (4, 0),
    ],
)
def test_certificate_id_changes_with_each_input(position: int, other: object) -> None:
    args = list(ID_ARGS)
    args[position] = other
    assert certificate_id(*args) != certificate_id(*ID_ARGS)


def test_certificate_id_takes_month_from_period_start() -> None:
    assert certificate_id("a", date(2027, 1, 31), date(2027, 2, 28), 1, 0).startswith("RC-202701-")


def test_certificate_id_refuses_datetimes() -> None:
    # A datetime would hash its time too, giving one period several ids.
    with pytest.raises(TypeError):
        certificate_id("a", datetime(2026, 9, 1), END, 1, 0)


# ---------------------------------------------------------------------------------------
# Figures and wording.


def test_trees_and_credited_pages_are_exact() -> None:
    assert make_cert(pages=8333, adjustment_pages=0).trees == Decimal(1)
    cert = make_cert(pages=8000, adjustment_pages=333)
    assert cert.credited_pages == 8333
    assert cert.trees == Decimal(1)
    assert make_cert(pages=8333 * 3, adjustment_pages=-8333).trees == Decimal(2)
    # Exactly the accounting module's value, not a float or a re-rounded one.
    assert make_cert(pages=1, adjustment_pages=0).trees == trees(1)
    assert make_cert(pages=100, adjustment_pages=-1).trees == trees(99)


def test_certificate_rejects_inconsistent_fields() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        make_cert(period_start=END, period_end=START)
    with pytest.raises(ValueError, match="negative"):
        make_cert(pages=-1)


def test_text_lines() -> None:
    lines = certificate_text(make_cert())
    assert lines == [
        "Certificate of Reforestation",
        "Acme Printing Co.",
        "has offset the paper use of 1,235,801 pages printed from September 1, 2026 to "
        "September 30, 2026",
        "including an adjustment of +1,234 pages that arrived after earlier certificates",
        "equivalent to 148.30 trees planted",
        "Forestry project: Sierra Nevada Restoration",
        "Plumas National Forest, California, USA",
        "Issued on October 3, 2026",
        f"Certificate ID: {certificate_id(*ID_ARGS)}",
        "One standard tree = 8,333 letter-size sheets of 20 lb paper.",
    ]


def test_text_adjustment_line_only_when_nonzero_and_signed() -> None:
    assert not any("adjustment" in line for line in certificate_text(make_cert(8333, 0)))
    negative = certificate_text(make_cert(8333, -1))
    assert "including an adjustment of -1 page that arrived after earlier certificates" in negative
    assert any("8,332 pages printed" in line for line in negative)
    assert any("1 page printed from" in line for line in certificate_text(make_cert(1, 0)))


# ---------------------------------------------------------------------------------------
# PDF.


def test_render_is_byte_identical_for_identical_input(tmp_path: Path) -> None:
    cert = make_cert()
    first = render_certificate_pdf(cert, tmp_path / "a.pdf")
    second = render_certificate_pdf(cert, tmp_path / "b.pdf")
    assert first == tmp_path / "a.pdf"
    assert first.read_bytes() == second.read_bytes()
    other = render_certificate_pdf(make_cert(pages=1_234_568), tmp_path / "c.pdf")
    assert other.read_bytes() != first.read_bytes()


def test_render_creates_parents_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "certs" / "2026" / "cert.pdf"
    render_certificate_pdf(make_cert(), target)
    # Overwriting goes through a temp file as well.
    render_certificate_pdf(make_cert(pages=5), target)
    assert sorted(os.listdir(target.parent)) == ["cert.pdf"]
    assert target.read_bytes().startswith(b"%PDF-")


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "cert.pdf"
    target.write_bytes(b"previous")

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        render_certificate_pdf(make_cert(), target)
    assert sorted(os.listdir(tmp_path)) == ["cert.pdf"]
    assert target.read_bytes() == b"previous"


def test_pdf_text_holds_the_certified_figures(tmp_path: Path) -> None:
    cert = make_cert()
    reader = PdfReader(render_certificate_pdf(cert, tmp_path / "cert.pdf"))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for expected in (
        "Certificate of Reforestation",
        "Acme Printing Co.",
        "September 1, 2026",
        "September 30, 2026",
        "1,235,801",
        "+1,234",
        "148.30",
        cert.id,
        "Sierra Nevada Restoration",
        "Plumas National Forest, California, USA",
        "October 3, 2026",
        "8,333",
    ):
        assert expected in text, expected


def test_pdf_renders_to_png(tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        message = "pdftoppm not found: install poppler-utils (apt-get install poppler-utils)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    pdf = render_certificate_pdf(make_cert(), tmp_path / "cert.pdf")
    result = subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-singlefile", str(pdf), str(tmp_path / "cert")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    png = tmp_path / "cert.png"
    assert png.exists()
    assert png.stat().st_size > 5_000
    assert png.read_bytes().startswith(b"\x89PNG")


def test_certificate_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_cert().pages = 1  # type: ignore[misc]
