"""The one base of every error a person can act on, and what a command exits with."""

from __future__ import annotations

REFUSED = 2
"""Exit status of a refusal: the input or a setting must change (nothing was written)."""
FAILED = 1
"""Exit status of a failure of something else: the store, a server, a channel."""


class ReleafError(Exception):
    """An error whose message is one line saying what failed and what to do.

    `kind` names it for machines (a feed-day's failure, the catch-up's decisions);
    `exit_code` is what `releaf` exits with; `server`, `feed` and `http_status` say
    where it happened, when known.
    """

    kind = "error"
    exit_code = REFUSED

    def __init__(
        self,
        message: str = "",
        *,
        server: str | None = None,
        feed: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.server = server
        self.feed = feed
        self.http_status = http_status
