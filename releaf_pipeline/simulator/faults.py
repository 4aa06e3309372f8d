"""The faults a simulator can inject, their queue, and what each does to an answer.

A fault either replaces the answer (an HTTP error status, throttling, a body that is not
JSON), or changes the real answer before it is sent: held back (`delay`), cut half way
through the body (`reset`, `truncate`), or corrupted in the envelope (a missing or
wrong-typed field, an absurd counter, a device listed twice). The server
(`releaf_pipeline.simulator.wire`) makes the delays and cuts happen on the wire.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any

from releaf_pipeline.lib.mpsmonitor.contract import COUNTER_LIST_PATH, DEVICE_LIST_PATH
from releaf_pipeline.simulator.contract import Reply, error

FAULT_KINDS = frozenset(
    {
        "status",
        "throttle",
        "delay",
        "reset",
        "truncate",
        "malformed",
        "missing_field",
        "wrong_type",
        "counter_value",
        "duplicate_device",
    }
)
"""`status` (needs `status`): that HTTP status. `throttle` (optional `retry_after`, 1): 429
with Retry-After. `delay` (needs `seconds`): the real answer, that late. `reset`: half the
body, then a TCP reset. `truncate`: half the body, then an orderly close. `malformed`: a
200 whose body is not JSON. `missing_field` (needs `field`) and `wrong_type` (needs
`field`, optional `value`): the field dropped, or set to `value`, in the envelope, every
row or every counter, by the field's name. `counter_value` (needs `value`, optional
`date`): every Counter/List `Mono` (of that date) set to `value`. `duplicate_device`: the
first row of Device/List or Counter/List sent twice."""

_REQUIRED_PARAMS = {
    "status": ("status",),
    "delay": ("seconds",),
    "missing_field": ("field",),
    "wrong_type": ("field",),
    "counter_value": ("value",),
}
# Faults that only make sense on some requests are not used up by the others.
_FAULT_PATHS = {
    "counter_value": frozenset({COUNTER_LIST_PATH}),
    "duplicate_device": frozenset({DEVICE_LIST_PATH, COUNTER_LIST_PATH}),
}
_ENVELOPE_FIELDS = frozenset({"IsValid", "Errors", "ReturnValue", "Result", "TotalRows"})
_COUNTER_FIELDS = frozenset({"Date", "Mono", "Color", "MonoPagesInPeriod", "ColorPagesInPeriod"})
_MALFORMED = b'{"IsValid": true, "Errors": [], "Result": [{"Id": '


@dataclass
class Fault:
    """One injected fault and how many more matching requests it applies to."""

    kind: str
    path: str | None
    customer: str | None
    remaining: int
    params: dict[str, Any]


class FaultQueue:
    """Injected faults in order; each request takes the first one that matches it.

    Safe to use from the test's thread and the server's at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self, kind: str, path: str | None, customer: str | None, times: int, params: dict[str, Any]
    ) -> None:
        """Queue `kind` for `times` requests; ValueError for an unknown kind or a missing
        parameter."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be >= 1")
        missing = [p for p in _REQUIRED_PARAMS.get(kind, ()) if p not in params]
        if missing:
            raise ValueError(f"fault {kind!r} needs {', '.join(missing)}")
        with self._lock:
            self._faults.append(Fault(kind, path, customer, times, dict(params)))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        """How many fault applications are still queued."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def take(self, path: str, body: Any) -> Fault | None:
        """Use up one application of the first fault matching this request, if any."""
        with self._lock:
            if not self._faults:
                return None
            codes = body_customers(body)
            for fault in self._faults:
                if fault.path is not None and fault.path != path:
                    continue
                if path not in _FAULT_PATHS.get(fault.kind, (path,)):
                    continue
                if fault.customer is not None and fault.customer not in codes:
                    continue
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
            return None


def apply_before(fault: Fault) -> Reply | None:
    """The answer a fault puts in place of the real one; None when the real one follows."""
    p = fault.params
    if fault.kind == "status":
        return error(int(p["status"]), "Injected server fault.")
    if fault.kind == "throttle":
        retry = p.get("retry_after", 1)
        retry_text = str(int(retry)) if float(retry).is_integer() else str(retry)
        return error(429, "Too many requests; slow down.", **{"Retry-After": retry_text})
    if fault.kind == "malformed":
        return Reply(200, raw=_MALFORMED)
    return None


def apply_after(fault: Fault, reply: Reply) -> None:
    """Change the real answer in place: hold it back, cut it, or corrupt its envelope."""
    p = fault.params
    if fault.kind == "delay":
        reply.delay = float(p["seconds"])
        return
    if fault.kind in ("reset", "truncate"):
        reply.cut = fault.kind
        return
    env = reply.payload
    if reply.status != 200 or not isinstance(env, dict) or not env.get("IsValid"):
        return
    result = env.get("Result")
    rows = result if isinstance(result, list) else [result] if isinstance(result, dict) else []
    if fault.kind in ("missing_field", "wrong_type"):
        _corrupt_field(fault, env, rows)
    elif fault.kind == "counter_value":
        when = p.get("date")
        for row in rows:
            for counter in row.get("Counters") or []:
                if when is None or counter.get("Date") == str(when):
                    counter["Mono"] = p["value"]
    elif fault.kind == "duplicate_device" and isinstance(result, list) and result:
        result.insert(1, copy.deepcopy(result[0]))


def _corrupt_field(fault: Fault, env: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Drop the fault's field, or give it a value of the wrong type, wherever it is."""
    name = fault.params.get("field")
    value = fault.params.get("value", "not-a-number")
    if name in _ENVELOPE_FIELDS:
        targets = [env]
    elif name in _COUNTER_FIELDS:
        targets = [c for row in rows for c in row.get("Counters") or []]
    else:
        targets = rows
    for target in targets:
        if fault.kind == "missing_field":
            target.pop(name, None)
        else:
            target[name] = copy.deepcopy(value)


def body_customers(body: Any) -> set[str]:
    """Customer codes a request body names, whatever request it is."""
    if not isinstance(body, dict):
        return set()
    codes = set()
    filt = body.get("FilterCustomerCodes")
    if isinstance(filt, list):
        codes.update(c for c in filt if isinstance(c, str))
    for key in ("CustomerCode", "Code"):
        if isinstance(body.get(key), str):
            codes.add(body[key])
    return codes
