"""`nsk explain` and the `explain` views: the records behind a number add up to the mart's value.

One demo run (with a correction that moves a course into the next year and an export dated after
the as-of date) is shared by the module; each test reads it.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import date

import pytest
import sqlalchemy as sa

from nsk_pipeline.cli import main
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.marts.explain import ExplainError, explain_goal, explain_indicator
from nsk_pipeline.indicators.registry import INDICATORS
from nsk_pipeline_tests.conftest import (DEMO_RAW, TEST_KEY, create_database, database_url, drop_database,
                                         require_postgres)
from nsk_pipeline_tests.test_refresh_equals_full import COURSE_HEADER, course_into_next_year, materialize, write

AS_OF = "2026-11-01"
FUTURE_FILE = "rettighedskurser_2027-01-05.csv"


def _demo_run(tmp, url: str) -> None:
    raw = tmp / "raw"
    if not raw.exists():
        shutil.copytree(DEMO_RAW, raw)
        course_into_next_year(raw)  # RK24-02 moves from 2024 into 2025
        write(raw, "rettighedskurser", FUTURE_FILE,
              COURSE_HEADER + "RK26-99;10-12-2026;jobcenter;Jobcenter København;9;gennemfoert\n")
    env = {"NSK_RAW_DIR": str(raw), "NSK_WAREHOUSE_URL": url, "NSK_AS_OF": AS_OF, "NSK_PSEUDONYM_KEY": TEST_KEY,
           "DAGSTER_HOME": str(tmp), "NSK_REPORTS_DIR": str(tmp / "reports")}
    assert materialize(env) == 0


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("explain")
    url = f"duckdb:///{tmp / 'demo.duckdb'}"
    _demo_run(tmp, url)
    return url


def _goal_rows(wh: Warehouse):
    return wh.read_sql("SELECT goal_id, year, indicator_id, period_start, period_end, actual "
                       "FROM marts.goal_attainment WHERE kind = 'numeric' ORDER BY goal_id, year")


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and math.isclose(float(a), float(b), rel_tol=1e-9)


def assert_every_goal_explained(url: str, years: tuple[int, ...] | None = None) -> None:
    """For every numeric goal and evaluation year (of `years`): explain's sum is the mart's actual,
    and so is the sum over the goal's period in explain.counted_records."""
    registry = load_registry()
    wh = Warehouse.open_existing(url)
    try:
        rows = _goal_rows(wh)
        rows = rows[rows["year"].isin(years)] if years else rows
        assert len(rows) > 5 and rows["actual"].notna().sum() > 5
        view = {(r.indicator_id, str(r.period_start)[:10], str(r.period_end)[:10]): r.total for r in wh.read_sql(
            "SELECT indicator_id, period_start, period_end, sum(amount) AS total FROM explain.counted_records "
            "GROUP BY indicator_id, period_start, period_end").itertuples()}
        for r in rows.itertuples():
            e = explain_goal(wh, registry, r.goal_id, int(r.year))
            assert _same(e.total, r.actual), (r.goal_id, r.year, e.total, r.actual)
            assert e.agrees and _same(e.mart_value, r.actual)
            if r.actual is not None and not math.isnan(r.actual):
                assert e.counted or r.actual == 0, (r.goal_id, r.year)
                start, end = e.period
                assert _same(view.get((r.indicator_id, str(start), str(end)), 0), r.actual), (r.goal_id, r.year)
    finally:
        wh.dispose()


def test_every_numeric_goal_and_year_adds_up_to_goal_attainment(demo):
    assert_every_goal_explained(demo)


def test_every_indicator_adds_up_to_indicator_yearly(demo):
    wh = Warehouse.open_existing(demo)
    try:
        yearly = wh.read_sql("SELECT indicator_id, year, value FROM marts.indicator_yearly WHERE year = 2025")
        assert set(yearly["indicator_id"]) == set(INDICATORS)
        for r in yearly.itertuples():
            e = explain_indicator(wh, r.indicator_id, int(r.year))
            assert _same(e.total, r.value), (r.indicator_id, r.year, e.total, r.value)
    finally:
        wh.dispose()


def test_records_that_do_not_count_and_why(demo):
    wh = Warehouse.open_existing(demo)
    try:
        before = explain_indicator(wh, "rettighedskurser", 2024)
        after = explain_indicator(wh, "rettighedskurser", 2025)
        staged = wh.read_sql("SELECT source_file, source_row, er_gaeldende, status FROM staging.rettighedskurser "
                             "WHERE EXTRACT(YEAR FROM dato) = 2024")
    finally:
        wh.dispose()
    # The course moved into 2025: in 2024 its old version does not count, naming the correction.
    moved = [r for r in before.not_counted if r["record_key"] == "RK24-02"]
    assert moved and {r["reason_code"] for r in moved} == {"superseded"}
    assert all("rettighedskurser_rettelse_2026-02-20.csv" in r["reason"] for r in moved)
    assert "RK24-02" not in {r["record_key"] for r in before.counted}
    assert "RK24-02" in {r["record_key"] for r in after.counted}
    # The export dated after the as-of date is listed, not read.
    assert [r["source_file"] for r in before.not_counted if r["reason_code"] == "after_as_of"] == [FUTURE_FILE]
    # Cancelled courses are listed with their status.
    cancelled = staged[staged["er_gaeldende"] & (staged["status"] == "aflyst")]
    assert len(cancelled) and {(r["source_file"], r["source_row"]) for r in before.not_counted
                               if r["reason_code"] == "cancelled"} == set(zip(cancelled.source_file,
                                                                              cancelled.source_row))
    # Every staged version of the year is somewhere: counted, not counted, or an older version of one counted.
    listed = {(r["source_file"], r["source_row"]) for r in before.counted + before.not_counted + before.other}
    hidden = len(staged) - len(listed & set(zip(staged.source_file, staged.source_row)))
    assert hidden and before.notes[0].startswith(f"{hidden} older versions")


