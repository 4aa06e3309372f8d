"""Whom a client talks to and how it trusts them: base URL, TLS and dealer token.

Pure functions, no I/O. The checks run when a server is registered and again when a client
is built, and refuse with one line (an `MPSMonitorError`) anything that httpx would
otherwise reject with an error of its own, rewrite silently, or send somewhere unintended.
`tls_error` tells a TLS failure that will not heal from a dropped connection.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from urllib.parse import urlsplit

import httpx
import idna

from releaf_pipeline.lib.mpsmonitor.errors import InsecureURLError, InvalidTokenError, TLSError
from releaf_pipeline.lib.ssl_errors import ssl_cause

_NETLOC = re.compile(r"(?P<host>\[[^\[\]]*\]|[^\[\]:]*)(?::(?P<port>[0-9]{1,5}))?")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)
_SHAPE = "register the server as https://<host>[:port]"


def safe_display(url: str) -> str:
    """The URL without user info, query or fragment, fit for an error message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.netloc.rpartition("@")[2]
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return f"{scheme}{host}{parts.path}"


def _host_problem(netloc: str) -> str | None:
    """What makes `netloc` (``host[:port]``) unusable, or None. Only plain ASCII host names,
    valid IP addresses and valid ``xn--`` (IDNA) names pass, so nothing reaches httpx that
    it would refuse with an error of its own."""
    match = _NETLOC.fullmatch(netloc)
    if match is None:
        return f"is not a valid URL: {_SHAPE}"
    host, port = match["host"], match["port"]
    if port is not None and not 1 <= int(port) <= 65535:
        return f"has port {port}, outside 1-65535: {_SHAPE}"
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"has an invalid IPv6 address: {_SHAPE}"
        return None
    if not host.isascii():
        try:
            ascii_name = idna.encode(host.lower()).decode("ascii")
        except (UnicodeError, ValueError):
            return (
                "has a host name that is neither plain ASCII nor a valid internationalised "
                "(IDNA) name: register the server by its ASCII host name or IP address"
            )
        return (
            "has a host name that is not plain ASCII: register it in its ASCII (IDNA) form, "
            f"{ascii_name!r}"
        )
    name = host.removesuffix(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return (
            "has an invalid host name (letters, digits, hyphens and dots only, no empty or "
            f"over-long labels): {_SHAPE}"
        )
    if labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return f"has an invalid IPv4 address: {_SHAPE}"
    elif any(label.lower().startswith("xn--") for label in labels):
        try:
            idna.decode(name)
        except (UnicodeError, ValueError):
            return f"has an invalid internationalised (IDNA xn--) host name: {_SHAPE}"
    return None


def require_https(url: str) -> str:
    """Return `url` normalised if it is HTTPS with a host: lower-case scheme and host, no
    default port, no trailing ``/``. Two URLs of the same server normalise alike.

    Anything else raises `InsecureURLError`: the pipeline never talks plain HTTP; a URL that
    embeds credentials, a query or a fragment cannot be a server's base URL; and spaces,
    control characters and host names that are not plain ASCII (or not valid IDNA) are
    refused rather than silently rewritten.
    """
    if not isinstance(url, str):
        raise InsecureURLError(
            f"an MPS Monitor server URL must be a string, got {type(url).__name__}"
        )
    text = url.strip()
    shown = safe_display(text)
    # urlsplit silently drops tabs and line breaks (so `shown` would not show them) and
    # httpx would quote spaces: refuse them, naming the character.
    bad = next((ch for ch in text if ch.isspace() or not ch.isprintable() or ch == "\\"), None)
    if bad is not None:
        raise InsecureURLError(
            f"{shown!r} contains {bad!r} at position {text.index(bad)}: spaces, backslashes "
            f"and control characters are not allowed; {_SHAPE}"
        )
    try:
        parts = urlsplit(text)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise InsecureURLError(f"{shown!r} is not a valid URL: {_SHAPE}") from None
    if parts.scheme.lower() != "https":
        scheme = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise InsecureURLError(
            f"{shown!r} uses {scheme}: MPS Monitor servers are only reached over https:// "
            "with certificate verification; register the server's https:// URL"
        )
    if not host:
        raise InsecureURLError(f"{shown!r} has no host name: {_SHAPE}")
    if parts.username is not None or parts.password is not None:
        raise InsecureURLError(
            f"{shown!r} embeds credentials in the URL: register the URL without them "
            "and the dealer token separately"
        )
    if parts.query or parts.fragment:
        raise InsecureURLError(
            f"{shown!r} has a query or fragment: register only the server's base URL"
        )
    netloc = parts.netloc.rpartition("@")[2]
    problem = _host_problem(netloc)
    if problem:
        raise InsecureURLError(f"{shown!r} {problem}")
    return _identity(netloc, parts.path)


def _identity(netloc: str, path: str) -> str:
    # One server, one spelling: host names are case-insensitive and 443 is https's port,
    # so `https://Host:443/` and `https://host` name the same server.
    match = _NETLOC.fullmatch(netloc)
    assert match is not None  # checked by _host_problem
    host = match["host"].lower().removesuffix(".")
    port = match["port"]
    shown_port = f":{int(port)}" if port is not None and int(port) != 443 else ""
    return f"https://{host}{shown_port}{path.rstrip('/')}"


def server_label(base_url: str) -> str:
    """``https://host[:port]``: how messages name a server (never a path, query or token)."""
    return f"https://{urlsplit(base_url).netloc.lower()}"


# -- TLS and the token ----------------------------------------------------------------------


def build_ssl_context(
    ca_bundle: str | os.PathLike[str] | None, ca_data: str | None, server: str
) -> ssl.SSLContext:
    # Verification stays on in every branch: create_default_context requires a valid
    # certificate chain and a matching host name, and nothing here loosens it.
    if ca_data is not None:
        try:
            return ssl.create_default_context(cadata=ca_data)
        except (ValueError, ssl.SSLError) as exc:
            raise TLSError(
                f"the CA bundle registered for {server} cannot be loaded "
                f"({type(exc).__name__}): register a PEM file with the server's CA"
            ) from exc
    if ca_bundle is None:
        return ssl.create_default_context()
    path = os.fspath(ca_bundle)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise TLSError(
            f"the CA bundle {path!r} registered for {server} cannot be loaded "
            f"({type(exc).__name__}): register a readable PEM file with the server's CA"
        ) from exc


def check_token(token: str) -> None:
    """Refuse, without echoing it, a token that cannot be an HTTP header value."""
    # Sent as is, such a token would make the HTTP layer raise an error that quotes the
    # header, leaking the token.
    if not isinstance(token, str):
        raise TypeError(f"the dealer token must be a string, got {type(token).__name__}")
    if token != token.strip() or any(not (" " <= ch <= "~") for ch in token):
        raise InvalidTokenError(
            "the dealer token contains characters that cannot be sent in an HTTP header "
            "(whitespace at the ends, control or non-ASCII characters): register it again"
        )


def tls_error(exc: httpx.TransportError, server: str) -> TLSError | None:
    """The `TLSError` a failed connection stands for, or None when it may heal on retry."""
    cause = ssl_cause(exc)
    if cause is None or not isinstance(exc, httpx.ConnectError):
        return None
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = getattr(cause, "verify_message", None) or "verification failed"
        return TLSError(
            f"the certificate of {server} could not be verified ({detail}): "
            "register the server's CA bundle, or have the server present a certificate "
            "trusted by the system store and valid for its host name"
        )
    # An EOF during the handshake is a dropped connection, worth retrying; any other
    # TLS failure (no common protocol or cipher, plain HTTP on the port) will not heal.
    if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return None
    return TLSError(
        f"the TLS handshake with {server} failed ({type(cause).__name__}): "
        "check that the registered URL points at the server's HTTPS port"
    )
