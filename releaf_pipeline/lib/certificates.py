"""Reforestation certificates: a stable id, the printed wording, and a one-page PDF.

A certificate states how many pages an account printed over a period and how many trees
that is. Its id is derived from the figures it certifies, so issuing the same certificate
twice yields the same id and the same PDF bytes, and re-running a pipeline step never
creates a second, conflicting certificate.

Only reportlab's built-in fonts are used, so rendering needs no font files. Those fonts
cover Latin-1 (WinAnsi) text only; other characters print as a placeholder box.
"""

from __future__ import annotations

import json
import operator
import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from hashlib import sha256
from io import BytesIO
from pathlib import Path

from reportlab.lib.pagesizes import landscape, letter
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from releaf_pipeline.lib.accounting import TREE_SHEETS, format_trees, trees

TITLE = "Certificate of Reforestation"
FOOTNOTE = f"One standard tree = {TREE_SHEETS:,} letter-size sheets of 20 lb paper."

# Bumping this changes every id, so it may only change together with a deliberate
# re-issue of all certificates.
_ID_SCHEME = "releaf-certificate-v1"
_ID_HASH_CHARS = 10

# English month names, written out rather than taken from strftime("%B"), which follows the
# process locale and would make the same certificate print differently on another host.
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class Certificate:
    """One issued certificate: an account's pages over a period, turned into trees.

    ``pages`` are the pages deposited in the period as known when the certificate was
    issued; ``adjustment_pages`` are pages of earlier periods that arrived after those
    periods' certificates were issued (zero or negative too), credited here instead.
    """

    id: str
    account: str
    period_start: date
    period_end: date
    pages: int
    adjustment_pages: int
    project_name: str
    project_location: str
    issued_on: date

    def __post_init__(self) -> None:
        if self.period_end < self.period_start:
            raise ValueError(
                f"certificate period ends ({self.period_end}) before it starts "
                f"({self.period_start})"
            )
        if operator.index(self.pages) < 0:
            raise ValueError(f"pages must not be negative, got {self.pages}")
        operator.index(self.adjustment_pages)

    @property
    def credited_pages(self) -> int:
        """Pages this certificate credits: the period's pages plus the late adjustment."""
        return self.pages + self.adjustment_pages

    @property
    def trees(self) -> Decimal:
        """Trees planted for the credited pages, exact (`credited_pages / 8333`)."""
        return trees(self.credited_pages)


