"""The yearly status report: rendered from a small warehouse, and opened in headless Chromium."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from nsk_pipeline.core import tables
from nsk_pipeline.sources import reasons
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.goals.attainment import goal_attainment
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.indicators.periods import PeriodValue
from nsk_pipeline.indicators.registry import INDICATORS
from nsk_pipeline.marts.build import Marts, publish
from nsk_pipeline.reports.chart import SCALE, chart_model, chart_png
from nsk_pipeline.cli import report as report_cli
from nsk_pipeline.reports.formatting import fmt_number, fmt_value
from nsk_pipeline.reports.render import (
    ReportError,
    environment,
    load_report_data,
    reason_label,
    render_html,
    render_markdown,
    write_report,
)
from nsk_pipeline.marts.report_view import VIEW_COLUMNS, create_report_view

AS_OF = date(2026, 4, 15)
DATA_THROUGH = date(2026, 4, 7)
# Yearly values per indicator, shaped like the seeds (2024 from Annex 2, 2025 from the slides).
# A missing year is "not measured": the source says nothing about it.
VALUES = {
    "elever_nsk": {2017: 1200, 2018: 1100, 2024: 2425, 2025: 1428, 2026: 700},
    "elever_rettigheder": {2024: 7050, 2025: 6000, 2026: 1500},
    "fagpersoner_opkvalificeret": {2017: 200, 2018: 250, 2024: 272, 2025: 180, 2026: 60},
    "foraeldre_naaet": {2017: 300, 2018: 250, 2024: 90, 2025: 80, 2026: 10},
    "pilotskoler_sammenhaengende": {2024: 2, 2025: 0, 2026: 0},
    "friskoler_naaet": {2017: 3, 2018: 3, 2024: 4, 2025: 2, 2026: 1},
    "henvendelser": {2024: 413, 2025: 357, 2026: 90},
    "borgersager": {2024: 121, 2025: 115, 2026: 30},
    "borgersager_hoej_risiko": {2024: 20, 2025: 18, 2026: 5},
    "andel_borgersager_arbejdsmarked": {2024: 38.0, 2025: 40.0, 2026: 36.7},
    "andel_borgersager_vold": {2024: 20.7, 2025: 22.6, 2026: 16.7},
    "borgere_med_sag": {2024: 110, 2025: 104, 2026: 29},
    "rettighedskurser": {2024: 8, 2025: 15},
    "rettighedskursus_deltagere": {2024: 96, 2025: 180},
    "omraade_borgere_naaet": {2024: 155, 2025: 210, 2026: 40},
    "netvaerksmoeder": {2024: 1, 2025: 3, 2026: 1},
    "kompetenceudviklingsforloeb": {2024: 0, 2025: 1, 2026: 0},
    "aktive_aktoerer": {2024: 15, 2025: 25, 2026: 20},
    "aktoerer_i_netvaerk": {2024: 15, 2025: 25, 2026: 25},
}
MILESTONES = pd.DataFrame([
    ("HP2024-V4", 2024, "ja", "Workshop med Nationalt Center mod Æresrelaterede Konflikter (MÆRK)."),
    ("HP2024-V5", 2024, "ja", "Beredskabsplanen er publiceret; arbejdet fortsættes i 2025."),
    ("HP2024-C1", 2024, "ja", "Aktørnetværk af 15 lokale aktører."),
    ("HP2024-C3", 2024, "delvist", None),
    ("IHP2017-5", 2018, "nej", "Ca. 60 pct. efteruddannet."),
], columns=["maal_id", "aar", "opfyldt", "bemaerkning"])
FAKE_CPR = "010203-1234"
FAKE_PSEUDONYM = "f" * 64


class FakeEngine:
    """An IndicatorEngine over fixed yearly values (sums over a range; enough for the report)."""

    def __init__(self, as_of: date):
        self.as_of = as_of

    def value(self, indicator_id: str, start: date, end: date) -> PeriodValue:
        years = [y for y in range(start.year, end.year + 1) if y in VALUES[indicator_id]]
        if not years:
            return PeriodValue(None)
        return PeriodValue(float(sum(VALUES[indicator_id][y] for y in years)))

    def data_through(self, indicator_id: str) -> date | None:
        return DATA_THROUGH if DATA_THROUGH <= self.as_of else self.as_of


def _yearly() -> pd.DataFrame:
    rows = []
    for ind in INDICATORS.values():
        for year in range(2017, AS_OF.year + 1):
            v = VALUES[ind.id].get(year)
            rows.append({"indicator_id": ind.id, "year": year, "value": None if v is None else float(v),
                         "numerator": None, "denominator": None, "unit": ind.unit,
                         "data_through": None if v is None else min(date(year, 12, 31), DATA_THROUGH),
                         "suppressed": False})
    df = pd.DataFrame(rows)
    df["value"] = df["value"].astype("float64")
    for c in ("numerator", "denominator"):
        df[c] = df[c].astype("float64")
    return df


def _breakdown() -> pd.DataFrame:
    rows = []
    for year, split in ((2024, (2000, 300, 125)), (2025, (1100, 228, 100))):
        for category, value in zip(("folkeskole", "friskole", "privatskole"), split):
            rows.append(("elever_nsk", year, "skoletype", category, float(value), False))
    rows += [("borgersager", 2024, "risikoniveau", "hoej", 20.0, False),
             ("borgersager", 2024, "risikoniveau", "middel", None, True),
             ("borgersager", 2024, "risikoniveau", "lav", None, True)]
    return pd.DataFrame(rows, columns=[c.name for c in tables.INDICATOR_BREAKDOWN])


def make_warehouse(url: str, as_of: date = AS_OF) -> Warehouse:
    """A warehouse with every mart, the report view, quarantined rows and file loads."""
    registry = load_registry()
    _, goals = registry.to_frames()
    indicators = pd.DataFrame([{"indicator_id": i.id, "name": i.name, "definition": i.definition, "unit": i.unit,
                                "source": i.source, "aggregation": i.aggregation, "polarity": i.polarity}
                               for i in INDICATORS.values()])
    attainment = goal_attainment(registry, FakeEngine(as_of), MILESTONES, as_of, datetime(2026, 4, 15, 6, 30))
    yearly = _yearly()
    yearly = yearly[yearly["year"] <= as_of.year]
    quarterly = yearly.assign(quarter=4)[[c.name for c in tables.INDICATOR_QUARTERLY]]
    marts = Marts({"goal_attainment": attainment, "indicator_yearly": yearly, "indicator_quarterly": quarterly,
                   "indicator_breakdown": _breakdown(), "indicators": indicators, "goals": goals})
    wh = Warehouse(url)
    publish(wh, marts)
    e = reasons.entry
    quarantine = pd.DataFrame([
        ("vejlederlog", "vejlederlog_2025-01-10.csv", date(2025, 1, 10), 7, "r-7",
         [e("not_a_cpr", "cpr")], f'{{"cpr": "***", "x": "{FAKE_PSEUDONYM}"}}'),
        ("vejlederlog", "vejlederlog_2025-01-10.csv", date(2025, 1, 10), 9, "r-9",
         [e("code_not_allowed", "type", value="'borgrsag'", allowed="borgersag, henvendelse"),
          e("borgersag_needs_risk", "risikoniveau")], '{"cpr": "***"}'),
        ("skoleforloeb", "skoleforloeb_2025-01-05.csv", date(2025, 1, 5), 3, "buf | 17",
         [e("not_a_number", "antal_elever")], f'{{"note": "{FAKE_CPR}"}}'),
        ("skoleforloeb", "skoleforloeb_2025-01-05.csv", date(2025, 1, 5), 4, "buf | 18",
         [e("duplicate_key_same_export", key="buf | 18", export_date="2025-01-05", versions="a row 4, b row 4"),
          e("no_version_counts")], "{}"),
    ], columns=["source", "file_name", "export_date", "row_number", "record_key", "reason_codes", "row_data"])
    quarantine["reason_codes"] = [json.dumps(codes) for codes in quarantine["reason_codes"]]
    quarantine["reasons"] = [reasons.english(codes) for codes in quarantine["reason_codes"]]
    missing = reasons.file_reason("missing_required_column", column="'sted_type'")
    loads = pd.DataFrame([
        ("skoleforloeb", "skoleforloeb_2026-04-07.csv", date(2026, 4, 7), "loaded", None, None, None),
        ("vejlederlog", "vejlederlog_2026-04-07.csv", date(2026, 4, 7), "loaded", None, None, None),
        ("rettighedskurser", "rettighedskurser_2025-12-31.csv", date(2025, 12, 31), "loaded", None, None, None),
        ("rettighedskurser", "rettighedskurser_2026-02-01.csv", date(2026, 2, 1), "rejected",
         reasons.text(missing), missing["code"], json.dumps(missing["params"])),
        ("milepaele", "milepaele_2025-01-15.csv", date(2025, 1, 15), "loaded", None, None, None),
    ], columns=["source", "file_name", "export_date", "status", "reason", "reason_code", "reason_params"])
    with wh.transaction() as conn:
        q = wh.ensure_table(conn, "quarantine", "rejected_rows", tables.REJECTED_ROWS)
        wh.insert_frame(conn, q, quarantine.assign(run_id="test"))
        f = wh.ensure_table(conn, "meta", "file_loads", tables.FILE_LOADS)
        wh.insert_frame(conn, f, loads.assign(as_of=as_of, run_id="test"))
        create_report_view(conn)
    return wh


@pytest.fixture
def wh(duckdb_url):
    w = make_warehouse(duckdb_url)
    yield w
    w.dispose()


def _numeric_goals(data):
    return [g for g in data.goals if g.kind == "numeric"]


def goal_lines(goal, data) -> list[str]:
    """The sentences under a goal's status, as the templates write them (templates/sentences.j2)."""
    return str(environment("markdown").globals["say"].goal_lines(goal, data)).splitlines()


