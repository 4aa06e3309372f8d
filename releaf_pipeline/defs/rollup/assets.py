"""Monthly pages and trees per account, and the Certificates of Reforestation."""

from decimal import Decimal
from pathlib import Path

import dagster as dg

from releaf_pipeline.defs.collection.assets import daily_deposits
from releaf_pipeline.defs.collection.day_metadata import ACCOUNTS_PLOTTED
from releaf_pipeline.defs.failures import one_line_failures
from releaf_pipeline.defs.logs import safe_log
from releaf_pipeline.defs.metadata import OWNERS, numbers, table
from releaf_pipeline.defs.partitions import monthly_partitions
from releaf_pipeline.defs.resources import ClockResource, ReforestationResource, StoreResource
from releaf_pipeline.lib.trees import format_trees, trees

# The certificates (reportlab) are imported where the asset runs: every command loads
# this code location, and most never run an asset.

PDFS_LISTED = ACCOUNTS_PLOTTED
"""Certificates whose PDF gets a path entry of its own in a month's metadata."""


def _month(context: dg.AssetExecutionContext) -> str:
    return context.partition_time_window.start.strftime("%Y-%m")


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[dg.AssetDep(daily_deposits, partition_mapping=dg.TimeWindowPartitionMapping())],
    group_name="rollup",
    kinds={"python", "sql"},
    owners=OWNERS,
    tags={"cadence": "monthly"},
)
@one_line_failures
def monthly_pages(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """Pages per account (and per feed) deposited in the month, and the trees they make:
    pages / 8,333, kept exact, shown to 2 decimals. Each account's pages are a number of
    their own, so the Plots tab draws every account month by month; the days of the
    month are `daily_deposits`' own partitions."""
    from releaf_pipeline.lib.store.reports import feed_month_pages, month_report

    month = _month(context)
    engine = store.engine()
    accounts = month_report(engine, month)
    per_feed = feed_month_pages(engine, month)
    total = sum(a.pages for a in accounts)
    # The largest accounts, listed by name: a plot per account stays readable.
    ranked = sorted(
        sorted(accounts, key=lambda a: (-a.pages, a.account))[:ACCOUNTS_PLOTTED],
        key=lambda a: a.account,
    )
    return dg.MaterializeResult(
        metadata={
            **numbers(
                {
                    "accounts": len(accounts),
                    "pages": total,
                    "trees": float(format_trees(trees(total))),
                    **{f"pages: {a.account}": a.pages for a in ranked},
                }
            ),
            "per_account": table(
                [("account", "string"), ("pages", "int"), ("trees", "float"),
                 ("days with pages", "int")],
                [(a.account, a.pages, float(format_trees(trees(a.pages))),
                  sum(1 for p in a.days.values() if p)) for a in accounts],
            ),
            "per_feed": table(
                [("account", "string"), ("server", "string"), ("customer", "string"),
                 ("pages", "int")],
                per_feed,
            ),
        }
    )  # fmt: skip


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[monthly_pages],
    group_name="rollup",
    kinds={"python", "pdf"},
    owners=OWNERS,
    tags={"cadence": "monthly"},
)
@one_line_failures
def reforestation_certificates(
    context: dg.AssetExecutionContext,
    store: StoreResource,
    reforestation: ReforestationResource,
    clock: ClockResource,
) -> dg.MaterializeResult:
    """One Certificate of Reforestation per account once its month closes (every feed
    collected through the last day and fresh, or the grace period over), as a record and a
    PDF. A certificate is never rewritten: pages that arrive later for a certified month
    are carried into the account's next certificate as an adjustment. Every
    materialization shows all the month's certificates, those issued by an earlier run
    too, each PDF as a path."""
    from releaf_pipeline.lib.monthly_close import issue_certificates
    from releaf_pipeline.lib.store.certificates import list_certificates

    month = _month(context)
    engine = store.engine()
    directory = Path(reforestation.certificates_dir)
    issued, statuses = issue_certificates(
        engine,
        month,
        today=clock.now().date(),
        now=clock.now,
        project=reforestation.project(),
        directory=directory,
        grace_days=reforestation.grace_days,
    )
    for c in issued:
        safe_log(context).info(
            f"issued {c.certificate.id} to {c.certificate.account} ({c.closed_by})"
        )
    waiting = [s for s in statuses if not s.certified and not s.closable]
    # The month's certificates as recorded, issued now or before: a month materialized
    # again (from the UI, say) still shows what it has.
    certificates = list_certificates(engine, month=month)
    issued_now = {c.certificate.id for c in issued}
    return dg.MaterializeResult(
        metadata={
            **numbers(
                {
                    "issued_now": len(issued),
                    "accounts_certified": len(certificates),
                    "accounts_waiting": len(waiting),
                    "trees_issued_now": float(
                        format_trees(sum((c.certificate.trees for c in issued), Decimal(0)))
                    ),
                    "trees_certified": float(
                        format_trees(sum((c.certificate.trees for c in certificates), Decimal(0)))
                    ),
                }
            ),
            "certificates": table(
                [("certificate", "string"), ("account", "string"), ("name", "string"),
                 ("pages", "int"), ("adjustment", "int"), ("trees", "float"),
                 ("closed by", "string"), ("issued on", "date"), ("issued now", "bool"),
                 ("pdf", "string")],
                [(c.certificate.id, c.certificate.account, c.certificate.account_name or "",
                  c.certificate.pages, c.certificate.adjustment_pages,
                  float(format_trees(c.certificate.trees)), c.closed_by,
                  c.certificate.issued_on, c.certificate.id in issued_now,
                  str(c.pdf_file(directory)))
                 for c in certificates],
            ),
            "certificates_dir": dg.MetadataValue.path(str(directory / month)),
            # One path per account's PDF, which the UI offers to copy; as many as stay
            # readable in its metadata list (the table and the directory have them all).
            **{
                f"pdf: {c.certificate.account}": dg.MetadataValue.path(c.pdf_file(directory))
                for c in certificates[:PDFS_LISTED]
            },
            "waiting": table(
                [("account", "string"), ("feed", "string"), ("waits for", "string"),
                 ("devices", "int"), ("closes by grace on", "date")],
                [(s.account, b.feed or "", b.reason, b.devices, s.grace_until)
                 for s in waiting for b in s.blockers],
            ),
        }
    )  # fmt: skip
