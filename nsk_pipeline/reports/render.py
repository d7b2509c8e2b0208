"""The yearly status report in Danish, laid out like the committee's annex ("Bilag 2"), from one
data model into three outputs: HTML, Markdown and Word.

`load_report_data` reads the model from the warehouse: the plan's goals (marts.goals), their rows of
the view marts.goal_attainment_report, the indicators' yearly values for the charts, the
quarantine's reason codes (never the row data) and meta.file_loads. The templates in templates/ lay
it out: report.html.j2, report.md.j2 and status.docx (docxtpl; the municipality may use its own,
NSK_REPORT_DOCX_TEMPLATE), all three with the sentences of sentences.j2 (`say.…`). The chart is
chart.py, the Danish number and date formats formatting.py.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import sqlalchemy as sa
from markupsafe import Markup

from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.goals.attainment import STATUS_TEKST
from nsk_pipeline.marts.report_view import SPOR_LABELS
from nsk_pipeline.marts.revisions import ReportChanges, report_changes
from nsk_pipeline.reports.chart import chart_png, chart_svg
from nsk_pipeline.reports.formatting import fmt_date, fmt_number, fmt_value, target_phrase
from nsk_pipeline.sources import reasons
from nsk_pipeline.sources.specs import SOURCES, delivery_window_days

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_DOCX_TEMPLATE = TEMPLATES / "status.docx"
CHART_WIDTH_MM = 125  # fits the shipped Word template's report column (141 mm)


class ReportError(Exception):
    """The report cannot be made (unknown plan, a year without rows, no marts, a broken template)."""


@dataclass
class Point:
    """One year of a numeric goal's chart."""
    year: int
    value: float | None  # None: not measured, or a year after the report's year
    context: bool = False  # a year outside a single-year goal's period, shown for context
    future: bool = False  # after the report's year: an empty slot
    forecast: float | None = None


def _view(column: str) -> Any:
    return field(default=None, metadata={"view": column})


@dataclass
class Goal:
    """A goal of the plan (marts.goals), with its row of marts.goal_attainment_report for the year
    (the fields marked with their column of the view)."""
    goal_id: str
    spor: str
    goal_text: str
    kind: str  # numeric or milestone
    period: str  # annual, plan or a year
    indicator_id: str | None
    aggregation: str | None  # the indicator's: only a sum is forecast
    spor_label: str = _view("Spor")
    indicator_name: str | None = _view("Indikator")
    unit: str | None = _view("Enhed")
    status: str = _view("Statuskode")
    status_text: str = _view("Status")
    actual: float | None = _view("Resultat")
    target: float | None = _view("Måltal")
    comparison: str | None = _view("Sammenligning")
    percent: float | None = _view("Opfyldelse (%)")  # rounded as the view rounds it
    data_through: date | None = _view("Data til og med")
    forecast: float | None = _view("Prognose")
    on_track: str | None = _view("På vej mod målet")  # Ja, Nej or None (no forecast)
    note: str | None = _view("Bemærkning")
    period_start: date | None = _view("Periode fra")
    period_end: date | None = _view("Periode til")
    period_open: bool = False  # the period runs past the year's end (or the as-of date)
    series: list[Point] = field(default_factory=list)

    @property
    def provisional(self) -> bool:
        """Its period still runs and it is not yet reached: the figures are provisional."""
        return self.period_open and self.status != "naaet"


@dataclass
class QuarantineCount:
    source: str
    column: str
    rule: str
    rows: int


