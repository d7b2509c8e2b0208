"""Tests for nsk_pipeline.sources.ingest: the source-export contract as ingest applies it.

Each test builds a tiny folder of exports in ``tmp_path`` and asserts on the
``SourceResult``. The readers, parsers and CPR helpers have their own tests; here
they are only exercised through ``ingest_source``.

Every CPR number below is synthesised by :func:`make_cpr` from a birth date, a
serial and a sex; none is meant to belong to anyone.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
from collections.abc import Iterable
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from nsk_pipeline.core.settings import SettingsError
from nsk_pipeline.sources.ingest import QUARANTINE_COLUMNS, SourceResult, ingest_source
from nsk_pipeline.sources.specs import SOURCES
from nsk_pipeline_tests.test_reasons import assert_known_codes

AS_OF = dt.date(2026, 3, 1)
KEY = b"ingest-test-key-not-a-secret"
OTHER_KEY = b"another-ingest-test-key-not-a-secret"


@pytest.fixture(autouse=True, params=["one batch", "a batch per row"])
def batch_size(request, monkeypatch):
    """Every rule must hold whether a source's files are typed by one query or a query per file,
    and whether pandera validates its rows in one Arrow batch or in many (its failure cases are
    positions within a batch)."""
    if request.param != "one batch":
        monkeypatch.setattr("nsk_pipeline.sources.ingest.VALIDATE_BATCH_ROWS", 1)
        monkeypatch.setattr("nsk_pipeline.sources.ingest.TYPING_BATCH_ROWS", 1)
    return request.param


# --------------------------------------------------------------------------- CPR numbers


def make_cpr(birth: dt.date, serial: int = 12, female: bool = True, dash: bool = True) -> str:
    """DDMMYY + a 4-digit serial whose 7th digit gives ``birth``'s century by the CPR rule
    and whose last digit gives the sex (even = female)."""
    yy = birth.year % 100
    if 1900 <= birth.year <= 1999:
        seventh = 2
    elif 2000 <= birth.year <= 2036:
        seventh = 4
    elif 2000 <= birth.year <= 2057 or 1858 <= birth.year <= 1899:
        seventh = 5
    else:  # pragma: no cover - not needed here
        raise ValueError("no CPR century for that year")
    last = 4 if female else 7
    head = f"{birth.day:02d}{birth.month:02d}{yy:02d}"
    tail = f"{seventh}{serial % 100:02d}{last}"
    return f"{head}-{tail}" if dash else head + tail


def cpr_forms(cpr: str) -> set[str]:
    """Every way the number could leak: ten digits, dashed, and the 9-digit forms."""
    digits = cpr.replace("-", "")
    forms = {digits, f"{digits[:6]}-{digits[6:]}"}
    if digits.startswith("0"):
        forms |= {digits[1:], f"{digits[1:6]}-{digits[6:]}"}
    return forms


def hmac_of(digits: str, key: bytes) -> str:
    return hmac.new(key, digits.encode("ascii"), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- default rows

DEFAULTS: dict[str, dict[str, str]] = {
    "skoleforloeb": {
        "forloeb_id": "F1", "dato": "10-03-2025", "skole": "Nørrebro Park Skole", "skoletype": "folkeskole",
        "klasse": "5.B", "udbyder": "Børns Vilkår", "aktivitet": "elevundervisning", "tema": "nsk",
        "antal_elever": "25", "antal_fagpersoner": "", "antal_foraeldre": "", "pilot": "nej",
        "status": "gennemfoert",
    },
    "vejlederlog": {
        "registrering_id": "R1", "oprettet": "15-03-2025", "type": "borgersag",
        "cpr": make_cpr(dt.date(1990, 6, 15)), "risikoniveau": "middel", "temaer": "vold|isolation",
        "henvist_til": "", "afsluttet": "", "status": "aktiv", "vejleder": "AB",
    },
    "rettighedskurser": {
        "kursus_id": "K1", "dato": "10-03-2025", "sted_type": "jobcenter", "sted": "Jobcenter København",
        "deltagere": "12", "status": "gennemfoert",
    },
    "omraade_aktiviteter": {
        "aktivitet_id": "A1", "dato": "10-03-2025", "omraade": "Bispebjerg/Nordvest", "type": "borgeraktivitet",
        "maalgruppe": "blandet", "deltagere": "30", "aktoerer": "", "status": "gennemfoert",
    },
    "omraade_aktoerer": {
        "aktoer_id": "AKT1", "navn": "Bydelsmødrene", "sektor": "civilsamfund", "tilsluttet": "01-02-2024",
        "udtraadt": "",
    },
    "milepaele": {"maal_id": "M1", "aar": "2024", "opfyldt": "ja", "bemaerkning": ""},
}


class Exports:
    """One source's folder of exports in ``tmp_path``."""

    def __init__(self, root: Path, source: str):
        self.spec = SOURCES[source]
        self.folder = root / "raw" / source
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rows_written: dict[str, int] = {}

    def row(self, **values: object) -> dict[str, object]:
        return {**DEFAULTS[self.spec.name], **values}

    def csv(self, name: str, rows: Iterable[dict[str, object]], *, header: list[str] | None = None,
            sep: str = ";", encoding: str = "utf-8") -> Path:
        rows = list(rows)
        header = header or list(DEFAULTS[self.spec.name])
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
        writer.writerow(header)
        for r in rows:
            writer.writerow([r.get(h.strip().lower(), "") for h in header])
        path = self.folder / name
        path.write_bytes(buf.getvalue().encode(encoding))
        self.rows_written[name] = len(rows)
        return path

    def xlsx(self, name: str, rows: Iterable[dict[str, object]], *, header: list[str] | None = None) -> Path:
        rows = list(rows)
        header = header or list(DEFAULTS[self.spec.name])
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(header)
        for r in rows:
            ws.append([(None if r.get(h) == "" else r.get(h)) for h in header])
        path = self.folder / name
        wb.save(path)
        self.rows_written[name] = len(rows)
        return path

    def raw(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def ingest(self, as_of: dt.date = AS_OF, key: bytes | None = KEY, known_actors=None,
               milestone_goals=None) -> SourceResult:
        result = ingest_source(self.spec, self.folder, as_of, key, known_actors, milestone_goals)
        assert_rows_balance(result, self.rows_written)
        return result


@pytest.fixture
def exports(tmp_path):
    return lambda source: Exports(tmp_path, source)


# --------------------------------------------------------------------------- assertions


def assert_rows_balance(result: SourceResult, rows_written: dict[str, int] | None = None) -> None:
    """For every file: rows read = rows staged + rows quarantined, and the counts match the frames."""
    loads = result.file_loads
    assert loads["file_name"].is_unique
    assert list(result.quarantine.columns) == QUARANTINE_COLUMNS
    staged_by_file = result.staged["source_file"].value_counts().to_dict() if len(result.staged) else {}
    quarantined_by_file = (result.quarantine["file_name"].value_counts().to_dict()
                           if len(result.quarantine) else {})
    for load in loads.itertuples():
        assert load.rows_read == load.rows_staged + load.rows_quarantined, load.file_name
        assert load.rows_staged == staged_by_file.get(load.file_name, 0), load.file_name
        assert load.rows_quarantined == quarantined_by_file.get(load.file_name, 0), load.file_name
        if load.status != "loaded":
            assert load.rows_read == 0, load.file_name
        elif rows_written is not None and load.file_name in rows_written:
            assert load.rows_read == rows_written[load.file_name], load.file_name
    loaded = set(loads.loc[loads["status"] == "loaded", "file_name"])
    assert set(staged_by_file) <= loaded
    assert set(quarantined_by_file) <= loaded
    assert int(loads["rows_staged"].sum()) == len(result.staged)
    assert int(loads["rows_quarantined"].sum()) == len(result.quarantine)
    if len(result.staged):
        current = result.staged[result.staged["er_gaeldende"]]
        assert not current.duplicated(["source_file", "source_row"]).any()
    # every reason is a code of the table with its column, and `reasons` is their English text
    assert_known_codes(result.source, result.quarantine)


def load_of(result: SourceResult, file_name: str) -> pd.Series:
    rows = result.file_loads[result.file_loads["file_name"] == file_name]
    assert len(rows) == 1, f"no file load for {file_name}"
    return rows.iloc[0]


def current(result: SourceResult, **where: object) -> pd.DataFrame:
    df = result.staged[result.staged["er_gaeldende"]]
    for col, value in where.items():
        df = df[df[col] == value]
    return df


def quarantined(result: SourceResult, file_name: str, row_number: int) -> pd.Series:
    q = result.quarantine
    rows = q[(q["file_name"] == file_name) & (q["row_number"] == row_number)]
    assert len(rows) == 1, f"{file_name} row {row_number} not quarantined: {q.to_dict('records')}"
    return rows.iloc[0]


def assert_quarantined_for(result: SourceResult, column: str, file_name: str = "skoleforloeb_2025-03-31.csv",
                           row_number: int = 2) -> str:
    reasons = quarantined(result, file_name, row_number)["reasons"]
    assert any(r.startswith(f"{column}:") for r in reasons.split("; ")), reasons
    return reasons


# =========================================================================== latest export wins


def test_latest_export_wins(exports):
    ex = exports("skoleforloeb")
    # the later export sorts first by name: the date decides, not the file order
    ex.csv("a_skoleforloeb_2025-06-30.csv", [ex.row(antal_elever="27")])
    ex.csv("b_skoleforloeb_2025-03-31.csv", [ex.row(antal_elever="20")])
    r = ex.ingest()
    assert len(r.staged) == 2 and r.quarantine.empty
    now = current(r, forloeb_id="F1")
    assert len(now) == 1
    assert now.iloc[0]["source_file"] == "a_skoleforloeb_2025-06-30.csv"
    assert now.iloc[0]["antal_elever"] == 27
    old = r.staged[r.staged["source_file"] == "b_skoleforloeb_2025-03-31.csv"]
    assert len(old) == 1 and not old.iloc[0]["er_gaeldende"] and old.iloc[0]["antal_elever"] == 20


def test_key_missing_from_later_export_is_not_deleted(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(forloeb_id="F1"), ex.row(forloeb_id="F2")])
    ex.csv("skoleforloeb_2025-06-30.csv", [ex.row(forloeb_id="F1", antal_elever="26")])
    r = ex.ingest()
    f2 = current(r, forloeb_id="F2")
    assert len(f2) == 1 and f2.iloc[0]["source_file"] == "skoleforloeb_2025-03-31.csv"
    assert current(r, forloeb_id="F1").iloc[0]["source_file"] == "skoleforloeb_2025-06-30.csv"
    assert len(current(r)) == 2


