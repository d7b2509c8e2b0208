"""Danish number, date and target formatting, shared by the report's data model, its chart and its
three outputs."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober",
          "november", "december")


def fmt_number(value: float | None, decimals: int | None = None) -> str:
    """Danish: 2.425; 12,5; 40,0 (rounded half up, as SQL's ROUND does)."""
    if value is None:
        return "–"
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 1
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    rounded = exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def fmt_value(value: float | None, unit: str | None, whole: bool = False) -> str:
    """A value with its unit; `whole` rounds a count (a forecast) to a whole number."""
    if value is None:
        return "–"
    if unit == "pct":
        return f"{fmt_number(value, 1)} %"
    if whole or abs(value - round(value)) < 1e-9:
        text = fmt_number(value, 0)
    else:
        text = fmt_number(value, 1)
    return f"{text} {unit}" if unit else text


def fmt_date(d: date | None) -> str:
    return "–" if d is None else f"{d.day}. {MONTHS[d.month - 1]} {d.year}"


def target_phrase(goal: Any) -> str:
    """'mindst 2.000 elever' from a goal's comparison, target and unit."""
    word = "mindst" if goal.comparison == ">=" else "højst"
    return f"{word} {fmt_value(goal.target, goal.unit)}"
