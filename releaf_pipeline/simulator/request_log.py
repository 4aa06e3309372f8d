"""The simulator's log of the requests it answered, and the most it had in flight at once:
what the tests count requests and check a client's limits with."""

from __future__ import annotations

import threading


class RequestLog:
    """The request log of a simulator; the simulator sets these attributes up."""

    _lock: threading.Lock
    request_log: list[tuple[str, str]]
    """(method, path) of every request received, in order."""
    _customer_log: list[tuple[str, frozenset[str]]]
    _in_flight_now: int
    _in_flight_peak: int

    def reset_log(self) -> None:
        """Forget the requests logged so far, and the most that were in flight at once."""
        with self._lock:
            self.request_log.clear()
            self._customer_log.clear()
            self._in_flight_peak = self._in_flight_now

    @property
    def peak_in_flight(self) -> int:
        """The most requests the server was handling at once since `reset_log` (from a
        request's arrival until its answer is sent): what a client's limit of requests in
        flight bounds, whichever processes the client runs in."""
        with self._lock:
            return self._in_flight_peak

    def requests_for(self, customer: str) -> list[str]:
        """The paths of the requests logged since `reset_log` whose body names `customer`
        (as CustomerCode, Code, or in FilterCustomerCodes), in order."""
        with self._lock:
            return [path for path, codes in self._customer_log if customer in codes]

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.request_log.append((method, path))

    def _in_flight(self, change: int) -> None:
        with self._lock:
            self._in_flight_now += change
            self._in_flight_peak = max(self._in_flight_peak, self._in_flight_now)