def certificate_id(
    account: str, period_start: date, period_end: date, pages: int, adjustment_pages: int
) -> str:
    """The stable id of a certificate, e.g. ``"RC-202609-3F9A1C0B7E"``.

    ``"RC-"``, the year and month of ``period_start``, and the first 10 hex digits
    (uppercase) of a SHA-256 over the inputs: the same inputs always give the same id, and
    a certificate for other figures gets another one.
    """
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        # A datetime is a date too, but its isoformat() carries the time and would give
        # the same period a different id.
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a date, got {type(value).__name__}")
    # JSON quotes and escapes the account, so no account name can make two different
    # inputs serialise alike.
    canonical = json.dumps(
        [
            _ID_SCHEME,
            str(account),
            period_start.isoformat(),
            period_end.isoformat(),
            operator.index(pages),
            operator.index(adjustment_pages),
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    digest = sha256(canonical.encode("utf-8")).hexdigest()[:_ID_HASH_CHARS].upper()
    return f"RC-{period_start:%Y%m}-{digest}"


def _long_date(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.day}, {day.year}"


def _pages(count: int, *, signed: bool = False) -> str:
    number = f"{count:+,}" if signed else f"{count:,}"
    return f"{number} {'page' if abs(count) == 1 else 'pages'}"


@dataclass(frozen=True)
class _Lines:
    """The certificate's wording, by role, so the PDF can style each part."""

    title: str
    account: str
    offset: str
    adjustment: str | None
    trees: str
    project: str
    location: str
    issued: str
    cert_id: str
    footnote: str


def _lines(cert: Certificate) -> _Lines:
    adjustment = None
    if cert.adjustment_pages != 0:
        adjustment = (
            f"including an adjustment of {_pages(cert.adjustment_pages, signed=True)} "
            "that arrived after earlier certificates"
        )
    return _Lines(
        title=TITLE,
        account=cert.account,
        # The credited total, so that the pages stated and the trees stated agree; the
        # adjustment line says how much of it came late.
        offset=(
            f"has offset the paper use of {_pages(cert.credited_pages)} printed from "
            f"{_long_date(cert.period_start)} to {_long_date(cert.period_end)}"
        ),
        adjustment=adjustment,
        trees=f"equivalent to {format_trees(cert.trees)} trees planted",
        project=f"Forestry project: {cert.project_name}",
        location=cert.project_location,
        issued=f"Issued on {_long_date(cert.issued_on)}",
        cert_id=f"Certificate ID: {cert.id}",
        footnote=FOOTNOTE,
    )


def certificate_text(cert: Certificate) -> list[str]:
    """The lines printed on the certificate, top to bottom."""
    lines = _lines(cert)
    return [
        lines.title,
        lines.account,
        lines.offset,
        *([lines.adjustment] if lines.adjustment else []),
        lines.trees,
        lines.project,
        lines.location,
        lines.issued,
        lines.cert_id,
        lines.footnote,
    ]


# ---------------------------------------------------------------------------------------
# PDF layout. Coordinates are PDF points on landscape letter (792 x 612), origin bottom left.

_PAGE_WIDTH, _PAGE_HEIGHT = landscape(letter)
_GREEN = (0.12, 0.36, 0.22)
_INK = (0.15, 0.15, 0.15)
_MUTED = (0.38, 0.38, 0.38)
_OUTER_INSET = 22
_INNER_INSET = 32
_TEXT_MARGIN = 70
_TEXT_WIDTH = _PAGE_WIDTH - 2 * _TEXT_MARGIN


def _fitted_size(text: str, font: str, size: float, width: float) -> float:
    """The largest size up to ``size`` at which ``text`` fits ``width``.

    Account and project names have no length limit, and a line running into the border
    would look broken, so long ones are set smaller rather than clipped.
    """
    natural = stringWidth(text, font, size)
    return size if natural <= width else size * width / natural


def _centred(
    pdf: Canvas,
    text: str,
    y: float,
    font: str,
    size: float,
    colour: tuple[float, float, float] = _INK,
) -> None:
    pdf.setFillColorRGB(*colour)
    pdf.setFont(font, _fitted_size(text, font, size, _TEXT_WIDTH))
    pdf.drawCentredString(_PAGE_WIDTH / 2, y, text)


def _draw_frame(pdf: Canvas) -> None:
    pdf.setStrokeColorRGB(*_GREEN)
    pdf.setLineWidth(3.5)
    pdf.rect(
        _OUTER_INSET,
        _OUTER_INSET,
        _PAGE_WIDTH - 2 * _OUTER_INSET,
        _PAGE_HEIGHT - 2 * _OUTER_INSET,
    )
    pdf.setLineWidth(0.8)
    pdf.rect(
        _INNER_INSET,
        _INNER_INSET,
        _PAGE_WIDTH - 2 * _INNER_INSET,
        _PAGE_HEIGHT - 2 * _INNER_INSET,
    )
    # Small squares where the two frames meet the corners, the usual certificate touch.
    pdf.setFillColorRGB(*_GREEN)
    side = 8
    for x in (_INNER_INSET - side / 2, _PAGE_WIDTH - _INNER_INSET - side / 2):
        for y in (_INNER_INSET - side / 2, _PAGE_HEIGHT - _INNER_INSET - side / 2):
            pdf.rect(x, y, side, side, stroke=0, fill=1)


def _rule(pdf: Canvas, y: float, half_width: float) -> None:
    pdf.setStrokeColorRGB(*_GREEN)
    pdf.setLineWidth(1)
    pdf.line(_PAGE_WIDTH / 2 - half_width, y, _PAGE_WIDTH / 2 + half_width, y)


def _pdf_bytes(cert: Certificate) -> bytes:
    lines = _lines(cert)
    buffer = BytesIO()
    # invariant=1 drops the creation date and the random document id, which is what makes
    # the same certificate render to the same bytes.
    pdf = Canvas(buffer, pagesize=(_PAGE_WIDTH, _PAGE_HEIGHT), invariant=1, pageCompression=1)
    pdf.setTitle(f"{TITLE} {cert.id}")

    _draw_frame(pdf)

    _centred(pdf, lines.title, 492, "Times-Bold", 40, _GREEN)
    _rule(pdf, 474, 130)

    _centred(pdf, lines.account, 408, "Times-BoldItalic", 34)

    # Without an adjustment line the block below closes up, so the page stays balanced.
    y = 360.0
    _centred(pdf, lines.offset, y, "Times-Roman", 16)
    if lines.adjustment:
        y -= 22
        _centred(pdf, lines.adjustment, y, "Times-Italic", 12, _MUTED)
    y -= 44
    _centred(pdf, lines.trees, y, "Times-Bold", 24, _GREEN)

    y -= 58
    _centred(pdf, lines.project, y, "Helvetica", 13)
    y -= 18
    _centred(pdf, lines.location, y, "Helvetica", 11, _MUTED)

    # Issue date and id sit left and right above short rules, where a seal and signature
    # would be on a paper certificate; each gets under half the width so they never meet.
    base = 138
    half = (_PAGE_WIDTH - 2 * _TEXT_MARGIN) / 2 - 20
    for text, centre in (
        (lines.issued, _TEXT_MARGIN + half / 2),
        (lines.cert_id, _PAGE_WIDTH - _TEXT_MARGIN - half / 2),
    ):
        size = _fitted_size(text, "Helvetica", 11, half)
        pdf.setFillColorRGB(*_INK)
        pdf.setFont("Helvetica", size)
        pdf.drawCentredString(centre, base, text)
        pdf.setStrokeColorRGB(*_GREEN)
        pdf.setLineWidth(0.8)
        pdf.line(centre - half / 2 + 20, base - 8, centre + half / 2 - 20, base - 8)

    _centred(pdf, lines.footnote, 54, "Helvetica-Oblique", 9, _MUTED)

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def render_certificate_pdf(cert: Certificate, path: Path) -> Path:
    """Write ``cert`` as a one-page landscape PDF at ``path`` and return ``path``.

    The same certificate always gives the same bytes. The file is written next to its
    final name and then renamed over it, so a reader or a crash never sees half a PDF.
    """
    path = Path(path)
    data = _pdf_bytes(cert)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 lets the umask decide the final permissions, as for any other
    # file the pipeline writes; mkstemp would force 0600.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            # Without fsync a power cut after the rename can leave an empty file behind.
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path
