"""The drill-down behind a number (`nsk explain`), and the same records as views (`explain.*`).

What an indicator counts is its contributions (`indicators/registry.py`): the records it takes,
each with the amount it adds; the marts' value is their sum. So the records listed here add up
to the marts' value by construction, and the command says so: it ends with the sum beside the
mart's value. Then come the records of the source and period that do not count, and why:
superseded by a later export, cancelled, quarantined (with the reasons), in a file dated after
the as-of date or rejected, and (with `include_other`) current records the indicator's
definition does not take (another activity, theme or type).

A record is shown by its key, date, file, row and export date, never by a pseudonym or
anything derived from a CPR number: `counted_unit` is NULL where the unit is a citizen.

The views in schema `explain` (for data engineers; the analyst role cannot read the schema)
are the same statements over every period the marts computed goal values for, created in the
marts' publication transaction: `explain.counted_records` and `explain.uncounted_records`.
They read staging as it is now: after a run that re-staged sources without publishing marts,
they show the new staging (and `nsk explain` says that its sum and the mart's differ).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date
from textwrap import indent

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nsk_pipeline.core.warehouse import Warehouse, relation_columns
from nsk_pipeline.goals.attainment import actual_period, evaluation_years
from nsk_pipeline.indicators.engine import (IndicatorValues, Period, contributions_statement, counts_condition,
                                            key_name, record_key, source_facts)
from nsk_pipeline.indicators.registry import INDICATORS, Indicator
from nsk_pipeline.sources.specs import SOURCES

SCHEMA = "explain"
COUNTED_VIEW = "counted_records"
UNCOUNTED_VIEW = "uncounted_records"

COUNTED_COLUMNS = ["record_key", "record_date", "counted_unit", "amount", "denominator", "source_file",
                   "source_row", "export_date"]
# Files whose records never reached staging, and why.
_FILE_REASONS = {"after_as_of": "export dated after the as-of date: not read",
                 "rejected": "file rejected: "}


class ExplainError(ValueError):
    """What to explain does not exist (an unknown goal, a year without a row, no marts yet)."""


# --- the statements (the command and the views) --------------------------------------------------

def _date_in(column: str, period: Period | None, stock: bool) -> str:
    if period is None:
        return ""
    start, end = period
    # A stock counts members at the period's end: any row that joined by then is of the period.
    return (f" AND {column} <= DATE '{end}'" if stock else
            f" AND {column} BETWEEN DATE '{start}' AND DATE '{end}'")


def uncounted_statement(source: str, dialect: str, period: Period | None = None, with_current: bool = False,
                        has_quarantine: bool = True, has_file_loads: bool = True) -> str:
    """The records of `source` that no indicator counts, one row each with `reason_code` and
    `reason`: superseded versions (naming the version that counts), cancelled rows, quarantined
    rows (their reasons), and files not read (dated after the as-of date, or rejected). With
    `period`, staged rows dated in it only; with `with_current`, also the current rows that do
    count somewhere (reason_code 'current'), for the caller to subtract an indicator's records."""
    spec = SOURCES[source]
    stock = any(i.aggregation == "stock" for i in INDICATORS.values() if i.source == source)
    when = _date_in(f"s.{spec.date_column}", period, stock)
    same_key = " AND ".join(f"{key_name(f'k.{c}', dialect)} = {key_name(f's.{c}', dialect)}" for c in spec.key)
    trace = f"{record_key(source)} AS record_key, s.{spec.date_column} AS record_date"
    where_from = "s.source_file, s.source_row, s.export_date"
    no_version = "CAST(NULL AS VARCHAR), CAST(NULL AS BIGINT)"  # counting_file, counting_row: the version that counts
    parts = [f"""SELECT 'superseded' AS reason_code, {trace},
       'superseded by ' || coalesce(k.source_file || ' row ' || CAST(k.source_row AS VARCHAR)
                                    || ' (export date ' || CAST(k.export_date AS VARCHAR) || ')',
                                    'a later version') AS reason,
       {where_from}, k.source_file AS counting_file, k.source_row AS counting_row
FROM staging.{source} AS s
LEFT JOIN staging.{source} AS k ON k.er_gaeldende AND {same_key}
WHERE NOT s.er_gaeldende{when}"""]
    if any(c.name == "status" for c in spec.columns):
        parts.append(f"""SELECT 'cancelled', {trace}, 'cancelled (status ' || s.status || ')', {where_from}, {no_version}
FROM staging.{source} AS s
WHERE s.er_gaeldende AND NOT ({counts_condition(source)}){when}""")
    if with_current:
        parts.append(f"""SELECT 'current', {trace}, CAST(NULL AS VARCHAR), {where_from}, {no_version}
FROM staging.{source} AS s
WHERE {counts_condition(source)}{when}""")
    if has_quarantine:
        parts.append(f"""SELECT 'quarantined', q.record_key, CAST(NULL AS DATE), 'quarantined: ' || q.reasons,
       q.file_name, q.row_number, q.export_date, {no_version}
FROM quarantine.rejected_rows AS q
WHERE q.source = '{source}'""")
    if has_file_loads:
        parts.append(f"""SELECT CASE f.status WHEN 'after_as_of' THEN 'after_as_of' ELSE 'file_rejected' END,
       CAST(NULL AS VARCHAR), CAST(NULL AS DATE),
       CASE f.status WHEN 'after_as_of' THEN '{_FILE_REASONS["after_as_of"]}'
                     ELSE '{_FILE_REASONS["rejected"]}' || coalesce(f.reason, '') END,
       f.file_name, CAST(NULL AS BIGINT), f.export_date, {no_version}
FROM meta.file_loads AS f
WHERE f.source = '{source}' AND f.status IN ('after_as_of', 'rejected')""")
    return "\nUNION ALL\n".join(parts)


