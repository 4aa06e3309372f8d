"""What a channel is given to deliver, and how it says it did not take it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    """One alert, as every channel sends it.

    `subject` is one line (the email's Subject); `text` is what a person reads (the email's
    body, the webhook's `text`); `event` is the same news for machines (the webhook's
    `event` object), so it must be JSON-able.
    """

    subject: str
    text: str
    event: dict[str, Any]

    def __post_init__(self) -> None:
        # Refused here, where a message is made, rather than by a channel at night: a
        # line break would split the Subject header, and an event JSON cannot carry would
        # fail only the webhook.
        if not self.subject.strip() or any(ch in self.subject for ch in "\r\n"):
            raise ValueError(f"an alert's subject must be one non-empty line: {self.subject!r}")
        try:
            json.dumps(self.event, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"an alert's event must be JSON-able: {exc}") from None


class DeliveryError(Exception):
    """A channel did not take a message; the text is one line, with no secret."""


def one_line(text: str | bytes, limit: int = 200) -> str:
    """`text` (a server's reply, an error's reason) as one line of at most `limit` chars."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