# --------------------------------------------------------------------------- formatting


def test_danish_number_format():
    assert fmt_number(2425) == "2.425"
    assert fmt_number(40.0, 1) == "40,0"
    assert fmt_number(1234567.25, 1) == "1.234.567,2" or fmt_number(1234567.25, 1) == "1.234.567,3"
    assert fmt_value(40.0, "pct") == "40,0 %"
    assert fmt_value(2425.0, "elever") == "2.425 elever"


def test_reason_labels_keep_column_and_rule_never_the_value():
    e = reasons.entry
    assert reason_label(e("code_not_allowed", "type", value="'borgrsag'", allowed="borgersag, henvendelse")) == (
        "type", "ikke en tilladt kode")
    assert reason_label(e("cpr_date_not_real", "cpr")) == ("cpr", "ugyldigt CPR-nummer")
    assert reason_label(e("still_counts", file="f.csv", row=3, export_date="2025-01-01")) is None
    assert reason_label(e("duplicate_key_same_export", key="a | 1", export_date="2025-01-01", versions="x"))[0] == (
        "(nøgle)")
    column, rule = reason_label(e("not_a_year", "aar", value="'1999x'"))
    assert column == "aar" and "1999x" not in rule


# --------------------------------------------------------------------------- data and rendering


def test_load_report_data_for_a_finished_year(wh):
    data = load_report_data(wh, "HP2024", 2024)
    assert data.as_of == AS_OF and not data.year_running
    ids = [g.goal_id for g in data.goals]
    assert ids == ["HP2024-B1", "HP2024-B2", "HP2024-B3", "HP2024-V1", "HP2024-V2", "HP2024-V3", "HP2024-V4",
                   "HP2024-V5", "HP2024-C1", "HP2024-C2", "HP2024-C3", "HP2024-C4"]
    by_id = {g.goal_id: g for g in data.goals}
    assert by_id["HP2024-B1"].status == "naaet" and by_id["HP2024-B1"].actual == 2425
    assert by_id["HP2024-V3"].status == "ikke_naaet"
    assert [p.value for p in by_id["HP2024-B1"].series] == [2425, None, None]  # later years not shown in 2024
    assert by_id["HP2024-C4"].period_open  # a plan goal's period runs to 2026