def test_quarantined_rows_are_listed_with_their_reasons(demo):
    wh = Warehouse.open_existing(demo)
    try:
        quarantined = wh.read_sql("SELECT file_name, row_number, reasons FROM quarantine.rejected_rows "
                                  "WHERE source = 'skoleforloeb'")
        listed = [r for y in (2024, 2025, 2026) for r in explain_indicator(wh, "elever_nsk", y).not_counted
                  if r["reason_code"] == "quarantined"]
    finally:
        wh.dispose()
    assert len(quarantined)
    assert {(r["source_file"], r["source_row"]) for r in listed} <= set(zip(quarantined.file_name,
                                                                            quarantined.row_number))
    assert listed and all(r["reason"].startswith("quarantined: ") for r in listed)


def test_no_pseudonym_in_explain_output_or_views(demo, monkeypatch, capsys):
    wh = Warehouse(demo)
    try:
        pseudonyms = {p for (p,) in wh.read_sql("SELECT DISTINCT borger_pseudonym FROM staging.vejlederlog "
                                               "WHERE borger_pseudonym IS NOT NULL").itertuples(index=False)}
        views = wh.read_sql("SELECT * FROM explain.counted_records").astype(str).to_csv() + \
            wh.read_sql("SELECT * FROM explain.uncounted_records").astype(str).to_csv()
        columns = set(wh.read_sql("SELECT column_name FROM information_schema.columns "
                                  "WHERE table_schema = 'explain'")["column_name"])
    finally:
        wh.dispose()
    assert len(pseudonyms) > 100
    assert not columns & {"borger_pseudonym", "koen", "aldersgruppe", "cpr"}
    monkeypatch.setenv("NSK_WAREHOUSE_URL", demo)
    out = []
    for indicator in ("borgere_med_sag", "borgersager", "andel_borgersager_vold"):
        for year in ("2025", "2026"):
            main(["explain", "--indicator", indicator, "--year", year, "--json"])
            out.append(capsys.readouterr().out)
    assert json.loads(out[0])["counted"]  # the counsellor log's records are there, by registration id
    text = views + "\n".join(out)
    assert not [p for p in pseudonyms if p in text]


def test_the_command(demo, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("NSK_WAREHOUSE_URL", demo)
    monkeypatch.setenv("NSK_AS_OF", AS_OF)
    assert main(["explain", "HP2024-V3", "--year", "2025"]) == 0
    out = capsys.readouterr().out.splitlines()
    wh = Warehouse(demo)
    actual = wh.read_sql("SELECT actual FROM marts.goal_attainment WHERE goal_id = 'HP2024-V3' AND year = 2025")
    wh.dispose()
    value = f"{actual['actual'].iloc[0]:g}"
    assert out[0].startswith("HP2024-V3, 2025: rettighedskurser")
    assert out[-1] == f"sum = {value} (marts.goal_attainment.actual = {value})"
    assert "RK24-02" in "\n".join(out)

    assert main(["explain", "NO-SUCH-GOAL", "--year", "2025"]) == 2
    assert "unknown goal" in capsys.readouterr().err
    assert main(["explain", "HP2024-V4", "--year", "2024"]) == 2  # a milestone
    assert main(["explain", "HP2024-V3", "--indicator", "henvendelser", "--year", "2025"]) == 2
    missing = tmp_path / "nothing.duckdb"
    monkeypatch.setenv("NSK_WAREHOUSE_URL", f"duckdb:///{missing}")
    assert main(["explain", "HP2024-V3", "--year", "2025"]) == 2
    assert "nsk materialize" in capsys.readouterr().err and not missing.exists()


def test_explain_on_a_missing_year(demo):
    wh = Warehouse.open_existing(demo)
    try:
        with pytest.raises(ExplainError, match="no row for 2023"):
            explain_goal(wh, load_registry(), "HP2024-V3", 2023)
        with pytest.raises(ExplainError, match="no row for rettighedskurser in 2027"):
            explain_indicator(wh, "rettighedskurser", 2027)
    finally:
        wh.dispose()


@pytest.mark.postgres
def test_postgresql_adds_up_and_the_analyst_cannot_read_the_explain_views(tmp_path):
    require_postgres()
    from nsk_pipeline.core.roles import ensure_analyst_role

    name = create_database()
    url = database_url(name)
    role = f"nsk_analyst_{name[-8:]}"
    try:
        _demo_run(tmp_path, url)
        assert_every_goal_explained(url, years=(2025,))  # every year is the DuckDB test's; the SQL is the same
        wh = Warehouse(url)
        ensure_analyst_role(wh, role)
        analyst = sa.create_engine(f"postgresql+psycopg://{role}@127.0.0.1:5432/{name}")
        with analyst.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM marts.goal_attainment")).scalar() > 0
        for view in ("counted_records", "uncounted_records"):
            with analyst.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text(f"SELECT * FROM explain.{view}"))
        analyst.dispose()
        with wh.transaction() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        wh.dispose()
    finally:
        drop_database(name)
        eng = sa.create_engine(f"{database_url('postgres')}")
        with eng.begin() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        eng.dispose()


def test_as_of_is_the_marts(demo):
    wh = Warehouse.open_existing(demo)
    try:
        assert explain_indicator(wh, "henvendelser", 2026).as_of == date.fromisoformat(AS_OF)
    finally:
        wh.dispose()
