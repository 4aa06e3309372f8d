"""How a run ends early: the errors a command reports, and SIGINT and SIGTERM recorded
instead of raised while a run is under way."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STOP_GRACE_SECONDS = 8.0
"""How long a stopped run gets to end as canceled before it is marked canceled regardless."""


class RunGuardError(Exception):
    """A run this process started did not run to its end; the message is one line for the
    user and `exit_code` what the command exits with."""

    exit_code: int = 1


class PoolSlotUnavailable(RunGuardError):
    """No pool slot within the bounded wait: the message names the runs holding the slots
    and how to free them. Exits 75 (EX_TEMPFAIL: try again later)."""

    exit_code = 75


class RunStopped(RunGuardError):
    """SIGINT or SIGTERM stopped the command; its run, if it had one, ended canceled. Exits
    128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell does."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


@dataclass
class Stop:
    """The SIGINT or SIGTERM this command received, if any."""

    signum: int | None = None
    count: int = 0
    _event: threading.Event = field(default_factory=threading.Event)

    def request(self, signum: int) -> None:
        self.signum = signum
        self.count += 1
        self._event.set()

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else "a signal"

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking at once on a signal; whether one came."""
        return self._event.wait(seconds)


@contextmanager
def stop_on_signals() -> Iterator[Stop]:
    """SIGINT and SIGTERM only record that the command must stop, until the block ends;
    the handlers before it are restored after. Off the main thread (where Python cannot
    set handlers) nothing changes."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, _frame: stop.request(signum))
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
