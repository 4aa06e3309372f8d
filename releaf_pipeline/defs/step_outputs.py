"""The IO manager that hands one step's output to the next through the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg
from sqlalchemy.exc import DBAPIError

from releaf_pipeline.defs.resources import StoreResource

STEP_OUTPUTS_IO = "step_outputs_io"
"""The key ops name (`io_manager_key`) to pass their outputs through the store."""


class StepOutputsIOManager(dg.IOManager):
    """Outputs of ops kept in the store as JSON, so that a run's steps can be executed by
    any worker that reaches the store (another process, a Celery worker, a Kubernetes
    pod), with no shared disk and nothing pickled. Values must be JSON: the night's
    pieces and their summaries are."""

    def __init__(self, store: StoreResource) -> None:
        self.store = store

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        """Keep the output of a step of the run."""
        from releaf_pipeline.lib.store.step_outputs import save_output

        with _one_line():
            save_output(
                self.store.engine(),
                run_id=context.run_id,
                step_key=context.step_key,
                output=context.name,
                mapping_key=context.mapping_key,
                value=obj,
                now=datetime.now(UTC),
            )

    def load_input(self, context: dg.InputContext) -> object:
        """The output an upstream step kept, in this run or the run it re-executes."""
        from releaf_pipeline.lib.store.step_outputs import load_output

        upstream = context.upstream_output
        assert upstream is not None, "step outputs are only read from upstream steps"
        try:
            with _one_line():
                return load_output(
                    self.store.engine(),
                    run_id=upstream.run_id,
                    step_key=upstream.step_key,
                    output=upstream.name,
                    mapping_key=upstream.mapping_key,
                )
        except LookupError as exc:
            raise dg.Failure(str(exc)) from None


@contextmanager
def _one_line() -> Iterator[None]:
    # Dagster wraps what an IO manager raises; the store's own one line is kept as the
    # cause, which the command that waits for the run shows.
    try:
        yield
    except DBAPIError as exc:
        from releaf_pipeline.lib.store.engine import store_failure

        raise store_failure(exc) from None


@dg.io_manager(required_resource_keys={"store"})
def step_outputs_io_manager(context: dg.InitResourceContext) -> StepOutputsIOManager:
    """Hands one step's output to the next through the run's store (`store` resource)."""
    return StepOutputsIOManager(context.resources.store)