def test_newest_invalid_version_is_quarantined_and_older_valid_version_keeps_counting(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(forloeb_id="F0"), ex.row(forloeb_id="F1", antal_elever="20")])
    ex.csv("skoleforloeb_2025-06-30.csv", [ex.row(forloeb_id="F1", antal_elever="-3")])
    r = ex.ingest()
    now = current(r, forloeb_id="F1")
    assert len(now) == 1
    assert now.iloc[0]["source_file"] == "skoleforloeb_2025-03-31.csv"
    assert now.iloc[0]["antal_elever"] == 20
    reasons = assert_quarantined_for(r, "antal_elever", "skoleforloeb_2025-06-30.csv", 2)
    # which version still counts: its file and its row (row 3: header, F0, F1)
    assert "still counting is skoleforloeb_2025-03-31.csv row 3" in reasons


def test_newest_invalid_version_without_an_older_one_counts_nothing(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-06-30.csv", [ex.row(antal_elever="-3")])
    r = ex.ingest()
    assert r.staged.empty
    assert_quarantined_for(r, "antal_elever", "skoleforloeb_2025-06-30.csv", 2)


def test_same_date_conflict_quarantines_both_and_older_valid_version_keeps_counting(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(antal_elever="20")])
    ex.csv("skoleforloeb_a_2025-06-30.csv", [ex.row(antal_elever="25")])
    ex.csv("skoleforloeb_b_2025-06-30.csv", [ex.row(antal_elever="26")])
    r = ex.ingest()
    now = current(r, forloeb_id="F1")
    assert len(now) == 1 and now.iloc[0]["source_file"] == "skoleforloeb_2025-03-31.csv"
    assert len(r.staged) == 1
    for name in ("skoleforloeb_a_2025-06-30.csv", "skoleforloeb_b_2025-06-30.csv"):
        reasons = quarantined(r, name, 2)["reasons"]
        assert reasons.startswith("conflict:")
        assert "2025-06-30" in reasons
        assert "still counting is skoleforloeb_2025-03-31.csv row 2" in reasons


