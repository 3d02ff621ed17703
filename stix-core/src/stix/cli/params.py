"""Click parameter types for bounded numbers: job ids, line counts, minutes, days.

Every numeric flag takes one of these, so an out-of-range value is a one-line usage
error naming the flag, never an ``OverflowError`` from SQLite or a NaN timer.
"""

from __future__ import annotations

import math
from typing import Any

import click

# SQLite integers (job ids) are signed 64-bit.
MAX_INT64 = 2**63 - 1
# Ten years: longer autostop timers and look-back windows are certainly mistakes.
MAX_MINUTES = 10 * 366 * 24 * 60.0

JOB_ID = click.IntRange(1, MAX_INT64)
COUNT = click.IntRange(0, MAX_INT64)


class FiniteFloat(click.ParamType):
    """A finite number in ``[low, high]`` (``nan`` and ``inf`` are refused)."""

    name = "number"

    def __init__(self, low: float, high: float, unit: str) -> None:
        self.low = low
        self.high = high
        self.unit = unit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float) and math.isfinite(value):
            number = value
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{str(value)[:40]!r} is not a number of {self.unit}", param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(
                f"{str(value)[:40]!r} must be a number of {self.unit} from {self.low:g}"
                f" to {self.high:.0f}",
                param,
                ctx,
            )
        return number


MINUTES = FiniteFloat(0.0, MAX_MINUTES, "minutes")
DAYS = FiniteFloat(0.0, MAX_MINUTES / 1440, "days")

__all__ = ["COUNT", "DAYS", "JOB_ID", "MAX_INT64", "MINUTES", "FiniteFloat"]
