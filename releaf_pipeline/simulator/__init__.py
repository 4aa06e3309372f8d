"""The MPS Monitor simulator: a seeded fleet served over HTTPS, for the demo and the tests.

    from releaf_pipeline.simulator import Fleet, FleetConfig, Simulator

Names are imported on first use, so a caller that only needs the fleet (or the
`releaf simulator` command checking its options) does not load the HTTP server stack.

- `config`: `FleetConfig` and the late-data cases and scenario facts (NamedTuples)
- `generation`: seeded generation of customers, devices, counters and scenario cases
- `fleet`: `Fleet`, the generated data as the contract's requests and as ground truth
- `contract`: the answers to the contract's four requests, as plain data
- `faults`: the faults that can be injected and what each does to an answer
- `odd_answers`: honest but odd answers the contract allows (null counters, duplicate
  readings, ids in another case), persistent until cleared
- `server`: `Simulator`, the server's clock, switches, request log and lifecycle
- `wire`: the Starlette app and uvicorn, in a background thread, over TLS
- `certs`: the test CA and server certificate, kept in the working directory
- `main`: the `releaf simulator` command
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from releaf_pipeline.simulator.certs import CA_BUNDLE_NAME as CA_BUNDLE_NAME
    from releaf_pipeline.simulator.certs import MissingExtraError as MissingExtraError
    from releaf_pipeline.simulator.config import AddedDevice as AddedDevice
    from releaf_pipeline.simulator.config import CustomerOutage as CustomerOutage
    from releaf_pipeline.simulator.config import DeviceOutage as DeviceOutage
    from releaf_pipeline.simulator.config import FleetConfig as FleetConfig
    from releaf_pipeline.simulator.config import ManagedChange as ManagedChange
    from releaf_pipeline.simulator.config import ManagedFlip as ManagedFlip
    from releaf_pipeline.simulator.config import MeterGlitch as MeterGlitch
    from releaf_pipeline.simulator.config import MeterReset as MeterReset
    from releaf_pipeline.simulator.config import MissingDay as MissingDay
    from releaf_pipeline.simulator.config import OutOfOrderUpload as OutOfOrderUpload
    from releaf_pipeline.simulator.config import StaleSpan as StaleSpan
    from releaf_pipeline.simulator.contract import COUNTER_LIST_PATH as COUNTER_LIST_PATH
    from releaf_pipeline.simulator.contract import CUSTOMER_PATH as CUSTOMER_PATH
    from releaf_pipeline.simulator.contract import DEFAULT_TOKEN as DEFAULT_TOKEN
    from releaf_pipeline.simulator.contract import DEVICE_LIST_PATH as DEVICE_LIST_PATH
    from releaf_pipeline.simulator.contract import MAX_PAGE_ROWS as MAX_PAGE_ROWS
    from releaf_pipeline.simulator.contract import MAX_RANGE_DAYS as MAX_RANGE_DAYS
    from releaf_pipeline.simulator.contract import PING_PATH as PING_PATH
    from releaf_pipeline.simulator.faults import FAULT_KINDS as FAULT_KINDS
    from releaf_pipeline.simulator.fleet import Fleet as Fleet
    from releaf_pipeline.simulator.membership import GhostDevice as GhostDevice
    from releaf_pipeline.simulator.membership import RekeyedDevice as RekeyedDevice
    from releaf_pipeline.simulator.server import Simulator as Simulator

# Public name -> the module that defines it.
_HOMES = {
    "AddedDevice": "config",
    "CA_BUNDLE_NAME": "certs",
    "COUNTER_LIST_PATH": "contract",
    "CUSTOMER_PATH": "contract",
    "CustomerOutage": "config",
    "DEFAULT_TOKEN": "contract",
    "DEVICE_LIST_PATH": "contract",
    "DeviceOutage": "config",
    "FAULT_KINDS": "faults",
    "Fleet": "fleet",
    "FleetConfig": "config",
    "GhostDevice": "membership",
    "MAX_PAGE_ROWS": "contract",
    "MAX_RANGE_DAYS": "contract",
    "ManagedChange": "config",
    "ManagedFlip": "config",
    "MeterGlitch": "config",
    "MeterReset": "config",
    "MissingDay": "config",
    "MissingExtraError": "certs",
    "OutOfOrderUpload": "config",
    "PING_PATH": "contract",
    "RekeyedDevice": "membership",
    "Simulator": "server",
    "StaleSpan": "config",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
