"""Tests of certificate ids, wording, account names and PDF rendering."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from releaf_pipeline.lib import certificate_pdf
from releaf_pipeline.lib.certificate_pdf import CertificateFileError, render_certificate_pdf
from releaf_pipeline.lib.certificates import (
    ACCOUNT_NAME_MAX,
    Certificate,
    certificate_id,
    certificate_text,
    check_account_name,
)
from releaf_pipeline.lib.trees import trees

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
    with pytest.raises(CertificateFileError, match=r"cert\.pdf \(disk gone\): make"):
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


# ---------------------------------------------------------------------------------------
# The account's display name.


def test_text_names_the_account_by_its_display_name_with_the_slug_in_small_print() -> None:
    lines = certificate_text(make_cert(account="acct-alpha", account_name="Acme Corp"))
    assert lines[:3] == ["Certificate of Reforestation", "Acme Corp", "account acct-alpha"]
    # Without a name the slug is the name, printed once.
    plain = certificate_text(make_cert(account="acct-alpha"))
    assert plain[1] == "acct-alpha" and not any(line.startswith("account ") for line in plain)
    assert lines[3:] == plain[2:]


def test_display_name_does_not_change_the_certificate_id() -> None:
    named = make_cert(account_name="Acme Corp")
    assert named.id == make_cert().id == certificate_id(*ID_ARGS)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("  Acme Corp  ", "Acme Corp"),
        ("Café Ødegård", "Café Ødegård"),
        ("Δάσος Φωτοτυπιών", "Δάσος Φωτοτυπιών"),
        ("x" * ACCOUNT_NAME_MAX, "x" * ACCOUNT_NAME_MAX),
    ],
)
def test_account_name_is_stripped(given: str, kept: str) -> None:
    assert check_account_name(given) == kept


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("Acme\nCorp", "control characters"),
        ("Acme\tCorp", "control characters"),
        ("Acme\x07Corp", "control characters"),
        ("Acme\u200bCorp", "control characters"),
        ("x" * (ACCOUNT_NAME_MAX + 1), "at most 100 characters, got 101"),
    ],
)
def test_account_name_refuses_what_would_not_print_on_one_line(given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as exc:
        check_account_name(given)
    assert "\n" not in str(exc.value)


# ---------------------------------------------------------------------------------------
# The PDF as a document: fonts, metadata, bytes.


def _need(tool: str, package: str) -> str:
    """The tool's path; a missing tool fails in CI and skips elsewhere."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} not found: install {package} (apt-get install {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_font_is_embedded(tmp_path: Path) -> None:
    pdffonts = _need("pdffonts", "poppler-utils")
    cert = make_cert(account_name="Łódź Print")
    out = _run(pdffonts, str(render_certificate_pdf(cert, tmp_path / "cert.pdf")))
    rows = out.splitlines()[2:]
    assert rows, out
    for row in rows:
        # name, type, encoding, then emb sub uni: the fixed columns counted from the end.
        emb, sub, uni = row.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row
        assert "DejaVu" in row, row


def test_metadata_names_the_certificate_and_its_issue_date(tmp_path: Path) -> None:
    cert = make_cert(account="acct-alpha", account_name="Acme Corp")
    reader = PdfReader(render_certificate_pdf(cert, tmp_path / "cert.pdf"))
    meta = reader.metadata
    assert meta.title == f"Certificate of Reforestation {cert.id}"
    assert meta.author == "releaf-pipeline"
    assert meta.creator == "releaf-pipeline"
    assert meta.producer == "releaf-pipeline (ReportLab PDF Library)"
    assert meta.subject == (
        "Reforestation for Acme Corp (account acct-alpha), September 1, 2026 to September 30, 2026"
    )
    issued = datetime(2026, 10, 3, tzinfo=UTC)
    assert meta.creation_date == issued
    assert meta.modification_date == issued
    plain = PdfReader(render_certificate_pdf(make_cert(account="acct-alpha"), tmp_path / "p.pdf"))
    assert "acct-alpha" in plain.metadata.subject and "account" not in plain.metadata.subject


def _document_id(path: Path) -> bytes:
    first, second = PdfReader(path).trailer["/ID"]
    assert first.original_bytes == second.original_bytes
    return first.original_bytes


def test_document_id_follows_the_certificate_not_the_clock(tmp_path: Path) -> None:
    cert = make_cert(account_name="Acme Corp")
    one = _document_id(render_certificate_pdf(cert, tmp_path / "a.pdf"))
    assert len(one) == 16
    assert _document_id(render_certificate_pdf(cert, tmp_path / "b.pdf")) == one
    # reportlab's invariant mode derives the id from the title, author and subject alone,
    # which these share with `cert`; the certificates differ, and so do their ids.
    for i, other in enumerate(
        [
            dataclasses.replace(cert, issued_on=date(2026, 10, 4)),
            dataclasses.replace(cert, project_name="Another Forest"),
        ]
    ):
        assert _document_id(render_certificate_pdf(other, tmp_path / f"o{i}.pdf")) != one