def test_html_is_laid_out_like_the_annex(wh):
    data = load_report_data(wh, "HP2024", 2024)
    page = render_html(data)
    assert page.index("1. Børn og unge") < page.index("2. Voksne") < page.index("3. Civilsamfund")
    for g in data.goals:
        assert f'id="goal-{g.goal_id}"' in page
    assert page.count("Målet er nået.") >= 8
    assert "Målet er ikke nået." in page
    assert "2.425 elever" in page and "121,3 %" in page
    assert "Afrapportering for 2024" in page
    assert "Opgjort pr. 15. april 2026" in page
    assert "Data til og med 31. december 2024" in page
    assert "Workshop med Nationalt Center mod Æresrelaterede Konflikter (MÆRK)." in page
    # one chart per numeric goal, each with a target line
    charts = re.findall(r"<svg class=\"chart\".*?</svg>", page, re.S)
    assert len(charts) == len(_numeric_goals(data))
    assert all('class="target-line"' in c for c in charts)


def test_html_is_self_contained_and_escaped(wh):
    page = render_html(load_report_data(wh, "HP2024", 2025))
    without_ns = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in without_ns and "https://" not in without_ns
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    assert "’fælles fagligt sprog’" in page  # text as the plan words it, escaped not mangled
    assert "&" not in re.sub(r"&(amp|lt|gt|quot|#x27|#39|#34);", "", page)  # markupsafe spells quotes #39, #34


