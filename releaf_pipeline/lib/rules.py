"""The numbers of the MPS Monitor contract (`mpsmonitor-api.md`), each written once.

Everything that applies a rule imports it from here, so a reader who wants to know what
the contract says finds it in one place, and a change of the contract is one change.
"""

from __future__ import annotations

TREE_SHEETS = 8333
"""Letter-size sheets of 20 lb paper in one standard tree (rule 6)."""

BASELINE_LOOKBACK_DAYS = 31
"""A reading this many days or fewer before activation still sets the baseline (rule 3)."""

SCOPES = ("all", "managed")
"""A feed deposits every device of its customer, or the managed ones only (rule 1)."""

UNHEALTHY_AFTER_BUSINESS_DAYS = 3
"""A feed is unhealthy when this many business days pass without new data ("Health")."""

REREAD_LOOKBACK_DAYS = 35
"""A device silent for longer counts as gone until it reports again ("Late data")."""

REREAD_AT_LEAST_DAYS = 2
"""Each night reads at least this many days before its own again ("Late data")."""

FULL_REREAD_WEEKDAY = 6
"""Once a week, on the night collecting this weekday (Sunday, as `date.weekday()` counts),
the re-read reaches back over the whole look-back ("Month close")."""

CERTIFICATE_GRACE_DAYS = 10
"""Days after a month's end after which it closes with what is known ("Month close")."""

COUNTER_LIST_MAX_DAYS_APART = 93
"""`Counter/List`'s FromDate and ToDate are at most this many days apart."""

DEVICE_LIST_MAX_PAGE_ROWS = 500
"""`Device/List` serves at most this many rows a page."""
