"""`releaf`: register servers and feeds, collect, report, and run the demo.

Bad input exits non-zero with one line on stderr and changes nothing.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run `releaf ARGS...` in this process; returns the exit status."""
    from releaf_pipeline.cli.group import run

    return run(argv)


def console() -> None:
    """The installed `releaf` script.

    Before the interpreter's teardown, every object is moved out of the garbage
    collector's reach: its passes over Dagster's millions of objects would take half a
    second, longer than most commands, and free nothing a leaving process needs freed.
    """
    code = main()
    gc.freeze()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            # The reader went away (`releaf feed list | head -1`): not an error to report.
            # Python's own flush at exit would fail again, so the stream points nowhere.
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            code = code or 141
    sys.exit(code)
