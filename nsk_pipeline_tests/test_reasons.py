"""Quarantine reasons are codes with their column and parameters, their texts in one table
(`sources/reasons.py`): the pipeline stores codes, `reasons` is their English, the report
shows their Danish, and nothing reads a sentence back."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from nsk_pipeline.core import tables
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.sources import reasons
from nsk_pipeline.sources.ingest import ingest_source
from nsk_pipeline.sources.specs import SOURCES
from nsk_pipeline_tests.conftest import DEMO_RAW, require_postgres

KEY = b"reasons-test-key-not-a-secret"
# reasons about a key's versions, not one column
KEY_CODES = {"duplicate_key_same_export", "still_counts", "no_version_counts"}


def assert_known_codes(source: str, quarantine: pd.DataFrame) -> list[dict]:
    """Every stored reason is a code of the table with its column (one of the source's), and
    `reasons` is the codes' English text."""
    spec = SOURCES[source]
    columns = {c.name for c in spec.columns} | {"export_date", "borger_pseudonym", "koen", "aldersgruppe"}
    found = []
    for codes, text in zip(quarantine["reason_codes"], quarantine["reasons"]):
        entries = json.loads(codes)
        assert entries and reasons.rules(codes), codes
        for e in entries:
            assert e["code"] in reasons.REASONS, e
            if e["code"] in KEY_CODES:
                assert e["column"] is None, e
            else:
                assert e["column"] in columns, e
        assert text == reasons.english(codes)
        found += entries
    return found


def test_every_code_has_an_english_and_a_danish_text_with_declared_parameters():
    for code, r in reasons.REASONS.items():
        assert r.english.strip() and r.danish.strip(), code
        assert r.kind in ("rule", "note"), code
        # the report groups rows by the Danish text: it never names a row's value
        assert not reasons.template_params(r.danish) & {"value", "values"}, code
        assert reasons.template_params(r.danish) <= reasons.template_params(r.english), code
    assert set(reasons.PANDERA_CHECKS.values()) <= set(reasons.REASONS)


def test_an_unknown_code_is_refused_not_stored_as_text():
    with pytest.raises(KeyError):
        reasons.entry("some_new_rule", "aar")
    with pytest.raises(KeyError):
        reasons.english(json.dumps([{"code": "some_new_rule", "column": "aar", "params": {}}]))


def test_optional_parameters_are_left_out_when_not_known():
    assert reasons.text(reasons.entry("date_after_export", "dato")) == "dato: after the file's export date"
    assert reasons.text(reasons.entry("date_after_export", "dato", export_date="2025-01-02")) == (
        "dato: after the file's export date 2025-01-02")
    assert reasons.text(reasons.entry("code_not_allowed", "type", value="'x'", allowed="a, b"), "da") == (
        "type: ikke en tilladt kode")


def test_the_demo_delivery_quarantines_with_known_codes_only():
    from nsk_pipeline.goals.registry import load_registry

    milestones = [g.id for g in load_registry().goals if g.kind == "milestone"]
    codes = set()
    with ingest_source(SOURCES["omraade_aktoerer"], DEMO_RAW / "omraade_aktoerer", dt.date(2026, 11, 1)) as reg:
        actors = [a for (a,) in reg.con.execute("SELECT DISTINCT aktoer_id FROM staged").fetchall()]
    for name in SOURCES:
        with ingest_source(SOURCES[name], DEMO_RAW / name, dt.date(2026, 11, 1), KEY, known_actors=actors,
                           milestone_goals=milestones) as result:
            codes |= {e["code"] for e in assert_known_codes(name, result.quarantine)}
    assert codes  # the demo delivery has quarantined rows


def _quarantine_frame(entries: list[list[dict]]) -> pd.DataFrame:
    rows = [("skoleforloeb", "skoleforloeb_2025-01-05.csv", dt.date(2025, 1, 5), i + 2, f"k | {i}",
             reasons.english(json.dumps(e)), json.dumps(e), "{}", "test") for i, e in enumerate(entries)]
    return pd.DataFrame(rows, columns=[c.name for c in tables.REJECTED_ROWS])


def test_a_new_code_shows_in_the_report_with_its_danish_text(duckdb_url, monkeypatch):
    from nsk_pipeline.reports import render

    monkeypatch.setitem(reasons.REASONS, "brand_new_rule",
                        reasons.Reason("breaks a brand new rule with {value}", "bryder en helt ny regel"))
    wh = Warehouse(duckdb_url)
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        q = wh.ensure_table(conn, "quarantine", "rejected_rows", tables.REJECTED_ROWS)
        wh.insert_frame(conn, q, _quarantine_frame([
            [reasons.entry("brand_new_rule", "skole", value="'1999x'"),
             reasons.entry("still_counts", file="a.csv", row=3, export_date="2025-01-01")],
            [reasons.entry("brand_new_rule", "skole", value="'other'")],
            [reasons.entry("duplicate_key_same_export", key="k | 2", export_date="2025-01-05", versions="a row 4")],
        ]))
    counts, by_source = render._quarantine(wh)
    wh.dispose()
    shown = {(c.column, c.rule): c.rows for c in counts}
    assert shown == {("skole", "bryder en helt ny regel"): 2,
                     (reasons.KEY_COLUMN_DA, "forskellige værdier i versioner med samme eksportdato"): 1}
    assert by_source == {"skoleforloeb": 3}


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_the_reason_codes_column_parses_as_json_in_the_warehouse(engine, duckdb_url, exports_folder):
    if engine == "postgres":
        from nsk_pipeline_tests.conftest import create_database, database_url, drop_database

        require_postgres()
        name = create_database()
        url = database_url(name)
    else:
        url = duckdb_url
    with ingest_source(SOURCES["skoleforloeb"], exports_folder, dt.date(2026, 3, 1)) as result:
        quarantine = result.quarantine.assign(run_id="test")
    wh = Warehouse(url)
    try:
        with wh.transaction() as conn:
            wh.ensure_schemas(conn)
            q = wh.ensure_table(conn, "quarantine", "rejected_rows", tables.REJECTED_ROWS)
            wh.insert_frame(conn, q, quarantine)
        first = ("json_extract_string(reason_codes, '$[0].code')" if engine == "duckdb"
                 else "CAST(reason_codes AS json) -> 0 ->> 'code'")
        column = ("json_extract_string(reason_codes, '$[0].column')" if engine == "duckdb"
                  else "CAST(reason_codes AS json) -> 0 ->> 'column'")
        got = wh.read_sql(f"SELECT row_number, {first} AS code, {column} AS col FROM quarantine.rejected_rows "
                          "ORDER BY row_number")
    finally:
        wh.dispose()
        if engine == "postgres":
            drop_database(name)
    assert list(zip(got["row_number"], got["code"], got["col"])) == [
        (2, "not_a_number", "antal_elever"), (3, "code_not_allowed", "skoletype")]


@pytest.fixture
def exports_folder(tmp_path):
    folder = tmp_path / "skoleforloeb"
    folder.mkdir()
    header = ("forloeb_id;dato;skole;skoletype;klasse;udbyder;aktivitet;tema;antal_elever;antal_fagpersoner;"
              "antal_foraeldre;pilot;status")
    good = "10-03-2025;Skole;folkeskole;5.B;Udbyder;elevundervisning;nsk;25;;;nej;gennemfoert"
    (folder / "skoleforloeb_2025-06-30.csv").write_text(
        f"{header}\nF1;{good.replace(';25;', ';mange;')}\nF2;{good.replace('folkeskole', 'kostskole')}\n"
        f"F3;{good}\n", encoding="utf-8")
    return folder
