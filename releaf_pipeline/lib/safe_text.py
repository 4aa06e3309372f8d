"""Text that came from a server, a user or the store, made safe to show: on a terminal, in a
log line, on a certificate.

A dealer code, a device id, a reason a server gave or a name typed on the command line may
hold an escape sequence (which clears a terminal or sets its title), a line break (which
forges another log line) or a right-to-left override (which makes text read backwards).
Shown, each such character is written as its Python escape (`\\x1b`, `\\n`, `\\u202e`), and a
value too long to be read is cut with an ellipsis. The values themselves are never
changed: this is for showing them.
"""

from __future__ import annotations

import logging
from pathlib import Path

SHOWN_MAX = 200
"""The most characters of one value that are shown (an identifier has at most 64)."""

LINE_WORD_MAX = 256
"""In a whole line, the most characters of one word (a run without spaces) shown."""

ELLIPSIS = "…"


def _escape(ch: str) -> str:
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(value: object, limit: int | None = SHOWN_MAX, *, ellipsis: str = ELLIPSIS) -> str:
    """`value` as text safe to show: every character that is not printable (C0 and C1
    controls, DEL, bidi overrides and isolates, other format characters, line and
    paragraph separators, unassigned code points) as its escape, and at most `limit`
    characters (None: no limit), the last of them `ellipsis` when it was cut."""
    text = "" if value is None else str(value)
    if text.isprintable() and (limit is None or len(text) <= limit):
        return text
    out: list[str] = []
    length = 0
    for ch in text:
        piece = _escape(ch)
        length += len(piece)
        out.append(piece)
        if limit is not None and length > limit:
            # Cut before the piece that overflowed, never inside an escape, and leave
            # room for the ellipsis.
            while out and length > limit - len(ellipsis):
                length -= len(out.pop())
            return "".join(out) + ellipsis
    return "".join(out)


def shown_line(line: str, word_limit: int = LINE_WORD_MAX, *, ellipsis: str = ELLIPSIS) -> str:
    """A whole line (a message that quotes values) safe to show: every character that is
    not printable escaped as in `shown`, and each word longer than `word_limit` cut, so
    that a 10,000-character value quoted in a message leaves the rest of it readable."""
    if line.isprintable() and all(len(w) <= word_limit for w in line.split(" ")):
        return line
    return " ".join(shown(word, word_limit, ellipsis=ellipsis) for word in line.split(" "))


_PACKAGE = str(Path(__file__).resolve().parents[1])


class SafeLogText(logging.Filter):
    """A logging filter that makes the pipeline's own log messages safe (`shown_line`):
    a record whose message was written by code of this package gets its message rendered
    and escaped. Records of other code (Dagster's events, libraries) pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.pathname).startswith(_PACKAGE):
            return True
        message = record.getMessage()
        safe = shown_line(message)
        if safe != message:
            record.msg, record.args = safe, ()
        return True


SAFE_LOG_TEXT = SafeLogText()


def safe_logger(logger: logging.Logger | str) -> logging.Logger:
    """`logger` (or the logger of that name) with `SafeLogText` among its filters."""
    found = logging.getLogger(logger) if isinstance(logger, str) else logger
    if SAFE_LOG_TEXT not in found.filters:
        found.addFilter(SAFE_LOG_TEXT)
    return found
