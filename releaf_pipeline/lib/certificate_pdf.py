"""A certificate as a one-page PDF: the same input gives the same bytes.

The text is set in Debian's DejaVu fonts (package ``fonts-dejavu-core``), embedded as
subsets, so the certificate looks the same in every viewer and prints any account name
DejaVu covers (Latin, Greek, Cyrillic), not only Latin-1. The PDF's dates are the issue
date and its document id is derived from the certificate, so the same certificate gives
the same bytes on every machine and run (given the same font files).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from hashlib import sha256
from io import BytesIO
from pathlib import Path

from reportlab.lib.pagesizes import landscape, letter
from reportlab.pdfbase.pdfmetrics import registerFont, stringWidth
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

from releaf_pipeline.lib.certificates import (
    PREAMBLE,
    TITLE,
    Certificate,
    certificate_lines,
    certificate_subject,
)
from releaf_pipeline.lib.errors import ReleafError
from releaf_pipeline.lib.files import replace_file

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
"""Where Debian's fonts-dejavu-core puts the fonts (a test may point it elsewhere)."""
FONT_PACKAGE = "fonts-dejavu-core"
PRODUCER = "releaf-pipeline (ReportLab PDF Library)"

# Only faces that fonts-dejavu-core ships: the italics are in fonts-dejavu-extra, which a
# machine need not have.
_SERIF, _SERIF_BOLD, _SANS = "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSans"
_FONT_FILES = {_SERIF: "DejaVuSerif.ttf", _SERIF_BOLD: "DejaVuSerif-Bold.ttf",
               _SANS: "DejaVuSans.ttf"}  # fmt: skip
_registered: set[Path] = set()
_registering = threading.Lock()

_PAGE_WIDTH, _PAGE_HEIGHT = landscape(letter)
_GREEN = (0.12, 0.36, 0.22)
_INK = (0.13, 0.13, 0.13)
_MUTED = (0.4, 0.4, 0.4)
_OUTER_INSET = 22
_INNER_INSET = 32
_TEXT_MARGIN = 72
_TEXT_WIDTH = _PAGE_WIDTH - 2 * _TEXT_MARGIN
# The body sits centred between the rule under the title and the row of date, seal and id.
_BODY_TOP, _BODY_BOTTOM = 462.0, 182.0
# The account's name: below _NAME_FLOOR points on one line, it is set on two.
_NAME_SIZE, _NAME_FLOOR = 34.0, 22.0
_SEAL_Y = 124.0
_SEAL_RADIUS = 36.0


class CertificateFontError(ReleafError, RuntimeError):
    """The fonts a certificate is set in are not on this machine; says what to install."""


class CertificateFileError(ReleafError, RuntimeError):
    """A certificate's PDF cannot be written where it belongs; says where and why."""


def _register_fonts(directory: Path) -> None:
    """Register the DejaVu faces from ``directory`` once per process.

    reportlab embeds (a subset of) every font registered from a TrueType file; its
    built-in fonts would be left to the viewer and cover Latin-1 only.
    """
    with _registering:
        if directory in _registered:
            return
        # Emptied first: a failure half-way leaves no directory marked as registered.
        _registered.clear()
        for name, filename in _FONT_FILES.items():
            path = directory / filename
            try:
                registerFont(TTFont(name, str(path)))
            except (OSError, TTFError) as exc:
                problem = "is missing" if not path.is_file() else f"cannot be read ({exc})"
                raise CertificateFontError(
                    f"the certificate font {path} {problem}: install it with "
                    f"`apt-get install {FONT_PACKAGE}`"
                ) from None
        _registered.add(directory)


def _fitted_size(text: str, font: str, size: float, width: float) -> float:
    """The largest size up to ``size`` at which ``text`` fits ``width``.

    Account and project names can be long, and a line running into the border would look
    broken, so long ones are set smaller rather than clipped.
    """
    natural = stringWidth(text, font, size)
    return size if natural <= width else size * width / natural


@dataclass(frozen=True)
class _Line:
    """One centred line of the body, ``space`` below the baseline of the line above."""

    text: str
    font: str
    size: float
    colour: tuple[float, float, float]
    space: float
    rule_below: bool = False