def test_running_year_marks_forecasts(wh):
    data = load_report_data(wh, "HP2024", 2026)
    assert data.year_running
    page = render_html(data)
    assert 'id="year-running"' in page and "2026 er ikke afsluttet" in page
    b1 = next(g for g in data.goals if g.goal_id == "HP2024-B1")
    assert b1.status == "i_gang" and b1.forecast is not None
    # 700 pupils through 7 April (97 of 365 days): 700 * 365 / 97
    assert "Prognose for perioden til og med 31. december 2026: 2.634 elever" in page
    assert "(på baggrund af data til og med 7. april 2026)" in page
    assert 'class="forecast"' in page and "foreløbig" in page
    v3 = next(g for g in data.goals if g.goal_id == "HP2024-V3")
    assert v3.status == "ikke_opgjort" and "Indikatoren er ikke målt" in page
    assert "Ikke opgjort." in page
    # single-year goals of 2024 are named, not judged again
    assert "HP2024-B2 (gælder 2024)" in page


def test_data_quality_shows_counts_by_source_and_rule_only(wh):
    data = load_report_data(wh, "HP2024", 2025)
    page, md = render_html(data), render_markdown(data)
    for text in (page, md):
        assert "Datakvalitet" in text
        assert "ikke en tilladt kode" in text and "en borgersag kræver et risikoniveau" in text
        assert "forskellige værdier i versioner med samme eksportdato" in text
        assert "rettighedskurser_2026-02-01.csv" in text  # the rejected file, and why in Danish
        assert "mangler den krævede kolonne &#39;sted_type&#39;" in text or (
            "mangler den krævede kolonne 'sted_type'" in text)
        assert "missing required" not in text
        assert "Forældet" in text  # milepaele: newest export January 2025
        assert FAKE_CPR not in text and FAKE_PSEUDONYM not in text and "borgrsag" not in text
    assert data.quarantined_rows_by_source == {"skoleforloeb": 2, "vejlederlog": 2}
    assert {s["source"]: s["stale"] for s in data.sources} == {
        "skoleforloeb": False, "vejlederlog": False, "rettighedskurser": True, "milepaele": True}


def test_markdown_version(wh):
    data = load_report_data(wh, "HP2024", 2024)
    md = render_markdown(data)
    assert md.startswith("# Status på handleplanens mål: afrapportering for 2024")
    for heading in ("## 1. Børn og unge", "## 2. Voksne", "## 3. Civilsamfund", "## Datakvalitet"):
        assert heading in md
    for g in data.goals:
        assert f"### {g.goal_id}" in md
    assert "**Målet er nået.**" in md and "**Målet er ikke nået.**" in md
    assert "| 2024 | 2.425 elever | 2.000 elever |" in md


def test_older_plan_with_period_goals(wh):
    data = load_report_data(wh, "IHP2017", 2018)
    page = render_html(data)
    assert "4. Tværgående" in page
    b = next(g for g in data.goals if g.goal_id == "IHP2017-1")
    assert b.actual == 2300 and b.status == "naaet"  # cumulative 2017-18
    assert "Resultat 2017–2018 samlet: 2.300 elever" in page
    assert next(g for g in data.goals if g.goal_id == "IHP2017-6").status == "ikke_opgjort"


