"""The sealed dealer tokens as stored: read for the key check and re-sealed by a rotation."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from releaf_pipeline.lib.secrets import TokenCipher, open_cipher
from releaf_pipeline.lib.store.engine import Db, reading
from releaf_pipeline.lib.store.tables import servers


class SealedToken(NamedTuple):
    """One server's token as stored (still sealed)."""

    server_id: int
    server: str
    sealed: str


def sealed_tokens(db: Db) -> list[SealedToken]:
    """Every stored token, removed servers' included (one may be registered again)."""
    with reading(db) as conn:
        rows = conn.execute(
            sa.select(servers.c.id, servers.c.name, servers.c.token_sealed).order_by(servers.c.id)
        ).all()
    return [SealedToken(*row) for row in rows]


def store_cipher(db: Db, home: Path, configured: str | None) -> TokenCipher:
    """The cipher for the store's dealer tokens: the configured keys (`RELEAF_SECRET_KEY`),
    else the home's key file, refused in one line when it opens none of them."""
    return open_cipher(home, configured, [t.sealed for t in sealed_tokens(db)])


def replace_sealed(conn: Connection, token: SealedToken, sealed: str) -> bool:
    """Store `sealed` in place of `token`, unless the server's token changed since it was
    read (a `server update` in between wins); True when it was replaced."""
    result = conn.execute(
        servers.update()
        .where(servers.c.id == token.server_id, servers.c.token_sealed == token.sealed)
        .values(token_sealed=sealed)
    )
    return result.rowcount == 1