def test_same_date_conflict_without_older_version_counts_nothing(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_a_2025-06-30.csv", [ex.row(antal_elever="25"), ex.row(forloeb_id="F2")])
    ex.csv("skoleforloeb_b_2025-06-30.csv", [ex.row(antal_elever="26")])
    r = ex.ingest()
    assert current(r, forloeb_id="F1").empty
    assert list(current(r)["forloeb_id"]) == ["F2"]
    assert len(r.quarantine) == 2
    for name in ("skoleforloeb_a_2025-06-30.csv", "skoleforloeb_b_2025-06-30.csv"):
        reasons = quarantined(r, name, 2)["reasons"]
        assert reasons.startswith("conflict:")
        assert "no valid version of this key counts" in reasons


def test_same_date_conflict_within_one_file(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-06-30.csv", [ex.row(antal_elever="25"), ex.row(antal_elever="26")])
    r = ex.ingest()
    assert r.staged.empty
    assert sorted(r.quarantine["row_number"]) == [2, 3]
    assert r.quarantine["reasons"].str.startswith("conflict:").all()


def test_same_date_invalid_row_is_not_a_conflict(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_a_2025-06-30.csv", [ex.row(antal_elever="25")])
    ex.csv("skoleforloeb_b_2025-06-30.csv", [ex.row(antal_elever="-25")])
    r = ex.ingest()
    now = current(r, forloeb_id="F1")
    assert len(now) == 1 and now.iloc[0]["source_file"] == "skoleforloeb_a_2025-06-30.csv"
    reasons = assert_quarantined_for(r, "antal_elever", "skoleforloeb_b_2025-06-30.csv", 2)
    assert "conflict" not in reasons


def test_identical_rows_are_not_a_conflict_and_count_once(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_a_2025-06-30.csv",
           [ex.row(antal_elever="25", skole="Nørrebro Park Skole", aktivitet="foraeldredialog", dato="05-03-2025")])
    ex.csv("skoleforloeb_b_2025-06-30.csv",
           [ex.row(antal_elever="25.0", skole="nørrebro park  skole", aktivitet="Forældredialog", dato="2025-03-05")])
    ex.csv("skoleforloeb_c_2025-06-30.csv",
           [ex.row(antal_elever="25,0", skole=" NØRREBRO PARK SKOLE ", aktivitet=" FORAELDREDIALOG",
                   dato="05.03.2025")])
    r = ex.ingest()
    assert r.quarantine.empty
    assert len(r.staged) == 3
    assert len(current(r, forloeb_id="F1")) == 1


def test_identical_counsellor_rows_after_typing_count_once(exports):
    ex = exports("vejlederlog")
    person = dt.date(1990, 6, 15)
    ex.csv("vejlederlog_a_2025-06-30.csv",
           [ex.row(risikoniveau="høj", cpr=make_cpr(person, dash=True), temaer="vold|isolation")])
    ex.csv("vejlederlog_b_2025-06-30.csv",
           [ex.row(risikoniveau="hoej", cpr=make_cpr(person, dash=False), temaer="Isolation, VOLD")])
    r = ex.ingest()
    assert r.quarantine.empty
    assert len(current(r)) == 1
    assert current(r).iloc[0]["risikoniveau"] == "hoej"


def test_key_is_udbyder_and_forloeb_id(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-06-30.csv", [
        ex.row(forloeb_id="1", udbyder="Børns Vilkår", antal_elever="25"),
        ex.row(forloeb_id="1", udbyder="C:NTACT", antal_elever="18"),
    ])
    r = ex.ingest()
    assert r.quarantine.empty
    now = current(r, forloeb_id="1")
    assert sorted(now["udbyder"]) == ["Børns Vilkår", "C:NTACT"]


def test_milepaele_key_is_maal_id_and_aar(exports):
    ex = exports("milepaele")
    ex.csv("milepaele_2025-01-15.csv", [ex.row(aar="2024", opfyldt="nej"), ex.row(aar="2025", opfyldt="delvist")])
    r = ex.ingest(milestone_goals=["M1"])
    assert r.quarantine.empty
    assert sorted(current(r)["aar"].tolist()) == [2024, 2025]


# =========================================================================== files


def test_missing_required_column_rejects_the_file_naming_the_column(exports):
    ex = exports("skoleforloeb")
    header = [h for h in DEFAULTS["skoleforloeb"] if h != "skoletype"]
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row()], header=header)
    r = ex.ingest()
    load = load_of(r, "skoleforloeb_2025-03-31.csv")
    assert load["status"] == "rejected"
    assert "skoletype" in load["reason"]
    assert any("skoleforloeb_2025-03-31.csv" in m and "skoletype" in m for m in r.messages)
    assert r.staged.empty and r.quarantine.empty


def test_missing_optional_column_is_not_a_rejection(exports):
    ex = exports("skoleforloeb")
    header = [h for h in DEFAULTS["skoleforloeb"] if h not in ("klasse", "pilot", "antal_foraeldre")]
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row()], header=header)
    r = ex.ingest()
    assert load_of(r, "skoleforloeb_2025-03-31.csv")["status"] == "loaded"
    row = current(r).iloc[0]
    assert row["pilot"] == "nej" and row["antal_foraeldre"] == 0


def test_counsellor_log_needs_cpr_and_risikoniveau_columns(exports):
    ex = exports("vejlederlog")
    header = [h for h in DEFAULTS["vejlederlog"] if h != "cpr"]
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(type="henvendelse")], header=header)
    r = ex.ingest()
    load = load_of(r, "vejlederlog_2025-03-31.csv")
    assert load["status"] == "rejected" and "cpr" in load["reason"]


def test_extra_column_is_reported_and_ignored(exports):
    ex = exports("skoleforloeb")
    header = [*DEFAULTS["skoleforloeb"], "kommentar"]
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(kommentar="ring tilbage")], header=header)
    r = ex.ingest()
    load = load_of(r, "skoleforloeb_2025-03-31.csv")
    assert load["status"] == "loaded"
    assert load["extra_columns"] == "kommentar"
    assert "kommentar" not in r.staged.columns
    assert len(current(r)) == 1
    assert any("kommentar" in m for m in r.messages)


def test_header_names_matched_case_insensitively_with_spaces(exports):
    ex = exports("skoleforloeb")
    header = [f"  {h.upper()} " if i % 2 else h.title() for i, h in enumerate(DEFAULTS["skoleforloeb"])]
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row()], header=header)
    r = ex.ingest()
    load = load_of(r, "skoleforloeb_2025-03-31.csv")
    assert load["status"] == "loaded"
    assert pd.isna(load["extra_columns"])
    assert current(r).iloc[0]["skole"] == "Nørrebro Park Skole"


