"""Reforestation certificates: a stable id, the printed wording, and a one-page PDF.

A certificate states how many pages an account printed over a period and how many trees
that is. Its id is derived from the figures it certifies, so issuing the same certificate
twice yields the same id and the same PDF bytes, and re-running a pipeline step never
creates a second, conflicting certificate.

The PDF is rendered by `certificate_pdf`.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from hashlib import sha256

from releaf_pipeline.lib.labels import check_label
from releaf_pipeline.lib.rules import TREE_SHEETS
from releaf_pipeline.lib.safe_text import shown
from releaf_pipeline.lib.trees import format_trees, trees

TITLE = "Certificate of Reforestation"
# Printed above the account's name on the PDF; not one of the certificate's text lines.
PREAMBLE = "This certifies that"
FOOTNOTE = f"One standard tree = {TREE_SHEETS:,} letter-size sheets of 20 lb paper."

ACCOUNT_NAME_MAX = 100
"""The longest display name an account may have, in characters."""

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
    ``account_name`` is the account's display name when the certificate was issued (None:
    the account had none, and the certificate names it by ``account``). It is not part of
    the id: naming an account changes no certificate's id.
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
    account_name: str | None = None

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


def check_account_name(text: str) -> str:
    """An account's display name as given, stripped; ValueError saying what is wrong.

    A certificate prints it as the account's name, so it is one line of printable text
    (no control characters, tabs or line breaks) of at most 100 characters.
    """
    return check_label(text, "account name", max_length=ACCOUNT_NAME_MAX)


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
class CertificateLines:
    """The certificate's wording, by role, so the PDF can style each part."""

    title: str
    account: str
    """The account's display name, or its slug when it has none."""
    account_slug: str | None
    """The slug in small print (``"account acct-alpha"``), when the name above is not it."""
    offset: str
    adjustment: str | None
    trees: str
    project: str
    location: str
    issued: str
    cert_id: str
    footnote: str


def certificate_lines(cert: Certificate) -> CertificateLines:
    """The certificate's wording, by role. The names on it (account, project) are printed
    safe: a control or format character a store may hold is shown escaped, and a name too
    long for the page cut with an ellipsis."""
    adjustment = None
    if cert.adjustment_pages != 0:
        adjustment = (
            f"including an adjustment of {_pages(cert.adjustment_pages, signed=True)} "
            "that arrived after earlier certificates"
        )
    return CertificateLines(
        title=TITLE,
        account=shown(cert.account_name or cert.account, ACCOUNT_NAME_MAX),
        account_slug=f"account {shown(cert.account)}" if cert.account_name else None,
        # The credited total, so that the pages stated and the trees stated agree; the
        # adjustment line says how much of it came late.
        offset=(
            f"has offset the paper use of {_pages(cert.credited_pages)} printed from "
            f"{_long_date(cert.period_start)} to {_long_date(cert.period_end)}"
        ),
        adjustment=adjustment,
        trees=f"equivalent to {format_trees(cert.trees)} trees planted",
        project=f"Forestry project: {shown(cert.project_name)}",
        location=shown(cert.project_location),
        issued=f"Issued on {_long_date(cert.issued_on)}",
        cert_id=f"Certificate ID: {cert.id}",
        footnote=FOOTNOTE,
    )


def certificate_subject(cert: Certificate) -> str:
    """Whom and which period the certificate is for, in one line (the PDF's subject)."""
    name, account = shown(cert.account_name, ACCOUNT_NAME_MAX), shown(cert.account)
    who = f"{name} (account {account})" if cert.account_name else account
    return (
        f"Reforestation for {who}, {_long_date(cert.period_start)} to {_long_date(cert.period_end)}"
    )


def certificate_text(cert: Certificate) -> list[str]:
    """The lines printed on the certificate, top to bottom (without the PDF's preamble)."""
    lines = certificate_lines(cert)
    return [
        lines.title,
        lines.account,
        *([lines.account_slug] if lines.account_slug else []),
        lines.offset,
        *([lines.adjustment] if lines.adjustment else []),
        lines.trees,
        lines.project,
        lines.location,
        lines.issued,
        lines.cert_id,
        lines.footnote,
    ]


@dataclass(frozen=True)
class ForestryProject:
    """Where the trees are planted: printed on every certificate."""

    name: str
    location: str
