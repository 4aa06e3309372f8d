"""The log of a run, sensor or schedule, with the pipeline's own messages made safe: the
customer codes, server names and reasons they quote are shown escaped (`lib.safe_text`)."""

from __future__ import annotations

import logging
from typing import Protocol

from releaf_pipeline.lib.safe_text import safe_logger


class _Logs(Protocol):
    @property
    def log(self) -> logging.Logger: ...


def safe_log(context: _Logs) -> logging.Logger:
    """`context.log`, its messages written by this package escaped before any handler (the
    event log, the console, compute logs) sees them."""
    return safe_logger(context.log)