def test_file_without_export_date_is_rejected(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb.csv", [ex.row()])
    ex.csv("skoleforloeb_2025-02-30.csv", [ex.row()])  # not a real date either
    r = ex.ingest()
    for name in ("skoleforloeb.csv", "skoleforloeb_2025-02-30.csv"):
        load = load_of(r, name)
        assert load["status"] == "rejected"
        assert "export date" in load["reason"]
        assert any(name in m and "export date" in m for m in r.messages)
    assert r.staged.empty


def test_file_dated_after_as_of_is_not_staged(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2026-01-31.csv", [ex.row(forloeb_id="F1")])
    ex.csv("skoleforloeb_2026-03-02.csv", [ex.row(forloeb_id="F1", antal_elever="99"), ex.row(forloeb_id="F2")])
    r = ex.ingest(as_of=dt.date(2026, 3, 1))
    load = load_of(r, "skoleforloeb_2026-03-02.csv")
    assert load["status"] == "after_as_of"
    assert load["rows_read"] == 0
    assert set(r.staged["source_file"]) == {"skoleforloeb_2026-01-31.csv"}
    assert current(r, forloeb_id="F1").iloc[0]["antal_elever"] == 25


def test_file_dated_on_as_of_is_loaded(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2026-03-01.csv", [ex.row()])
    r = ex.ingest(as_of=dt.date(2026, 3, 1))
    assert load_of(r, "skoleforloeb_2026-03-01.csv")["status"] == "loaded"
    assert len(current(r)) == 1


def test_other_files_are_ignored_and_logged(exports):
    ex = exports("skoleforloeb")
    ex.raw("README.txt", "Eksporteret af C:NTACT".encode())
    ex.raw("~$skoleforloeb_2025-03-31.xlsx", b"\x00lock")
    ex.raw("~$x.xlsx", b"")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row()])
    r = ex.ingest()
    for name in ("README.txt", "~$skoleforloeb_2025-03-31.xlsx", "~$x.xlsx"):
        assert load_of(r, name)["status"] == "ignored"
        assert any(name in m and "ignored" in m for m in r.messages)
    assert load_of(r, "skoleforloeb_2025-03-31.csv")["status"] == "loaded"
    assert len(current(r)) == 1


def test_header_only_file_is_loaded_with_zero_rows(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [])
    r = ex.ingest()
    load = load_of(r, "vejlederlog_2025-03-31.csv")
    assert load["status"] == "loaded"
    assert load["export_date"] == dt.date(2025, 3, 31)
    assert (load["rows_read"], load["rows_staged"], load["rows_quarantined"]) == (0, 0, 0)
    assert r.staged.empty and r.quarantine.empty
    assert "cpr" not in r.staged.columns


@pytest.mark.parametrize("name", ["skoleforloeb_2025-03-31.csv", "skoleforloeb_2025-03-31.xlsx"])
def test_zero_byte_file_is_rejected(exports, name):
    ex = exports("skoleforloeb")
    ex.raw(name, b"")
    r = ex.ingest()
    load = load_of(r, name)
    assert load["status"] == "rejected"
    assert "empty" in load["reason"]


def test_same_content_delivered_twice_with_same_export_date_counts_once(exports):
    ex = exports("skoleforloeb")
    rows = [ex.row(forloeb_id="F1"), ex.row(forloeb_id="F2")]
    ex.csv("skoleforloeb_2025-03-31.csv", rows)
    ex.csv("skoleforloeb_kopi_2025-03-31.csv", rows)
    r = ex.ingest()
    assert load_of(r, "skoleforloeb_2025-03-31.csv")["status"] == "loaded"
    dup = load_of(r, "skoleforloeb_kopi_2025-03-31.csv")
    assert dup["status"] == "duplicate"
    assert "skoleforloeb_2025-03-31.csv" in dup["reason"]
    assert len(r.staged) == 2 and len(current(r)) == 2
    assert r.quarantine.empty


def test_missing_or_empty_folder_means_no_data(tmp_path):
    spec = SOURCES["skoleforloeb"]
    for folder in (tmp_path / "nothing_here", tmp_path / "empty"):
        if folder.name == "empty":
            folder.mkdir()
        r = ingest_source(spec, folder, AS_OF, None)
        assert_rows_balance(r)
        assert r.staged.empty and r.quarantine.empty and r.file_loads.empty
        assert any("no files" in m for m in r.messages)


# =========================================================================== rows


def test_bad_row_is_quarantined_with_file_row_number_and_every_reason(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [
        ex.row(forloeb_id="F1"),
        ex.row(forloeb_id="F2", skoletype="gymnasium", antal_elever="-1", dato="31-02-2025"),
    ])
    r = ex.ingest()
    q = quarantined(r, "skoleforloeb_2025-03-31.csv", 3)
    assert q["source"] == "skoleforloeb"
    assert q["export_date"] == dt.date(2025, 3, 31)
    assert q["record_key"] is not None and "f2" in q["record_key"].casefold()
    reasons = q["reasons"]
    for column in ("skoletype", "antal_elever", "dato"):
        assert f"{column}:" in reasons
    row_data = json.loads(q["row_data"])
    assert row_data["skoletype"] == "gymnasium" and row_data["antal_elever"] == "-1"
    assert list(current(r)["forloeb_id"]) == ["F1"]


def test_blank_rows_are_skipped_but_row_numbers_follow_the_sheet(exports):
    ex = exports("skoleforloeb")
    path = ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(forloeb_id="F1"), ex.row(forloeb_id="F2", tema="x")])
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    path.write_bytes("\r\n".join([lines[0], lines[1], ";;;;", lines[2], ""]).encode("utf-8"))
    ex.rows_written[path.name] = 2
    r = ex.ingest()
    assert_quarantined_for(r, "tema", path.name, 4)


def test_text_values_are_trimmed_and_otherwise_kept(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(skole="  Nørrebro Park skole ", klasse=" 5.b ")])
    r = ex.ingest()
    row = current(r).iloc[0]
    assert row["skole"] == "Nørrebro Park skole"
    assert row["klasse"] == "5.b"


def test_required_blank_value_quarantines_the_row(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(skole="  ")])
    r = ex.ingest()
    reasons = assert_quarantined_for(r, "skole")
    assert "missing" in reasons
    assert r.staged.empty


@pytest.mark.parametrize("column", ["forloeb_id", "dato", "udbyder", "skoletype", "aktivitet", "tema", "status"])
def test_each_required_column_blank_quarantines_the_row(exports, column):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(**{column: ""})])
    r = ex.ingest()
    assert_quarantined_for(r, column)
    assert r.staged.empty


def test_pupil_session_without_klasse_is_valid(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(klasse="")])
    r = ex.ingest()
    assert r.quarantine.empty
    assert pd.isna(current(r).iloc[0]["klasse"])


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize("text", ["05-03-2025", "05.03.2025", "2025-03-05"])
def test_each_accepted_date_form(exports, text):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(dato=text)])
    r = ex.ingest()
    assert r.quarantine.empty
    assert current(r).iloc[0]["dato"] == pd.Timestamp(2025, 3, 5)


@pytest.mark.parametrize("text", ["31-02-2025", "2025-13-01", "5/3/2025", "marts 2025", "05-03-25"])
def test_impossible_or_unknown_date_quarantines_naming_the_column(exports, text):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(dato=text)])
    r = ex.ingest()
    assert_quarantined_for(r, "dato")
    assert r.staged.empty


