"""`releaf certificates ...`: the Certificates of Reforestation issued."""

from __future__ import annotations

import click

from releaf_pipeline.app import App, UserError
from releaf_pipeline.cli.formats import count, signed
from releaf_pipeline.cli.output import check_month, emit, say
from releaf_pipeline.lib.trees import format_trees


@click.group("certificates", help="issued Certificates of Reforestation")
def certificates() -> None:
    """Certificates."""


@certificates.command("list", help="list certificates")
@click.option("--month", help="YYYY-MM")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def certificates_list(month: str | None, as_json: bool) -> int:
    from releaf_pipeline.lib.reports import certificate_json
    from releaf_pipeline.lib.store.certificates import list_certificates

    if month:
        check_month(month)
    app = App()
    directory = app.settings.certificates_dir
    rows = [certificate_json(c, directory) for c in list_certificates(app.engine, month=month)]
    emit(
        rows,
        as_json=as_json,
        empty="no certificates issued" + (f" for {month}" if month else ""),
        headers=["id", "account", "month", "pages", "adjustment", "trees", "issued", "pdf"],
        table=lambda r: (
            r["id"], r["account"], r["month"], count(r["pages"]), signed(r["adjustment_pages"]),
            format_trees(r["trees"], grouped=True), r["issued_on"], r["pdf"],
        ),
    )  # fmt: skip
    return 0


@certificates.command("show", help="one certificate's text and PDF path")
@click.argument("cert_id", metavar="ID")
def certificates_show(cert_id: str) -> int:
    from releaf_pipeline.lib.certificates import certificate_text
    from releaf_pipeline.lib.store.certificates import get_certificate

    app = App()
    issued = get_certificate(app.engine, cert_id)
    if issued is None:
        raise UserError(f"no certificate {cert_id!r}: see `releaf certificates list`")
    for line in certificate_text(issued.certificate):
        say(line)
    say(f"closed by: {issued.closed_by}")
    say(f"PDF: {issued.pdf_file(app.settings.certificates_dir)}")
    return 0


def register(group: click.Group) -> None:
    """Add these commands to `releaf`."""
    group.add_command(certificates)
