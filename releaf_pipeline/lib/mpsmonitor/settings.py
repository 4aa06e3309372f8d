"""`ClientSettings`: the knobs of one `MPSMonitorClient`, validated once.

They are shared by the transport (time-outs, retries, concurrency, response size) and the
requests (page size, Counter/List window), so they live beside both rather than in either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from releaf_pipeline.lib.mpsmonitor.contract import MAX_DAYS_APART, MAX_PAGE_ROWS

MAX_WINDOW_DAYS = MAX_DAYS_APART + 1
"""Calendar days one Counter/List window may span: both ends count, at most 93 days apart."""

DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ClientSettings:
    """Time-outs, retry policy, concurrency and request sizes of one `MPSMonitorClient`.

    Back-off is "full jitter": before retry n (0-based) the client sleeps
    ``uniform(0, min(backoff_max, backoff_base * 2**n))`` seconds, or the server's
    ``Retry-After`` capped at ``max_retry_after`` when the server sent one.

    `max_response_bytes` caps every response body: a larger answer is refused as an
    invalid response without being read whole.
    """

    timeout: float = 10.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    concurrency: int = 8
    page_rows: int = MAX_PAGE_ROWS
    max_range_days: int = 93
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        delays = (self.backoff_base, self.backoff_max, self.max_retry_after)
        if not all(delay >= 0 and math.isfinite(delay) for delay in delays):
            raise ValueError("backoff_base, backoff_max and max_retry_after must not be negative")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if not 1 <= self.page_rows <= MAX_PAGE_ROWS:
            raise ValueError(
                f"page_rows must be between 1 and {MAX_PAGE_ROWS}, got {self.page_rows}"
            )
        if not 1 <= self.max_range_days <= MAX_WINDOW_DAYS:
            raise ValueError(
                f"max_range_days must be between 1 and {MAX_WINDOW_DAYS}, got {self.max_range_days}"
            )
        if self.max_response_bytes < 1:
            raise ValueError(
                f"max_response_bytes must be at least 1, got {self.max_response_bytes}"
            )
