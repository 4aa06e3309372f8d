"""Every error a person can act on shares one base, with its kind, exit status and where
it happened; the command line maps that base alone."""

from __future__ import annotations

import httpx
import pytest

from releaf_pipeline.app import UserError
from releaf_pipeline.lib.certificate_pdf import CertificateFileError, CertificateFontError
from releaf_pipeline.lib.errors import REFUSED, ReleafError
from releaf_pipeline.lib.mpsmonitor.errors import (
    CustomerNotFoundError,
    MPSMonitorError,
    UnauthorizedError,
)
from releaf_pipeline.lib.secrets import SecretKeyError
from releaf_pipeline.lib.store.engine import StoreError
from releaf_pipeline.lib.store.registry import RegistryError
from releaf_pipeline.run_watch import RunStopped
from releaf_pipeline.settings import SettingsError
from releaf_pipeline_tests.lib.mpsmonitor.support import CUSTOMER, Harness, ping


@pytest.mark.parametrize(
    "error",
    [UserError, RegistryError, MPSMonitorError, StoreError, SecretKeyError, SettingsError,
     CertificateFontError, CertificateFileError],
)  # fmt: skip
def test_every_operator_error_is_a_releaf_error_that_refuses(error: type[Exception]) -> None:
    assert issubclass(error, ReleafError)
    assert error("x").exit_code == REFUSED


def test_a_stopped_run_exits_as_its_signal_says() -> None:
    assert RunStopped("stopped", 143).exit_code == 143


def test_a_rejected_token_says_its_server_status_and_kind() -> None:
    h = Harness(lambda request: httpx.Response(401, json={"IsValid": False, "Errors": []}))
    error = h.fails(ping, UnauthorizedError)
    assert (error.kind, error.http_status) == ("unauthorized", 401)
    assert error.server and error.server in str(error)


def test_an_unknown_customer_carries_its_status() -> None:
    body = {"IsValid": False, "Errors": [{"Code": "CustomerNotFound"}], "Result": None}
    h = Harness(lambda request: httpx.Response(404, json=body))
    error = h.fails(lambda c: c.get_customer(CUSTOMER), CustomerNotFoundError)
    assert (error.kind, error.http_status, error.codes) == (
        "customer_not_found", 404, ["CustomerNotFound"],
    )  # fmt: skip
