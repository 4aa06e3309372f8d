"""A certificate as a one-page PDF: the same input gives the same bytes.

Only reportlab's built-in fonts are used, so rendering needs no font files. Those fonts
cover Latin-1 (WinAnsi) text only; other characters print as a placeholder box.
"""

from __future__ import annotations

import os
import secrets
from io import BytesIO
from pathlib import Path

from reportlab.lib.pagesizes import landscape, letter
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from releaf_pipeline.lib.certificates import TITLE, Certificate, certificate_lines

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
    lines = certificate_lines(cert)
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