@dataclass
class ReportData:
    plan_id: str
    plan_name: str
    first_year: int
    last_year: int
    year: int
    as_of: date
    computed_at: datetime | None
    goals: list[Goal]  # those with a row for the year, in the annex's order
    other_goals: list[Goal]  # the plan's goals without a row for the year
    quarantine: list[QuarantineCount]
    quarantined_rows_by_source: dict[str, int]
    rejected_files: list[dict[str, Any]]  # source, file_name, export_date, reason
    sources: list[dict[str, Any]]  # source, latest_export (loaded, up to as_of), files_loaded, days_old, stale
    changes: ReportChanges | None = None  # "Ændringer siden sidste opgørelse"

    @property
    def year_running(self) -> bool:
        return self.year == self.as_of.year and self.as_of < date(self.year, 12, 31)

    def status_counts(self) -> dict[str, int]:
        return {s: sum(1 for g in self.goals if g.status == s) for s in STATUS_TEKST}


def _annex_order(goal: Goal) -> tuple:
    """By track as the annex numbers them, then by goal id with its numbers as numbers (B2 < B10)."""
    return SPOR_LABELS.get(goal.spor, goal.spor), [int(p) if p.isdigit() else p
                                                   for p in re.split(r"(\d+)", goal.goal_id)]


VIEW_SELECT = ", ".join(f'"{f.metadata["view"]}" AS {f.name}' for f in fields(Goal) if "view" in f.metadata)


def load_report_data(warehouse: Warehouse, plan: str, year: int, latest: Any = None) -> ReportData:
    """Everything the report shows for `plan` and `year`, read from the marts and the load logs
    (`latest`: the run's `revisions.LatestRevision`, when it writes several reports)."""
    year = int(year)
    for name in ("goal_attainment", "goals"):
        if not warehouse.has_table("marts", name):
            raise ReportError(f"tabellen marts.{name} findes ikke: kør `nsk materialize` først")
    has_quarantine, has_loads = (warehouse.has_table(*t) for t in (("quarantine", "rejected_rows"),
                                                                   ("meta", "file_loads")))
    with warehouse.engine.connect() as conn:
        def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
            return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]

        plan_goals = rows("SELECT g.goal_id, g.spor, g.goal_text, g.kind, g.period, g.indicator_id, i.aggregation, "
                          "g.plan_name, g.first_year, g.last_year FROM marts.goals AS g LEFT JOIN marts.indicators "
                          "AS i ON i.indicator_id = g.indicator_id WHERE g.plan_id = :plan", plan=plan)
        if not plan_goals:
            known = [r["plan_id"] for r in rows("SELECT DISTINCT plan_id FROM marts.goals ORDER BY plan_id")]
            raise ReportError(f"ukendt plan {plan!r} (kendte planer: {', '.join(known) or 'ingen'})")
        plan_name, first_year, last_year = (plan_goals[0][k] for k in ("plan_name", "first_year", "last_year"))
        if not first_year <= year <= last_year:
            raise ReportError(f"{year} ligger uden for plan {plan} ({first_year}-{last_year})")
        attainment = rows(f'SELECT "Mål-id" AS goal_id, "År" AS year, "Opgjort pr." AS as_of, {VIEW_SELECT} '
                          f'FROM marts.goal_attainment_report WHERE "Plan-id" = :plan AND "År" <= :year',
                          plan=plan, year=year)
        this_year = {r["goal_id"]: r for r in attainment if r["year"] == year}
        if not this_year:
            raise ReportError(f"plan {plan} har ingen opgørelse for {year} (året er ikke begyndt på "
                              f"opgørelsesdatoen, eller målene er ikke beregnet)")
        yearly = {(r["indicator_id"], r["year"]): r["value"] for r in rows(
            "SELECT indicator_id, year, value FROM marts.indicator_yearly WHERE year BETWEEN :a AND :b",
            a=first_year, b=last_year)}
        computed_at = conn.execute(sa.text("SELECT max(computed_at) FROM marts.goal_attainment WHERE "
                                           "plan_id = :plan"), {"plan": plan}).scalar()
        as_of = max(r["as_of"] for r in attainment)
        sources = rows(
            "SELECT *, CAST(:as_of AS DATE) - latest_export AS days_old FROM (SELECT source, max(export_date) "
            "FILTER (WHERE status = 'loaded' AND export_date <= :as_of) AS latest_export, count(*) FILTER (WHERE "
            "status = 'loaded') AS files_loaded FROM meta.file_loads GROUP BY source) AS s",
            as_of=as_of) if has_loads else []
        for s in sources:  # stale: no export loaded, or the newest older than the source's delivery window
            s["window"] = delivery_window_days(s["source"])
            s["stale"] = s["days_old"] is None or s["days_old"] > s["window"]
        rejected = rejected_files(conn) if has_loads else []

    goals, others = [], []
    for g in sorted((Goal(**{k: v for k, v in r.items() if k in Goal.__annotations__}) for r in plan_goals),
                    key=_annex_order):
        row = this_year.get(g.goal_id)
        if row is None:
            others.append(g)
            continue
        goals.append(g)
        for f in fields(Goal):
            if "view" in f.metadata:
                setattr(g, f.name, row[f.name])
        g.period_open = g.period_end > min(date(year, 12, 31), as_of)
        if g.kind != "numeric":
            continue
        actual = {r["year"]: r["actual"] for r in attainment if r["goal_id"] == g.goal_id}
        for y in range(first_year, last_year + 1):
            if y > year:
                g.series.append(Point(y, None, future=True))
            elif y in actual:  # the forecast, while the goal is provisional
                g.series.append(Point(y, actual[y], forecast=g.forecast if y == year and g.provisional else None))
            elif g.period not in ("annual", "plan"):  # a single-year goal: the other years for context
                g.series.append(Point(y, yearly.get((g.indicator_id, y)), context=True))
            else:
                g.series.append(Point(y, None))
    order = list(SOURCES)
    sources.sort(key=lambda s: (order.index(s["source"]) if s["source"] in order else len(order), s["source"]))
    quarantine, by_source = _quarantine(warehouse) if has_quarantine else ([], {})
    return ReportData(
        plan_id=plan, plan_name=plan_name, first_year=first_year, last_year=last_year, year=year, as_of=as_of,
        computed_at=computed_at, goals=goals, other_goals=others, quarantine=quarantine,
        quarantined_rows_by_source=by_source, sources=sources,
        rejected_files=sorted(rejected, key=lambda f: (f["source"], f["file_name"])),
        changes=report_changes(warehouse, plan, year, latest))


