"""Monthly pages and trees per account, and the Certificates of Reforestation."""

import base64

import dagster as dg

from releaf_pipeline.defs.collection.assets import daily_deposits
from releaf_pipeline.defs.partitions import monthly_partitions
from releaf_pipeline.defs.resources import ClockResource, ReforestationResource, StoreResource
from releaf_pipeline.lib.markdown import markdown_table
from releaf_pipeline.lib.trees import format_trees, trees

# The chart (matplotlib) and the certificates (reportlab) are imported where the assets
# run: every command loads this code location, and most never run an asset.


def _month(context: dg.AssetExecutionContext) -> str:
    return context.partition_time_window.start.strftime("%Y-%m")


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[dg.AssetDep(daily_deposits, partition_mapping=dg.TimeWindowPartitionMapping())],
    group_name="rollup",
    kinds={"python", "sql"},
)
def monthly_pages(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """Pages per account (and per feed) deposited in the month, and the trees they make:
    pages / 8,333, kept exact, shown to 2 decimals. A chart shows each account's days."""
    from releaf_pipeline.lib.charts import daily_pages_chart
    from releaf_pipeline.lib.store.reports import feed_month_pages, month_report

    month = _month(context)
    engine = store.engine()
    accounts = month_report(engine, month)
    per_feed = feed_month_pages(engine, month)
    png = daily_pages_chart({a.account: a.days for a in accounts}, f"Daily pages, {month}")
    chart_path = store.home_path() / "charts" / f"monthly_pages_{month}.png"
    chart_path.parent.mkdir(parents=True, exist_ok=True)
    chart_path.write_bytes(png)
    total = sum(a.pages for a in accounts)
    chart_md = f"![daily pages per account](data:image/png;base64,{base64.b64encode(png).decode()})"
    return dg.MaterializeResult(
        metadata={
            "month": month,
            "accounts": len(accounts),
            "pages": total,
            "trees": float(format_trees(trees(total))),
            "per_account": dg.MetadataValue.md(
                markdown_table(
                    ["account", "pages", "trees", "days"],
                    [
                        (a.account, a.pages, format_trees(trees(a.pages)), len(a.days))
                        for a in accounts
                    ],
                )
            ),
            "per_feed": dg.MetadataValue.md(
                markdown_table(["account", "server", "customer", "pages"], per_feed)
            ),
            "chart": dg.MetadataValue.md(chart_md),
            "chart_path": dg.MetadataValue.path(str(chart_path)),
        }
    )


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[monthly_pages],
    group_name="rollup",
    kinds={"python", "pdf"},
)
def reforestation_certificates(
    context: dg.AssetExecutionContext,
    store: StoreResource,
    reforestation: ReforestationResource,
    clock: ClockResource,
) -> dg.MaterializeResult:
    """One Certificate of Reforestation per account once its month closes (every feed
    collected through the last day and fresh, or the grace period over), as a record and a
    PDF. A certificate is never rewritten: pages that arrive later for a certified month
    are carried into the account's next certificate as an adjustment."""
    from releaf_pipeline.lib.monthly_close import issue_certificates

    month = _month(context)
    engine = store.engine()
    issued, statuses = issue_certificates(
        engine,
        month,
        today=clock.now().date(),
        now=clock.now,
        project=reforestation.project(),
        directory=reforestation.directory(store),
        grace_days=reforestation.grace(),
    )
    for c in issued:
        context.log.info(f"issued {c.certificate.id} to {c.certificate.account} ({c.closed_by})")
    waiting = [s for s in statuses if not s.certified and not s.closable]
    return dg.MaterializeResult(
        metadata={
            "month": month,
            "issued_now": len(issued),
            "accounts_waiting": len(waiting),
            "issued": dg.MetadataValue.md(
                markdown_table(
                    ["certificate", "account", "pages", "adjustment", "trees", "closed by", "pdf"],
                    [
                        (
                            c.certificate.id,
                            c.certificate.account,
                            c.certificate.pages,
                            c.certificate.adjustment_pages,
                            format_trees(c.certificate.trees),
                            c.closed_by,
                            c.pdf_path,
                        )
                        for c in issued
                    ],
                )
                if issued
                else "none issued in this run"
            ),
            "waiting": dg.MetadataValue.md(
                markdown_table(
                    ["account", "feed", "waits for", "devices", "closes by grace on"],
                    [
                        (s.account, b.feed or "", b.reason, b.devices, s.grace_until)
                        for s in waiting
                        for b in s.blockers
                    ],
                )
                if waiting
                else "no account waiting"
            ),
        }
    )
