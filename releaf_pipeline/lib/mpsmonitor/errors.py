"""Errors raised by the MPS Monitor client. Each names the server and what to do."""

from __future__ import annotations

from releaf_pipeline.lib.errors import ReleafError


class MPSMonitorError(ReleafError):
    """Base class: something went wrong talking to an MPS Monitor server.

    `reason` (its `kind`) is a short machine-readable category stored with a feed-day or a
    server's health (for example ``unauthorized``, ``tls``, ``unreachable``).
    """

    reason = "error"

    @property
    def kind(self) -> str:  # type: ignore[override]
        """The reason, as every error names its kind."""
        return self.reason


class InsecureURLError(MPSMonitorError, ValueError):
    """The URL is not `https://`; the pipeline never talks plain HTTP."""

    reason = "insecure_url"


class InvalidTokenError(MPSMonitorError, ValueError):
    """The dealer token cannot be sent in an HTTP header (control or non-ASCII characters)."""

    reason = "invalid_token"


class TLSError(MPSMonitorError):
    """The server's certificate could not be verified."""

    reason = "tls"


class UnreachableError(MPSMonitorError):
    """The server could not be reached (DNS, refused connection, reset)."""

    reason = "unreachable"


class RequestTimeoutError(MPSMonitorError):
    """The server did not answer within the time-out, after all retries."""

    reason = "timeout"


class UnauthorizedError(MPSMonitorError):
    """HTTP 401: the dealer token is missing, wrong or revoked. Not retried."""

    reason = "unauthorized"


class ServerError(MPSMonitorError):
    """HTTP 5xx or 429 still failing after all retries."""

    reason = "server_error"


class AnotherDealerError(MPSMonitorError):
    """The server answers as another dealer than the one registered for it."""

    reason = "another_dealer"


class InvalidResponseError(MPSMonitorError):
    """The body is not the contract's envelope, or a field is missing or of the wrong type."""

    reason = "invalid_response"


class RequestRejectedError(MPSMonitorError):
    """`IsValid: false` with error codes. Not retried."""

    reason = "rejected"

    def __init__(
        self, message: str, codes: list[str] | None = None, *, http_status: int | None = None
    ) -> None:
        super().__init__(message, http_status=http_status)
        self.codes = codes or []


class CustomerNotFoundError(RequestRejectedError):
    """The customer code is unknown on this server."""

    reason = "customer_not_found"
