"""Judging measurements: growth fits across sizes (with a prediction at a size not run)
and targets as the JSON document lists them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

# What each scenario returns: its section of the JSON document and the targets it judged.
Outcome = tuple[dict[str, Any], list[dict[str, Any]]]


def growth(
    sizes: Sequence[int], values: Sequence[float], unit: str, x: str = "feeds"
) -> dict[str, Any]:
    """Least-squares value = fixed + slope * x, and the exponent between the extremes
    (1: linear in x; 2: quadratic)."""
    n = len(sizes)
    mean_x, mean_y = sum(sizes) / n, sum(values) / n
    sxx = sum((x - mean_x) ** 2 for x in sizes)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(sizes, values, strict=True)) / sxx
    fixed = mean_y - slope * mean_x
    exponent = (
        math.log(values[-1] / values[0]) / math.log(sizes[-1] / sizes[0])
        if values[0] > 0 and values[-1] > 0 and sizes[-1] != sizes[0]
        else None
    )
    return {
        "x": x,
        "at": list(sizes),
        "values": [round(v, 3) for v in values],
        "unit": unit,
        "fit_fixed": round(fixed, 3),
        f"fit_per_1000_{x}": round(slope * 1000, 3),
        "exponent": round(exponent, 2) if exponent is not None else None,
        "predict": lambda size: fixed + slope * size,
    }


def public(g: dict[str, Any]) -> dict[str, Any]:
    """A growth fit as the JSON shows it (without its `predict`)."""
    return {k: v for k, v in g.items() if k != "predict"}


def target(
    name: str, goal: str, measured: float | None, met: bool | None, how: str
) -> dict[str, Any]:
    """One target: `met` is None when it was not measured."""
    return {
        "name": name,
        "target": goal,
        "measured": None if measured is None else round(measured, 3),
        "met": met,
        "how": how,
    }
