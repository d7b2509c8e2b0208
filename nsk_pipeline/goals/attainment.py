"""`marts.goal_attainment`: every goal judged for every evaluation year, by the contract's rules.

A plain function over the registry, an indicator engine and the staged milestone rows, so the
rules can be tested without a warehouse or Dagster. The rules are those of "How a goal is
judged" in the goals-and-marts contract; the comments say which rule a line implements.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

from nsk_pipeline.goals.registry import STATUS_TEKST, Goal, Plan, Registry
from nsk_pipeline.indicators.periods import IndicatorEngine
from nsk_pipeline.indicators.registry import INDICATORS

COLUMNS = [
    "plan_id", "goal_id", "spor", "goal_text", "kind", "indicator_id", "year",
    "period_start", "period_end", "comparison", "target", "actual", "progress", "status",
    "status_tekst", "data_through", "forecast", "on_track", "note", "as_of", "computed_at",
]

# Aggregations whose value can only grow over a period: a `>=` goal met early stays met.
_GROWING = ("sum", "distinct")
# Forecast needs data for at least 1/_MIN_COVERED_PARTS of the period; less is too little to project.
_MIN_COVERED_PARTS = 5


def goal_attainment(
    registry: Registry,
    engine: IndicatorEngine,
    milestones: pd.DataFrame,
    as_of: date,
    computed_at: datetime,
) -> pd.DataFrame:
    """One row per goal and evaluation year up to the as-of year, in the contract's columns."""
    by_goal = _milestone_rows(milestones)
    rows = []
    for goal in registry.goals:
        plan = registry.plans[goal.plan]
        for year in evaluation_years(goal, plan, as_of):
            row = _base_row(goal, plan, year, as_of)
            if goal.kind == "milestone":
                row.update(_judge_milestone(goal, row, by_goal.get(goal.id, [])))
            else:
                row.update(_judge_numeric(goal, plan, year, row, engine))
            row["status_tekst"] = STATUS_TEKST[row["status"]]
            row["as_of"] = as_of
            row["computed_at"] = computed_at
            rows.append(row)
    return _frame(rows)


def evaluation_years(goal: Goal, plan: Plan, as_of: date) -> list[int]:
    """Each plan year for annual/plan goals, the one year otherwise; none that has not begun."""
    if goal.period in ("annual", "plan"):
        years = range(plan.first_year, plan.last_year + 1)
    else:
        years = [int(goal.period)]
    return [y for y in years if y <= as_of.year]


def goal_period(goal: Goal, plan: Plan, year: int) -> tuple[date, date]:
    """The whole plan for a `plan` goal, the year for annual and single-year goals."""
    if goal.period == "plan":
        return date(plan.first_year, 1, 1), date(plan.last_year, 12, 31)
    return date(year, 1, 1), date(year, 12, 31)


def actual_period(goal: Goal, plan: Plan, year: int) -> tuple[date, date]:
    """The dates a numeric goal's row for `year` counts: a plan goal's row counts the plan's start
    through the end of the year (cumulative by the indicator's rule), other goals the year itself."""
    start = goal_period(goal, plan, year)[0] if goal.period == "plan" else date(year, 1, 1)
    return start, date(year, 12, 31)


def periods_asked(registry: Registry, as_of: date) -> list[tuple[date, date]]:
    """Every period `goal_attainment` asks the engine about: computed before it is asked."""
    return sorted({actual_period(g, registry.plans[g.plan], y) for g in registry.goals if g.kind == "numeric"
                   for y in evaluation_years(g, registry.plans[g.plan], as_of)})


def meets(value: float, comparison: str, target: float) -> bool:
    return value >= target if comparison == ">=" else value <= target


def _base_row(goal: Goal, plan: Plan, year: int, as_of: date) -> dict[str, Any]:
    period_start, period_end = goal_period(goal, plan, year)
    # Each row is judged at the end of its year, or at the as-of date if that comes first.
    evaluation = min(date(year, 12, 31), as_of)
    return {
        "plan_id": plan.id, "goal_id": goal.id, "spor": goal.spor, "goal_text": goal.text,
        "kind": goal.kind, "indicator_id": goal.indicator, "year": year,
        "period_start": period_start, "period_end": period_end,
        "comparison": goal.comparison, "target": goal.target,
        "actual": None, "progress": None, "status": "ikke_opgjort",
        "data_through": None, "forecast": None, "on_track": None, "note": None,
        # internal, dropped before returning
        "_evaluation": evaluation, "_over": period_end <= evaluation,
    }