def test_date_after_the_file_export_date_quarantines(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(forloeb_id="F1", dato="31-03-2025"),
                                          ex.row(forloeb_id="F2", dato="01-04-2025")])
    r = ex.ingest()
    reasons = assert_quarantined_for(r, "dato", row_number=3)
    assert "export date" in reasons
    assert list(current(r)["forloeb_id"]) == ["F1"]


def test_date_is_checked_against_its_own_file_export_date(exports):
    # files typed together: the same date text is after one file's export date, not the other's
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(forloeb_id="F1", dato="01-04-2025")])
    ex.csv("skoleforloeb_2025-04-30.csv", [ex.row(forloeb_id="F2", dato="01-04-2025")])
    r = ex.ingest()
    assert "export date" in assert_quarantined_for(r, "dato", row_number=2)
    assert list(current(r)["forloeb_id"]) == ["F2"]
    assert_rows_balance(r)


def test_optional_column_one_file_lacks_is_blank_in_that_file_only(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(forloeb_id="F1", pilot="ja", antal_foraeldre="5")])
    header = [h for h in DEFAULTS["skoleforloeb"] if h not in ("pilot", "antal_foraeldre")]
    ex.csv("skoleforloeb_2025-04-30.csv", [ex.row(forloeb_id="F2", pilot="ja", antal_foraeldre="5")], header=header)
    r = ex.ingest()
    rows = current(r).set_index("forloeb_id")
    assert rows.loc["F1", "pilot"] == "ja" and rows.loc["F1", "antal_foraeldre"] == 5
    assert rows.loc["F2", "pilot"] == "nej" and rows.loc["F2", "antal_foraeldre"] == 0


def test_optional_date_after_export_date_quarantines(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(afsluttet="01-04-2025", status="afsluttet")])
    r = ex.ingest()
    assert_quarantined_for(r, "afsluttet", "vejlederlog_2025-03-31.csv")


def test_afsluttet_before_oprettet_quarantines(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(oprettet="15-03-2025", afsluttet="14-03-2025")])
    r = ex.ingest()
    assert_quarantined_for(r, "afsluttet", "vejlederlog_2025-03-31.csv")


def test_udtraadt_before_tilsluttet_quarantines(exports):
    ex = exports("omraade_aktoerer")
    ex.csv("omraade_aktoerer_2025-03-31.csv", [ex.row(tilsluttet="01-02-2024", udtraadt="31-01-2024")])
    r = ex.ingest()
    assert_quarantined_for(r, "udtraadt", "omraade_aktoerer_2025-03-31.csv")


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize("text, expected", [("", 0), ("25", 25), ("25,0", 25), ("25.0", 25), ("1.000", 1000),
                                            ("0", 0)])
def test_accepted_counts(exports, text, expected):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(antal_elever=text)])
    r = ex.ingest()
    assert r.quarantine.empty
    assert current(r).iloc[0]["antal_elever"] == expected


def test_blank_counts_are_zero(exports):
    ex = exports("rettighedskurser")
    ex.csv("rettighedskurser_2025-03-31.csv", [ex.row(deltagere="")])
    r = ex.ingest()
    assert current(r).iloc[0]["deltagere"] == 0


@pytest.mark.parametrize("text", ["-2", "2,5", "2.5", "1,5", "mange"])
def test_negative_or_fractional_count_quarantines(exports, text):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(antal_fagpersoner=text)])
    r = ex.ingest()
    assert_quarantined_for(r, "antal_fagpersoner")
    assert r.staged.empty


# --------------------------------------------------------------------------- codes


def test_codes_matched_case_insensitively_trimmed_and_with_danish_letters(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(status=" GENNEMFØRT ", aktivitet="Fagpersonsoplæg",
                                                  skoletype="FRISKOLE", tema="Rettigheder")])
    r = ex.ingest()
    assert r.quarantine.empty
    row = current(r).iloc[0]
    assert (row["status"], row["aktivitet"], row["skoletype"], row["tema"]) == (
        "gennemfoert", "fagpersonsoplaeg", "friskole", "rettigheder")


def test_risk_level_hoej_with_danish_letter(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(risikoniveau="Høj")])
    r = ex.ingest()
    assert current(r).iloc[0]["risikoniveau"] == "hoej"


def test_unknown_code_quarantines(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(aktivitet="workshop")])
    r = ex.ingest()
    assert_quarantined_for(r, "aktivitet")
    assert r.staged.empty


def test_unknown_code_in_code_list_quarantines(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(temaer="vold|penge")])
    r = ex.ingest()
    assert_quarantined_for(r, "temaer", "vejlederlog_2025-03-31.csv")


def test_optional_pilot_blank_means_nej(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(forloeb_id="F1", pilot=""), ex.row(forloeb_id="F2", pilot="Ja")])
    r = ex.ingest()
    assert current(r, forloeb_id="F1").iloc[0]["pilot"] == "nej"
    assert current(r, forloeb_id="F2").iloc[0]["pilot"] == "ja"


@pytest.mark.parametrize("source, status", [("skoleforloeb", "aflyst"), ("rettighedskurser", "Aflyst"),
                                            ("omraade_aktiviteter", "aflyst"), ("vejlederlog", "annulleret")])
def test_cancelled_rows_are_staged_not_quarantined(exports, source, status):
    ex = exports(source)
    ex.csv(f"{source}_2025-03-31.csv", [ex.row(status=status)])
    r = ex.ingest()
    assert r.quarantine.empty
    now = current(r)
    assert len(now) == 1 and now.iloc[0]["status"] == status.lower()


def test_cancelling_in_a_later_export_replaces_the_held_version(exports):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(status="gennemfoert")])
    ex.csv("skoleforloeb_2025-06-30.csv", [ex.row(status="aflyst")])
    r = ex.ingest()
    now = current(r, forloeb_id="F1")
    assert len(now) == 1 and now.iloc[0]["status"] == "aflyst"


# =========================================================================== vejlederlog and CPR


def test_borgersag_without_cpr_is_quarantined(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(type="borgersag", cpr="")])
    r = ex.ingest()
    assert_quarantined_for(r, "cpr", "vejlederlog_2025-03-31.csv")
    assert r.staged.empty


def test_borgersag_without_risk_level_is_quarantined(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(type="borgersag", risikoniveau="")])
    r = ex.ingest()
    assert_quarantined_for(r, "risikoniveau", "vejlederlog_2025-03-31.csv")


