"""Finding the TLS error behind a client library's own (httpx, httpcore): what failed in the
handshake is what a user needs to be told."""

from __future__ import annotations

import ssl


def ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error in `exc`'s chain of causes, if one is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
