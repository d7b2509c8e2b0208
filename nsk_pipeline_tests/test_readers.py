"""Tests for nsk_pipeline.sources.readers: each file read by ``read_export`` into a DuckDB
connection opened here, and the view SELECTed from."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nsk_pipeline.sources import readers
from nsk_pipeline.sources.readers import (
    FileRejected,
    RawExport,
    drop_export,
    export_date_from_name,
    is_data_file,
    read_export,
)
from nsk_pipeline_tests.raw_files import read_table

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: each example reads a file several times through DuckDB
MODEL = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


@dataclass
class Read:
    """What a file's view holds, in ``source_row`` order."""

    export: RawExport
    records: list[dict[str, str | None]]  # one per data row, without source_row
    rows: list[int]  # source_row of each

    @property
    def header(self) -> list[str]:
        return self.export.header

    @property
    def encoding(self) -> str:
        return self.export.encoding

    @property
    def separator(self) -> str | None:
        return self.export.separator

    def column(self, name: str) -> list[str | None]:
        return [r[name] for r in self.records]


def _read_once(path: Path, expected_columns: list[str] | None) -> Read:
    con = duckdb.connect()
    try:
        export = read_export(con, path, expected_columns=expected_columns)
        described = con.sql(f"DESCRIBE {export.view}").fetchall()
        assert [(d[0], d[1]) for d in described] == [(n, "VARCHAR") for n in export.header] + [
            ("source_row", "BIGINT")
        ]
        fetched = con.sql(f"SELECT * FROM {export.view} ORDER BY source_row").fetchall()
        drop_export(con, export)
        left = con.sql(
            "SELECT table_name FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
        assert not [n for (n,) in left if n.startswith(export.view)]
        assert not readers._memory_fs().exists(f"nsk_raw/{export.view}.csv")
    finally:
        con.close()
    records = [dict(zip(export.header, row[:-1])) for row in fetched]
    rows = [row[-1] for row in fetched]
    assert export.rows == len(records)
    assert rows == sorted(set(rows)) and all(isinstance(n, int) and n >= 2 for n in rows)
    for record in records:
        for v in record.values():
            assert v is None or (isinstance(v, str) and v == v.strip() and v != "")
    return Read(export, records, rows)


def read(path: Path, expected_columns: list[str] | None = None) -> Read:
    """``read_export`` in a fresh connection, checking the view's contract: VARCHAR columns in
    header order, then ``source_row`` BIGINT; trimmed non-blank text or NULL; ``rows`` right;
    nothing left behind by ``drop_export``. A CSV file is read both ways the reader has (a
    small file parsed once into a table, a big one a view over ``read_csv``): same result."""
    small = _read_once(path, expected_columns)
    if path.suffix.lower() == ".csv":
        old = readers._MATERIALISE_BYTES
        readers._MATERIALISE_BYTES = -1
        try:
            big = _read_once(path, expected_columns)
        finally:
            readers._MATERIALISE_BYTES = old
        assert (big.records, big.rows, big.header) == (small.records, small.rows, small.header)
        assert (big.encoding, big.separator) == (small.encoding, small.separator)
    return small


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name, expected",
    [
        ("vejlederlog_2025-04-02.csv", dt.date(2025, 4, 2)),
        ("skoleforloeb_bv_2024-12-31.xlsx", dt.date(2024, 12, 31)),
        ("a_b_2025-01-05.CSV", dt.date(2025, 1, 5)),
        ("data/raw/milepaele/milepaele_2024-02-29.csv", dt.date(2024, 2, 29)),
    ],
)
def test_export_date_from_name(name: str, expected: dt.date) -> None:
    assert export_date_from_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "vejlederlog.csv",
        "vejlederlog_2025-4-2.csv",
        "vejlederlog_2025-02-30.csv",  # not a real date
        "vejlederlog_2025-13-01.csv",
        "vejlederlog-2025-04-02.csv",  # no underscore
        "vejlederlog_2025-04-02",  # no extension
        "vejlederlog_2025-04-02_v2.csv",
        "vejlederlog_02-04-2025.csv",
    ],
)
def test_export_date_missing_or_invalid(name: str) -> None:
    with pytest.raises(FileRejected) as exc:
        export_date_from_name(name)
    assert str(exc.value) == "no export date in the file name (expected <name>_YYYY-MM-DD.csv)"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a_2025-01-01.csv", True),
        ("a_2025-01-01.CSV", True),
        ("a_2025-01-01.xlsx", True),
        ("a_2025-01-01.XLSX", True),
        ("README.txt", False),
        ("a.xls", False),
        ("a.csv.bak", False),
        ("~$a_2025-01-01.xlsx", False),
        (".a_2025-01-01.csv", False),
        (".DS_Store", False),
    ],
)
def test_is_data_file(name: str, expected: bool, tmp_path: Path) -> None:
    assert is_data_file(name) is expected
    assert is_data_file(tmp_path / name) is expected


