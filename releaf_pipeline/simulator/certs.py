"""The simulator's test certificate authority and server certificate, kept in its workdir.

The first start in a working directory makes a CA and a server certificate signed by it;
later starts, in this process or another, reuse both, so a pipeline that registered the
CA bundle (`mpsmonitor-sim-ca.pem`) keeps trusting a restarted simulator. A new server
certificate, from the same CA, is issued only when the kept one does not name the host
the simulator now listens on, or is about to expire.

`trustme` makes the certificates. It is an optional dependency (the `simulator` extra),
imported here only, and only when something has to be made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from releaf_pipeline.lib.files import replace_file

if TYPE_CHECKING:
    import trustme

CA_BUNDLE_NAME = "mpsmonitor-sim-ca.pem"
"""The CA certificate a client registers to trust the simulator (public)."""
_CA_KEY_NAME = "mpsmonitor-sim-ca.key"
_CERT_NAME = "mpsmonitor-sim-server.pem"
_KEY_NAME = "mpsmonitor-sim-server.key"
# A kept server certificate this close to its end is replaced (trustme's last until 3000).
_MIN_VALIDITY = timedelta(days=1)


class MissingExtraError(ImportError):
    """`trustme`, which makes the simulator's certificates, is not installed."""


@dataclass(frozen=True)
class ServerCertificate:
    """Where the CA bundle and the server's certificate chain and key are."""

    ca_bundle: Path
    certfile: Path
    keyfile: Path


def server_names(host: str) -> list[str]:
    """The names the certificate must carry for a server listening on `host`.

    Loopback always (a wildcard bind is reached through it), plus `host` itself.
    """
    names = ["127.0.0.1", "localhost"]
    if ":" in host:
        names.append("::1")
    if host not in names and host not in ("0.0.0.0", "::", ""):
        names.append(host)
    return names


def ensure_certificates(workdir: Path, names: list[str]) -> ServerCertificate:
    """Reuse, or make once, the CA and a server certificate for `names` in `workdir`.

    Raises MissingExtraError when something must be made and trustme is missing, and
    OSError when the directory cannot be written.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    paths = ServerCertificate(workdir / CA_BUNDLE_NAME, workdir / _CERT_NAME, workdir / _KEY_NAME)
    if _usable(paths, names):
        return paths
    ca = _load_ca(workdir) or _new_ca(workdir)
    leaf = ca.issue_cert(*names)
    replace_file(paths.keyfile, leaf.private_key_pem.bytes(), private=True)
    replace_file(paths.certfile, b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return paths


def _trustme() -> ModuleType:
    try:
        import trustme
    except ImportError:
        raise MissingExtraError(
            "the MPS Monitor simulator needs trustme to make its test certificates: "
            "pip install 'releaf-pipeline[simulator]'"
        ) from None
    return trustme


def _load_ca(workdir: Path) -> trustme.CA | None:
    """The kept CA, when both its certificate and its key are there and readable."""
    cert, key = workdir / CA_BUNDLE_NAME, workdir / _CA_KEY_NAME
    if not (cert.is_file() and key.is_file()):
        return None
    cert_pem, key_pem = cert.read_bytes(), key.read_bytes()
    try:
        if not _key_matches(cert_pem, key_pem):
            return None
    except (ValueError, TypeError):
        return None
    return _trustme().CA.from_pem(cert_pem, key_pem)


def _new_ca(workdir: Path) -> trustme.CA:
    ca = _trustme().CA()
    replace_file(workdir / _CA_KEY_NAME, ca.private_key_pem.bytes(), private=True)
    replace_file(workdir / CA_BUNDLE_NAME, ca.cert_pem.bytes())
    return ca


def _usable(paths: ServerCertificate, names: list[str]) -> bool:
    """Whether the kept server certificate is signed by the kept CA, matches its key,
    names every one of `names` and is valid a while longer."""
    try:
        ca = x509.load_pem_x509_certificate(paths.ca_bundle.read_bytes())
        cert_pem = paths.certfile.read_bytes()
        cert = x509.load_pem_x509_certificate(cert_pem)
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if not _key_matches(cert_pem, paths.keyfile.read_bytes()):
            return False
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    if cert.not_valid_after_utc - datetime.now(UTC) < _MIN_VALIDITY:
        return False
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = set(san.get_values_for_type(x509.IPAddress))
    for name in names:
        try:
            if ip_address(name) not in ips:
                return False
        except ValueError:
            if name not in dns:
                return False
    return True


def _key_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    """Whether the private key `key_pem` belongs to the (first) certificate in `cert_pem`."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = load_pem_private_key(key_pem, password=None)
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
