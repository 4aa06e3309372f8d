"""The certificates of a PEM bundle, and nothing else of it."""

from __future__ import annotations

import re

from cryptography import x509

_BLOCK = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----"
)


class PemError(ValueError):
    """The text holds no certificate, or one that does not parse; says which."""


def pem_certificates(text: str) -> str:
    """The PEM certificate blocks of `text`, each checked to parse as an X.509
    certificate, one after the other with a line break after each; what lies between
    them is dropped. PemError when there is none, or one does not parse."""
    blocks = [m.group(0).replace("\r\n", "\n") for m in _BLOCK.finditer(text)]
    if not blocks:
        raise PemError("holds no PEM certificate")
    for number, block in enumerate(blocks, 1):
        try:
            x509.load_pem_x509_certificate(block.encode("ascii"))
        except ValueError:
            raise PemError(f"holds a certificate that does not parse (number {number})") from None
    return "".join(f"{block}\n" for block in blocks)
