"""Step failures an operator can act on: one line saying what failed and what to do."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import dagster as dg
from sqlalchemy.exc import DBAPIError

F = TypeVar("F", bound=Callable[..., Any])


def operator_errors() -> tuple[type[Exception], ...]:
    """The errors whose one line already says what an operator must do: a setting, the
    store, the key file, the registry, the certificates' fonts and directory. Anything
    else is a bug and keeps its traceback."""
    from releaf_pipeline.lib.certificate_pdf import CertificateFileError, CertificateFontError
    from releaf_pipeline.lib.secrets import SecretKeyError
    from releaf_pipeline.lib.store.engine import StoreError
    from releaf_pipeline.lib.store.registry import RegistryError
    from releaf_pipeline.settings import SettingsError

    return (
        SecretKeyError, StoreError, RegistryError, SettingsError, CertificateFontError,
        CertificateFileError,
    )  # fmt: skip


def one_line_failures(fn: F) -> F:
    """Run `fn` so that an operator's error fails the step with its one line on top (for
    a generator, while it is iterated)."""

    @contextmanager
    def one_line() -> Iterator[None]:
        try:
            yield
        except operator_errors() as exc:
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