def _has(conn: Connection, schema: str, name: str) -> bool:
    return relation_columns(conn, schema, name) is not None


def create_explain_views(conn: Connection, periods: list[Period], as_of: date) -> None:
    """(Re)create `explain.counted_records` and `explain.uncounted_records` in `conn`'s
    transaction (the marts' publication): the records behind every indicator in each of
    `periods`, and the records of each source that do not count."""
    dialect = conn.dialect.name
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    for view in (COUNTED_VIEW, UNCOUNTED_VIEW):
        conn.execute(sa.text(f"DROP VIEW IF EXISTS {SCHEMA}.{view}"))
    staged = {s for s in SOURCES if _has(conn, "staging", s)}
    numbered = {pid: p for pid, p in enumerate(sorted(set(periods)), start=1)}
    counted = [f"SELECT '{i.id}' AS indicator_id, c.period_start, c.period_end, "
               f"{', '.join('c.' + col for col in COUNTED_COLUMNS)}\n"
               f"FROM (\n{indent(contributions_statement(i, numbered, as_of, dialect), '  ')}\n) AS c"
               for i in INDICATORS.values() if i.source in staged] if numbered else []
    if counted:
        conn.execute(sa.text(f"CREATE VIEW {SCHEMA}.{COUNTED_VIEW} AS\n" + "\nUNION ALL\n".join(counted)))
        conn.execute(sa.text(
            f"COMMENT ON VIEW {SCHEMA}.{COUNTED_VIEW} IS 'The records behind each indicator in each period the "
            f"marts computed as of {as_of} (each year, each goal''s period): what each adds (amount); "
            f"sum(amount) per indicator and period is the marts'' value (a ratio: over sum(denominator)). "
            f"No pseudonyms.'"))
    has_q, has_f = _has(conn, "quarantine", "rejected_rows"), _has(conn, "meta", "file_loads")
    uncounted = [f"SELECT '{s}' AS source, u.*\nFROM (\n{indent(uncounted_statement(s, dialect, None, False, has_q, has_f), '  ')}\n) AS u"
                 for s in SOURCES if s in staged and SOURCES[s].date_column]
    if uncounted:
        conn.execute(sa.text(f"CREATE VIEW {SCHEMA}.{UNCOUNTED_VIEW} AS\n" + "\nUNION ALL\n".join(uncounted)))
        conn.execute(sa.text(
            f"COMMENT ON VIEW {SCHEMA}.{UNCOUNTED_VIEW} IS 'The records of each source that do not count, and why "
            f"(reason_code: superseded, cancelled, quarantined, after_as_of, file_rejected).'"))


# --- the drill-down --------------------------------------------------------------------------

@dataclass
class Explanation:
    indicator: Indicator
    year: int
    period: Period
    as_of: date
    counted: list[dict]
    not_counted: list[dict]
    other: list[dict]  # current records of the period the indicator's definition does not take
    total: float | None  # None: not measured (the source reports on none of the period's years)
    mart: str  # where the published value is
    mart_value: float | None
    goal_id: str | None = None
    numerator: float | None = None
    denominator: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        if self.total is None or self.mart_value is None:
            return self.total is None and self.mart_value is None
        return math.isclose(self.total, self.mart_value, rel_tol=1e-9, abs_tol=1e-9)

    def to_json(self) -> dict:
        return {"goal_id": self.goal_id, "indicator_id": self.indicator.id, "year": self.year,
                "period_start": self.period[0].isoformat(), "period_end": self.period[1].isoformat(),
                "as_of": self.as_of.isoformat(), "counted": [_plain(r) for r in self.counted],
                "not_counted": [_plain(r) for r in self.not_counted], "other": [_plain(r) for r in self.other],
                "sum": self.total, "numerator": self.numerator, "denominator": self.denominator,
                "mart": self.mart, "mart_value": self.mart_value, "agrees": self.agrees}