_RENDER_SCRIPT = """
import sys
from pathlib import Path
from releaf_pipeline.lib.certificate_pdf import render_certificate_pdf
from releaf_pipeline_tests.lib.test_certificates import make_cert
render_certificate_pdf(make_cert(account_name=sys.argv[2]), Path(sys.argv[1]))
"""


def test_same_certificate_same_bytes_in_other_processes(tmp_path: Path) -> None:
    name = "Café Ødegård"
    here = render_certificate_pdf(make_cert(account_name=name), tmp_path / "here.pdf")
    # Other hash seeds, time zones, a clock override reportlab reads, and another day.
    envs = [
        {"PYTHONHASHSEED": "1", "TZ": "Pacific/Kiritimati"},
        {"PYTHONHASHSEED": "4242", "TZ": "America/Los_Angeles", "SOURCE_DATE_EPOCH": "86400"},
    ]
    for i, extra in enumerate(envs):
        out = tmp_path / f"there-{i}.pdf"
        subprocess.run(
            [sys.executable, "-c", _RENDER_SCRIPT, str(out), name],
            env=os.environ | extra,
            cwd=Path(__file__).parents[2],
            check=True,
            timeout=120,
        )
        assert out.read_bytes() == here.read_bytes(), extra


# ---------------------------------------------------------------------------------------
# The PDF's text: the name as itself, whole, inside the frame.


def _pdf_text(path: Path) -> str:
    return " ".join(PdfReader(path).pages[0].extract_text().split())


@pytest.mark.parametrize(
    "name",
    [
        "Acme Corp",
        "Café Ødegård",
        "Łódź Print",
        "Δάσος Φωτοτυπιών",
        "Типография «Берёза»",
    ],
)
def test_pdf_prints_the_display_name_as_itself_and_the_slug(tmp_path: Path, name: str) -> None:
    cert = make_cert(account="acct-alpha", account_name=name)
    text = _pdf_text(render_certificate_pdf(cert, tmp_path / "cert.pdf"))
    assert name in text
    assert "account acct-alpha" in text
    assert "This certifies that" in text


def test_pdf_without_a_name_prints_the_slug_once(tmp_path: Path) -> None:
    text = _pdf_text(render_certificate_pdf(make_cert(account="acct-alpha"), tmp_path / "c.pdf"))
    assert text.count("acct-alpha") == 1


_LONG_NAMES = [
    # Words: set on two lines.
    ("The Extraordinarily Long-Named International Printing & Reprographics Company of "
     "Springfield")[:ACCOUNT_NAME_MAX],
    # One word: only shrinking can make it fit.
    "Ω" + "x" * (ACCOUNT_NAME_MAX - 1),
]  # fmt: skip


@pytest.mark.parametrize("name", _LONG_NAMES)
def test_long_name_fits_the_frame(tmp_path: Path, name: str) -> None:
    pdftotext = _need("pdftotext", "poppler-utils")
    pdftoppm = _need("pdftoppm", "poppler-utils")
    cert = make_cert(account="acct-" + "y" * 60, account_name=name)
    pdf = render_certificate_pdf(cert, tmp_path / "cert.pdf")
    assert name in _pdf_text(pdf)
    # Every word lies inside the inner frame (32 pt in from each edge), clear of it.
    boxes = re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">',
        _run(pdftotext, "-bbox", str(pdf), "-"),
    )
    assert len(boxes) > 20
    width, height = 792, 612
    for x_min, y_min, x_max, y_max in ((float(v) for v in box) for box in boxes):
        assert 40 < x_min < x_max < width - 40
        assert 40 < y_min < y_max < height - 40
    _run(pdftoppm, "-png", "-r", "30", "-singlefile", str(pdf), str(tmp_path / "cert"))
    assert (tmp_path / "cert.png").read_bytes().startswith(b"\x89PNG")


def test_missing_fonts_fail_in_one_line_naming_the_package(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(certificate_pdf, "FONT_DIR", tmp_path / "no-fonts")
    monkeypatch.setattr(certificate_pdf, "_registered", set())
    target = tmp_path / "cert.pdf"
    with pytest.raises(certificate_pdf.CertificateFontError) as exc:
        render_certificate_pdf(make_cert(), target)
    message = str(exc.value)
    assert "\n" not in message
    assert "apt-get install fonts-dejavu-core" in message
    assert str(tmp_path / "no-fonts" / "DejaVuSerif.ttf") in message
    assert not target.exists() and os.listdir(tmp_path) == []
