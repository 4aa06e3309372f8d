"""Trees from pages (rule 6): exact, shown to 2 decimals."""

from __future__ import annotations

import operator
from decimal import ROUND_HALF_UP, Decimal, localcontext

from releaf_pipeline.lib.rules import TREE_SHEETS

_DECIMAL_PRECISION = 50


def trees(pages: int) -> Decimal:
    """Trees for a number of pages: `pages / 8333`, as a Decimal with 50 significant digits.

    A local context keeps the precision independent of whatever the caller's thread has set.
    """
    with localcontext() as ctx:
        ctx.prec = _DECIMAL_PRECISION
        return Decimal(operator.index(pages)) / Decimal(TREE_SHEETS)


def format_trees(value: Decimal | float, *, grouped: bool = False) -> str:
    """Show a tree count to 2 decimals, halves rounded up (e.g. ``"1.40"``); `grouped`, with
    thousands separators as the terminal's tables show it (``"1,204.50"``)."""
    with localcontext() as ctx:
        ctx.prec = _DECIMAL_PRECISION
        exact = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return format(exact, ",f" if grouped else "f")
