"""Step failures an operator can act on: one line saying what failed and what to do."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import dagster as dg
from sqlalchemy.exc import DBAPIError

from releaf_pipeline.lib.errors import ReleafError
from releaf_pipeline.lib.mpsmonitor.errors import MPSMonitorError

F = TypeVar("F", bound=Callable[..., Any])


def one_line_failures(fn: F) -> F:
    """Run `fn` so that an operator's error fails the step with its one line on top (for
    a generator, while it is iterated)."""

    @contextmanager
    def one_line() -> Iterator[None]:
        try:
            yield
        except MPSMonitorError:
            raise  # a server's failure: the step's retry policy decides
        except ReleafError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        except DBAPIError as exc:
            from releaf_pipeline.lib.store.engine import store_failure

            raise dg.Failure(description=str(store_failure(exc))) from exc

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def iterate(*args: Any, **kwargs: Any) -> Any:
            with one_line():
                yield from fn(*args, **kwargs)

        return iterate  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with one_line():
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]