def _scalar(wh: Warehouse, sql: str, **params):
    with wh.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def _as_of(wh: Warehouse) -> date:
    if not wh.has_table("marts", "goal_attainment"):
        raise ExplainError("the warehouse has no marts yet: run `nsk materialize` first")
    value = _scalar(wh, "SELECT max(as_of) FROM marts.goal_attainment")
    if value is None:
        raise ExplainError("marts.goal_attainment is empty: run `nsk materialize` first")
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def explain_goal(wh: Warehouse, registry, goal_id: str, year: int) -> Explanation:
    """The records behind `marts.goal_attainment.actual` of a numeric goal in `year`."""

    goal = next((g for g in registry.goals if g.id == goal_id), None)
    if goal is None:
        raise ExplainError(f"unknown goal {goal_id!r}")
    if goal.kind != "numeric":
        raise ExplainError(f"goal {goal_id} is a milestone: no records make it up (its status is in "
                           f"staging.milepaele)")
    as_of = _as_of(wh)
    plan = registry.plans[goal.plan]
    years = evaluation_years(goal, plan, as_of)
    if year not in years:
        raise ExplainError(f"goal {goal_id} has no row for {year} as of {as_of} (its years: "
                           f"{', '.join(map(str, years)) or 'none yet'})")
    actual = _scalar(wh, "SELECT actual FROM marts.goal_attainment WHERE goal_id = :g AND year = :y",
                     g=goal_id, y=year)
    return _explain(wh, INDICATORS[goal.indicator], year, actual_period(goal, plan, year), as_of,
                    "marts.goal_attainment.actual", _float(actual), goal_id)


def explain_indicator(wh: Warehouse, indicator_id: str, year: int) -> Explanation:
    """The records behind `marts.indicator_yearly.value` of an indicator in `year`."""
    if indicator_id not in INDICATORS:
        raise ExplainError(f"unknown indicator {indicator_id!r} (see marts.indicators)")
    as_of = _as_of(wh)
    rows = wh.read_sql("SELECT value FROM marts.indicator_yearly WHERE indicator_id = :i AND year = :y",
                       i=indicator_id, y=year)
    if rows.empty:
        raise ExplainError(f"marts.indicator_yearly has no row for {indicator_id} in {year} (as of {as_of})")
    value = rows["value"].iloc[0]
    return _explain(wh, INDICATORS[indicator_id], year, (date(year, 1, 1), date(year, 12, 31)), as_of,
                    "marts.indicator_yearly.value", _float(value))


def _explain(wh: Warehouse, indicator: Indicator, year: int, period: Period, as_of: date, mart: str,
             mart_value: float | None, goal_id: str | None = None) -> Explanation:
    source = indicator.source
    counted, not_counted, other = [], [], []
    superseded_counted = 0
    if wh.has_table("staging", source):
        with wh.engine.connect() as conn:
            counted = _rows(conn, contributions_statement(indicator, {1: period}, as_of, wh.dialect))
            uncounted = _rows(conn, uncounted_statement(
                source, wh.dialect, period, with_current=True, has_quarantine=wh.has_table("quarantine", "rejected_rows"),
                has_file_loads=wh.has_table("meta", "file_loads")))
            quarantine_dates = _quarantine_dates(conn, source) if wh.has_table("quarantine", "rejected_rows") else {}
        taken = {(r["source_file"], r["source_row"]) for r in counted}
        for r in uncounted:
            code = r["reason_code"]
            if code == "superseded" and (r["counting_file"], r["counting_row"]) in taken:
                superseded_counted += 1  # an older version of a record that counts: not what is missing
            elif code == "current":
                if (r["source_file"], r["source_row"]) not in taken:
                    other.append({**r, "reason": "not taken by the indicator's definition"})
            elif code != "quarantined" or _in_period(quarantine_dates.get((r["source_file"], r["source_row"])),
                                                     period):
                if code == "quarantined":
                    r["record_date"] = quarantine_dates.get((r["source_file"], r["source_row"]))
                not_counted.append(r)
    counted.sort(key=lambda r: (str(r["record_date"]), str(r["record_key"]), r["source_file"], r["source_row"]))
    order = ["superseded", "cancelled", "quarantined", "after_as_of", "file_rejected"]
    not_counted.sort(key=lambda r: (order.index(r["reason_code"]), str(r["record_date"]), str(r["source_file"]),
                                    r["source_row"] or 0))
    other.sort(key=lambda r: (str(r["record_date"]), str(r["record_key"])))
    facts = source_facts(wh, as_of)
    measured = IndicatorValues(as_of, facts, set(), {}).measured(indicator.id, *period)
    numerator = denominator = None
    total = None
    if measured:
        amounts = [float(r["amount"]) for r in counted if r["amount"] is not None]
        total = sum(amounts)
        if indicator.aggregation == "ratio":
            numerator = total
            denominator = sum(float(r["denominator"]) for r in counted if r["denominator"] is not None)
            total = 100.0 * numerator / denominator if denominator else None
    notes = [f"{superseded_counted} older versions of counted records (superseded by the version listed) are "
             f"not shown"] if superseded_counted else []
    return Explanation(indicator, year, period, as_of, counted, not_counted, other,
                       total, mart, mart_value, goal_id, numerator, denominator, notes)


