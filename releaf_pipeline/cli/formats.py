"""Values as a person reads them in a table: words, not `True`/`None`; moments to the
second in UTC; counts with thousands separators; a CA bundle by its fingerprint.

Only the human tables use these: `--json` keeps the values as they are stored.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import sys
from datetime import date, datetime

from releaf_pipeline.lib.dates import utc_text

SYSTEM_TRUST = "system trust store"
CA_HEADER = "CA bundle"

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def ellipsis() -> str:
    # "…" where stdout can print it; a terminal in a legacy encoding gets three dots
    # rather than an encoding error.
    try:
        "…".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "..."
    return "…"


def moment(value: datetime | date | None) -> str:
    """`2026-11-27 02:00:05 UTC` for a moment (naive ones are UTC), ISO for a day, "" for
    none."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return utc_text(value)
    return value.isoformat()


def count(value: int | None) -> str:
    """A whole number with thousands separators (`151,144`), "" for none."""
    return "" if value is None else f"{value:,}"


def signed(value: int) -> str:
    """An adjustment: `+1,204`, `-35`, or "" when there is none."""
    return f"{value:+,}" if value else ""


def ca_sha256(pem: str | None) -> str | None:
    """The SHA-256 (hex) of the DER of the first certificate in a PEM bundle; of the PEM
    text itself if it holds no certificate block; None without a bundle."""
    if not pem:
        return None
    match = _PEM_CERT.search(pem)
    try:
        data = ssl.PEM_cert_to_DER_cert(match.group(0)) if match else pem.encode()
    except ValueError:
        data = pem.encode()
    return hashlib.sha256(data).hexdigest()


def ca_fingerprint(pem: str | None) -> str:
    """`sha256:ab12cd34ef56ab78…` (what `openssl x509 -fingerprint -sha256` starts with,
    in lower case without colons), or "system trust store" when there is no bundle."""
    digest = ca_sha256(pem)
    return SYSTEM_TRUST if digest is None else f"sha256:{digest[:16]}{ellipsis()}"