def test_unknown_plan_and_year(wh):
    with pytest.raises(ReportError, match="ukendt plan"):
        load_report_data(wh, "NOPE", 2024)
    with pytest.raises(ReportError, match="uden for plan"):
        load_report_data(wh, "HP2024", 2030)


def test_write_report_and_cli(wh, tmp_path, duckdb_url, capsys):
    html_path, md_path, docx_path = write_report(wh, "HP2024", 2024, tmp_path / "out")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert md_path.suffix == ".md" and md_path.exists()
    assert docx_path.suffix == ".docx" and docx_path.read_bytes()[:2] == b"PK"
    wh.dispose()
    rc = report_cli(SimpleNamespace(plan="HP2024", year=2025, out=str(tmp_path / "cli")))
    assert rc == 0
    for suffix in ("html", "md", "docx"):
        assert (tmp_path / "cli" / f"nsk-status-HP2024-2025.{suffix}").exists()
    assert report_cli(SimpleNamespace(plan="HP2024", year=2031, out=str(tmp_path / "cli"))) == 2


def test_report_view_columns(wh):
    df = wh.read_sql('SELECT * FROM marts.goal_attainment_report WHERE "Plan-id" = \'HP2024\' AND "År" = 2024')
    assert list(df.columns) == [label for label, _, _ in VIEW_COLUMNS]
    row = df[df["Mål-id"] == "HP2024-B1"].iloc[0]
    assert row["Spor"] == "1. Børn og unge" and row["Status"] == "Målet er nået"
    assert float(row["Opfyldelse (%)"]) == pytest.approx(121.3)
    assert row["Plan"].startswith("Handleplan")


@pytest.mark.postgres
def test_report_on_postgres(postgres_url):
    w = make_warehouse(postgres_url)
    try:
        data = load_report_data(w, "HP2024", 2026)
        assert "Målet er nået." in render_html(data)
        df = w.read_sql('SELECT "Mål-id", "Opfyldelse (%)", "På vej mod målet" FROM marts.goal_attainment_report '
                        'WHERE "År" = 2026 ORDER BY "Mål-id"')
        assert len(df) and "HP2024-B1" in set(df["Mål-id"])
    finally:
        w.dispose()


# --------------------------------------------------------------------------- in a browser

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_DIR = Path(os.environ.get("NSK_REPORT_SCREENSHOT_DIR", "")) if os.environ.get(
    "NSK_REPORT_SCREENSHOT_DIR") else None


def _chromium(args: list[str], user_data: Path, timeout: int = 90) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={user_data}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _console_errors(stderr: str) -> list[str]:
    """Console messages and failed loads the page caused (not Chromium's own start-up noise)."""
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Failed to load resource" in line or "Uncaught" in line
            or "net::ERR_" in line]


@pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                    reason="Debian's chromium is not installed (in CI it must be)")
def test_report_renders_in_headless_chromium(wh, tmp_path):
    assert Path(CHROMIUM).exists(), "CI needs Debian's chromium: apt-get install -y chromium"
    html_path = write_report(wh, "HP2024", 2026, tmp_path / "report").html
    data = load_report_data(wh, "HP2024", 2026)
    url = html_path.resolve().as_uri()

    dom = _chromium(["--dump-dom", url], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "<main>" in page and "Datakvalitet" in page
    for g in data.goals:
        assert f'id="goal-{g.goal_id}"' in page
        assert g.goal_text.replace("&", "&amp;")[:40] in page
    charts = re.findall(r"<svg class=\"chart\" data-goal-id=\"([^\"]+)\".*?</svg>", page, re.S)
    assert sorted(charts) == sorted(g.goal_id for g in _numeric_goals(data))
    for svg in re.findall(r"<svg class=\"chart\".*?</svg>", page, re.S):
        assert 'class="target-line"' in svg and "<rect" in svg
    assert _console_errors(dom.stderr) == []

    shot_dir = SCREENSHOT_DIR or tmp_path
    shot_dir.mkdir(parents=True, exist_ok=True)
    png = shot_dir / "report-HP2024-2026.png"
    shot = _chromium([f"--screenshot={png}", "--window-size=1280,4000", "--hide-scrollbars", url],
                     tmp_path / "profile-shot")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.exists() and png.stat().st_size > 20_000  # a drawn page, not a blank one
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _console_errors(shot.stderr) == []
    print(f"screenshot: {png}")  # kept: NSK_REPORT_SCREENSHOT_DIR keeps it beyond the test's tmp_path


# --------------------------------------------------------------------------- Word


def _docx_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    from docx import Document

    doc = Document(str(path))
    table = doc.tables[0]
    rows = [[c.text for c in r.cells] for r in table.rows]
    return rows[0], rows[1:]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


BAR, TARGET = _rgb("#2f5d8a"), _rgb("#c0392b")


def test_chart_png_draws_the_bars_and_the_target_line(wh):
    from PIL import Image

    b1 = next(g for g in load_report_data(wh, "HP2024", 2025).goals if g.goal_id == "HP2024-B1")
    img = Image.open(io.BytesIO(chart_png(b1))).convert("RGB")
    colours = {c for _, c in img.getcolors(maxcolors=1 << 20)}
    assert BAR in colours and TARGET in colours

    bars = [r for r in chart_model(b1).rects if r.cls == "bar"]  # 2024, 2025: where the model puts them

    def bar_top(i: int) -> int:
        x = round((bars[i].x + bars[i].w / 2) * SCALE)
        return min(y for y in range(img.height) if img.getpixel((x, y)) == BAR)

    red = sorted(y for y in range(img.height) for x in range(0, img.width, 7) if img.getpixel((x, y)) == TARGET)
    target_y = red[len(red) // 2]
    # the target (2.000 pupils) lies between the 2024 bar (2.425) and the 2025 bar (1.428)
    assert bar_top(0) < target_y < bar_top(1)


def test_docx_holds_every_goal_status_sentence_and_figure(wh, tmp_path):
    from docx import Document

    first_lines = set()
    for year in (2024, 2026):
        data = load_report_data(wh, "HP2024", year)
        path = write_report(wh, "HP2024", year, tmp_path).docx
        header, rows = _docx_rows(path)
        first_lines |= {r[2].split("\n")[0] for r in rows}
        assert [h.strip() for h in header] == ["Målgruppe", "Mål", f"Afrapportering for {year}"]
        assert len(rows) == len(data.goals)
        for g, (spor, goal, report) in zip(data.goals, rows):
            assert g.goal_text in goal and g.goal_id in goal
            assert report.startswith(f"{g.status_text}.")
            for line in goal_lines(g, data):  # the figures: result, target, share, data through, forecast
                assert line in report, (g.goal_id, line)
        spor_cells = [r[0] for r in rows if r[0]]
        assert spor_cells == ["1. Børn og unge", "2. Voksne", "3. Civilsamfund"]
        doc = Document(str(path))
        assert len(doc.inline_shapes) == len([g for g in data.goals if g.kind == "numeric" and g.series])
        xml = "".join(p.text for p in doc.paragraphs)
        assert "Datakvalitet" in xml and "ikke en tilladt kode" in xml
        raw = path.read_bytes()
        assert FAKE_CPR.encode() not in raw and FAKE_PSEUDONYM.encode() not in raw
    assert {"Målet er nået.", "Målet er ikke nået.", "I gang. (foreløbig)"} <= first_lines


def _custom_template(path: Path) -> Path:
    from docx import Document

    doc = Document()
    doc.add_heading("Borgerrådgiverens egen skabelon {{ data.year }}", level=1)
    doc.add_paragraph("{%p for g in data.goals %}")
    doc.add_paragraph("{{ g.goal_id }}: {{ g.status_text }}.")
    doc.add_paragraph("{%p endfor %}")
    doc.save(path)
    return path


def test_a_municipality_template_is_used(wh, tmp_path, monkeypatch, capsys):
    from docx import Document

    template = _custom_template(tmp_path / "egen.docx")
    data = load_report_data(wh, "HP2024", 2024)
    path = write_report(wh, "HP2024", 2024, tmp_path / "a", docx_template=template).docx
    texts = [p.text for p in Document(str(path)).paragraphs]
    assert texts[0] == "Borgerrådgiverens egen skabelon 2024"
    assert texts[1:] == [f"{g.goal_id}: {g.status_text}." for g in data.goals]
    wh.dispose()
    # from the setting, through `nsk report`
    monkeypatch.setenv("NSK_REPORT_DOCX_TEMPLATE", str(template))
    assert report_cli(SimpleNamespace(plan="HP2024", year=2024, out=str(tmp_path / "b"))) == 0
    doc = Document(str(tmp_path / "b" / "nsk-status-HP2024-2024.docx"))
    assert doc.paragraphs[0].text == "Borgerrådgiverens egen skabelon 2024"
    # the option wins over the setting
    assert report_cli(SimpleNamespace(plan="HP2024", year=2024, out=str(tmp_path / "d"),
                                      docx_template=str(template))) == 0


def _docx_with(path: Path, text: str) -> Path:
    from docx import Document

    doc = Document()
    doc.add_paragraph(text)
    doc.save(path)
    return path


@pytest.mark.parametrize("name, content, named", [
    ("mangler.docx", None, ["NSK_REPORT_DOCX_TEMPLATE"]),  # not there
    ("broken.docx", "{{ data.year ", ["TemplateSyntaxError"]),  # a broken tag
    ("misspelt.docx", "{{ data.yeer }}", ["yeer"]),  # a name the data model does not have
])
def test_a_bad_municipality_template_exits_2_in_one_line_and_writes_nothing(wh, tmp_path, monkeypatch, capsys,
                                                                            name, content, named):
    wh.dispose()  # `nsk report` opens the warehouse itself, read-only
    template = tmp_path / name if content is None else _docx_with(tmp_path / name, content)
    monkeypatch.setenv("NSK_REPORT_DOCX_TEMPLATE", str(template))
    assert report_cli(SimpleNamespace(plan="HP2024", year=2024, out=str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and all(word in err for word in [name, *named]), err
    assert not list((tmp_path / "out").glob("*"))


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(not SOFFICE and not os.environ.get("CI"),
                    reason="LibreOffice is not installed (in CI it must be: libreoffice-writer-nogui)")
def test_docx_renders_in_libreoffice(wh, tmp_path):
    from PIL import Image

    assert SOFFICE, "CI needs Debian's libreoffice-writer-nogui and poppler-utils (scripts/test.sh installs them)"
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), "CI needs poppler-utils"
    docx_path = write_report(wh, "HP2024", 2024, tmp_path / "report").docx
    data = load_report_data(wh, "HP2024", 2024)
    run = subprocess.run([SOFFICE, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless",
                          "--convert-to", "pdf", "--outdir", str(tmp_path), str(docx_path)],
                         capture_output=True, text=True, timeout=120)
    pdf = tmp_path / f"{docx_path.stem}.pdf"
    assert run.returncode == 0 and pdf.exists(), run.stderr[-2000:]
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Målet er nået." in text and "Målet er ikke nået." in text
    assert "Målgruppe" in text and "Afrapportering for 2024" in text
    assert "2.425 elever" in text  # B1's figure
    # Writer has no PNG export without a display; poppler draws the PDF's first page
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 20_000
    img = Image.open(png).convert("RGB")
    colours = dict((c, n) for n, c in img.getcolors(maxcolors=1 << 22))
    assert colours.get((255, 255, 255), 0) < img.width * img.height * 0.97  # not a blank page
    # the first goal's chart is on the first page: its bars, in the chart's colour
    # (within a few units: the PDF re-encodes the image; Word's heading blue is 16 units away)
    bar_pixels = sum(n for c, n in colours.items() if sum(abs(a - b) for a, b in zip(c, BAR)) <= 6)
    assert bar_pixels > 1000, bar_pixels
    assert len(data.goals) >= 10
    if SCREENSHOT_DIR:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, SCREENSHOT_DIR / "report-HP2024-2024-docx-page1.png")


def test_a_missing_word_template_stops_a_run_before_it_starts(tmp_path):
    from nsk_pipeline.core.settings import Settings, SettingsError

    (tmp_path / "raw" / "skoleforloeb").mkdir(parents=True)
    env = {"NSK_RAW_DIR": str(tmp_path / "raw"), "NSK_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}",
           "NSK_REPORT_DOCX_TEMPLATE": str(tmp_path / "mangler.docx")}
    with pytest.raises(SettingsError, match=r"^NSK_REPORT_DOCX_TEMPLATE: .*mangler\.docx does not exist"):
        Settings.from_env(env).check()
    _custom_template(tmp_path / "mangler.docx")
    Settings.from_env(env).check()