def _name_lines(name: str) -> list[_Line]:
    """The account's name, large: on one line, or on two when one would set it small."""
    size = _fitted_size(name, _SERIF_BOLD, _NAME_SIZE, _TEXT_WIDTH)
    words = name.split()
    if size >= _NAME_FLOOR or len(words) < 2:
        return [_Line(name, _SERIF_BOLD, size, _INK, 50, rule_below=True)]

    def width(part: list[str]) -> float:
        return stringWidth(" ".join(part), _SERIF_BOLD, _NAME_SIZE)

    # Break where the longer of the two lines is shortest; both get the same size.
    cut = min(range(1, len(words)), key=lambda i: max(width(words[:i]), width(words[i:])))
    parts = [" ".join(words[:cut]), " ".join(words[cut:])]
    size = min(_fitted_size(p, _SERIF_BOLD, _NAME_SIZE, _TEXT_WIDTH) for p in parts)
    return [
        _Line(parts[0], _SERIF_BOLD, size, _INK, 44),
        _Line(parts[1], _SERIF_BOLD, size, _INK, 1.2 * size, rule_below=True),
    ]


def _body(cert: Certificate) -> list[_Line]:
    lines = certificate_lines(cert)
    body = [_Line(PREAMBLE, _SERIF, 15, _MUTED, 0), *_name_lines(lines.account)]
    if lines.account_slug:
        body.append(_Line(lines.account_slug, _SANS, 9.5, _MUTED, 27))
    body.append(_Line(lines.offset, _SERIF, 14.5, _INK, 40 if lines.account_slug else 48))
    if lines.adjustment:
        body.append(_Line(lines.adjustment, _SERIF, 10.5, _MUTED, 20))
    body += [
        _Line(lines.trees, _SERIF_BOLD, 25, _GREEN, 44),
        _Line(lines.project, _SANS, 12, _INK, 46),
        _Line(lines.location, _SANS, 10, _MUTED, 17),
    ]
    return body


def _draw_body(pdf: Canvas, body: list[_Line]) -> None:
    # Centre the block's ink (cap height of the first line to the descenders of the last)
    # in the space it has, so a certificate without the optional lines stays balanced.
    height = sum(line.space for line in body) + 0.73 * body[0].size + 0.24 * body[-1].size
    y = (_BODY_TOP + _BODY_BOTTOM + height) / 2 - 0.73 * body[0].size
    for line in body:
        y -= line.space
        size = _fitted_size(line.text, line.font, line.size, _TEXT_WIDTH)
        pdf.setFillColorRGB(*line.colour)
        pdf.setFont(line.font, size)
        pdf.drawCentredString(_PAGE_WIDTH / 2, y, line.text)
        if line.rule_below:
            half = min(
                max(150.0, stringWidth(line.text, line.font, size) / 2 + 30), _TEXT_WIDTH / 2
            )
            _rule(pdf, y - 0.3 * size - 4, half, 0.6)


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


def _rule(pdf: Canvas, y: float, half_width: float, width: float = 1) -> None:
    pdf.setStrokeColorRGB(*_GREEN)
    pdf.setLineWidth(width)
    pdf.line(_PAGE_WIDTH / 2 - half_width, y, _PAGE_WIDTH / 2 + half_width, y)


def _ornament(pdf: Canvas, y: float) -> None:
    """The rule under the title: two lines parted by a small diamond."""
    centre = _PAGE_WIDTH / 2
    pdf.setStrokeColorRGB(*_GREEN)
    pdf.setLineWidth(1)
    pdf.line(centre - 150, y, centre - 12, y)
    pdf.line(centre + 12, y, centre + 150, y)
    pdf.setFillColorRGB(*_GREEN)
    diamond = pdf.beginPath()
    diamond.moveTo(centre, y + 5)
    diamond.lineTo(centre + 5, y)
    diamond.lineTo(centre, y - 5)
    diamond.lineTo(centre - 5, y)
    diamond.close()
    pdf.drawPath(diamond, stroke=0, fill=1)


def _seal(pdf: Canvas, x: float, y: float) -> None:
    """A drawn seal between the issue date and the id: two rings around a young conifer."""
    pdf.setStrokeColorRGB(*_GREEN)
    pdf.setLineWidth(1.6)
    pdf.circle(x, y, _SEAL_RADIUS, stroke=1, fill=0)
    pdf.setLineWidth(0.6)
    pdf.circle(x, y, _SEAL_RADIUS - 4, stroke=1, fill=0)
    pdf.setFillColorRGB(*_GREEN)
    # Three tiers, each wider and lower than the one above, on a short trunk.
    for top, half, depth in ((22, 9, 15), (12, 13, 17), (1, 17, 18)):
        tier = pdf.beginPath()
        tier.moveTo(x, y + top)
        tier.lineTo(x + half, y + top - depth)
        tier.lineTo(x - half, y + top - depth)
        tier.close()
        pdf.drawPath(tier, stroke=0, fill=1)
    pdf.rect(x - 2.5, y - 25, 5, 8, stroke=0, fill=1)


