"""The yearly status report: self-contained HTML (inline CSS and SVG) and Markdown, in Danish.

Laid out like the committee's annex ("Bilag 2: Status på handleplanens indsatser"): per track,
per goal, the goal as the plan words it, the status sentence, the figures against the target and,
for numeric goals, a chart of the indicator across the plan's years with the target line. It ends
with a data quality section.

Plain functions, no Dagster. The report reads only `marts.*`, `quarantine.rejected_rows` (source
and reason codes, never the row data) and `meta.file_loads`; it never shows a CPR number or a
pseudonym.
"""

from __future__ import annotations

import argparse
import html
import math
import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.marts.report_view import SPOR_LABELS
from nsk_pipeline.sources import reasons

SPOR_ORDER = tuple(SPOR_LABELS)
STATUS_SENTENCE = {
    "naaet": "Målet er nået.",
    "ikke_naaet": "Målet er ikke nået.",
    "i_gang": "I gang.",
    "ikke_opgjort": "Ikke opgjort.",
}
STATUS_ORDER = ("naaet", "ikke_naaet", "i_gang", "ikke_opgjort")
MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober",
          "november", "december")
SOURCE_LABELS = {
    "skoleforloeb": "Skoleforløb",
    "vejlederlog": "Social kontrolvejledernes log",
    "rettighedskurser": "Rettighedskurser",
    "omraade_aktiviteter": "Områdebaseret indsats: aktiviteter",
    "omraade_aktoerer": "Områdebaseret indsats: aktørregister",
    "milepaele": "Milepæle",
}
# A source whose newest loaded export is older than this (about a quarter) is shown as stale.
STALE_AFTER_DAYS = 92
DEFAULT_OUT_DIR = Path("data/marts/reports")


class ReportError(Exception):
    """The report cannot be made (unknown plan, a year without rows, no marts)."""


# --------------------------------------------------------------------------- data


@dataclass
class ChartPoint:
    year: int
    value: float | None  # None: not measured, or a year after the report's year
    context: bool = False  # a year outside a single-year goal's period, shown for context
    future: bool = False  # after the report's year: an empty slot
    forecast: float | None = None


@dataclass
class GoalReport:
    goal_id: str
    spor: str
    goal_text: str
    kind: str
    period: str  # annual, plan or a year
    indicator_id: str | None = None
    indicator_name: str | None = None
    unit: str | None = None
    aggregation: str | None = None
    comparison: str | None = None
    target: float | None = None
    actual: float | None = None
    progress: float | None = None
    status: str = "ikke_opgjort"
    data_through: date | None = None
    forecast: float | None = None
    on_track: bool | None = None
    note: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    period_open: bool = False
    series: list[ChartPoint] = field(default_factory=list)


@dataclass
class QuarantineCount:
    source: str
    column: str
    rule: str
    rows: int


@dataclass
class RejectedFile:
    source: str
    file_name: str
    export_date: date | None
    reason: str


@dataclass
class SourceState:
    source: str
    latest_export: date | None
    files_loaded: int
    stale: bool


@dataclass
class ReportData:
    plan_id: str
    plan_name: str
    first_year: int
    last_year: int
    year: int
    as_of: date
    computed_at: datetime | None
    goals: list[GoalReport]
    other_goals: list[tuple[str, str, str]]  # (goal id, text, period) of goals with no row this year
    quarantine: list[QuarantineCount]
    quarantined_rows_by_source: dict[str, int]
    rejected_files: list[RejectedFile]
    sources: list[SourceState]
    changes: Any = None  # revisions.ReportChanges: "Ændringer siden sidste opgørelse"

    @property
    def year_running(self) -> bool:
        return self.year == self.as_of.year and self.as_of < date(self.year, 12, 31)

    def goals_by_spor(self) -> list[tuple[str, list[GoalReport]]]:
        out = []
        for spor in [*SPOR_ORDER, *sorted({g.spor for g in self.goals} - set(SPOR_ORDER))]:
            goals = [g for g in self.goals if g.spor == spor]
            if goals:
                out.append((spor, goals))
        return out

    def status_counts(self) -> dict[str, int]:
        return {s: sum(1 for g in self.goals if g.status == s) for s in STATUS_ORDER}