def rejected_files(conn: sa.Connection) -> list[dict[str, Any]]:
    """The files not read, each with its reason in Danish from its code (`meta.file_loads.reason_code`)."""
    rows = conn.execute(sa.text("SELECT source, file_name, export_date, reason_code, reason_params "
                                "FROM meta.file_loads WHERE status = 'rejected'")).mappings()
    return [{"source": r["source"], "file_name": r["file_name"], "export_date": r["export_date"],
             "reason": reasons.file_text(r["reason_code"], r["reason_params"], "da") or ""} for r in rows]


def reason_label(reason: dict) -> tuple[str, str] | None:
    """(column, rule in Danish) of one stored reason code; None for the notes on which version counts.
    The report shows the column and the code's Danish text (sources/reasons.py), never a row's value."""
    if reasons.REASONS[reason["code"]].kind != "rule":
        return None
    return reason.get("column") or reasons.KEY_COLUMN_DA, reasons.text({**reason, "column": None}, "da")


def _quarantine(warehouse: Warehouse) -> tuple[list[QuarantineCount], dict[str, int]]:
    """Rows in quarantine per source and per (source, column, rule): a row counts once per rule."""
    counts: dict[tuple[str, str, str], int] = {}
    by_source: dict[str, int] = {}
    df = warehouse.read_sql("SELECT source, reason_codes FROM quarantine.rejected_rows")
    for source, codes in zip(df["source"], df["reason_codes"]):
        by_source[source] = by_source.get(source, 0) + 1
        for label in {label for label in map(reason_label, reasons.parse(codes)) if label}:
            counts[(source, *label)] = counts.get((source, *label), 0) + 1
    shown = sorted((QuarantineCount(*key, n) for key, n in counts.items()),
                   key=lambda q: (q.source, -q.rows, q.column, q.rule))
    return shown, dict(sorted(by_source.items()))


