"""The cases a fleet carries, applied to a customer's generated counters: meter resets,
glitches, DCA outages, readings never uploaded or uploaded out of order.

Each edits the devices' counters and visibility in place and records the fact on the
customer (`resets`, `stale`, `missing`), so tests can find the cases instead of
hard-coding dates. A case that names what does not exist is refused with ValueError.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from releaf_pipeline.simulator.config import (
    DeviceOutage,
    MeterReset,
    MissingDay,
    OutOfOrderUpload,
    StaleSpan,
)

if TYPE_CHECKING:
    from releaf_pipeline.simulator.model import Calendar, Customer, Device


def named_device(cust: Customer, devices: list[Device], index: int, what: str) -> Device:
    """The customer's device a configured case names by index; ValueError if none."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"{what}: device index must be an int, got {index!r}")
    if not 0 <= index < len(devices):
        raise ValueError(
            f"{what}: customer {cust.index} has no device index {index} (it has {len(devices)})"
        )
    return devices[index]


def device_outage(cal: Calendar, cust: Customer, dev: Device, d_out: DeviceOutage) -> None:
    """One device's DCA offline: its readings held back until the upload day."""
    if dev.first_idx > cal.idx(d_out.first):
        raise ValueError(
            f"{d_out!r}: the device's first reading is dated {cal.date(dev.first_idx)}, after first"
        )
    dca_outage(cal, cust, [dev], d_out.first, d_out.upload)


def upload_late(cal: Calendar, cust: Customer, dev: Device, late: OutOfOrderUpload) -> None:
    """Hold one reading back until its upload day, after readings dated later."""
    i = cal.idx(late.date)
    if i < dev.first_idx or dev.visible_from[i] is None:
        raise ValueError(f"{late!r}: the device has no reading dated {late.date}")
    released = cal.publish_seconds(cust, late.upload.toordinal() - 1)
    # An outage that already holds the reading longer keeps it.
    dev.visible_from[i] = max(dev.visible_from[i], released)


def reset_meter(cal: Calendar, cust: Customer, dev: Device, d: date) -> None:
    i = cal.idx(d)
    if not (dev.first_idx < i < cal.ndays) or dev.visible_from[i] is None:
        return
    # The meter restarts at zero, so that day's reading is that day's pages alone and
    # every later reading drops by the counter it had the day before.
    dm, dc = dev.mono[i - 1], dev.color[i - 1]
    for j in range(i, cal.ndays):
        dev.mono[j] -= dm
        dev.color[j] -= dc
    cust.resets.append(MeterReset(cust.code, dev.id, d))


def meter_glitch(cal: Calendar, dev: Device, d: date, pages: int) -> None:
    """The reading dated `d` says `pages` fewer than the day before; the meter itself, and
    so every later reading, is unaffected."""
    i = cal.idx(d)
    what = f"the meter glitch of device {dev.id} on {d}"
    if not dev.first_idx < i < cal.ndays or dev.visible_from[i] is None:
        raise ValueError(f"{what}: the device has no reading that day and the day before")
    if dev.mono[i - 1] < pages:
        raise ValueError(f"{what}: the device has fewer than {pages} mono pages")
    dev.mono[i] = dev.mono[i - 1] - pages
    dev.color[i] = dev.color[i - 1]


def dca_outage(
    cal: Calendar, cust: Customer, devices: list[Device], first: date, upload: date
) -> None:
    # The DCA reports nothing from `first` until it reconnects on `upload`, and then
    # uploads everything it missed at once. Holding back only part of that window would
    # let the feed look healthy again before the backlog exists, and the contract's
    # recovery (re-collect from L + 1 once healthy) could never put those pages on
    # their own dates.
    last = upload - timedelta(days=1)
    if not (cal.in_range(first) and cal.in_range(last)) or last < first:
        return
    lo, hi = cal.idx(first), cal.idx(last)
    # The backlog goes up when the DCA would have published the day before `upload`.
    released = cal.publish_seconds(cust, last.toordinal())
    for dev in devices:
        if dev.first_idx > lo:
            continue
        for i in range(lo, hi + 1):
            vf = dev.visible_from[i]
            # Overlapping outages hold a reading until the last of them uploads.
            if vf is not None and vf < released:
                dev.visible_from[i] = released
        cust.stale.append(StaleSpan(cust.code, dev.id, first, last, upload))


def miss_reading(cal: Calendar, cust: Customer, dev: Device, d: date) -> None:
    i = cal.idx(d)
    if not (dev.first_idx < i < cal.ndays) or dev.visible_from[i] is None:
        return
    dev.visible_from[i] = None
    cust.missing.append(MissingDay(cust.code, dev.id, d))