def _natural(goal_id: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", goal_id)]


def _none(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _date(v: Any) -> date | None:
    v = _none(v)
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return pd.Timestamp(v).date()


def _float(v: Any) -> float | None:
    v = _none(v)
    return None if v is None else float(v)


def load_report_data(warehouse: Warehouse, plan: str, year: int) -> ReportData:
    """Everything the report shows for `plan` and `year`, read from the marts and the load logs."""
    year = int(year)
    for schema, name in (("marts", "goal_attainment"), ("marts", "goals"), ("marts", "indicators")):
        if not warehouse.has_table(schema, name):
            raise ReportError(f"tabellen {schema}.{name} findes ikke: kør `nsk materialize` først")
    goals = warehouse.read_sql("SELECT * FROM marts.goals WHERE plan_id = :plan", plan=plan)
    if goals.empty:
        known = warehouse.read_sql("SELECT DISTINCT plan_id FROM marts.goals ORDER BY plan_id")["plan_id"].tolist()
        raise ReportError(f"ukendt plan {plan!r} (kendte planer: {', '.join(known) or 'ingen'})")
    first_year, last_year = int(goals["first_year"].iloc[0]), int(goals["last_year"].iloc[0])
    if not first_year <= year <= last_year:
        raise ReportError(f"{year} ligger uden for plan {plan} ({first_year}-{last_year})")
    attainment = warehouse.read_sql(
        "SELECT * FROM marts.goal_attainment WHERE plan_id = :plan ORDER BY goal_id, year", plan=plan)
    this_year = attainment[attainment["year"] == year]
    if this_year.empty:
        raise ReportError(f"plan {plan} har ingen opgørelse for {year} (året er ikke begyndt på "
                          f"opgørelsesdatoen, eller målene er ikke beregnet)")
    as_of = _date(attainment["as_of"].max())
    computed_at = _none(attainment["computed_at"].max())
    if computed_at is not None and not isinstance(computed_at, datetime):
        computed_at = pd.Timestamp(computed_at).to_pydatetime()

    indicators = warehouse.read_sql("SELECT * FROM marts.indicators").set_index("indicator_id")
    yearly = pd.DataFrame(columns=["indicator_id", "year", "value"])
    if warehouse.has_table("marts", "indicator_yearly"):
        yearly = warehouse.read_sql(
            "SELECT indicator_id, year, value FROM marts.indicator_yearly WHERE year BETWEEN :a AND :b",
            a=first_year, b=last_year)
    yearly_value = {(r.indicator_id, int(r.year)): _float(r.value) for r in yearly.itertuples()}

    goal_rows = {r["goal_id"]: r for r in goals.to_dict("records")}
    reports, others = [], []
    def order(goal_id: str) -> tuple:
        spor = goal_rows[goal_id]["spor"]
        return (SPOR_ORDER.index(spor) if spor in SPOR_ORDER else len(SPOR_ORDER), spor, _natural(goal_id))

    for goal_id in sorted(goal_rows, key=order):
        g = goal_rows[goal_id]
        rows = attainment[attainment["goal_id"] == goal_id]
        row = rows[rows["year"] == year]
        if row.empty:
            others.append((goal_id, str(g["goal_text"]), str(g["period"])))
            continue
        r = row.iloc[0].to_dict()
        report = GoalReport(
            goal_id=goal_id, spor=str(g["spor"]), goal_text=str(g["goal_text"]), kind=str(g["kind"]),
            period=str(g["period"]), status=str(r["status"]),
            data_through=_date(r["data_through"]), note=_none(r["note"]),
            period_start=_date(r["period_start"]), period_end=_date(r["period_end"]),
        )
        evaluation = min(date(year, 12, 31), as_of)
        report.period_open = report.period_end is not None and report.period_end > evaluation
        if report.kind == "numeric":
            ind_id = _none(g["indicator_id"])
            report.indicator_id = ind_id
            if ind_id in indicators.index:
                ind = indicators.loc[ind_id]
                report.indicator_name, report.unit, report.aggregation = ind["name"], ind["unit"], ind["aggregation"]
            report.comparison = _none(r["comparison"]) or _none(g["comparison"])
            report.target = _float(r["target"]) if _float(r["target"]) is not None else _float(g["target"])
            report.actual, report.progress = _float(r["actual"]), _float(r["progress"])
            report.forecast, report.on_track = _float(r["forecast"]), _none(r["on_track"])
            if report.on_track is not None:
                report.on_track = bool(report.on_track)
            by_year = {int(y): _float(a) for y, a in zip(rows["year"], rows["actual"])}
            single_year = report.period not in ("annual", "plan")
            for y in range(first_year, last_year + 1):
                if y > year:
                    report.series.append(ChartPoint(y, None, future=True))
                elif y in by_year:
                    # a forecast only while the goal is open and not yet reached
                    show = y == year and report.period_open and report.status != "naaet"
                    report.series.append(ChartPoint(y, by_year[y], forecast=report.forecast if show else None))
                elif single_year:
                    report.series.append(ChartPoint(y, yearly_value.get((ind_id, y)), context=True))
                else:
                    report.series.append(ChartPoint(y, None))
        reports.append(report)

    quarantine, by_source = _quarantine(warehouse)
    rejected, sources = _file_loads(warehouse, as_of)
    from nsk_pipeline.marts.revisions import report_changes

    return ReportData(
        plan_id=plan, plan_name=str(goals["plan_name"].iloc[0]), first_year=first_year, last_year=last_year,
        year=year, as_of=as_of, computed_at=computed_at, goals=reports, other_goals=others,
        quarantine=quarantine, quarantined_rows_by_source=by_source, rejected_files=rejected, sources=sources,
        changes=report_changes(warehouse, plan, year),
    )


# Quarantine reasons are stored as codes with their column (`reason_codes`); the report shows the
# column and the code's Danish text from the one table of reasons, never a value from the row.
def reason_label(reason: dict) -> tuple[str, str] | None:
    """(column, rule in Danish) of one stored reason; None for the notes on which version counts."""
    if reasons.REASONS[reason["code"]].kind != "rule":
        return None
    return reason.get("column") or reasons.KEY_COLUMN_DA, reasons.text({**reason, "column": None}, "da")


def _quarantine(warehouse: Warehouse) -> tuple[list[QuarantineCount], dict[str, int]]:
    if not warehouse.has_table("quarantine", "rejected_rows"):
        return [], {}
    df = warehouse.read_sql("SELECT source, reason_codes FROM quarantine.rejected_rows")
    counts: dict[tuple[str, str, str], int] = {}
    by_source: dict[str, int] = {}
    for source, codes in zip(df["source"], df["reason_codes"]):
        by_source[source] = by_source.get(source, 0) + 1
        seen = set()
        for reason in reasons.parse(codes):
            label = reason_label(reason)
            if label is None or label in seen:
                continue
            seen.add(label)
            counts[(source, *label)] = counts.get((source, *label), 0) + 1
    rows = [QuarantineCount(s, c, r, n) for (s, c, r), n in counts.items()]
    rows.sort(key=lambda q: (q.source, -q.rows, q.column, q.rule))
    return rows, dict(sorted(by_source.items()))


def _file_loads(warehouse: Warehouse, as_of: date) -> tuple[list[RejectedFile], list[SourceState]]:
    if not warehouse.has_table("meta", "file_loads"):
        return [], []
    df = warehouse.read_sql("SELECT source, file_name, export_date, status, reason FROM meta.file_loads")
    rejected = [RejectedFile(r.source, r.file_name, _date(r.export_date), str(_none(r.reason) or ""))
                for r in df[df["status"] == "rejected"].itertuples()]
    rejected.sort(key=lambda f: (f.source, f.file_name))
    sources = []
    for source in sorted(set(df["source"]), key=lambda s: (list(SOURCE_LABELS).index(s) if s in SOURCE_LABELS
                                                            else 99, s)):
        loaded = df[(df["source"] == source) & (df["status"] == "loaded")]
        dates = [d for d in (_date(v) for v in loaded["export_date"]) if d is not None and d <= as_of]
        latest = max(dates) if dates else None
        stale = latest is None or (as_of - latest).days > STALE_AFTER_DAYS
        sources.append(SourceState(source, latest, len(loaded), stale))
    return rejected, sources


# --------------------------------------------------------------------------- formatting


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


def fmt_percent(fraction: float | None) -> str:
    # in decimal: 2425 / 2000 is 121,25 %, which must round to 121,3 as the view's ROUND does
    return "–" if fraction is None else f"{fmt_number(Decimal(repr(float(fraction))) * 100, 1)} %"


def fmt_date(d: date | None) -> str:
    return "–" if d is None else f"{d.day}. {MONTHS[d.month - 1]} {d.year}"


def _target_phrase(goal: GoalReport) -> str:
    word = "mindst" if goal.comparison == ">=" else "højst"
    return f"{word} {fmt_value(goal.target, goal.unit)}"


def _period_phrase(goal: GoalReport, year: int) -> str:
    if goal.period == "plan" and goal.period_start is not None:
        start = goal.period_start.year
        return f"{start}–{year} samlet" if start != year else f"{year}"
    return str(year)


def goal_lines(goal: GoalReport, data: ReportData) -> list[str]:
    """The sentences under the status: plain text, for both HTML and Markdown."""
    lines = []
    if goal.kind == "numeric":
        if goal.actual is None:
            lines.append(f"Indikatoren er ikke målt for perioden: kilden har ingen data for {data.year}. "
                         f"Måltal: {_target_phrase(goal)}.")
        else:
            lines.append(f"Resultat {_period_phrase(goal, data.year)}: {fmt_value(goal.actual, goal.unit)} "
                         f"(måltal: {_target_phrase(goal)}), svarende til {fmt_percent(goal.progress)} af måltallet.")
        if goal.period == "plan" and goal.period_start and goal.period_end:
            lines.append(f"Målet gælder samlet for hele planperioden {goal.period_start.year}-{goal.period_end.year}.")
        if goal.indicator_name:
            lines.append(f"Indikator: {goal.indicator_name}.")
        if goal.data_through is not None:
            lines.append(f"Data til og med {fmt_date(goal.data_through)}.")
        if goal.period_open and goal.status != "naaet":
            lines.append(forecast_sentence(goal))
    elif goal.note:
        lines.append(f"Bemærkning: {goal.note}")
    return [line for line in lines if line]


def forecast_sentence(goal: GoalReport) -> str:
    end = fmt_date(goal.period_end)
    if goal.forecast is not None:
        verdict = {True: "Målet forventes nået.", False: "Målet forventes ikke nået.", None: ""}[goal.on_track]
        return (f"Prognose for perioden til og med {end}: {fmt_value(goal.forecast, goal.unit, whole=True)} "
                f"(på baggrund af data til og med {fmt_date(goal.data_through)}). {verdict}").strip()
    if goal.status == "naaet":
        return ""
    if goal.aggregation and goal.aggregation != "sum":
        return f"Perioden løber til og med {end}; der laves ikke prognose for denne type indikator."
    if goal.actual is None:
        return ""
    return f"Perioden løber til og med {end}; der er for lidt data til en prognose."


# --------------------------------------------------------------------------- SVG chart


def nice_scale(value: float, whole: bool) -> tuple[float, float]:
    """(top, step) of a y axis with four steps of 1, 2 or 5 × 10^k (2.5 too unless counts)."""
    raw = max(value, 1e-9) / 4
    exp = 10 ** math.floor(math.log10(raw))
    for m in ((1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)):
        step = m * exp
        if step >= raw and (not whole or step >= 1):
            break
    if whole:
        step = max(step, 1)
    return step * 4, step


def chart_svg(goal: GoalReport) -> str:
    """Bars of the indicator across the plan's years, the target as a dashed line, the forecast as
    a dashed outline bar. Pure inline SVG: no script, no font download."""
    width, height = 560, 230
    left, right, top, bottom = 56, 16, 18, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    points = goal.series
    values = [p.value for p in points if p.value is not None] + [p.forecast for p in points if p.forecast]
    y_max, y_step = nice_scale(max([*values, goal.target or 0, 1e-9]) * 1.1, whole=goal.unit != "pct")

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    e = html.escape
    label = f"Diagram: {goal.indicator_name or goal.indicator_id}, {points[0].year}-{points[-1].year}, " \
            f"med måltal {fmt_value(goal.target, goal.unit)}" if points else "Diagram"
    out = [f'<svg class="chart" data-goal-id="{e(goal.goal_id)}" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{e(label)}">',
           f"<title>{e(label)}</title>"]
    for i in range(5):  # grid and y labels
        v = y_step * i
        yy = y(v)
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{yy:.1f}" y2="{yy:.1f}"/>')
        out.append(f'<text class="tick" x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{e(fmt_number(v))}</text>')
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = min(64, slot * 0.55)
    single_year = goal.period not in ("annual", "plan")
    for i, p in enumerate(points):
        cx = left + slot * (i + 0.5)
        x0 = cx - bar_w / 2
        out.append(f'<text class="year" x="{cx:.1f}" y="{height - bottom + 18}" text-anchor="middle">{p.year}</text>')
        if p.forecast is not None and (p.value is None or p.forecast > p.value):
            out.append(f'<rect class="forecast" x="{x0:.1f}" y="{y(p.forecast):.1f}" width="{bar_w:.1f}" '
                       f'height="{y(0) - y(p.forecast):.1f}"><title>Prognose {p.year}: '
                       f'{e(fmt_value(p.forecast, goal.unit, whole=True))}</title></rect>')
            out.append(f'<text class="forecast-label" x="{cx:.1f}" y="{y(p.forecast) - 4:.1f}" '
                       f'text-anchor="middle">prognose {e(fmt_number(p.forecast, 0))}</text>')
        if p.value is not None:
            cls = "bar context" if p.context else "bar"
            out.append(f'<rect class="{cls}" x="{x0:.1f}" y="{y(p.value):.1f}" width="{bar_w:.1f}" '
                       f'height="{max(y(0) - y(p.value), 0):.1f}"><title>{p.year}: '
                       f'{e(fmt_value(p.value, goal.unit))}</title></rect>')
            label_y = y(p.value) - 4
            out.append(f'<text class="value" x="{cx:.1f}" y="{label_y:.1f}" text-anchor="middle">'
                       f'{e(fmt_number(p.value) if goal.unit != "pct" else fmt_number(p.value, 1))}</text>')
        elif not p.future:
            out.append(f'<text class="nodata" x="{cx:.1f}" y="{y(0) - 6:.1f}" text-anchor="middle">ingen data</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>')
    if goal.target is not None:
        if single_year and goal.period.isdigit() and any(p.year == int(goal.period) for p in points):
            i = next(i for i, p in enumerate(points) if p.year == int(goal.period))
            x1, x2 = left + slot * i + 4, left + slot * (i + 1) - 4
        else:
            x1, x2 = left, width - right
        ty = y(goal.target)
        out.append(f'<line class="target-line" x1="{x1:.1f}" x2="{x2:.1f}" y1="{ty:.1f}" y2="{ty:.1f}">'
                   f'<title>Måltal: {e(_target_phrase(goal))}</title></line>')
        out.append(f'<text class="target-label" x="{x2:.1f}" y="{ty - 5:.1f}" text-anchor="end">'
                   f'Måltal {e(fmt_number(goal.target))}</text>')
    out.append("</svg>")
    return "".join(out)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:Arial,Helvetica,sans-serif;color:#1d1d1b;margin:0;background:#fff;line-height:1.45}
main{max-width:1040px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:32px 0 8px;padding-bottom:4px;border-bottom:2px solid #1d1d1b}
h3{font-size:1.05em;margin:24px 0 6px}
.sub{color:#555;margin:0 0 4px}
.notice{background:#fff6d5;border-left:4px solid #d9a400;padding:8px 12px;margin:12px 0}
.summary{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.summary span{padding:4px 10px;border-radius:12px;background:#eee}
.annex-head,.goal{display:grid;grid-template-columns:34% 66%;gap:0}
.annex-head{font-weight:bold;border-bottom:1px solid #999;padding:6px 0;margin-top:8px}
.goal{border-bottom:1px solid #ccc;padding:12px 0;break-inside:avoid}
.goal-text{padding-right:18px}.goal-id{display:block;color:#666;font-size:.85em;margin-top:4px}
.status{font-weight:bold;margin:0 0 6px}
.status-naaet{color:#1b6e2f}.status-ikke_naaet{color:#a4161a}.status-i_gang{color:#8a5a00}.status-ikke_opgjort{color:#555}
.figures p{margin:2px 0}.badge{display:inline-block;font-size:.8em;font-weight:normal;padding:1px 8px;
border-radius:10px;background:#fff1c2;color:#6b4a00;margin-left:8px;border:1px solid #d9a400}
svg.chart{display:block;margin-top:8px;max-width:100%;height:auto}
svg .grid{stroke:#e3e3e3;stroke-width:1}svg .axis{stroke:#555;stroke-width:1}
svg .bar{fill:#2f5d8a}svg .bar.context{fill:#a9bfd6}
svg .forecast{fill:none;stroke:#2f5d8a;stroke-width:1.5;stroke-dasharray:5 3}
svg .target-line{stroke:#c0392b;stroke-width:2;stroke-dasharray:7 4}
svg text{font-family:Arial,Helvetica,sans-serif;font-size:11px;fill:#333}
svg .target-label{fill:#c0392b;font-weight:bold}svg .value{font-weight:bold}
svg .forecast-label{fill:#2f5d8a;font-style:italic}svg .nodata{fill:#888;font-style:italic}
table.dq{border-collapse:collapse;margin:6px 0 14px;width:100%}
table.dq th,table.dq td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
table.dq th{background:#f2f2f2}td.num{text-align:right}
.stale{color:#a4161a;font-weight:bold}.fresh{color:#1b6e2f}
footer{margin-top:32px;color:#666;font-size:.85em}
@media print{main{padding:0}.goal{page-break-inside:avoid}}
"""


def render_html(data: ReportData) -> str:
    e = html.escape
    out = ['<!DOCTYPE html>', '<html lang="da">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(data.plan_name)}: status for {data.year}</title>",
           f"<style>{_CSS}</style>", "</head>", "<body>", "<main>"]
    out.append(f'<h1>Status på handleplanens mål: afrapportering for {data.year}</h1>')
    out.append(f'<p class="sub">{e(data.plan_name)} ({e(data.plan_id)}, {data.first_year}-{data.last_year})</p>')
    out.append(f'<p class="sub" id="as-of">Opgjort pr. {e(fmt_date(data.as_of))}: eksporter dateret efter denne '
               f'dato er ikke medregnet. Hvert mål angiver, hvor langt data rækker („data til og med“).</p>')
    if data.year_running:
        out.append(f'<p class="notice" id="year-running">{data.year} er ikke afsluttet: tallene er foreløbige '
                   f'og gælder til og med {e(fmt_date(data.as_of))}. Mål, hvis periode stadig løber, er mærket '
                   f'„foreløbig“, og deres prognose er vist som en stiplet søjle.</p>')
    counts = data.status_counts()
    out.append('<p class="summary">' + "".join(
        f'<span class="status-{s}">{e(STATUS_SENTENCE[s].rstrip("."))}: {counts[s]}</span>'
        for s in STATUS_ORDER if counts[s]) + "</p>")
    for spor, goals in data.goals_by_spor():
        out.append(f'<section class="spor" id="spor-{e(spor)}">')
        out.append(f"<h2>{e(SPOR_LABELS.get(spor, spor))}</h2>")
        out.append(f'<div class="annex-head"><div>Mål</div><div>Afrapportering for {data.year}</div></div>')
        for g in goals:
            out.append(_goal_html(g, data))
        out.append("</section>")
    if data.other_goals:
        out.append('<p class="sub">Mål i planen uden opgørelse for dette år: ' + "; ".join(
            f"{e(gid)} (gælder {e(_period_name(period))})" for gid, _, period in data.other_goals) + ".</p>")
    if data.changes is not None:
        out.append(_changes_html(data.changes))
    out.append(_quality_html(data))
    computed = f", beregnet {fmt_date(data.computed_at.date())} kl. {data.computed_at:%H.%M} UTC" \
        if data.computed_at else ""
    out.append(f"<footer>Dannet af nsk-pipeline ud fra marts.goal_attainment{e(computed)}. Tal med dansk "
               f"talformat; „–“ betyder ikke målt.</footer>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _period_name(period: str) -> str:
    return {"annual": "hvert år", "plan": "hele planperioden"}.get(period, period)


def _goal_html(g: GoalReport, data: ReportData) -> str:
    e = html.escape
    badge = '<span class="badge">foreløbig</span>' if g.period_open and g.status != "naaet" else ""
    parts = [f'<article class="goal" id="goal-{e(g.goal_id)}" data-goal-id="{e(g.goal_id)}" '
             f'data-status="{e(g.status)}" data-kind="{e(g.kind)}">',
             f'<div class="goal-text"><p>{e(g.goal_text)}</p><span class="goal-id">{e(g.goal_id)}'
             f'{" · milepæl" if g.kind == "milestone" else ""}</span></div>',
             '<div class="report">',
             f'<p class="status status-{e(g.status)}">{e(STATUS_SENTENCE.get(g.status, g.status))}{badge}</p>',
             '<div class="figures">']
    for line in goal_lines(g, data):
        cls = ' class="forecast-text"' if line.startswith("Prognose") else ""
        parts.append(f"<p{cls}>{e(line)}</p>")
    parts.append("</div>")
    if g.kind == "numeric" and g.series:
        parts.append(chart_svg(g))
    parts += ["</div>", "</article>"]
    return "\n".join(parts)


def _quality_html(data: ReportData) -> str:
    e = html.escape
    out = ['<section id="datakvalitet">', "<h2>Datakvalitet</h2>",
           "<p>Rækker og filer, som ikke er talt med, og kilder, der ikke er opdateret for nylig. Afsnittet "
           "viser kun antal pr. kilde og regel, aldrig indholdet af rækkerne.</p>",
           "<h3>Rækker i karantæne</h3>"]
    if data.quarantine:
        out.append('<table class="dq" id="dq-quarantine"><thead><tr><th>Kilde</th><th>Kolonne</th><th>Regel</th>'
                   '<th>Rækker</th></tr></thead><tbody>')
        for q in data.quarantine:
            out.append(f"<tr><td>{e(_source(q.source))}</td><td>{e(q.column)}</td><td>{e(q.rule)}</td>"
                       f'<td class="num">{e(fmt_number(q.rows))}</td></tr>')
        out.append("</tbody></table>")
        out.append("<p>I alt: " + "; ".join(f"{e(_source(s))} {e(_rows(n))}"
                                            for s, n in data.quarantined_rows_by_source.items())
                   + ". En række kan bryde flere regler.</p>")
    else:
        out.append("<p>Ingen rækker i karantæne.</p>")
    out.append("<h3>Afviste filer</h3>")
    if data.rejected_files:
        out.append('<table class="dq" id="dq-files"><thead><tr><th>Kilde</th><th>Fil</th><th>Eksportdato</th>'
                   '<th>Årsag (fra indlæsningen)</th></tr></thead><tbody>')
        for f in data.rejected_files:
            out.append(f"<tr><td>{e(_source(f.source))}</td><td>{e(f.file_name)}</td>"
                       f"<td>{e(fmt_date(f.export_date))}</td><td>{e(f.reason)}</td></tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>Ingen afviste filer.</p>")
    out.append("<h3>Kildernes aktualitet</h3>")
    if data.sources:
        out.append('<table class="dq" id="dq-sources"><thead><tr><th>Kilde</th><th>Seneste indlæste eksport</th>'
                   '<th>Indlæste filer</th><th>Vurdering</th></tr></thead><tbody>')
        for s in data.sources:
            verdict, cls = _freshness(s, data.as_of)
            out.append(f"<tr><td>{e(_source(s.source))}</td><td>{e(fmt_date(s.latest_export))}</td>"
                       f'<td class="num">{s.files_loaded}</td><td class="{cls}">{e(verdict)}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>Ingen oplysninger om indlæste filer.</p>")
    out.append("</section>")
    return "\n".join(out)


def _rows(n: int) -> str:
    return f"{fmt_number(n)} {'række' if n == 1 else 'rækker'}"


def _source(source: str) -> str:
    return SOURCE_LABELS.get(source, source)


def _freshness(s: SourceState, as_of: date) -> tuple[str, str]:
    if s.latest_export is None:
        return "Forældet: ingen indlæst eksport", "stale"
    days = (as_of - s.latest_export).days
    if s.stale:
        return f"Forældet: seneste eksport er {days} dage gammel (grænse {STALE_AFTER_DAYS} dage)", "stale"
    return f"Aktuel ({days} dage gammel)", "fresh"


# --------------------------------------------------------------------------- changes since the last report
# The data: revisions.report_changes. The previous report is the one written from the publication
# before the current one (every publication writes the reports).

CHANGES_TITLE = "Ændringer siden sidste opgørelse"
_FILE_CHANGE = {"new": "ny fil", "changed": "ændret fil med samme navn", "removed": "ikke længere leveret"}


def _publication_phrase(p: Any) -> str:
    when = f", publiceret {fmt_date(p.published_at.date())} kl. {p.published_at:%H.%M} UTC" if p.published_at else ""
    return f"opgjort pr. {fmt_date(p.as_of)}{when}"


def _changes_intro(c: Any) -> str:
    if c.previous is None:
        return "Der er ingen tidligere publicering af tallene at sammenligne med."
    intro = (f"Sammenlignet med den forrige publicering af tallene, som den forrige rapport blev dannet ud fra "
             f"({_publication_phrase(c.previous)}). Rapporten dannes ved hver publicering; kommandoen "
             f"nsk changes --since DATO sammenligner med en anden.")
    return intro if c.changes else intro + " Ingen af rapportens tal er ændret siden da."


def _change_cells(r: Any) -> tuple[str, str, str, str, str]:
    what = f"{r.label} (mål)" if r.kind == "goal" else r.label
    if r.kind != "goal":
        status = ""
    elif r.old_status == r.new_status:
        status = f"uændret: {STATUS_SENTENCE.get(r.new_status, r.new_status).rstrip('.')}"
    else:
        status = " → ".join(STATUS_SENTENCE.get(s, str(s)).rstrip(".") for s in (r.old_status, r.new_status))
    return what, str(r.year), fmt_value(r.old_value, r.unit), fmt_value(r.new_value, r.unit), status


def _delivery_line(d: Any) -> str:
    line = f"{_source(d.source)}: {d.file_name} (eksport {fmt_date(d.export_date)}, {_FILE_CHANGE[d.change]})"
    if d.change != "removed":
        n = len(d.corrected)
        line += f": retter {n} {'post' if n == 1 else 'poster'}" if n else ": ingen rettede poster"
    return line


def _changes_html(c: Any) -> str:
    e = html.escape
    out = ['<section id="aendringer">', f"<h2>{CHANGES_TITLE}</h2>", f"<p>{e(_changes_intro(c))}</p>"]
    if c.changes:
        out.append('<table class="dq" id="changes"><thead><tr><th>Mål / indikator</th><th>År</th><th>Før</th>'
                   '<th>Nu</th><th>Status</th></tr></thead><tbody>')
        for r in c.changes:
            what, year, old, new, status = _change_cells(r)
            out.append(f"<tr><td>{e(what)}</td><td>{year}</td><td class=\"num\">{e(old)}</td>"
                       f"<td class=\"num\">{e(new)}</td><td>{e(status)}</td></tr>")
        out.append("</tbody></table>")
    if c.previous is not None:
        out.append("<h3>Leverancer siden da</h3>")
        out.append("<ul id=\"changes-files\">" + "".join(f"<li>{e(_delivery_line(d))}</li>" for d in c.deliveries)
                   + "</ul>" if c.deliveries else "<p>Ingen nye eller ændrede filer.</p>")
    out.append("</section>")
    return "\n".join(out)


def _changes_markdown(c: Any) -> list[str]:
    out = [f"## {CHANGES_TITLE}", "", _md(_changes_intro(c)), ""]
    if c.changes:
        out += ["| Mål / indikator | År | Før | Nu | Status |", "|---|---|---:|---:|---|"]
        out += ["| " + " | ".join(_md(x) for x in _change_cells(r)) + " |" for r in c.changes]
        out.append("")
    if c.previous is not None:
        out += ["### Leverancer siden da", ""]
        out += [f"- {_md(_delivery_line(d))}" for d in c.deliveries] if c.deliveries else \
            ["Ingen nye eller ændrede filer."]
        out.append("")
    return out


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    """Text safe inside Markdown (and inside a table cell)."""
    text = re.sub(r"([\\`*\[\]|<>#])", r"\\\1", str(text))
    text = re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", text)  # an underscore inside a word is not emphasis
    return text.replace("\n", " ")


def render_markdown(data: ReportData) -> str:
    out = [f"# Status på handleplanens mål: afrapportering for {data.year}", "",
           f"{_md(data.plan_name)} ({_md(data.plan_id)}, {data.first_year}-{data.last_year})", "",
           f"Opgjort pr. {fmt_date(data.as_of)}: eksporter dateret efter denne dato er ikke medregnet.", ""]
    if data.year_running:
        out += [f"> {data.year} er ikke afsluttet: tallene er foreløbige og gælder til og med "
                f"{fmt_date(data.as_of)}. Prognoser er markeret.", ""]
    counts = data.status_counts()
    out += ["; ".join(f"{STATUS_SENTENCE[s].rstrip('.')}: {counts[s]}" for s in STATUS_ORDER if counts[s]), ""]
    for spor, goals in data.goals_by_spor():
        out += [f"## {SPOR_LABELS.get(spor, spor)}", ""]
        for g in goals:
            mark = " (foreløbig)" if g.period_open and g.status != "naaet" else ""
            out += [f"### {_md(g.goal_id)}", "", f"**Mål:** {_md(g.goal_text)}", "",
                    f"**{STATUS_SENTENCE.get(g.status, g.status)}**{mark}", ""]
            for line in goal_lines(g, data):
                out += [_md(line), ""]
            if g.kind == "numeric" and g.series:
                out += ["| År | Resultat | Måltal |", "|---|---:|---:|"]
                for p in [p for p in g.series if p.year <= data.year]:
                    value = fmt_value(p.value, g.unit) if p.value is not None else "–"
                    if p.forecast is not None:
                        value += f" (prognose {fmt_value(p.forecast, g.unit, whole=True)})"
                    applies = not p.context and (g.period in ("annual", "plan") or str(p.year) == g.period)
                    out.append(f"| {p.year} | {_md(value)} | "
                               f"{_md(fmt_value(g.target, g.unit)) if applies else ''} |")
                out.append("")
    if data.other_goals:
        out += ["Mål i planen uden opgørelse for dette år: " + "; ".join(
            f"{_md(gid)} (gælder {_md(_period_name(period))})" for gid, _, period in data.other_goals) + ".", ""]
    if data.changes is not None:
        out += _changes_markdown(data.changes)
    out += ["## Datakvalitet", "", "### Rækker i karantæne", ""]
    if data.quarantine:
        out += ["| Kilde | Kolonne | Regel | Rækker |", "|---|---|---|---:|"]
        out += [f"| {_md(_source(q.source))} | {_md(q.column)} | {_md(q.rule)} | {fmt_number(q.rows)} |"
                for q in data.quarantine]
        out += ["", "I alt: " + "; ".join(f"{_md(_source(s))} {_rows(n)}"
                                          for s, n in data.quarantined_rows_by_source.items()) + ".", ""]
    else:
        out += ["Ingen rækker i karantæne.", ""]
    out += ["### Afviste filer", ""]
    if data.rejected_files:
        out += ["| Kilde | Fil | Eksportdato | Årsag |", "|---|---|---|---|"]
        out += [f"| {_md(_source(f.source))} | {_md(f.file_name)} | {fmt_date(f.export_date)} | {_md(f.reason)} |"
                for f in data.rejected_files]
        out.append("")
    else:
        out += ["Ingen afviste filer.", ""]
    out += ["### Kildernes aktualitet", ""]
    if data.sources:
        out += ["| Kilde | Seneste indlæste eksport | Indlæste filer | Vurdering |", "|---|---|---:|---|"]
        out += [f"| {_md(_source(s.source))} | {fmt_date(s.latest_export)} | {s.files_loaded} | "
                f"{_md(_freshness(s, data.as_of)[0])} |" for s in data.sources]
        out.append("")
    else:
        out += ["Ingen oplysninger om indlæste filer.", ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- files and CLI


def report_basename(plan: str, year: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", plan)
    return f"nsk-status-{safe}-{int(year)}"


def write_report(warehouse: Warehouse, plan: str, year: int, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `<out_dir>/nsk-status-<plan>-<year>.html` and `.md`; return both paths."""
    data = load_report_data(warehouse, plan, year)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = report_basename(plan, year)
    html_path, md_path = out / f"{base}.html", out / f"{base}.md"
    html_path.write_text(render_html(data), encoding="utf-8")
    md_path.write_text(render_markdown(data), encoding="utf-8")
    return html_path, md_path


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `report` to the `nsk` command's subparsers (`nsk report --plan HP2024 --year 2024`)."""
    p = subparsers.add_parser("report", help="write the yearly status report (HTML and Markdown) for a plan")
    p.add_argument("--plan", required=True, help="plan id, e.g. HP2024")
    p.add_argument("--year", required=True, type=int, help="the year to report on, e.g. 2024")
    p.add_argument("--out", default=None, help=f"output folder (default NSK_REPORTS_DIR, else {DEFAULT_OUT_DIR}/)")
    p.set_defaults(func=report_cli)
    return p


def report_cli(args: argparse.Namespace) -> int:
    from nsk_pipeline.core.settings import settings_for_command
    from nsk_pipeline.core.warehouse import WarehouseMissing

    settings = settings_for_command()
    if settings is None:
        return 2
    out = Path(args.out) if getattr(args, "out", None) else settings.reports_dir
    try:  # read only: a mistyped NSK_WAREHOUSE_URL must not leave an empty warehouse behind
        wh = Warehouse.open_existing(settings.warehouse_url)
    except WarehouseMissing as e:
        print(f"nsk: {e}: run `nsk materialize` first, or check the setting", file=sys.stderr)
        return 2
    try:
        html_path, md_path = write_report(wh, args.plan, int(args.year), out)
    except ReportError as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 2
    finally:
        wh.dispose()
    print(f"nsk: report written: {html_path}")
    print(f"nsk: markdown: {md_path}")
    return 0
