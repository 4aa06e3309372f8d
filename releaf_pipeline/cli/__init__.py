"""`releaf`: register servers and feeds, collect, report, and run the demo.

Bad input exits non-zero with one line on stderr and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `releaf` command."""
    from releaf_pipeline.cli.group import run

    return run(argv)