def test_inquiry_without_cpr_is_staged(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(type="henvendelse", cpr="", risikoniveau="")])
    r = ex.ingest()
    assert r.quarantine.empty
    row = current(r).iloc[0]
    assert row["type"] == "henvendelse"
    assert pd.isna(row["borger_pseudonym"]) and pd.isna(row["koen"]) and pd.isna(row["aldersgruppe"])


@pytest.mark.parametrize("kind", ["henvendelse", "borgersag"])
def test_invalid_cpr_is_quarantined_even_for_an_inquiry(exports, kind):
    ex = exports("vejlederlog")
    bad = make_cpr(dt.date(1990, 6, 15)).replace("1506", "3106")  # 31 June
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(type=kind, cpr=bad, registrering_id="R1"),
                                          ex.row(type=kind, cpr="12345", registrering_id="R2")])
    r = ex.ingest()
    assert_quarantined_for(r, "cpr", "vejlederlog_2025-03-31.csv", 2)
    assert_quarantined_for(r, "cpr", "vejlederlog_2025-03-31.csv", 3)
    assert r.staged.empty


def test_birth_date_after_oprettet_is_quarantined(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [
        ex.row(registrering_id="R1", oprettet="15-03-2025", cpr=make_cpr(dt.date(2025, 3, 16))),
        ex.row(registrering_id="R2", oprettet="15-03-2025", cpr=make_cpr(dt.date(2025, 3, 15)),
               type="henvendelse"),
    ])
    r = ex.ingest()
    reasons = assert_quarantined_for(r, "cpr", "vejlederlog_2025-03-31.csv", 2)
    assert "birth date after oprettet" in reasons
    assert list(current(r)["registrering_id"]) == ["R2"]


def test_cpr_forms_of_the_same_number_give_the_same_pseudonym(exports):
    ex = exports("vejlederlog")
    birth = dt.date(1988, 6, 5)  # DD starts with 0: Excel drops it
    dashed = make_cpr(birth, dash=True)
    digits = dashed.replace("-", "")
    assert digits[0] == "0"
    ex.csv("vejlederlog_2025-03-31.csv", [
        ex.row(registrering_id="R1", cpr=dashed),
        ex.row(registrering_id="R2", cpr=digits),
        ex.row(registrering_id="R3", cpr=digits[1:]),
        ex.row(registrering_id="R4", cpr=f"{digits[1:6]}-{digits[6:]}"),
        ex.row(registrering_id="R5", cpr=f" {dashed} "),
    ])
    ex.xlsx("vejlederlog_2025-04-30.xlsx", [ex.row(registrering_id="R6", cpr=int(digits))])
    r = ex.ingest()
    assert r.quarantine.empty
    pseudonyms = set(current(r)["borger_pseudonym"])
    assert len(current(r)) == 6
    assert pseudonyms == {hmac_of(digits, KEY)}


def test_koen_and_aldersgruppe_are_derived(exports):
    ex = exports("vejlederlog")
    cases = {  # registrering_id: (birth, female, expected band) at oprettet 15-03-2025
        "R1": (dt.date(2010, 1, 1), True, "under_18"),
        "R2": (dt.date(2007, 3, 15), False, "18-29"),   # 18th birthday that day
        "R3": (dt.date(1995, 3, 16), True, "18-29"),    # turns 30 the day after
        "R4": (dt.date(1995, 3, 15), False, "30-39"),
        "R5": (dt.date(1980, 12, 31), True, "40-49"),
        "R6": (dt.date(1970, 1, 1), False, "50-64"),
        "R7": (dt.date(1960, 3, 15), True, "65+"),
    }
    ex.csv("vejlederlog_2025-03-31.csv", [
        ex.row(registrering_id=rid, oprettet="15-03-2025", cpr=make_cpr(birth, female=female))
        for rid, (birth, female, _) in cases.items()
    ])
    r = ex.ingest()
    assert r.quarantine.empty
    got = current(r).set_index("registrering_id")
    for rid, (_, female, band) in cases.items():
        assert got.at[rid, "aldersgruppe"] == band, rid
        assert got.at[rid, "koen"] == ("kvinde" if female else "mand"), rid


def test_staged_counsellor_log_has_no_cpr_column(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row()])
    r = ex.ingest()
    assert "cpr" not in r.staged.columns
    assert {"borger_pseudonym", "koen", "aldersgruppe"} <= set(r.staged.columns)


def test_no_cpr_digits_appear_anywhere(exports):
    ex = exports("vejlederlog")
    used = [make_cpr(dt.date(1988, 6, 5), serial=s) for s in range(1, 8)] + [
        make_cpr(dt.date(2025, 3, 20), serial=8),                      # born after oprettet
        make_cpr(dt.date(1990, 6, 15), serial=9).replace("1506", "3106"),  # impossible date
    ]
    valid_dashed, valid_plain, valid_nine, inquiry, conflict_a, conflict_b, bad_row, unborn, impossible = used
    ex.csv("vejlederlog_2025-03-31.csv", [
        ex.row(registrering_id="R1", cpr=valid_dashed),
        ex.row(registrering_id="R2", cpr=valid_plain.replace("-", "")),
        ex.row(registrering_id="R3", cpr=valid_nine.replace("-", "")[1:]),
        ex.row(registrering_id="R4", cpr=inquiry, type="henvendelse"),
        ex.row(registrering_id="R5", cpr=conflict_a, risikoniveau="lav"),
        ex.row(registrering_id="R5", cpr=conflict_b, risikoniveau="hoej"),
        ex.row(registrering_id="R6", cpr=bad_row, status="ukendt", oprettet="31-02-2025"),
        ex.row(registrering_id="R7", cpr=unborn),
        ex.row(registrering_id="R8", cpr=impossible, type="henvendelse"),
    ])
    ex.csv("vejlederlog_2025-06-30.csv",
           [ex.row(registrering_id="R1", cpr=valid_dashed, temaer="xyz", cpr_kopi=valid_plain)],
           header=[*DEFAULTS["vejlederlog"], "cpr_kopi"])
    # a file whose header row is missing: its first data row (with a CPR) is read as the header
    headerless = ex.csv("vejlederlog_2025-05-31.csv", [ex.row(registrering_id="R9", cpr=valid_plain)])
    headerless.write_bytes(headerless.read_bytes().split(b"\r\n", 1)[1] * 2)
    r = ex.ingest()
    assert load_of(r, "vejlederlog_2025-05-31.csv")["status"] == "rejected"
    assert load_of(r, "vejlederlog_2025-06-30.csv")["extra_columns"] == "cpr_kopi"
    # something of each kind happened
    assert {"R1", "R2", "R3", "R4"} <= set(current(r)["registrering_id"])
    assert {"r1", "r5", "r6", "r7", "r8"} == set(r.quarantine["record_key"].str.casefold())
    assert len(r.quarantine) == 6
    for row_data in r.quarantine["row_data"]:
        assert json.loads(row_data)["cpr"] == "***"
    texts = {
        "staged": r.staged.to_csv(),
        "quarantine": r.quarantine.to_csv(),
        "file_loads": r.file_loads.to_csv(),
        "messages": "\n".join(r.messages),
    }
    for cpr in used:
        for form in cpr_forms(cpr):
            for where, text in texts.items():
                assert form not in text, f"a CPR number ({len(form)} chars) leaks into {where}"