def _rows(conn: Connection, sql: str) -> list[dict]:
    result = conn.execute(sa.text(sql))
    return [dict(r._mapping) for r in result]


_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def _quarantine_dates(conn: Connection, source: str) -> dict[tuple[str, int], str]:
    """A quarantined row's date as delivered (its text: it may be what failed), by file and row."""
    column = SOURCES[source].date_column
    out = {}
    for file_name, row_number, row_data in conn.execute(sa.text(
            "SELECT file_name, row_number, row_data FROM quarantine.rejected_rows WHERE source = :s"), {"s": source}):
        try:
            text = json.loads(row_data).get(column)
        except (TypeError, ValueError, AttributeError):
            text = None
        out[(file_name, row_number)] = None if text is None else str(text).strip()
    return out


def _in_period(text: str | None, period: Period) -> bool:
    """Whether a quarantined row belongs to the period: its date text names one of the period's
    years, or no year at all (an unreadable date could be any)."""
    years = [int(y) for y in _YEAR.findall(text or "")]
    return not years or any(period[0].year <= y <= period[1].year for y in years)


def _float(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _plain(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, date) else float(v) if k in ("amount", "denominator") and v is not None
                else v) for k, v in row.items()}


# --- output ------------------------------------------------------------------------------------

def _number(v: float | None) -> str:
    if v is None:
        return "not measured"
    return f"{v:g}" if float(v).is_integer() else f"{v:.4g}"


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    cells = [[h for h, _ in columns]] + [["" if r.get(k) is None else str(r[k]) for _, k in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]


def render_text(e: Explanation, show_other: bool = False) -> str:
    i = e.indicator
    head = f"{e.goal_id}, {e.year}: " if e.goal_id else f"{e.year}: "
    lines = [f"{head}{i.id} ({i.name}), {e.period[0]}..{e.period[1]}, as of {e.as_of}; source {i.source}"]
    ratio = i.aggregation == "ratio"
    lines.append(f"Counted: {len(e.counted)} records" + (" (amount: 1 when in the numerator; each is 1 in the "
                                                         "denominator)" if ratio else ""))
    if e.counted:
        lines += _table(e.counted, [("key", "record_key"), ("date", "record_date"), ("amount", "amount"),
                                    ("counted as", "counted_unit"), ("source file", "source_file"),
                                    ("row", "source_row"), ("export date", "export_date")])
    lines.append(f"Not counted: {len(e.not_counted)}")
    if e.not_counted:
        lines += _table(e.not_counted, [("key", "record_key"), ("date", "record_date"), ("reason", "reason"),
                                        ("source file", "source_file"), ("row", "source_row"),
                                        ("export date", "export_date")])
    if show_other:
        lines.append(f"Current records of {i.source} in the period the definition does not take: {len(e.other)}")
        if e.other:
            lines += _table(e.other, [("key", "record_key"), ("date", "record_date"), ("source file", "source_file"),
                                      ("row", "source_row"), ("export date", "export_date")])
    lines += [f"({note})" for note in e.notes]
    if not show_other and e.other:
        lines.append(f"({len(e.other)} other current records of {i.source} in the period are not taken by the "
                     f"definition; --all lists them)")
    total = (f"sum = {_number(e.numerator)} of {_number(e.denominator)} = {_number(e.total)} %" if ratio
             and e.total is not None else f"sum = {_number(e.total)}")
    lines.append(f"{total} ({e.mart} = {_number(e.mart_value)})")
    if not e.agrees:
        lines.append("The sum differs from the mart: staging has changed since the marts were published "
                     "(run `nsk materialize`).")
    return "\n".join(lines)
