"""A server is its registered dealer: the `DealerCode` its Ping names against the code kept
at registration, checked by every health check, every collection and `server update`."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from releaf_pipeline.lib.mpsmonitor.errors import AnotherDealerError
from releaf_pipeline.lib.mpsmonitor.models import Ping
from releaf_pipeline.lib.store.registry import ServerRecord, adopt_dealer_code


def another_dealer(registered: str | None, answered: str) -> bool:
    """Whether a Ping naming dealer `answered` comes from another dealer than the one
    registered. Dealer codes compare exactly (only customer codes and device ids ignore
    case); a server registered before codes were kept (None) is no other dealer."""
    return registered is not None and answered != registered


def confirm_dealer(engine: Engine, server: ServerRecord, ping: Ping) -> None:
    """Raise AnotherDealerError unless `ping` names the server's registered dealer.

    A server registered before dealer codes were kept adopts the first code it answers
    with, once; from then on any other code is another dealer.
    """
    registered = server.dealer_code
    if registered is None:
        registered = adopt_dealer_code(engine, server.id, ping.dealer_code)
    if another_dealer(registered, ping.dealer_code):
        raise AnotherDealerError(
            f"it answers as dealer {ping.dealer_code}, not {registered} as registered; if the "
            "dealer's code legitimately changed, run "
            f"`releaf server update {server.name} --dealer-code {ping.dealer_code}`"
        )
