"""Yearly partitions: rebuild one year (a backfill) while the other years stay as they were."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from nsk_pipeline.cli import main
from nsk_pipeline.core.partitions import parse_years, run_years
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline_tests.conftest import DEMO_RAW

pytestmark = pytest.mark.slow


def yearly(url: str) -> pd.DataFrame:
    wh = Warehouse(url)
    try:
        return wh.read_sql("SELECT indicator_id, year, value, data_through FROM marts.indicator_yearly "
                           "ORDER BY indicator_id, year").astype(str)
    finally:
        wh.dispose()


def staging_by_year(url: str) -> dict[str, int]:
    wh = Warehouse(url)
    try:
        df = wh.read_sql("SELECT EXTRACT(YEAR FROM oprettet) AS y, count(*) AS n FROM staging.vejlederlog GROUP BY 1")
        return {int(y): int(n) for y, n in zip(df["y"], df["n"])}
    finally:
        wh.dispose()


def value(df: pd.DataFrame, indicator: str, year: int) -> float:
    return float(df[(df["indicator_id"] == indicator) & (df["year"] == str(year))]["value"].iloc[0])


def test_backfilling_one_year_leaves_the_other_years_as_they_were(tmp_path, monkeypatch, warehouse_url):
    raw = tmp_path / "raw"
    shutil.copytree(DEMO_RAW, raw)
    monkeypatch.setenv("NSK_RAW_DIR", str(raw))
    monkeypatch.setenv("NSK_WAREHOUSE_URL", warehouse_url)
    assert main(["materialize", "--log-level", "WARNING"]) == 0
    before = yearly(warehouse_url)
    staged_before = staging_by_year(warehouse_url)

    # An old delivery is found (2018), and a 2025 correction arrives: only 2018 is rebuilt.
    (raw / "skoleforloeb" / "skoleforloeb_fundet_2019-02-01.csv").write_text(
        "forloeb_id;dato;skole;skoletype;klasse;udbyder;aktivitet;tema;antal_elever;status\n"
        "FUND-1;12-11-2018;Fundne Skole;folkeskole;8.a;C:NTACT;elevundervisning;nsk;30;gennemfoert\n",
        encoding="utf-8")
    (raw / "vejlederlog" / "vejlederlog_ekstra_2026-02-20.csv").write_text(
        "registrering_id;oprettet;type;cpr;risikoniveau;status\n"
        + "".join(f"EXTRA-{i};0{i}-12-2025;henvendelse;;;afsluttet\n" for i in range(1, 4)), encoding="utf-8")
    assert main(["materialize", "--log-level", "WARNING", "--years", "2018"]) == 0
    after = yearly(warehouse_url)
    assert staging_by_year(warehouse_url) == staged_before  # staging of the other years untouched too
    assert value(after, "elever_nsk", 2018) == value(before, "elever_nsk", 2018) + 30
    others_before = before[before["year"] != "2018"].reset_index(drop=True)
    others_after = after[after["year"] != "2018"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others_before, others_after)  # every other year exactly as it was
    wh = Warehouse(warehouse_url)
    plan = wh.read_sql("SELECT actual FROM marts.goal_attainment WHERE goal_id = 'IHP2017-1' AND year = 2018")
    wh.dispose()
    assert plan["actual"].iloc[0] == value(after, "elever_nsk", 2017) + value(after, "elever_nsk", 2018)

    # A full refresh then brings 2025 up to date too.
    assert main(["materialize", "--log-level", "WARNING"]) == 0
    full = yearly(warehouse_url)
    assert value(full, "henvendelser", 2025) == value(before, "henvendelser", 2025) + 3
    assert value(full, "elever_nsk", 2018) == value(after, "elever_nsk", 2018)
    assert staging_by_year(warehouse_url)[2025] == staged_before[2025] + 3


def test_years_come_from_the_run_tags():
    assert run_years({"dagster/asset_partition_range_start": "2017", "dagster/asset_partition_range_end": "2018"}) \
        == (2017, 2018)
    assert run_years({"dagster/partition": "2024"}) == (2024, 2024)
    assert run_years({"nsk/full_refresh": "true", "dagster/asset_partition_range_start": "2010",
                      "dagster/asset_partition_range_end": "2026"}) is None
    assert parse_years("2017-2018") == (2017, 2018)
    with pytest.raises(ValueError):
        parse_years("2019-2017")