def _signature_row(pdf: Canvas, issued: str, cert_id: str) -> None:
    # Issue date and id sit left and right above short rules, where a signature and a
    # reference would be on a paper certificate, each clear of the seal between them.
    half = (_TEXT_WIDTH / 2) - _SEAL_RADIUS - 24
    base = _SEAL_Y + 2
    for text, centre in (
        (issued, _TEXT_MARGIN + half / 2),
        (cert_id, _PAGE_WIDTH - _TEXT_MARGIN - half / 2),
    ):
        size = _fitted_size(text, _SANS, 11, half - 20)
        pdf.setFillColorRGB(*_INK)
        pdf.setFont(_SANS, size)
        pdf.drawCentredString(centre, base, text)
        pdf.setStrokeColorRGB(*_GREEN)
        pdf.setLineWidth(0.8)
        pdf.line(centre - half / 2 + 10, base - 9, centre + half / 2 - 10, base - 9)


def _document_id(cert: Certificate) -> bytes:
    """The PDF's /ID: a digest of everything the certificate states, as reportlab writes it.

    reportlab would derive it from the clock (or from SOURCE_DATE_EPOCH in invariant mode).
    """
    canonical = json.dumps(asdict(cert), default=str, sort_keys=True, ensure_ascii=False)
    digest = sha256(canonical.encode("utf-8")).hexdigest()[:32].upper()
    return f"\n[<{digest}><{digest}>]\n".encode("ascii")


def _pdf_bytes(cert: Certificate) -> bytes:
    _register_fonts(FONT_DIR)
    lines = certificate_lines(cert)
    buffer = BytesIO()
    # invariant=1 keeps reportlab off the clock; the dates and the document id it would
    # then fix (2000-01-01, a digest of the title) are set from the certificate below. The
    # initial font is one of ours: reportlab's default, Helvetica, would be listed in the
    # file without being embedded, though no text uses it.
    pdf = Canvas(
        buffer,
        pagesize=(_PAGE_WIDTH, _PAGE_HEIGHT),
        invariant=1,
        pageCompression=1,
        initialFontName=_SANS,
    )
    pdf.setTitle(f"{TITLE} {cert.id}")
    pdf.setAuthor("releaf-pipeline")
    pdf.setCreator("releaf-pipeline")
    pdf.setProducer(PRODUCER)
    pdf.setSubject(certificate_subject(cert))
    # The creation and modification dates: the issue date, 00:00 UTC.
    issued = f"D:{cert.issued_on:%Y%m%d}000000+00'00'"
    pdf.setDateFormatter(lambda *_: issued)
    # reportlab has no public setter for the id; ID() returns this once it is set (a test
    # checks that it still does).
    pdf._doc._ID = _document_id(cert)

    _draw_frame(pdf)
    title_size = _fitted_size(lines.title, _SERIF_BOLD, 36, _TEXT_WIDTH)
    pdf.setFillColorRGB(*_GREEN)
    pdf.setFont(_SERIF_BOLD, title_size)
    pdf.drawCentredString(_PAGE_WIDTH / 2, 500, lines.title)
    _ornament(pdf, 478)

    _draw_body(pdf, _body(cert))

    _seal(pdf, _PAGE_WIDTH / 2, _SEAL_Y)
    _signature_row(pdf, lines.issued, lines.cert_id)

    footnote_size = _fitted_size(lines.footnote, _SANS, 8.5, _TEXT_WIDTH)
    pdf.setFillColorRGB(*_MUTED)
    pdf.setFont(_SANS, footnote_size)
    pdf.drawCentredString(_PAGE_WIDTH / 2, 52, lines.footnote)

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def render_certificate_pdf(cert: Certificate, path: Path) -> Path:
    """Write ``cert`` as a one-page landscape PDF at ``path`` and return ``path``.

    The same certificate always gives the same bytes. The file is written next to its
    final name and then renamed over it, so a reader or a crash never sees half a PDF.
    CertificateFontError when the DejaVu fonts are not installed, CertificateFileError
    when the directory cannot be made or written.
    """
    path = Path(path)
    data = _pdf_bytes(cert)
    try:
        replace_file(path, data)
    except OSError as exc:
        raise CertificateFileError(
            f"cannot write the certificate PDF {path} ({exc.strerror or exc}): "
            "make RELEAF_CERTIFICATES_DIR a writable directory; the month closes on the next "
            "run"
        ) from None
    return path
