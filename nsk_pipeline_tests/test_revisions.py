"""Revisions: every publication keeps what it published, and `nsk changes` says what changed and why.

The demo as of 2025-03-01 is published; then a correction export arrives (a course moved from 2024
to 2025, a counsellor-log registration given another risk level, CPR number and all) and the
refresh publishes. The history holds the
old and the new values, `nsk changes` and `marts.revisions` name them and the correcting files,
and the report's section shows them; none of it shows a CPR number or a pseudonym.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from nsk_pipeline.cli import main
from nsk_pipeline.core import tables
from nsk_pipeline.core.settings import COPENHAGEN
from nsk_pipeline.core.faults import InjectedFault
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.marts.build import Marts, publish
from nsk_pipeline.marts.revisions import publications
from nsk_pipeline_tests.raw_files import read_table
from nsk_pipeline_tests.conftest import DEMO_RAW, isolated_environ, require_postgres

AS_OF = "2025-03-01"
COURSE_FILE = "rettighedskurser_rettelse_2025-02-20.csv"
LOG_FILE = "vejlederlog_rettelse_2025-02-21.csv"


@contextmanager
def environment(env: dict[str, str]):
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def correct_a_registration(raw: Path) -> tuple[str, str]:
    """A counsellor-log correction: a 2024 case of low or medium risk becomes high risk (every
    other value as delivered, the CPR number too). Returns (registration id, CPR number)."""
    latest = raw / "vejlederlog" / "vejlederlog_2025-02-03.csv"
    frame = read_table(latest).frame
    lower = frame.apply(lambda c: c.astype(str).str.strip().str.lower())
    pick = frame[(lower["type"] == "borgersag") & lower["risikoniveau"].isin(["lav", "middel"])
                 & (lower["status"] != "annulleret") & lower["oprettet"].str.startswith("2024")].iloc[0]
    row = pick.where(pick.notna(), "").to_dict()
    row["risikoniveau"] = "hoej"
    with (raw / "vejlederlog" / LOG_FILE).open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(frame.columns))
        writer.writeheader()
        writer.writerow(row)
    return str(row["registrering_id"]), str(row["cpr"])


@dataclass
class Demo:
    url: str
    env: dict[str, str]
    reports: Path
    first: str  # publication ids
    second: str
    registration: str
    cpr: str


def history_counts(url: str) -> dict[str, int]:
    wh = Warehouse(url)
    try:
        names = [f"marts.{name}" for name, _ in tables.HISTORY.values()] + ["meta.file_loads_history"]
        return {n: int(wh.read_sql(f"SELECT count(*) AS n FROM {n}")["n"].iloc[0]) for n in names}
    finally:
        wh.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    folder = tmp_path_factory.mktemp("revisions")
    raw = folder / "raw"
    shutil.copytree(DEMO_RAW, raw)
    url = f"duckdb:///{folder / 'warehouse.duckdb'}"
    env = {**isolated_environ(folder), "NSK_RAW_DIR": str(raw), "NSK_WAREHOUSE_URL": url, "NSK_AS_OF": AS_OF}
    with environment(env):
        assert main(["materialize", "--log-level", "ERROR"]) == 0
        # The correction: RK24-02 (17-06-2024) moved to 10-01-2025.
        (raw / "rettighedskurser" / COURSE_FILE).write_text(
            "kursus_id;dato;sted_type;sted;deltagere;status\n"
            "RK24-02;10-01-2025;jobcenter;Jobcenter København;18;gennemfoert\n", encoding="utf-8")
        registration, cpr = correct_a_registration(raw)
        assert main(["materialize", "--log-level", "ERROR"]) == 0
    wh = Warehouse(url)
    try:
        pubs = publications(wh)
    finally:
        wh.dispose()
    assert len(pubs) == 2
    return Demo(url, env, folder / "reports", pubs[0].publication_id, pubs[1].publication_id, registration, cpr)


@pytest.fixture
def in_demo(demo, monkeypatch):
    monkeypatch.setenv("NSK_WAREHOUSE_URL", demo.url)
    monkeypatch.setenv("NSK_AS_OF", AS_OF)
    return demo


def read(url: str, sql: str, **params) -> pd.DataFrame:
    wh = Warehouse(url)
    try:
        return wh.read_sql(sql, **params)
    finally:
        wh.dispose()


def by_publication(url: str, table: str, key: str, ident: str, year: int, column: str) -> dict[str, float]:
    df = read(url, f"SELECT publication_id, {column} FROM marts.{table} WHERE {key} = :i AND year = :y",
              i=ident, y=year)
    return dict(zip(df["publication_id"], df[column].astype(float)))


def pseudonyms(url: str) -> list[str]:
    return read(url, "SELECT DISTINCT borger_pseudonym FROM staging.vejlederlog "
                     "WHERE borger_pseudonym IS NOT NULL")["borger_pseudonym"].tolist()


def assert_no_person(text: str, demo: Demo) -> None:
    digits = re.sub(r"\D", "", demo.cpr)
    assert len(digits) == 10
    assert digits not in text and f"{digits[:6]}-{digits[6:]}" not in text
    leaked = [p for p in pseudonyms(demo.url) if p in text]
    assert not leaked, f"{len(leaked)} pseudonyms in the output"


# --------------------------------------------------------------------------- history


def test_the_history_holds_the_old_and_the_new_value(demo):
    courses_2024 = by_publication(demo.url, "indicator_yearly_history", "indicator_id", "rettighedskurser", 2024,
                                  "value")
    courses_2025 = by_publication(demo.url, "indicator_yearly_history", "indicator_id", "rettighedskurser", 2025,
                                  "value")
    assert courses_2024[demo.second] == courses_2024[demo.first] - 1  # RK24-02 left 2024 ...
    assert courses_2025[demo.second] == courses_2025[demo.first] + 1  # ... for 2025
    goal = by_publication(demo.url, "goal_attainment_history", "goal_id", "HP2024-V3", 2024, "actual")
    assert goal == courses_2024  # the goal counts the courses
    high_risk = by_publication(demo.url, "indicator_yearly_history", "indicator_id", "borgersager_hoej_risiko",
                               2024, "value")
    assert high_risk[demo.second] == high_risk[demo.first] + 1
    # One copy of each published row per publication, with the publication's as-of date.
    for mart, (name, _) in tables.HISTORY.items():
        counts = read(demo.url, f"SELECT publication_id, as_of, count(*) AS n FROM marts.{name} "
                                f"GROUP BY publication_id, as_of")
        assert set(counts["publication_id"]) == {demo.first, demo.second}
        assert {str(d)[:10] for d in counts["as_of"]} == {AS_OF}
        published = int(read(demo.url, f"SELECT count(*) AS n FROM marts.{mart}")["n"].iloc[0])
        assert set(counts["n"]) == {published}
    current = read(demo.url, "SELECT value FROM marts.indicator_yearly WHERE indicator_id = 'rettighedskurser' "
                             "AND year = 2024")["value"].iloc[0]
    assert current == courses_2024[demo.second]


def test_a_publication_failing_after_its_history_appends_nothing(warehouse_url, monkeypatch):
    """On both backends, in process (test_reliability kills `nsk materialize` at the same point)."""
    from nsk_pipeline_tests.test_report import make_warehouse

    wh = make_warehouse(warehouse_url)
    try:
        before = history_counts(warehouse_url)
        marts = Marts({name: wh.read_table("marts", name) for name in tables.MARTS})
        monkeypatch.setenv("NSK_FAULT", "publish:history:error")
        with pytest.raises(InjectedFault):
            publish(wh, marts, "the-failed-run")
        monkeypatch.delenv("NSK_FAULT")
        assert history_counts(warehouse_url) == before
        assert [p.publication_id for p in publications(wh)][-1] != "the-failed-run"
        assert publish(wh, marts, "the-next-run") == "the-next-run"
        after = history_counts(warehouse_url)
        assert after["marts.goal_attainment_history"] == 2 * before["marts.goal_attainment_history"]
        assert publications(wh)[-1].publication_id == "the-next-run"
    finally:
        wh.dispose()


# --------------------------------------------------------------------------- nsk changes


def test_nsk_changes_names_the_changed_figures_and_the_correcting_files(in_demo, capsys):
    assert main(["changes"]) == 0
    out = capsys.readouterr().out
    assert in_demo.first in out and in_demo.second in out
    lines = out.splitlines()
    goal = next(line for line in lines if line.strip().startswith("HP2024-V3") and " 2024 " in line)
    courses = read(in_demo.url, "SELECT value FROM marts.indicator_yearly_history WHERE indicator_id = "
                                "'rettighedskurser' AND year = 2024 ORDER BY published_at")["value"].tolist()
    assert f"{courses[0]:g} → {courses[1]:g}" in goal
    assert any(line.strip().startswith("rettighedskurser ") for line in lines)
    course_line = next(line for line in lines if COURSE_FILE in line)
    assert "rettighedskurser/" in course_line and "RK24-02 (dato, sted)" in course_line
    log_line = next(line for line in lines if LOG_FILE in line)
    assert f"{in_demo.registration} (risikoniveau)" in log_line
    assert_no_person(out, in_demo)


def test_nsk_changes_json(in_demo, capsys):
    assert main(["changes", "--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["from"]["publication_id"] == in_demo.first and doc["to"]["publication_id"] == in_demo.second
    changes = {(c["kind"], c["id"], c["year"]): c for c in doc["changes"]}
    courses = changes[("indicator", "rettighedskurser", 2024)]
    assert courses["change"] == "revised" and courses["new_value"] == courses["old_value"] - 1
    assert changes[("goal", "HP2024-V3", 2024)]["new_value"] == courses["new_value"]
    assert {c["change"] for c in doc["changes"]} == {"revised"}  # same as-of date: no year begins or ends
    files = {d["file_name"]: d for d in doc["deliveries"]}
    assert set(files) == {COURSE_FILE, LOG_FILE}  # nothing else was delivered in between
    assert files[COURSE_FILE]["corrected_records"] == [
        {"key": "RK24-02", "changed_columns": ["dato", "sted"], "counts_now": True}]
    assert files[LOG_FILE]["corrected_records"] == [
        {"key": in_demo.registration, "changed_columns": ["risikoniveau"], "counts_now": True}]
    assert_no_person(out, in_demo)


def test_nsk_changes_between_two_runs_and_since_a_date(in_demo, capsys):
    assert main(["changes", "--between", in_demo.second, in_demo.first, "--json"]) == 0
    backwards = json.loads(capsys.readouterr().out)
    assert backwards["from"]["publication_id"] == in_demo.second
    courses = next(c for c in backwards["changes"] if (c["id"], c["year"]) == ("rettighedskurser", 2024))
    assert courses["old_value"] == courses["new_value"] - 1
    assert {d["change"] for d in backwards["deliveries"]} == {"removed"}  # the correction is not in the first
    assert main(["changes", "--between", in_demo.first, "no-such-run"]) == 2
    assert "no publication with run id no-such-run" in capsys.readouterr().err
    # Both publications happened today: nothing was published before today, the latest was since.
    today = datetime.now(COPENHAGEN).date().isoformat()
    assert main(["changes", "--since", today]) == 0
    assert "no publication before" in capsys.readouterr().out
    assert main(["changes", "--since", "2999-01-01"]) == 0
    assert "nothing was published since 2999-01-01" in capsys.readouterr().out
    assert main(["changes", "--since", "01-03-2025"]) == 2
    assert "--since" in capsys.readouterr().err


def test_nsk_changes_with_fewer_than_two_publications(duckdb_url, monkeypatch, capsys):
    from nsk_pipeline_tests.test_report import make_warehouse

    monkeypatch.setenv("NSK_WAREHOUSE_URL", duckdb_url)
    assert main(["changes"]) == 0
    assert "no publication of the marts is recorded yet" in capsys.readouterr().out
    make_warehouse(duckdb_url).dispose()
    assert main(["changes"]) == 0
    assert "only one publication is recorded" in capsys.readouterr().out
    assert main(["changes", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["from"] is None and doc["changes"] == [] and "only one publication" in doc["message"]


def test_the_deliveries_between_two_publications_and_the_records_they_corrected(warehouse_url):
    """On both backends: a file new in the second publication, a file gone, a file re-sent with other
    content; a record is corrected only when its content differs from its version in an earlier export."""
    from datetime import date

    from nsk_pipeline.marts.revisions import deliveries
    from nsk_pipeline.sources.assets import staging_columns
    from nsk_pipeline.sources.specs import SOURCES

    wh = Warehouse(warehouse_url)
    rows = pd.DataFrame([
        # kursus_id, dato, sted_type, sted, deltagere, status, export_date, source_file, source_row, er_gaeldende
        ("RK1", date(2024, 6, 1), "jobcenter", "A", 10, "gennemfoert", date(2025, 1, 15), "k_2025-01-15.csv", 2, False),
        (" rk1", date(2025, 1, 9), "jobcenter", "A", 10, "gennemfoert", date(2025, 2, 20), "k_2025-02-20.csv", 2, True),
        ("RK2", date(2025, 2, 1), "jobcenter", "B", 5, "gennemfoert", date(2025, 2, 20), "k_2025-02-20.csv", 3, True),
        ("RK3", date(2024, 3, 1), "civilsamfund", "C", 7, "aflyst", date(2025, 1, 15), "k_2025-01-15.csv", 3, False),
        ("RK3", date(2024, 3, 1), "civilsamfund", "C", 7, "aflyst", date(2025, 2, 20), "k_2025-02-20.csv", 4, True),
        ("RK4", date(2024, 4, 1), "jobcenter", "D", 3, "gennemfoert", date(2025, 1, 15), "k_2025-01-15.csv", 4, False),
        ("RK4", date(2024, 4, 1), "jobcenter", "D", 4, "gennemfoert", date(2025, 2, 1), "k_2025-02-01.csv", 2, True),
    ], columns=[c.name for c in staging_columns(SOURCES["rettighedskurser"])])
    loads = pd.DataFrame([
        ("p1", "k_2025-01-15.csv", date(2025, 1, 15), "a" * 64, "loaded", 3),
        ("p1", "k_2025-02-01.csv", date(2025, 2, 1), "b" * 64, "loaded", 1),
        ("p1", "k_gone_2024-12-01.csv", date(2024, 12, 1), "c" * 64, "loaded", 1),
        ("p1", "k_2025-02-20.csv", date(2025, 2, 20), None, "after_as_of", 0),
        ("p2", "k_2025-01-15.csv", date(2025, 1, 15), "a" * 64, "loaded", 3),
        ("p2", "k_2025-02-01.csv", date(2025, 2, 1), "d" * 64, "loaded", 1),
        ("p2", "k_2025-02-20.csv", date(2025, 2, 20), "e" * 64, "loaded", 3),
        ("p2", "k_rejected_2025-02-21.csv", date(2025, 2, 21), "f" * 64, "rejected", 0),
    ], columns=["publication_id", "file_name", "export_date", "sha256", "status", "rows_staged"])
    try:
        with wh.transaction() as conn:
            wh.ensure_schemas(conn)
            staged = wh.ensure_table(conn, "staging", "rettighedskurser", staging_columns(SOURCES["rettighedskurser"]))
            wh.insert_frame(conn, staged, rows)
            history = wh.ensure_table(conn, "meta", "file_loads_history", tables.FILE_LOADS_HISTORY)
            wh.insert_frame(conn, history, loads.assign(source="rettighedskurser"))
        found = {d.file_name: d for d in deliveries(wh, "p1", "p2")}
    finally:
        wh.dispose()
    assert {name: d.change for name, d in found.items()} == {
        "k_2025-02-01.csv": "changed", "k_2025-02-20.csv": "new", "k_gone_2024-12-01.csv": "removed"}
    # RK1 moved (its key spelt otherwise: the same record); RK2 is new, RK3 re-sent unchanged.
    assert found["k_2025-02-20.csv"].corrected == [{"key": " rk1", "changed_columns": ["dato"], "counts_now": True}]
    assert found["k_2025-02-01.csv"].corrected == [{"key": "RK4", "changed_columns": ["deltagere"],
                                                    "counts_now": True}]
    assert found["k_gone_2024-12-01.csv"].corrected == []


# --------------------------------------------------------------------------- the view and the report


def test_marts_revisions_lists_each_changed_row_of_consecutive_publications(demo):
    view = read(demo.url, "SELECT * FROM marts.revisions")
    assert set(view["old_publication_id"]) == {demo.first} and set(view["new_publication_id"]) == {demo.second}
    assert set(view["change"]) == {"revised"}
    for r in view.itertuples():
        assert r.old_value != r.new_value or r.old_status != r.new_status
    rows = {(r.kind, r.id, int(r.year)): r for r in view.itertuples()}
    courses = rows[("indicator", "rettighedskurser", 2024)]
    assert courses.new_value == courses.old_value - 1
    assert ("indicator", "borgersager_hoej_risiko", 2024) in rows
    assert ("goal", "HP2024-V3", 2024) in rows
    # Every changed row is there: the view is the diff of the two publications' history rows.
    old = read(demo.url, "SELECT indicator_id, year, value FROM marts.indicator_yearly_history "
                         "WHERE publication_id = :p", p=demo.first)
    new = read(demo.url, "SELECT indicator_id, year, value FROM marts.indicator_yearly_history "
                         "WHERE publication_id = :p", p=demo.second)
    both = old.merge(new, on=["indicator_id", "year"], suffixes=("_old", "_new"))
    differ = both[both["value_old"].fillna(-1) != both["value_new"].fillna(-1)]
    assert {("indicator", i, int(y)) for i, y in zip(differ["indicator_id"], differ["year"])} == \
        {k for k in rows if k[0] == "indicator"}
    assert_no_person(view.to_csv(), demo)


def test_the_report_shows_what_changed_since_the_last_report(demo):
    html_text = (demo.reports / "nsk-status-HP2024-2024.html").read_text(encoding="utf-8")
    md_text = (demo.reports / "nsk-status-HP2024-2024.md").read_text(encoding="utf-8")
    courses = read(demo.url, "SELECT value FROM marts.indicator_yearly_history WHERE indicator_id = "
                             "'rettighedskurser' AND year = 2024 ORDER BY published_at")["value"].tolist()
    for text in (html_text, md_text):
        assert "Ændringer siden sidste opgørelse" in text
        assert "forrige publicering" in text  # the rule, said in the report
        assert COURSE_FILE.replace("_", "\\_") in text or COURSE_FILE in text
        assert_no_person(text, demo)
    row = next(line for line in md_text.splitlines() if line.startswith("| HP2024-V3 (mål) | 2024 |"))
    assert f"| {courses[0]:g} kurser | {courses[1]:g} kurser |" in row
    section = html_text[html_text.index('<section id="aendringer">'):html_text.index('<section id="datakvalitet">')]
    assert "HP2024-V3 (mål)" in section and LOG_FILE in section and "retter 1 post" in section
    assert demo.registration not in section  # the committee sees files and counts, not record ids


def test_the_reports_step_compares_the_publications_once_for_all_its_reports(demo, monkeypatch, tmp_path):
    """The deliveries' corrected records are a window over staged rows: at 1 M rows, computed
    once per report (one per plan and year) they made a refresh's report step 10× a full run's."""
    import dagster as dg

    from nsk_pipeline.core.settings import Settings
    from nsk_pipeline.definitions import ASSETS, build_definitions
    from nsk_pipeline.marts import revisions

    calls = []
    counted = revisions.deliveries
    monkeypatch.setattr(revisions, "deliveries", lambda *a, **k: calls.append(a) or counted(*a, **k))
    with environment({**demo.env, "NSK_REPORTS_DIR": str(tmp_path)}):
        defs = build_definitions(Settings.from_env())
        result = dg.materialize(ASSETS, selection=dg.AssetSelection.assets(dg.AssetKey(["reports", "status"])),
                                resources=defs.resources, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert len(list(tmp_path.glob("nsk-status-*.md"))) > 1  # several reports ...
    assert len(calls) == 1  # ... one comparison


def test_the_report_says_when_there_is_nothing_to_compare(duckdb_url):
    from nsk_pipeline.reports.render import load_report_data, render_markdown
    from nsk_pipeline_tests.test_report import make_warehouse

    wh = make_warehouse(duckdb_url)
    try:
        md = render_markdown(load_report_data(wh, "HP2024", 2025))
    finally:
        wh.dispose()
    section = md[md.index("## Ændringer siden sidste opgørelse"):md.index("## Datakvalitet")]
    assert "ingen tidligere publicering" in section


def test_the_analyst_reads_the_revisions(monkeypatch, capsys):
    """PostgreSQL: the analyst role reads the view and the history, not the file loads' history."""
    require_postgres()
    import uuid

    from nsk_pipeline_tests.conftest import create_database, database_url, drop_database
    from nsk_pipeline_tests.test_report import make_warehouse

    name = create_database()
    role = f"nsk_analyst_{uuid.uuid4().hex[:8]}"
    url = database_url(name)
    wh = make_warehouse(url)
    try:
        marts = Marts({n: wh.read_table("marts", n) for n in tables.MARTS})
        yearly = marts["indicator_yearly"]
        changed = yearly["value"].first_valid_index()
        yearly.loc[changed, "value"] += 1
        publish(wh, marts, "second")
        monkeypatch.setenv("NSK_WAREHOUSE_URL", url)
        monkeypatch.setenv("NSK_ANALYST_PASSWORD", "s3cret-for-test")
        assert main(["analyst-role", role]) == 0
        capsys.readouterr()
        analyst = sa.create_engine(f"postgresql+psycopg://{role}:s3cret-for-test@127.0.0.1:5432/{name}")
        try:
            with analyst.connect() as conn:
                rows = conn.execute(sa.text("SELECT kind, id, year, change FROM marts.revisions")).fetchall()
                assert rows == [("indicator", yearly.loc[changed, "indicator_id"], int(yearly.loc[changed, "year"]),
                                 "revised")]
                assert conn.execute(sa.text("SELECT count(*) FROM marts.goal_attainment_history")).scalar() > 0
            assert main(["changes", "--json"]) == 0  # and the command runs on PostgreSQL
            doc = json.loads(capsys.readouterr().out)
            assert [(c["id"], c["year"]) for c in doc["changes"]] == [(rows[0][1], rows[0][2])]
            with analyst.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text("SELECT * FROM meta.file_loads_history"))
        finally:
            analyst.dispose()
    finally:
        with wh.transaction() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        wh.dispose()
        drop_database(name)
