"""marts.build.read_current: the current rows the indicators count, with the ids they only compare
read as integer codes (a national roll-up has millions of pseudonyms and school sessions, a
Python string each as text), on DuckDB and on PostgreSQL."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.indicators.engine import key_columns
from nsk_pipeline.marts.build import read_current
from nsk_pipeline.sources.assets import staging_columns
from nsk_pipeline.sources.specs import SOURCES

PSEUDONYMS = ["a" * 64, "b" * 64, None, "a" * 64, "c" * 64, None, "b" * 64]


def test_the_ids_coded_are_the_ones_only_compared():
    assert key_columns("vejlederlog") == ["borger_pseudonym"]
    assert key_columns("skoleforloeb") == ["forloeb_id"]
    assert all(key_columns(s) == [] for s in ("rettighedskurser", "omraade_aktiviteter", "omraade_aktoerer"))


@pytest.fixture
def staged_log(warehouse_url):
    """staging.vejlederlog with seven current rows (one day each, so a row is known by its date)
    and one that no longer counts, whose pseudonym appears nowhere else."""
    wh = Warehouse(warehouse_url)
    rows = [{"oprettet": date(2025, 1, 1 + i), "type": "borgersag", "borger_pseudonym": p, "koen": "kvinde",
             "aldersgruppe": "18-29", "risikoniveau": "hoej", "temaer": "vold", "status": "aaben",
             "er_gaeldende": True} for i, p in enumerate(PSEUDONYMS)]
    rows.append({**rows[0], "oprettet": date(2025, 2, 1), "borger_pseudonym": "d" * 64, "er_gaeldende": False})
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        table = wh.ensure_table(conn, "staging", "vejlederlog", staging_columns(SOURCES["vejlederlog"]))
        conn.execute(table.insert(), rows)
    yield wh
    wh.dispose()


def test_read_current_reads_pseudonyms_as_codes_equal_where_the_pseudonyms_are(staged_log):
    current, _ = read_current(staged_log)
    log = current["vejlederlog"].sort_values("oprettet").reset_index(drop=True)
    assert len(log) == len(PSEUDONYMS)  # the row that no longer counts is not read
    codes = log["borger_pseudonym"]
    assert codes.dtype == float and not any(isinstance(v, str) for v in codes)
    assert codes.isna().tolist() == [p is None for p in PSEUDONYMS]
    for i, p in enumerate(PSEUDONYMS):
        for j, q in enumerate(PSEUDONYMS):
            if p is not None and q is not None:
                assert (codes[i] == codes[j]) == (p == q), (i, j)
    # The other columns as before: dates as dates, codes as categoricals, in the contract's order.
    assert log["oprettet"].tolist() == [pd.Timestamp(2025, 1, 1 + i) for i in range(len(PSEUDONYMS))]
    assert isinstance(log["type"].dtype, pd.CategoricalDtype) and set(log["type"]) == {"borgersag"}
    assert list(log.columns) == ["oprettet", "type", "borger_pseudonym", "koen", "aldersgruppe",
                                 "risikoniveau", "temaer", "status"]


def test_a_source_not_staged_yet_reads_as_no_rows_with_the_same_columns(staged_log):
    current, _ = read_current(staged_log)
    school = current["skoleforloeb"]
    assert school.empty and "forloeb_id" in school.columns and school["forloeb_id"].dtype == float


def test_the_marts_count_distinct_citizens_from_the_codes(staged_log):
    """borgere_med_sag counts each pseudonym once: a, b and c (the NULLs and the old version not)."""
    from nsk_pipeline.core.settings import Settings
    from nsk_pipeline.goals.registry import load_registry
    from nsk_pipeline.marts.build import build_marts

    current, loads = read_current(staged_log)
    marts = build_marts(current, loads, load_registry(Settings.from_env().goals_path), date(2025, 12, 31))
    yearly = marts["indicator_yearly"].set_index(["indicator_id", "year"])
    assert yearly.loc[("borgere_med_sag", 2025), "value"] == 3
    with staged_log.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(DISTINCT borger_pseudonym) FROM staging.vejlederlog "
                                    "WHERE er_gaeldende")).scalar() == 3
