"""`releaf`: register servers and feeds, collect, report, and run the demo.

Bad input exits non-zero with one line on stderr and changes nothing.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run `releaf ARGS...` in this process; returns the exit status."""
    from releaf_pipeline.cli.group import run

    return run(argv)


def console() -> None:
    """The installed `releaf` script.

    Once the command is done and its output flushed, the process leaves without the
    interpreter's teardown: freeing Dagster's millions of objects one by one takes half a
    second, longer than most commands. Every write was committed and every exit handler
    has run by then.
    """
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            # The reader went away (`releaf feed list | head -1`): not an error to report.
            code = code or 141
    os._exit(code)
