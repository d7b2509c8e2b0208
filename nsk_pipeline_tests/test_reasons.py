"""Quarantine reasons are codes with their column and parameters, their texts in one table
(`sources/reasons.py`): the pipeline stores codes, `reasons` is their English, the report
shows their Danish, and nothing reads a sentence back. So are the reasons a file was not
loaded (`meta.file_loads.reason_code` and `reason_params`; `reason` their English)."""

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
        assert r.kind in ("rule", "note", "file"), code
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


def test_every_file_load_that_is_not_loaded_has_a_code_and_reason_is_its_english(tmp_path, duckdb_url):
    """Each way a file is not loaded, through ingest into meta.file_loads: the code with its
    parameters, `reason` their English text, and the report's Danish from the same table."""
    from nsk_pipeline.reports import render
    from nsk_pipeline.sources.assets import write_source
    from nsk_pipeline.core.resources import NskResource

    folder = tmp_path / "raw" / "rettighedskurser"
    folder.mkdir(parents=True)
    header = "kursus_id;dato;sted_type;sted;deltagere;status\n"
    row = "RK1;10-01-2026;jobcenter;Jobcenter;12;gennemfoert\n"
    (folder / "rettighedskurser_2026-01-15.csv").write_text(header + row, encoding="utf-8")
    (folder / "kopi_2026-01-15.csv").write_text(header + row, encoding="utf-8")  # the same again
    (folder / "rettighedskurser_2026-02-01.csv").write_text("kursus_id;dato;status\nRK2;01-02-2026;aflyst\n",
                                                             encoding="utf-8")
    (folder / "rettighedskurser.csv").write_text(header, encoding="utf-8")  # no export date
    (folder / "rettighedskurser_2026-01-20.csv").write_bytes(b"")
    (folder / "rettighedskurser_2026-09-30.csv").write_text(header, encoding="utf-8")  # after the as-of date
    (folder / "README.txt").write_text("notes", encoding="utf-8")
    (folder / "gammelt").mkdir()
    (folder / "link").symlink_to(folder / "gammelt")
    with ingest_source(SOURCES["rettighedskurser"], folder, dt.date(2026, 3, 1)) as result:
        nsk = NskResource(raw_dir=str(tmp_path / "raw"), warehouse_url=duckdb_url, as_of="2026-03-01")
        write_source(nsk, result, "test")
    wh = Warehouse(duckdb_url)
    try:
        loads = wh.read_sql("SELECT file_name, status, reason, reason_code, reason_params FROM meta.file_loads")
        loads = loads.set_index("file_name")
        with wh.engine.connect() as conn:
            rejected = render.rejected_files(conn)
    finally:
        wh.dispose()
    got = {name: (r.status, r.reason_code, json.loads(r.reason_params) if r.reason_params else None)
           for name, r in loads.iterrows()}
    assert got == {
        "kopi_2026-01-15.csv": ("loaded", None, None),  # read first (folder order)
        "rettighedskurser_2026-01-15.csv": ("duplicate", "duplicate_file", {"file": "kopi_2026-01-15.csv"}),
        "rettighedskurser_2026-02-01.csv": ("rejected", "missing_required_column", {"column": "'sted_type'"}),
        "rettighedskurser.csv": ("rejected", "no_export_date", {}),
        "rettighedskurser_2026-01-20.csv": ("rejected", "empty_file", {}),
        "rettighedskurser_2026-09-30.csv": ("after_as_of", "after_as_of", {"as_of": "2026-03-01"}),
        "README.txt": ("ignored", "not_an_export", {}),
        "gammelt": ("skipped", "sub_folder", {}),
        "link": ("skipped", "sub_folder", {"symlink": ""}),
    }, got
    for name, r in loads.iterrows():
        assert r.reason == reasons.file_text(r.reason_code, r.reason_params), name
        assert (r.reason is None) == (r.status == "loaded"), name
        assert reasons.REASONS[r.reason_code].kind == "file" if r.reason_code else True
    assert loads.loc["link", "reason"] == ("a sub-folder (a symbolic link): only files directly in the source's "
                                           "folder are read")
    assert loads.loc["rettighedskurser_2026-01-20.csv", "reason"] == "empty file (0 bytes)"
    assert {f["file_name"]: f["reason"] for f in rejected} == {
        "rettighedskurser_2026-02-01.csv": "mangler den krævede kolonne 'sted_type'",
        "rettighedskurser.csv": "ingen eksportdato i filnavnet (forventet <navn>_ÅÅÅÅ-MM-DD.csv)",
        "rettighedskurser_2026-01-20.csv": "tom fil (0 bytes)",
    }


def test_a_file_reason_is_a_file_code():
    with pytest.raises(KeyError):
        reasons.file_reason("not_a_number")  # a row's reason, not a file's
    with pytest.raises(KeyError):
        reasons.file_reason("some_new_reason")
    assert reasons.file_text(None, None) is None