# --------------------------------------------------------------------------- CSV basics


def test_semicolon_csv(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b;c\n1;2;3\n 4 ; ;6\n")
    t = read(p)
    assert t.separator == ";"
    assert t.encoding == "utf-8"
    assert t.header == ["a", "b", "c"]
    assert t.records == [
        {"a": "1", "b": "2", "c": "3"},
        {"a": "4", "b": None, "c": "6"},
    ]
    assert t.rows == [2, 3]


def test_comma_csv_with_quotes(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a,b\n"Røde Kors, KVINFO","sagde ""hej""\nigen"\n')
    t = read(p)
    assert t.separator == ","
    assert t.records[0]["a"] == "Røde Kors, KVINFO"
    assert t.records[0]["b"] == 'sagde "hej"\nigen'
    assert t.rows == [2]


def test_semicolon_with_commas_in_values(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "antal;tekst\n25,0;a, b, c\n")
    t = read(p)
    assert t.separator == ";"
    assert t.records[0]["antal"] == "25,0"


def test_separator_prefers_expected_columns(tmp_path: Path) -> None:
    # one ';' vs two ',' in the header, but the ';' split yields the expected names
    p = write(tmp_path, "x_2025-01-01.csv", "navn, fornavn, mellemnavn;alder\nx;1\n")
    assert read(p).separator == ","
    t = read(p, expected_columns=["Navn, fornavn, mellemnavn", "alder"])
    assert t.separator == ";"
    assert t.header == ["navn, fornavn, mellemnavn", "alder"]


def test_utf8_bom(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", codecs.BOM_UTF8 + "skole;antal\nNørrebro;2\n".encode())
    t = read(p)
    assert t.encoding == "utf-8-sig"
    assert t.header == ["skole", "antal"]  # no BOM in the first name
    assert t.records[0]["skole"] == "Nørrebro"


def test_cp1252_round_trip(tmp_path: Path) -> None:
    text = "skole;udbyder\nÆblehaven Skole;Børns Vilkår\nÅ ø æ;€\n"
    p = write(tmp_path, "x_2025-01-01.csv", text, encoding="cp1252")
    t = read(p)
    assert t.encoding == "cp1252"
    assert t.column("skole") == ["Æblehaven Skole", "Å ø æ"]
    assert t.column("udbyder") == ["Børns Vilkår", "€"]


def test_cp1252_copy_lives_in_the_connections_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Windows-1252 file's UTF-8 copy goes where ingest's private database keeps its temporary
    files (a folder removed with the step), not into this process's memory; and it is removed
    with the export. A connection without such a folder keeps the copy in memory."""
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\r\n" + "æø€;1\r\n" * 20_000, encoding="cp1252")
    monkeypatch.setattr(readers, "_MATERIALISE_BYTES", 0)  # a view over the copy until it is dropped
    own = tmp_path / "private"
    own.mkdir()
    con = duckdb.connect(str(own / "db.duckdb"), config={"temp_directory": str(own)})
    try:
        export = read_export(con, p)
        copies = [f for f in own.iterdir() if f.suffix == ".csv"]
        assert len(copies) == 1 and copies[0].read_text("utf-8").startswith("a;b")
        assert not readers._memory_fs().exists(f"nsk_raw/{export.view}.csv")
        assert con.sql(f"SELECT count(*), min(a) FROM {export.view}").fetchall() == [(20_000, "æø€")]
        drop_export(con, export)
        assert not [f for f in own.iterdir() if f.suffix == ".csv"]
    finally:
        con.close()
    in_memory = duckdb.connect()
    try:
        assert readers._copy_location(in_memory, "v").startswith("memory://")
    finally:
        in_memory.close()


def test_header_variants_normalised(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", " Forloeb_ID ;DATO;  Antal   Elever  \n1;2;3\n")
    t = read(p)
    assert t.header == ["forloeb_id", "dato", "antal elever"]


def test_duplicate_header_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "dato;Dato \n1;2\n")
    with pytest.raises(FileRejected, match="duplicate column name"):
        read(p)


def test_duplicate_header_that_looks_like_data_is_not_echoed(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "123456-7890;123456-7890\n")
    with pytest.raises(FileRejected) as exc:
        read(p)
    assert "123456" not in str(exc.value)


def test_header_only_file(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b;c\n")
    t = read(p)
    assert t.header == ["a", "b", "c"]
    assert len(t.records) == 0
    assert t.rows == []


def test_blank_rows_skipped_but_counted(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\r\n1;2\r\n\r\n;\r\n  ;  \r\n3;4\r\n;;\r\n")
    t = read(p)
    assert t.column("a") == ["1", "3"]
    assert t.rows == [2, 6]


def test_row_numbers_count_records_not_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n"multi\nline";1\nx;2\n')
    t = read(p)
    assert t.rows == [2, 3]


def test_short_and_long_rows(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b;c\n1\n1;2;3;4;5\n")
    t = read(p)
    assert t.records == [
        {"a": "1", "b": None, "c": None},
        {"a": "1", "b": "2", "c": "3"},
    ]
    assert t.rows == [2, 3]


def test_trailing_empty_header_cells_dropped(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b;;\n1;2;;\n")
    assert read(p).header == ["a", "b"]


def test_unnamed_column_with_values_kept(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;;c\n1;x;3\n")
    t = read(p)
    assert t.header == ["a", "unnamed_2", "c"]
    assert t.records[0]["unnamed_2"] == "x"


def test_crlf_and_single_column(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "aktoer_id\r\nA1\r\nA2\r\n")
    t = read(p)
    assert t.column("aktoer_id") == ["A1", "A2"]


def test_cp1252_punctuation_and_danish_letters(tmp_path: Path) -> None:
    """Windows-1252 puts – € ’ in 0x80-0x9F, where Latin-1 has control characters."""
    text = "skole;note\nÆblehaven – Øst;pris 5 €, Børns Vilkår’s\nÅ;“citat”\n"
    p = write(tmp_path, "x_2025-01-01.csv", text, encoding="cp1252")
    assert b"\x96" in p.read_bytes() and b"\x80" in p.read_bytes()
    t = read(p)
    assert t.encoding == "cp1252"
    assert t.records == [
        {"skole": "Æblehaven – Øst", "note": "pris 5 €, Børns Vilkår’s"},
        {"skole": "Å", "note": "“citat”"},
    ]


def test_row_numbers_blank_lines_inside_and_between_quoted_values(tmp_path: Path) -> None:
    # line 3 is inside a quoted value (no row); line 5 is a blank row (skipped, counted)
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n"x\n\ny";1\n\nz;2\n\n\n"p\r\n\r\nq";3\n')
    t = read(p)
    assert t.records == [
        {"a": "x\n\ny", "b": "1"},
        {"a": "z", "b": "2"},
        {"a": "p\r\n\r\nq", "b": "3"},
    ]
    assert t.rows == [2, 4, 7]


def test_row_numbers_blank_lines_before_the_header(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "\r\n;\r\n\r\na;b\r\n\r\n1;2\r\n")
    t = read(p)
    assert t.records == [{"a": "1", "b": "2"}]
    assert t.rows == [6]


def test_single_column_blank_lines_counted(tmp_path: Path) -> None:
    # DuckDB keeps an empty line of a one-column file as a row (and skips it otherwise)
    p = write(tmp_path, "x_2025-01-01.csv", "\naktoer_id\n\nA1\n\n\nA2\n\n")
    t = read(p)
    assert t.column("aktoer_id") == ["A1", "A2"]
    assert t.rows == [4, 7]


def test_mixed_line_endings(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\r\n1;2\n3;4\r\n\r\n5;6\n\n7;8")
    t = read(p)
    assert t.column("a") == ["1", "3", "5", "7"]
    assert t.rows == [2, 3, 5, 7]


def test_long_row_with_text_only_beyond_the_header_is_kept(tmp_path: Path) -> None:
    """A row is never silently dropped: one whose only text is in a column past the header
    comes through (all blank), so that validation quarantines it."""
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\n;;x\n;;\n1;2;3;4;5;6;7;8;9\n")
    t = read(p)
    assert t.records == [{"a": None, "b": None}, {"a": "1", "b": "2"}]
    assert t.rows == [2, 4]


def test_other_whitespace_trimmed_as_str_strip(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\n\t1\xa0;\u2003\u2028 x\u3000\n")
    assert read(p).records == [{"a": "1", "b": "x"}]
    p = write(tmp_path, "y_2025-01-01.csv", 'a;b\n" 1\n";"\r\nx "\n')
    assert read(p).records == [{"a": "1", "b": "x"}]


def test_header_past_the_first_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_CHUNK_BYTES", 8)
    p = write(tmp_path, "x_2025-01-01.csv", ";;;;;;\n" * 5 + '"lang\nt navn";b\n1;2\n')
    t = read(p)
    assert t.header == ["lang t navn", "b"]
    assert t.rows == [7]  # records, not lines: the header is row 6


# --------------------------------------------------------------------------- CSV rejections


def test_zero_byte_file(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", b"")
    with pytest.raises(FileRejected) as exc:
        read(p)
    assert str(exc.value) == "empty file (0 bytes)"


def test_whitespace_only_file(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", b"\r\n \r\n")
    with pytest.raises(FileRejected, match="no header"):
        read(p)


def test_utf16_file_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\n1;2\n".encode("utf-16"))
    with pytest.raises(FileRejected, match="UTF-16|NUL"):
        read(p)


def test_utf16_without_bom_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\n1;2\n".encode("utf-16-le"))
    with pytest.raises(FileRejected, match="NUL"):
        read(p)


def test_random_bytes_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", os.urandom(4096) + b"\x00")
    with pytest.raises(FileRejected):
        read(p)


def test_undefined_cp1252_bytes_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", b"a;b\n\x81\x8d;\x90\n")
    with pytest.raises(FileRejected, match="neither UTF-8 nor Windows-1252"):
        read(p)


def test_control_characters_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", b"a;b\n" + bytes(range(1, 9)) * 20)
    with pytest.raises(FileRejected, match="control characters"):
        read(p)


def test_unclosed_quote_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n"x;1\ny;2\n')
    with pytest.raises(FileRejected, match="never closed"):
        read(p)


def test_literal_quote_inside_value_is_fine(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n5"B;1\n')
    assert read(p).records[0]["a"] == '5"B'


def test_text_after_a_closing_quote_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n"x"y;1\n2;3\n')
    with pytest.raises(FileRejected) as exc:
        read(p)
    assert str(exc.value) == "the file could not be parsed as CSV"


def test_quote_left_open_in_a_file_with_line_breaks_in_values(tmp_path: Path) -> None:
    # DuckDB reads such a file in one thread, where it does not report the open quote itself
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n"x\ny";1\n2;"3\n4;5\n')
    with pytest.raises(FileRejected, match="never closed"):
        read(p)


@pytest.mark.parametrize(
    "text",
    [
        'cpr;b\n0101901234;"1\n',  # open quote
        'cpr;b\n"0101901234"x;1\n',  # text after a quote
        "cpr;b\n0101901234;1\n" + "x" * 3_000_000 + "\n",  # a line longer than DuckDB takes
        'cpr;b\n"0101901234\r\n;"x\n2;3\n',  # mixed line endings and an open quote
    ],
)
def test_duckdb_errors_are_not_passed_on(tmp_path: Path, text: str) -> None:
    """DuckDB's parse errors quote the offending line: the reason is ours, with no chained error."""
    p = write(tmp_path, "x_2025-01-01.csv", text)
    with pytest.raises(FileRejected) as exc:
        read(p)
    assert "0101901234" not in str(exc.value)
    assert exc.value.__cause__ is None and exc.value.__context__ is None


def test_rejection_reason_never_contains_cell_values(tmp_path: Path) -> None:
    secret = "0101901234"
    p = write(tmp_path, "x_2025-01-01.csv", f"cpr;navn\n{secret};\x81\x8d\x90\n".encode("latin-1"))
    with pytest.raises(FileRejected) as exc:
        read(p)
    assert secret not in str(exc.value)
    assert exc.value.__cause__ is None


def test_unsupported_suffix(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.txt", "a;b\n")
    with pytest.raises(FileRejected, match="unsupported"):
        read(p)


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="could not be opened"):
        read(tmp_path / "nope_2025-01-01.csv")


def test_raw_export_repr_has_no_values(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "cpr\n0101901234\n")
    assert "0101901234" not in repr(read(p).export)
    # a file without its header row: the first data row is taken for the header
    p = write(tmp_path, "y_2025-01-01.csv", "0101901234;x\n0202901234;y\n")
    t = read(p)
    assert t.header[0] == "0101901234"  # (the caller reports the missing columns)
    assert "0101901234" not in repr(t.export)


def test_read_table_for_pandas(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\n1;\n\n3;4\n")
    t = read_table(p)
    assert t.frame.to_dict("records") == [{"a": "1", "b": None}, {"a": "3", "b": "4"}]
    assert all(t.frame[c].dtype == object for c in t.frame.columns)
    assert t.row_numbers == [2, 4]


# --------------------------------------------------------------------------- XLSX


def make_xlsx(path: Path, rows: list[list[object]], extra_sheet_first: bool = False) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    if extra_sheet_first:
        other = wb.create_sheet("andet", 1)
        other.append(["ignored"])
    wb.save(path)
    return path


def test_xlsx_cells_to_text(tmp_path: Path) -> None:
    p = make_xlsx(
        tmp_path / "x_2025-01-01.xlsx",
        [
            [" Dato ", "Antal_Elever", "Pilot", "Skole", "id"],
            [dt.datetime(2025, 3, 4, 0, 0), 25.0, True, "  Nørrebro Park skole ", 7],
            [dt.date(2025, 3, 5), 2.5, False, None, 12345678901],
            [None, None, None, None, None],
            ["", 3, None, "x", None],
        ],
    )
    t = read(p)
    assert t.encoding == "xlsx"
    assert t.separator is None
    assert t.header == ["dato", "antal_elever", "pilot", "skole", "id"]
    assert t.records == [
        # the file stores 25.0 as <v>25</v>, which openpyxl reads back as an int
        {"dato": "2025-03-04", "antal_elever": "25", "pilot": "ja", "skole": "Nørrebro Park skole", "id": "7"},
        {"dato": "2025-03-05", "antal_elever": "2.5", "pilot": "nej", "skole": None, "id": "12345678901"},
        {"dato": None, "antal_elever": "3", "pilot": None, "skole": "x", "id": None},
    ]
    assert t.rows == [2, 3, 5]


@pytest.mark.parametrize(
    "value, text",
    [
        (None, None),
        ("", None),
        ("  x ", "x"),
        # a workbook stores every number as a float: a whole one is its digits
        (25.0, "25"),
        (101901234.0, "101901234"),
        (2.5, "2.5"),
        (1e20, "1e+20"),
        (25, "25"),
        (True, "ja"),
        (False, "nej"),
        (dt.datetime(2025, 3, 4, 13, 5), "2025-03-04"),
        (dt.date(2025, 3, 4), "2025-03-04"),
    ],
)
def test_cell_to_text(value: object, text: str | None) -> None:
    from nsk_pipeline.sources.readers import _cell_to_text

    assert _cell_to_text(value) == text


def test_xlsx_number_cells(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "x_2025-01-01.xlsx", [["antal"], [25.0], [1000.0], [2.5], [None], [0.1]])
    t = read(p)
    assert t.column("antal") == ["25", "1000", "2.5", "0.1"]
    assert t.rows == [2, 3, 4, 6]


def test_xlsx_cpr_stored_as_number_keeps_its_digits(tmp_path: Path) -> None:
    """Danish Excel drops a CPR number's leading zero when the cell is a number: the
    nine digits must come through as digits (not '101901234.0'), so the zero can be put back."""
    p = make_xlsx(
        tmp_path / "x_2025-01-01.xlsx",
        [["cpr", "oprettet"], [101901234, dt.date(2025, 1, 2)], [2406932006, dt.datetime(2025, 1, 3, 0, 0)],
         ["010190-1234", "03-01-2025"]],
    )
    t = read(p)
    assert t.column("cpr") == ["101901234", "2406932006", "010190-1234"]
    assert t.column("oprettet") == ["2025-01-02", "2025-01-03", "03-01-2025"]


def test_xlsx_header_only(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "x_2025-01-01.xlsx", [["a", "b"]])
    t = read(p)
    assert t.header == ["a", "b"]
    assert len(t.records) == 0


def test_xlsx_reads_first_sheet(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "x_2025-01-01.xlsx", [["a"], ["1"]], extra_sheet_first=True)
    assert read(p).column("a") == ["1"]


def test_xlsx_gap_rows_keep_numbering(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "a"
    ws["A2"] = "x"
    ws["A7"] = "y"
    p = tmp_path / "x_2025-01-01.xlsx"
    wb.save(p)
    t = read(p)
    assert t.column("a") == ["x", "y"]
    assert t.rows == [2, 7]


def test_xlsx_duplicate_header(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "x_2025-01-01.xlsx", [["a", "A "], [1, 2]])
    with pytest.raises(FileRejected, match="duplicate"):
        read(p)


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a workbook",
        b"PK\x03\x04" + b"\x00" * 100,  # zip magic, broken zip
        os.urandom(2048),
    ],
)
def test_corrupt_xlsx(tmp_path: Path, content: bytes) -> None:
    p = write(tmp_path, "x_2025-01-01.xlsx", content)
    with pytest.raises(FileRejected) as exc:
        read(p)
    assert str(exc.value) == "not a readable .xlsx workbook"


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "0101901234")
    p = write(tmp_path, "x_2025-01-01.xlsx", buf.getvalue())
    with pytest.raises(FileRejected) as exc:
        read(p)
    assert str(exc.value) == "not a readable .xlsx workbook"


def test_truncated_xlsx(tmp_path: Path) -> None:
    good = make_xlsx(tmp_path / "good.xlsx", [["a"], ["1"]]).read_bytes()
    p = write(tmp_path, "x_2025-01-01.xlsx", good[: len(good) // 2])
    with pytest.raises(FileRejected, match="not a readable .xlsx workbook"):
        read(p)


def test_zero_byte_xlsx(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.xlsx", b"")
    with pytest.raises(FileRejected, match="empty file"):
        read(p)


# --------------------------------------------------------------------------- properties


_TMP = Path(tempfile.mkdtemp(prefix="nsk_readers_"))


@FAST
@given(data=st.binary(max_size=600))
def test_read_export_arbitrary_bytes_csv(data: bytes) -> None:
    p = _TMP / "prop_2025-01-01.csv"
    p.write_bytes(data)
    try:
        read(p)  # checks the view's contract
    except FileRejected as exc:
        assert str(exc)


_csv_alphabet = st.sampled_from(list('ab;,"\n\r æøå1 \t.-|') + ["\x00", "\x81", "é"])


@FAST
@given(text=st.text(alphabet=_csv_alphabet, max_size=200), enc=st.sampled_from(["utf-8", "cp1252", "utf-8-sig"]))
def test_read_export_csv_like_text(text: str, enc: str) -> None:
    p = _TMP / "prop2_2025-01-01.csv"
    p.write_bytes(text.encode(enc, errors="replace"))
    try:
        t = read(p, expected_columns=["a", "b"])
    except FileRejected as exc:
        assert str(exc)
        return
    assert all(isinstance(n, int) and n >= 2 for n in t.rows)
    assert t.rows == sorted(set(t.rows))


_GOOD_XLSX: bytes | None = None


def _good_xlsx() -> bytes:
    global _GOOD_XLSX
    if _GOOD_XLSX is None:
        buf = io.BytesIO()
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["dato", "antal"])
        ws.append([dt.date(2025, 1, 2), 3.0])
        wb.save(buf)
        _GOOD_XLSX = buf.getvalue()
    return _GOOD_XLSX


@FAST
@given(data=st.data())
def test_read_export_mangled_xlsx(data: st.DataObject) -> None:
    raw = bytearray(_good_xlsx())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    p = _TMP / "prop_2025-01-01.xlsx"
    p.write_bytes(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw))
    try:
        read(p)
    except FileRejected as exc:
        assert str(exc)


# --------------------------------------------------------------------------- model of a file


@st.composite
def _export_files(draw: st.DrawFn) -> tuple[str, str, list[str], list[tuple[int, list[str | None]]]]:
    """A well-formed export and what reading it must give: its header, and each data row's
    spreadsheet row number with its values. Rows are plain or quoted cells (quoted ones may
    hold the separator, quotes and line breaks), empty lines, and blank rows."""
    sep = draw(st.sampled_from([";", ","]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    width = draw(st.integers(1, 4))
    names = [f"k{i}" for i in range(width)]
    plain = st.text(alphabet=st.sampled_from(list("ab æø1-.")), max_size=5)
    quoted = st.lists(st.sampled_from(["a", " ", ";", ",", '"', "ø", eol]), max_size=6).map("".join)
    lines = [sep.join(names)]
    expected: list[tuple[int, list[str | None]]] = []
    for record in range(2, 2 + draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["row", "row", "row", "empty", "blank"]))
        if kind == "empty":
            lines.append("")
            continue
        if kind == "blank":
            lines.append((sep * draw(st.integers(0, width - 1)) if width > 1 else "") + " " * draw(st.integers(1, 2)))
            continue
        cells, values = [], []
        for _ in range(width):
            if draw(st.booleans()):
                value = draw(quoted)
                cells.append(" " * draw(st.integers(0, 1)) + '"' + value.replace('"', '""') + '"')
            else:
                value = draw(plain)
                cells.append(value)
            values.append(value.strip() or None)
        lines.append(sep.join(cells))
        if any(v is not None for v in values):
            expected.append((record, values))
    text = eol.join(lines) + draw(st.sampled_from([eol, ""]))
    return text, sep, names, expected


@MODEL
@given(case=_export_files(), enc=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
def test_read_export_matches_the_model(case, enc: str) -> None:
    text, sep, names, expected = case
    p = _TMP / "model_2025-01-01.csv"
    p.write_bytes(text.encode(enc))
    t = read(p, expected_columns=names)
    assert t.header == names
    assert [(n, list(r.values())) for n, r in zip(t.rows, t.records)] == expected
    assert t.encoding == ("utf-8" if enc == "cp1252" and text.isascii() else enc)
    assert t.separator == sep or len(names) == 1


@MODEL
@given(case=_export_files(), chunk=st.integers(1, 9), extra=st.sampled_from(["", "\t", "\xa0", "\u2028"]))
def test_reading_in_chunks_gives_the_same(case, chunk: int, extra: str) -> None:
    """The byte scan (encoding, empty lines, quotes, other whitespace) reads the file a chunk at
    a time; where the chunks end must not matter."""
    text, _, names, _ = case
    if extra:  # a blank row of other whitespace
        text += ("" if text.endswith("\n") else "\n") + extra + "\n"
    p = _TMP / "chunks_2025-01-01.csv"
    p.write_bytes(text.encode("utf-8"))
    whole = read(p, expected_columns=names)
    old = readers._CHUNK_BYTES
    readers._CHUNK_BYTES = chunk
    try:
        parts = read(p, expected_columns=names)
    finally:
        readers._CHUNK_BYTES = old
    assert (parts.records, parts.rows, parts.header) == (whole.records, whole.rows, whole.header)
    assert whole.rows == read_table(p, names).row_numbers