# --------------------------------------------------------------------------- the three outputs


@functools.cache
def environment(kind: str) -> jinja2.Environment:
    """The Jinja environment of the html, markdown or docx templates, with the formatting functions
    and `say` (the macros of sentences.j2). StrictUndefined: a misspelt name in a template, the
    municipality's too, is an error, not a blank."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=kind != "markdown",
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["md"] = _md
    env.globals.update(
        fmt_date=fmt_date, fmt_number=fmt_number, fmt_value=fmt_value, target_phrase=target_phrase,
        chart_svg=chart_svg, status_text=STATUS_TEKST, sources=SOURCES)
    env.globals["say"] = env.get_template("sentences.j2").module
    return env


def _md(text: Any) -> str:
    """Text safe inside Markdown (and inside a table cell)."""
    text = re.sub(r"([\\`*\[\]|<>#])", r"\\\1", str(text))
    text = re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", text)  # an underscore inside a word is not emphasis
    return text.replace("\n", " ")


def render_html(data: ReportData) -> str:
    css = Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))
    return environment("html").get_template("report.html.j2").render(data=data, css=css)


def render_markdown(data: ReportData) -> str:
    text = environment("markdown").get_template("report.md.j2").render(data=data)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def render_docx(data: ReportData, out: str | Path, template: str | Path | None = None) -> Path:
    """The report as a Word document, from `template` (a .docx with docxtpl's Jinja tags; default
    templates/status.docx). The template sees what the HTML and Markdown templates see, and
    `charts` (goal id → the chart as an image, for numeric goals)."""
    from docx.shared import Mm
    from docxtpl import DocxTemplate, InlineImage

    path = Path(template) if template else DEFAULT_DOCX_TEMPLATE
    if not path.is_file():
        raise ReportError(f"Word-skabelonen {path} findes ikke (NSK_REPORT_DOCX_TEMPLATE / --docx-template)")
    try:
        tpl = DocxTemplate(path)
        charts = {g.goal_id: InlineImage(tpl, io.BytesIO(chart_png(g)), width=Mm(CHART_WIDTH_MM))
                  for g in data.goals if g.series}
        tpl.render({"data": data, "charts": charts}, jinja_env=environment("docx"), autoescape=True)
    except (jinja2.TemplateError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ReportError(f"Word-skabelonen {path} kan ikke bruges: {type(e).__name__}: {e}") from None
    tpl.save(Path(out))
    return Path(out)


# --------------------------------------------------------------------------- files and CLI


class ReportFiles(NamedTuple):
    html: Path
    markdown: Path
    docx: Path


def write_report(warehouse: Warehouse, plan: str, year: int, out_dir: str | Path,
                 docx_template: str | Path | None = None, latest: Any = None) -> ReportFiles:
    """Write `<out_dir>/nsk-status-<plan>-<year>.html`, `.md` and `.docx` (the Word document from
    `docx_template`, default the shipped one); return the three paths. `latest`: as in
    `load_report_data`."""
    data = load_report_data(warehouse, plan, year, latest)
    base = Path(out_dir) / f"nsk-status-{re.sub(r'[^A-Za-z0-9_-]', '_', plan)}-{int(year)}"
    files = ReportFiles(base.with_suffix(".html"), base.with_suffix(".md"), base.with_suffix(".docx"))
    base.parent.mkdir(parents=True, exist_ok=True)
    render_docx(data, files.docx, docx_template)  # first: a bad template must not leave half a set
    files.html.write_text(render_html(data), encoding="utf-8")
    files.markdown.write_text(render_markdown(data), encoding="utf-8")
    return files
