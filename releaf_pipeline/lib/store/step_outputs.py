"""What one step of a run hands to the next, kept in the store as JSON: the steps of a
night may run on different workers, and the store is what they all share."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from releaf_pipeline.lib.store.engine import Db, reading, upsert, writing
from releaf_pipeline.lib.store.tables import step_outputs

KEEP = timedelta(days=35)
"""How long a step's output is kept: long enough to re-execute a failed run from its
failure in the UI within the catch-up's look-back."""


def save_output(
    db: Db,
    *,
    run_id: str,
    step_key: str,
    output: str,
    mapping_key: str | None,
    value: object,
    now: datetime,
) -> None:
    """Keep `value` (JSON-serialisable) as the output of a step (a retried step's output
    replaces its earlier one)."""
    row = {
        "run_id": run_id,
        "step_key": step_key,
        "output": output,
        "mapping_key": mapping_key or "",
        "value": json.dumps(value, sort_keys=True),
        "written_at": now,
    }
    with writing(db) as conn:
        upsert(conn, step_outputs, [row], ["run_id", "step_key", "output", "mapping_key"])


def load_output(
    db: Db, *, run_id: str, step_key: str, output: str, mapping_key: str | None
) -> object:
    """The value a step's output was saved with; LookupError when there is none."""
    with reading(db) as conn:
        value = conn.execute(
            sa.select(step_outputs.c.value).where(
                step_outputs.c.run_id == run_id,
                step_outputs.c.step_key == step_key,
                step_outputs.c.output == output,
                step_outputs.c.mapping_key == (mapping_key or ""),
            )
        ).scalar()
    if value is None:
        raise LookupError(
            f"no output {output!r} of step {step_key} in run {run_id} in the store: "
            "re-execute the whole run"
        )
    return json.loads(value)


def prune_outputs(db: Db, *, now: datetime) -> int:
    """Forget the outputs older than `KEEP`; returns how many went."""
    with writing(db) as conn:
        gone = conn.execute(sa.delete(step_outputs).where(step_outputs.c.written_at < now - KEEP))
    return gone.rowcount or 0
