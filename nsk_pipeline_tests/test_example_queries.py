"""Every example query in docs/example-queries.sql runs and returns what it promises."""

from __future__ import annotations

import re

import pytest

from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline_tests.conftest import DEMO_RAW, REPO
from nsk_pipeline_tests.test_report import make_warehouse

EXAMPLES = REPO / "docs" / "example-queries.sql"
EXPECTED_COLUMNS = {
    "goal_status_for_year": ["goal_id", "spor", "kind", "status", "status_tekst", "actual", "target", "progress_pct",
                             "data_through", "note"],
    "indicator_trend": ["year", "name", "value", "unit", "data_through", "change_from_previous_year"],
    "breakdown_by_school_type": ["year", "skoletype", "value", "share_pct"],
    "still_on_track": ["plan_id", "goal_id", "year", "status", "actual", "target", "forecast", "on_track",
                       "data_through", "period_end"],
    "quarterly_progress_against_annual_target": ["year", "quarter", "year_to_date", "annual_target",
                                                 "pct_of_target"],
    "report_table_for_year": ["Spor", "Mål-id", "Mål", "Status", "Resultat", "Måltal", "Opfyldelse (%)",
                              "Data til og med", "Opgjort pr."],
}


def parse_examples(text: str) -> list[tuple[str, str, str]]:
    """(name, description, sql) of each `-- name:` block."""
    out = []
    blocks = re.split(r"^-- name:\s*", text, flags=re.M)[1:]
    for block in blocks:
        lines = block.splitlines()
        name = lines[0].strip()
        assert lines[1].startswith("-- ") and len(lines[1]) > 10, f"{name}: the line after the name describes it"
        description = lines[1][3:].strip()
        sql = "\n".join(lines[2:]).strip()
        assert sql.endswith(";"), f"{name}: end the query with ';'"
        sql = sql[:-1].strip()
        assert ";" not in sql, f"{name}: one statement per example"
        out.append((name, description, sql))
    return out


EXAMPLE_LIST = parse_examples(EXAMPLES.read_text(encoding="utf-8"))


def test_the_file_has_the_promised_examples():
    names = [name for name, _, _ in EXAMPLE_LIST]
    assert 4 <= len(names) <= 6 and len(set(names)) == len(names)
    assert set(names) == set(EXPECTED_COLUMNS)


def _run_all(wh: Warehouse) -> dict[str, object]:
    results = {}
    for name, _, sql in EXAMPLE_LIST:
        # exec_driver_sql-like: no bind parameters in the examples; escape ':' for sa.text
        df = wh.read_sql(sql.replace(":", r"\:"))
        assert list(df.columns) == EXPECTED_COLUMNS[name], name
        assert len(df) > 0, f"{name} returned no rows"
        results[name] = df
    return results


def test_examples_on_a_small_warehouse(warehouse_url):
    wh = make_warehouse(warehouse_url)
    try:
        r = _run_all(wh)
        status = r["goal_status_for_year"].set_index("goal_id")
        assert status.loc["HP2024-B1", "status"] == "ikke_naaet"  # 1.428 pupils in 2025 < 2.000
        assert float(status.loc["HP2024-V1", "progress_pct"]) == pytest.approx(142.8)
        trend = r["indicator_trend"]
        assert list(trend["year"]) == [2017, 2018, 2024, 2025, 2026]  # unmeasured years left out
        shares = r["breakdown_by_school_type"]
        assert float(shares[shares["year"] == 2024]["share_pct"].astype(float).sum()) == pytest.approx(100, abs=0.2)
        on_track = r["still_on_track"]
        assert set(on_track["year"]) == {2026} and "HP2024-B1" in set(on_track["goal_id"])
        assert list(r["report_table_for_year"]["Spor"])[0] == "1. Børn og unge"
    finally:
        wh.dispose()


@pytest.mark.slow
def test_examples_on_the_demo_warehouse(monkeypatch, tmp_path):
    """The demo data as of 2026-03-01, materialised by `nsk materialize`."""
    if not DEMO_RAW.exists() or not any(DEMO_RAW.iterdir()):
        pytest.skip("no demo data in data/raw")
    from nsk_pipeline.cli import main
    from nsk_pipeline.marts.report_view import create_report_view

    url = f"duckdb:///{tmp_path / 'demo.duckdb'}"
    monkeypatch.setenv("NSK_RAW_DIR", str(DEMO_RAW))
    monkeypatch.setenv("NSK_WAREHOUSE_URL", url)
    monkeypatch.setenv("NSK_AS_OF", "2026-03-01")
    assert main(["materialize", "--log-level", "WARNING"]) == 0
    wh = Warehouse(url)
    try:
        if not wh.has_table("marts", "goal_attainment_report"):  # until publish creates the view
            with wh.transaction() as conn:
                create_report_view(conn)
        r = _run_all(wh)
        assert set(r["goal_status_for_year"]["goal_id"]) >= {"HP2024-B1", "HP2024-V1", "HP2024-V2"}
        assert set(r["breakdown_by_school_type"]["skoletype"]) == {"folkeskole", "friskole", "privatskole"}
    finally:
        wh.dispose()
