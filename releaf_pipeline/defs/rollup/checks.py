"""The check on certificates: they credit exactly what was deposited."""

from typing import TYPE_CHECKING

import dagster as dg

from releaf_pipeline.defs.check_results import checked_targets, report
from releaf_pipeline.defs.failures import one_line_failures
from releaf_pipeline.defs.metadata import table
from releaf_pipeline.defs.partitions import monthly_partitions
from releaf_pipeline.defs.resources import StoreResource
from releaf_pipeline.defs.rollup.assets import reforestation_certificates

if TYPE_CHECKING:
    from releaf_pipeline.lib.store.credit import AccountCredit


@dg.asset_check(
    asset=reforestation_certificates,
    name="certificates_credit_deposits",
    partitions_def=monthly_partitions,
    blocking=False,
    description=(
        "The account's certificates through the month credit exactly the pages deposited "
        "through it, but for pages that changed after the issue and wait for the next "
        "certificate (ERROR otherwise)."
    ),
)
@one_line_failures
def certificates_credit_deposits(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> None:
    """Fails when an account's certificates credit more or fewer pages than were deposited
    through their months, and no later change of the deposits explains it."""
    from releaf_pipeline.lib.store.credit import credit_through

    for key, target in checked_targets(context).items():
        month = key[:7]
        credits = credit_through(store.engine(), month)
        wrong = [c for c in credits if not c.explained]
        pending = [c for c in credits if c.explained and c.difference]
        rows = [
            (c.account, c.certificate_id, c.credited, c.deposited, c.difference, _status(c))
            for c in credits
        ]
        report(
            context, key, target=target, passed=not wrong, severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{len(wrong)} account(s) credited other than deposited through {month}: "
                + ", ".join(f"{c.account} ({c.difference:+,} pages)" for c in wrong)
                if wrong
                else f"{len(credits)} account(s) credited exactly through {month}"
                + (f"; {len(pending)} with later pages for their next certificate"
                   if pending else "")
            ),
            metadata={
                "accounts": len(credits),
                "unexplained": len(wrong),
                "credit": table(
                    [("account", "string"), ("certificate", "string"), ("credited", "int"),
                     ("deposited", "int"), ("difference", "int"), ("status", "string")],
                    rows,
                ),
            },
        )  # fmt: skip


def _status(credit: "AccountCredit") -> str:
    """What a row of the credit table says about its account."""
    if not credit.difference:
        return "credited exactly"
    return "carried into the next certificate" if credit.explained else "UNEXPLAINED"