def test_pseudonym_depends_on_the_key(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row()])
    first = current(ex.ingest(key=KEY)).iloc[0]["borger_pseudonym"]
    second = current(ex.ingest(key=OTHER_KEY)).iloc[0]["borger_pseudonym"]
    again = current(ex.ingest(key=KEY)).iloc[0]["borger_pseudonym"]
    assert len(first) == 64 and first != second and first == again


@pytest.mark.parametrize("key", [None, b""])
def test_missing_pseudonym_key_is_a_clear_settings_error(exports, key):
    ex = exports("vejlederlog")
    cpr = make_cpr(dt.date(1988, 6, 5))
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row(cpr=cpr)])
    with pytest.raises(SettingsError) as info:
        ingest_source(ex.spec, ex.folder, AS_OF, key)
    message = str(info.value) + repr(info.value) + "".join(str(a) for a in info.value.args)
    assert "NSK_PSEUDONYM_KEY" in message
    for form in cpr_forms(cpr):
        assert form not in message


# =========================================================================== context rules


def test_known_actor_ids_are_staged_case_insensitively_with_either_separator(exports):
    ex = exports("omraade_aktiviteter")
    ex.csv("omraade_aktiviteter_2025-03-31.csv", [
        ex.row(aktivitet_id="A1", aktoerer="akt1|AKT2"),
        ex.row(aktivitet_id="A2", aktoerer="AKT1, Akt2"),
        ex.row(aktivitet_id="A3", aktoerer=" AKT2 "),
        ex.row(aktivitet_id="A4", aktoerer=""),
    ])
    r = ex.ingest(known_actors=["AKT1", "akt2"])
    assert r.quarantine.empty
    assert sorted(current(r)["aktivitet_id"]) == ["A1", "A2", "A3", "A4"]


def test_unknown_actor_id_quarantines(exports):
    ex = exports("omraade_aktiviteter")
    ex.csv("omraade_aktiviteter_2025-03-31.csv", [ex.row(aktivitet_id="A1", aktoerer="AKT1|AKT9"),
                                                  ex.row(aktivitet_id="A2", aktoerer="AKT1")])
    r = ex.ingest(known_actors=["AKT1", "AKT2"])
    assert_quarantined_for(r, "aktoerer", "omraade_aktiviteter_2025-03-31.csv", 2)
    assert list(current(r)["aktivitet_id"]) == ["A2"]


def test_unknown_milestone_goal_quarantines(exports):
    ex = exports("milepaele")
    ex.csv("milepaele_2025-01-15.csv", [ex.row(maal_id="M1"), ex.row(maal_id="M99")])
    r = ex.ingest(milestone_goals=["M1", "M2"])
    assert_quarantined_for(r, "maal_id", "milepaele_2025-01-15.csv", 3)
    assert list(current(r)["maal_id"]) == ["M1"]


# =========================================================================== dialects


def test_cp1252_and_utf8_bom_files_stage_the_same_text(exports):
    ex = exports("skoleforloeb")
    school = "Ærøskøbing Å-skole"
    ex.csv("skoleforloeb_a_2025-03-31.csv", [ex.row(forloeb_id="F1", skole=school)], encoding="cp1252")
    ex.csv("skoleforloeb_b_2025-03-31.csv", [ex.row(forloeb_id="F2", skole=school)], encoding="utf-8-sig")
    ex.csv("skoleforloeb_c_2025-03-31.csv", [ex.row(forloeb_id="F3", skole=school)], encoding="utf-8")
    r = ex.ingest()
    assert r.quarantine.empty
    assert list(current(r).sort_values("forloeb_id")["skole"]) == [school] * 3
    assert list(current(r).sort_values("forloeb_id")["udbyder"]) == ["Børns Vilkår"] * 3
    assert load_of(r, "skoleforloeb_a_2025-03-31.csv")["encoding"] == "cp1252"


@pytest.mark.parametrize("sep", [";", ","])
def test_comma_and_semicolon_separated_files_load(exports, sep):
    ex = exports("skoleforloeb")
    ex.csv("skoleforloeb_2025-03-31.csv", [ex.row(antal_elever="25,0", klasse="5.B")], sep=sep)
    r = ex.ingest()
    assert load_of(r, "skoleforloeb_2025-03-31.csv")["separator"] == sep
    assert r.quarantine.empty
    row = current(r).iloc[0]
    assert row["antal_elever"] == 25 and row["klasse"] == "5.B"


def test_xlsx_with_date_cell_and_float_count_loads(exports):
    ex = exports("skoleforloeb")
    ex.xlsx("skoleforloeb_2025-03-31.xlsx", [
        ex.row(forloeb_id="F1", dato=dt.datetime(2025, 3, 5), antal_elever=25.0, antal_fagpersoner=2),
        ex.row(forloeb_id="F2", dato=dt.date(2025, 3, 6), antal_elever=24.5),
    ])
    r = ex.ingest()
    load = load_of(r, "skoleforloeb_2025-03-31.xlsx")
    assert load["status"] == "loaded"
    row = current(r, forloeb_id="F1").iloc[0]
    assert row["dato"] == pd.Timestamp(2025, 3, 5)
    assert row["antal_elever"] == 25 and row["antal_fagpersoner"] == 2
    assert_quarantined_for(r, "antal_elever", "skoleforloeb_2025-03-31.xlsx", 3)