def _judge_numeric(goal: Goal, plan: Plan, year: int, row: dict, engine: IndicatorEngine) -> dict:
    aggregation = INDICATORS[goal.indicator].aggregation
    actual = engine.value(goal.indicator, *actual_period(goal, plan, year)).value
    if actual is None:  # no data is not zero: nothing to judge, and nothing to date or project
        return {"status": "ikke_opgjort"}
    actual = float(actual)

    met = meets(actual, goal.comparison, goal.target)
    if row["_over"]:
        status = "naaet" if met else "ikke_naaet"
    elif met and goal.comparison == ">=" and aggregation in _GROWING:
        status = "naaet"  # a running total or distinct count past the target cannot fall back
    else:
        status = "i_gang"  # a `<=` goal, a stock or a ratio can still move either way

    through = engine.data_through(goal.indicator)
    data_through = min(through, row["_evaluation"]) if through is not None else None

    forecast = None
    if not row["_over"] and aggregation == "sum":
        forecast = linear_forecast(actual, row["period_start"], row["period_end"], data_through)
    return {
        "actual": actual,
        "progress": actual / goal.target,
        "status": status,
        "data_through": data_through,
        "forecast": forecast,
        "on_track": None if forecast is None else meets(forecast, goal.comparison, goal.target),
    }


def linear_forecast(actual: float, period_start: date, period_end: date,
                    data_through: date | None) -> float | None:
    """`actual` projected linearly to the period's end; None when the data covers < 1/5 of it."""
    if data_through is None or data_through < period_start:
        return None
    covered_days = (data_through - period_start).days + 1  # both ends inclusive
    period_days = (period_end - period_start).days + 1
    if covered_days * _MIN_COVERED_PARTS < period_days:  # integers: no rounding at the boundary
        return None
    return actual * period_days / covered_days


def _milestone_rows(milestones: pd.DataFrame | None) -> dict[str, list[tuple[int, str, Any]]]:
    """maal_id -> [(aar, opfyldt, bemaerkning)] sorted by aar."""
    out: dict[str, list[tuple[int, str, Any]]] = {}
    if milestones is None or len(milestones) == 0:
        return out
    for rec in milestones.to_dict("records"):
        note = rec.get("bemaerkning")
        if note is not None and pd.isna(note):
            note = None
        opfyldt = str(rec["opfyldt"]).strip().lower()
        out.setdefault(str(rec["maal_id"]), []).append((int(rec["aar"]), opfyldt, note))
    for entries in out.values():
        entries.sort(key=lambda e: e[0])  # stable: of two rows for one aar the later one wins
    return out


def _judge_milestone(goal: Goal, row: dict, entries: list[tuple[int, str, Any]]) -> dict:
    # The status row with the latest aar on or before the row's year.
    known = [e for e in entries if e[0] <= row["year"]]
    if not known:
        return {"status": "ikke_opgjort"}
    _, opfyldt, note = known[-1]
    if opfyldt == "ja":
        status = "naaet"
    elif opfyldt in ("nej", "delvist"):
        status = "ikke_naaet" if row["_over"] else "i_gang"
    else:
        raise ValueError(f"milepaele: goal {goal.id}, aar {known[-1][0]}: unknown opfyldt {opfyldt!r}")
    # A milestone has no target, actual, progress, data_through, forecast or on_track.
    return {"status": status, "note": note, "target": None, "comparison": None}


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)  # drops the internal _evaluation/_over keys
    for col in ("target", "actual", "progress", "forecast"):
        df[col] = df[col].astype("float64")  # NaN is NULL
    df["year"] = df["year"].astype("int64")
    df["on_track"] = df["on_track"].astype("boolean")  # True/False/<NA>, a BOOLEAN column in SQL
    return df.sort_values(["plan_id", "goal_id", "year"], kind="stable").reset_index(drop=True)
