"""Names people give things (servers, customer codes, accounts): one line of printable
text, short enough for a table and a certificate."""

from __future__ import annotations

LABEL_MAX = 100


def check_label(text: str, what: str, *, max_length: int = LABEL_MAX) -> str:
    """`text` stripped of surrounding spaces; ValueError naming `what` when it is empty,
    holds a control or format character (escape sequences, NUL, line breaks, bidi
    overrides), or is longer than `max_length`."""
    if not isinstance(text, str):
        raise ValueError(f"the {what} must be text, got {type(text).__name__}")
    value = text.strip()
    if not value:
        raise ValueError(f"the {what} is empty")
    if not value.isprintable():
        bad = next(ch for ch in value if not ch.isprintable())
        raise ValueError(
            f"the {what} must be printable text, without control characters: it holds "
            f"U+{ord(bad):04X} at position {value.index(bad) + 1}"
        )
    if len(value) > max_length:
        raise ValueError(f"the {what} must be at most {max_length} characters, got {len(value)}")
    return value