def test_cpr_typed_in_the_wrong_column_is_masked_everywhere(tmp_path):
    """A CPR number in free text, in a code column or as an extra column's name never leaks."""
    from datetime import date as _date

    from nsk_pipeline.sources.ingest import ingest_source as _ingest
    from nsk_pipeline.sources.specs import SOURCES as _SOURCES

    good = make_cpr(_date(1985, 3, 14), 123, female=True, dash=True)
    stray = make_cpr(_date(1990, 7, 2), 456, female=False, dash=False)
    stray_dashed = stray[:6] + "-" + stray[6:]
    folder = tmp_path / "vejlederlog"
    folder.mkdir()
    header = f"registrering_id;oprettet;type;cpr;risikoniveau;henvist_til;status;note {stray}"
    rows = [f"R1;01-03-2025;borgersag;{good};lav;ring til {stray_dashed} i morgen;aktiv;x",
            f"R2;02-03-2025;{stray};;;;aktiv;y"]
    (folder / "vejlederlog_2025-04-02.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = _ingest(_SOURCES["vejlederlog"], folder, _date(2025, 12, 31), b"k" * 32)
    text = "\n".join([result.staged.to_csv(), result.quarantine.to_csv(), result.file_loads.to_csv(),
                      *result.messages])
    for number in (good, stray, stray_dashed, good.replace("-", "")):
        assert number not in text
    assert len(result.staged) == 1 and len(result.quarantine) == 1
    assert "***" in result.staged["henvist_til"].iloc[0]


def test_a_cpr_number_in_a_file_name_is_masked_and_staging_stays_up_to_date(tmp_path, duckdb_url):
    """A file name is shown masked (file loads, staged rows, messages), and the staleness guard
    of a marts-only run compares the folder's files by the same masked names."""
    from nsk_pipeline.core.resources import NskResource
    from nsk_pipeline.sources.assets import write_source
    from nsk_pipeline.sources.uptodate import stale_sources

    ex = Exports(tmp_path, "rettighedskurser")
    ex.csv("rettighedskurser_borger 010190-1234_2025-03-31.csv", [ex.row()], header=[*DEFAULTS[
        "rettighedskurser"], "note 01.01.90 1234"])
    raw = tmp_path / "raw"
    nsk = NskResource(raw_dir=str(raw), warehouse_url=duckdb_url, as_of=AS_OF.isoformat())
    shown = ""
    for name, spec in SOURCES.items():
        (raw / name).mkdir(parents=True, exist_ok=True)
        with ingest_source(spec, raw / name, AS_OF, KEY) as result:
            write_source(nsk, result, "the full run")
            if name == "rettighedskurser":
                assert result.rows_staged == 1
                shown = "\n".join([result.file_loads.to_csv(), result.staged.to_csv(), *result.messages])
    try:
        assert "rettighedskurser_borger ***_2025-03-31.csv" in shown and "note ***" in shown
        assert "1234" not in shown
        assert stale_sources(nsk.warehouse, raw, AS_OF, "a marts-only run") == []
    finally:
        nsk.warehouse.dispose()


def test_a_same_date_conflict_is_quarantined_even_when_a_newer_version_exists(tmp_path):
    """source-exports.md: two valid rows, same key, same export date, different values are a
    conflict: both are quarantined — whether or not a later export supersedes them."""
    from datetime import date as _date

    from nsk_pipeline.sources.ingest import ingest_source as _ingest
    from nsk_pipeline.sources.specs import SOURCES as _SOURCES

    folder = tmp_path / "rettighedskurser"
    folder.mkdir()
    header = "kursus_id;dato;sted_type;deltagere;status\n"
    (folder / "a_2025-01-10.csv").write_text(header + "K1;05-01-2025;jobcenter;10;gennemfoert\n")
    (folder / "b_2025-01-10.csv").write_text(header + "K1;05-01-2025;jobcenter;12;gennemfoert\n")
    (folder / "c_2025-04-10.csv").write_text(header + "K1;05-01-2025;jobcenter;11;gennemfoert\n")
    result = _ingest(_SOURCES["rettighedskurser"], folder, _date(2025, 12, 31))
    assert sorted(result.quarantine["file_name"]) == ["a_2025-01-10.csv", "b_2025-01-10.csv"]
    assert result.quarantine["reasons"].str.startswith("conflict").all()
    current = result.staged[result.staged["er_gaeldende"]]
    assert list(current["deltagere"]) == [11] and list(current["source_file"]) == ["c_2025-04-10.csv"]
    loads = result.file_loads.set_index("file_name")
    assert (loads["rows_read"] == loads["rows_staged"] + loads["rows_quarantined"]).all()


# --------------------------------------------------------------------------- version resolution, as a rule

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=30))
def test_version_resolution_equals_the_groupby_rule(tmp_path_factory, versions):
    """Conflict = two signatures for a key on one export date (all its versions quarantined); the
    version that counts is the first in file order at the key's latest unconflicted date, over
    every export at once (the rule as pandas states it)."""
    folder = tmp_path_factory.mktemp("versions") / "rettighedskurser"
    folder.mkdir()
    df = pd.DataFrame(versions, columns=["k", "d", "s"])
    df["file"] = [f"rettighedskurser_2025-01-{d + 10:02d}.csv" for d in df["d"]]
    df["row"] = df.groupby("file").cumcount() + 2
    for name, rows in df.groupby("file"):
        lines = ["kursus_id;dato;sted_type;deltagere;status"]
        lines += [f"K{k};05-01-2025;jobcenter;{s};gennemfoert" for k, s in zip(rows["k"], rows["s"])]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest_source(SOURCES["rettighedskurser"], folder, AS_OF)
    assert_rows_balance(result)
    conflict = df.groupby(["k", "d"])["s"].transform("nunique") > 1
    rest = df[~conflict]
    winners = rest[rest["d"] == rest.groupby("k")["d"].transform("max")].sort_values(["file", "row"])
    winners = winners.drop_duplicates("k")
    got_conflicts = set(zip(result.quarantine["file_name"], result.quarantine["row_number"]))
    assert got_conflicts == set(zip(df.loc[conflict, "file"], df.loc[conflict, "row"]))
    assert result.quarantine["reasons"].str.startswith("conflict:").all()
    now = result.staged[result.staged["er_gaeldende"]]
    assert set(zip(now["source_file"], now["source_row"])) == set(zip(winners["file"], winners["row"]))
    assert len(result.staged) == int((~conflict).sum())


@pytest.mark.parametrize(("configured", "after"), [("", "122.0 MiB"), ("64MB", "61.0 MiB")])
def test_the_private_pool_shrinks_once_the_result_is_made_never_above_the_configured_limit(
        exports, monkeypatch, configured, after):
    """The result only streams out: its pool is cut to 128 MB, but an operator's smaller
    NSK_DUCKDB_MEMORY_LIMIT stays the bound."""
    monkeypatch.setenv("NSK_DUCKDB_MEMORY_LIMIT", configured)
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row()])
    with ex.ingest() as result:
        assert result.con.execute("SELECT current_setting('memory_limit')").fetchall() == [(after,)]


def test_the_private_database_and_its_spill_folder_are_removed_when_the_result_is_closed(exports):
    ex = exports("vejlederlog")
    ex.csv("vejlederlog_2025-03-31.csv", [ex.row()])
    with ex.ingest() as result:
        spill = Path(result.con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        assert spill.is_dir() and spill.name.startswith("nsk-ingest-")
    assert not spill.exists()
    with pytest.raises(Exception):
        result.con.execute("SELECT 1")
