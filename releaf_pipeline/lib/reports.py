"""What `releaf report` and `releaf certificates` show, as plain data (and JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from releaf_pipeline.lib.store.certificates import IssuedCertificate, list_certificates
from releaf_pipeline.lib.store.reports import month_bounds, month_report
from releaf_pipeline.lib.trees import format_trees, trees


def month_json(engine: Engine, month: str) -> dict[str, Any]:
    """An account's pages, trees (2 decimals) and pages per day in `month`, with the
    certificate issued for it (None until then); accounts sorted."""
    month_bounds(month)
    accounts = month_report(engine, month)
    certs = {
        c.certificate.account: c.certificate.id for c in list_certificates(engine, month=month)
    }
    return {
        "month": month,
        "accounts": [
            {
                "account": a.account,
                "pages": a.pages,
                "trees": float(format_trees(trees(a.pages))),
                "days": {d.isoformat(): p for d, p in sorted(a.days.items())},
                "certificate": certs.get(a.account),
            }
            for a in accounts
        ],
    }


def certificate_json(issued: IssuedCertificate, directory: Path) -> dict[str, Any]:
    """One issued certificate, as `releaf certificates list --json` shows it; its PDF
    under the certificates `directory`."""
    c = issued.certificate
    return {
        "id": c.id,
        "account": c.account,
        "month": issued.month,
        "period_start": c.period_start.isoformat(),
        "period_end": c.period_end.isoformat(),
        "pages": c.pages,
        "adjustment_pages": c.adjustment_pages,
        "credited_pages": c.credited_pages,
        "trees": float(format_trees(c.trees)),
        "project": c.project_name,
        "project_location": c.project_location,
        "issued_on": c.issued_on.isoformat(),
        "closed_by": issued.closed_by,
        "pdf": str(issued.pdf_file(directory)),
    }
