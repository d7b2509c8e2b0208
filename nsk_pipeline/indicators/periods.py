"""The interface between indicators and goals: an indicator's value over any date range.

Goals need values over periods that are not calendar years (a plan's years so far, a year to
date), and `distinct`/`ratio` indicators must be recomputed over the whole period's rows rather
than combined from yearly figures. So the goal logic asks an engine, never a yearly table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True)
class PeriodValue:
    """An indicator over a period. `value` None means *not measured* (no data), never zero."""

    value: float | None
    numerator: float | None = None  # ratios only
    denominator: float | None = None  # ratios only

    @property
    def measured(self) -> bool:
        return self.value is not None or self.denominator is not None


class IndicatorEngine(Protocol):
    as_of: date

    def value(self, indicator_id: str, start: date, end: date) -> PeriodValue:
        """The indicator over [start, end], by its aggregation; a `stock` at min(end, as_of)."""
        ...

    def data_through(self, indicator_id: str) -> date | None:
        """The latest export date, on or before as_of, of the indicator's source's loaded files."""
        ...
