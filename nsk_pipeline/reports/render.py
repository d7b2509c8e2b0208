"""The yearly status report in Danish: self-contained HTML (inline CSS and SVG), Markdown and Word.

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
import functools
import io
import math
import re
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import pandas as pd
from markupsafe import Markup

from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.marts.report_view import SPOR_LABELS
from nsk_pipeline.reports.chart import chart_png, chart_svg
from nsk_pipeline.reports.formatting import fmt_date, fmt_number, fmt_percent, fmt_value, target_phrase
from nsk_pipeline.sources import reasons

SPOR_ORDER = tuple(SPOR_LABELS)
STATUS_SENTENCE = {
    "naaet": "Målet er nået.",
    "ikke_naaet": "Målet er ikke nået.",
    "i_gang": "I gang.",
    "ikke_opgjort": "Ikke opgjort.",
}
STATUS_ORDER = ("naaet", "ikke_naaet", "i_gang", "ikke_opgjort")
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
    df = warehouse.read_sql("SELECT source, file_name, export_date, status, reason_code, reason_params "
                            "FROM meta.file_loads")
    rejected = [RejectedFile(r.source, r.file_name, _date(r.export_date),
                             reasons.file_text(r.reason_code, r.reason_params, "da") or "")
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


# --------------------------------------------------------------------------- sentences


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
                         f"Måltal: {target_phrase(goal)}.")
        else:
            lines.append(f"Resultat {_period_phrase(goal, data.year)}: {fmt_value(goal.actual, goal.unit)} "
                         f"(måltal: {target_phrase(goal)}), svarende til {fmt_percent(goal.progress)} af måltallet.")
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


# --------------------------------------------------------------------------- labels
def _period_name(period: str) -> str:
    return {"annual": "hvert år", "plan": "hele planperioden"}.get(period, period)


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


# --------------------------------------------------------------------------- rendering: three outputs
# One data model, one set of formatting functions; the layouts are templates in templates/:
# report.html.j2 (autoescaped), report.md.j2 and status.docx (docxtpl: a Word document with Jinja
# tags, which the municipality may replace with its own, NSK_REPORT_DOCX_TEMPLATE).

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_DOCX_TEMPLATE = TEMPLATES / "status.docx"


def status_sentence(status: str) -> str:
    return STATUS_SENTENCE.get(status, status)


def provisional(goal: GoalReport) -> bool:
    """A goal whose period still runs and that is not yet reached: its figures are provisional."""
    return goal.period_open and goal.status != "naaet"


def series_value(goal: GoalReport, p: ChartPoint) -> str:
    value = fmt_value(p.value, goal.unit) if p.value is not None else "–"
    if p.forecast is not None:
        value += f" (prognose {fmt_value(p.forecast, goal.unit, whole=True)})"
    return value


def target_applies(goal: GoalReport, p: ChartPoint) -> bool:
    return not p.context and (goal.period in ("annual", "plan") or str(p.year) == goal.period)


def _template_globals() -> dict[str, Any]:
    return {
        "fmt_date": fmt_date, "fmt_number": fmt_number, "fmt_value": fmt_value, "fmt_percent": fmt_percent,
        "goal_lines": goal_lines, "status_sentence": status_sentence,
        "status_label": lambda s: status_sentence(s).rstrip("."), "provisional": provisional,
        "spor_label": lambda spor: SPOR_LABELS.get(spor, spor), "period_name": _period_name,
        "source_label": _source, "rows": _rows, "freshness": _freshness, "series_value": series_value,
        "target_applies": target_applies, "changes_title": CHANGES_TITLE, "changes_intro": _changes_intro,
        "change_cells": _change_cells, "delivery_line": _delivery_line, "chart_svg": chart_svg,
    }


@functools.cache
def _environment(kind: str) -> jinja2.Environment:
    # StrictUndefined: a misspelt name in a template (the municipality's too) is an error, not a blank
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=kind == "html",
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["md"] = _md
    env.globals.update(_template_globals())
    return env


def _md(text: Any) -> str:
    """Text safe inside Markdown (and inside a table cell)."""
    text = re.sub(r"([\\`*\[\]|<>#])", r"\\\1", str(text))
    text = re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", text)  # an underscore inside a word is not emphasis
    return text.replace("\n", " ")


def render_html(data: ReportData) -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return _environment("html").get_template("report.html.j2").render(data=data, css=Markup(css))


def render_markdown(data: ReportData) -> str:
    text = _environment("markdown").get_template("report.md.j2").render(data=data)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


CHART_WIDTH_MM = 125  # fits the shipped template's report column (141 mm)


def render_docx(data: ReportData, out: str | Path, template: str | Path | None = None) -> Path:
    """The report as a Word document, from `template` (a .docx with docxtpl's Jinja tags; default
    the shipped templates/status.docx). The template sees `data`, the formatting functions above
    and `charts` (goal id → the chart as an image, for numeric goals)."""
    from docx.shared import Mm
    from docxtpl import DocxTemplate, InlineImage

    path = Path(template) if template else DEFAULT_DOCX_TEMPLATE
    if not path.is_file():
        raise ReportError(f"Word-skabelonen {path} findes ikke (NSK_REPORT_DOCX_TEMPLATE / --docx-template)")
    try:
        tpl = DocxTemplate(path)
        charts = {g.goal_id: InlineImage(tpl, io.BytesIO(chart_png(g)), width=Mm(CHART_WIDTH_MM))
                  for g in data.goals if g.kind == "numeric" and g.series}
        tpl.render({"data": data, "charts": charts}, jinja_env=_environment("docx"), autoescape=True)
    except (jinja2.TemplateError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ReportError(f"Word-skabelonen {path} kan ikke bruges: {type(e).__name__}: {e}") from None
    out = Path(out)
    tpl.save(out)
    return out


# --------------------------------------------------------------------------- files and CLI


def report_basename(plan: str, year: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", plan)
    return f"nsk-status-{safe}-{int(year)}"


class ReportFiles(NamedTuple):
    html: Path
    markdown: Path
    docx: Path


def write_report(warehouse: Warehouse, plan: str, year: int, out_dir: str | Path,
                 docx_template: str | Path | None = None) -> ReportFiles:
    """Write `<out_dir>/nsk-status-<plan>-<year>.html`, `.md` and `.docx` (the Word document from
    `docx_template`, default the shipped one); return the three paths."""
    data = load_report_data(warehouse, plan, year)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = out / report_basename(plan, year)
    files = ReportFiles(base.with_suffix(".html"), base.with_suffix(".md"), base.with_suffix(".docx"))
    render_docx(data, files.docx, docx_template)  # first: a bad template must not leave half a set
    files.html.write_text(render_html(data), encoding="utf-8")
    files.markdown.write_text(render_markdown(data), encoding="utf-8")
    return files


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `report` to the `nsk` command's subparsers (`nsk report --plan HP2024 --year 2024`)."""
    p = subparsers.add_parser("report", help="write the yearly status report (HTML, Markdown and Word) for a plan")
    p.add_argument("--plan", required=True, help="plan id, e.g. HP2024")
    p.add_argument("--year", required=True, type=int, help="the year to report on, e.g. 2024")
    p.add_argument("--out", default=None, help=f"output folder (default NSK_REPORTS_DIR, else {DEFAULT_OUT_DIR}/)")
    p.add_argument("--docx-template", default=None, metavar="PATH",
                   help="the Word template (.docx with docxtpl tags; default NSK_REPORT_DOCX_TEMPLATE, else the "
                        "shipped templates/status.docx)")
    p.set_defaults(func=report_cli)
    return p


def report_cli(args: argparse.Namespace) -> int:
    from nsk_pipeline.core.settings import settings_for_command
    from nsk_pipeline.core.warehouse import WarehouseBusy, WarehouseMissing

    settings = settings_for_command()
    if settings is None:
        return 2
    out = Path(args.out) if getattr(args, "out", None) else settings.reports_dir
    try:  # read only: a mistyped NSK_WAREHOUSE_URL must not leave an empty warehouse behind
        wh = Warehouse.open_existing(settings.warehouse_url)
    except WarehouseBusy as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 3
    except WarehouseMissing as e:
        print(f"nsk: {e}: run `nsk materialize` first, or check the setting", file=sys.stderr)
        return 2
    try:
        template = getattr(args, "docx_template", None) or settings.report_docx_template
        files = write_report(wh, args.plan, int(args.year), out, template)
    except ReportError as e:
        print(f"nsk: {e}", file=sys.stderr)
        return 2
    finally:
        wh.dispose()
    print(f"nsk: report written: {files.html}")
    print(f"nsk: markdown: {files.markdown}")
    print(f"nsk: word: {files.docx}")
    return 0
