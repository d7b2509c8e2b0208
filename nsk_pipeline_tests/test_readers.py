"""Tests for nsk_pipeline.sources.readers."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import os
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nsk_pipeline.sources.readers import (
    FileRejected,
    RawTable,
    export_date_from_name,
    is_data_file,
    read_table,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def assert_text_frame(table: RawTable) -> None:
    """Every value is a trimmed non-empty str or None; every column is object."""
    assert isinstance(table.frame, pd.DataFrame)
    assert len(table.frame) == len(table.row_numbers)
    for col in table.frame.columns:
        assert table.frame[col].dtype == object
        for v in table.frame[col]:
            assert v is None or (isinstance(v, str) and v == v.strip() and v != "")


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
    t = read_table(p)
    assert t.separator == ";"
    assert t.encoding == "utf-8"
    assert list(t.frame.columns) == ["a", "b", "c"]
    assert t.frame.to_dict("records") == [
        {"a": "1", "b": "2", "c": "3"},
        {"a": "4", "b": None, "c": "6"},
    ]
    assert t.row_numbers == [2, 3]
    assert_text_frame(t)


def test_comma_csv_with_quotes(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a,b\n"Røde Kors, KVINFO","sagde ""hej""\nigen"\n')
    t = read_table(p)
    assert t.separator == ","
    assert t.frame.loc[0, "a"] == "Røde Kors, KVINFO"
    assert t.frame.loc[0, "b"] == 'sagde "hej"\nigen'
    assert t.row_numbers == [2]


def test_semicolon_with_commas_in_values(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "antal;tekst\n25,0;a, b, c\n")
    t = read_table(p)
    assert t.separator == ";"
    assert t.frame.loc[0, "antal"] == "25,0"


def test_separator_prefers_expected_columns(tmp_path: Path) -> None:
    # one ';' vs two ',' in the header, but the ';' split yields the expected names
    p = write(tmp_path, "x_2025-01-01.csv", "navn, fornavn, mellemnavn;alder\nx;1\n")
    assert read_table(p).separator == ","
    t = read_table(p, expected_columns=["Navn, fornavn, mellemnavn", "alder"])
    assert t.separator == ";"
    assert list(t.frame.columns) == ["navn, fornavn, mellemnavn", "alder"]


def test_utf8_bom(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", codecs.BOM_UTF8 + "skole;antal\nNørrebro;2\n".encode())
    t = read_table(p)
    assert t.encoding == "utf-8-sig"
    assert list(t.frame.columns) == ["skole", "antal"]  # no BOM in the first name
    assert t.frame.loc[0, "skole"] == "Nørrebro"


def test_cp1252_round_trip(tmp_path: Path) -> None:
    text = "skole;udbyder\nÆblehaven Skole;Børns Vilkår\nÅ ø æ;€\n"
    p = write(tmp_path, "x_2025-01-01.csv", text, encoding="cp1252")
    t = read_table(p)
    assert t.encoding == "cp1252"
    assert t.frame["skole"].tolist() == ["Æblehaven Skole", "Å ø æ"]
    assert t.frame["udbyder"].tolist() == ["Børns Vilkår", "€"]


def test_header_variants_normalised(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", " Forloeb_ID ;DATO;  Antal   Elever  \n1;2;3\n")
    t = read_table(p)
    assert list(t.frame.columns) == ["forloeb_id", "dato", "antal elever"]


def test_duplicate_header_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "dato;Dato \n1;2\n")
    with pytest.raises(FileRejected, match="duplicate column name"):
        read_table(p)


def test_duplicate_header_that_looks_like_data_is_not_echoed(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "123456-7890;123456-7890\n")
    with pytest.raises(FileRejected) as exc:
        read_table(p)
    assert "123456" not in str(exc.value)


def test_header_only_file(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b;c\n")
    t = read_table(p)
    assert list(t.frame.columns) == ["a", "b", "c"]
    assert len(t.frame) == 0
    assert t.row_numbers == []
    assert all(t.frame[c].dtype == object for c in t.frame.columns)


def test_blank_rows_skipped_but_counted(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\r\n1;2\r\n\r\n;\r\n  ;  \r\n3;4\r\n;;\r\n")
    t = read_table(p)
    assert t.frame["a"].tolist() == ["1", "3"]
    assert t.row_numbers == [2, 6]


def test_row_numbers_count_records_not_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n"multi\nline";1\nx;2\n')
    t = read_table(p)
    assert t.row_numbers == [2, 3]


def test_short_and_long_rows(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b;c\n1\n1;2;3;4;5\n")
    t = read_table(p)
    assert t.frame.to_dict("records") == [
        {"a": "1", "b": None, "c": None},
        {"a": "1", "b": "2", "c": "3"},
    ]
    assert t.row_numbers == [2, 3]


def test_trailing_empty_header_cells_dropped(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b;;\n1;2;;\n")
    assert list(read_table(p).frame.columns) == ["a", "b"]


def test_unnamed_column_with_values_kept(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;;c\n1;x;3\n")
    t = read_table(p)
    assert list(t.frame.columns) == ["a", "unnamed_2", "c"]
    assert t.frame.loc[0, "unnamed_2"] == "x"


def test_crlf_and_single_column(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "aktoer_id\r\nA1\r\nA2\r\n")
    t = read_table(p)
    assert t.frame["aktoer_id"].tolist() == ["A1", "A2"]


# --------------------------------------------------------------------------- CSV rejections


def test_zero_byte_file(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", b"")
    with pytest.raises(FileRejected) as exc:
        read_table(p)
    assert str(exc.value) == "empty file (0 bytes)"


def test_whitespace_only_file(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", b"\r\n \r\n")
    with pytest.raises(FileRejected, match="no header"):
        read_table(p)


def test_utf16_file_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\n1;2\n".encode("utf-16"))
    with pytest.raises(FileRejected, match="UTF-16|NUL"):
        read_table(p)


def test_utf16_without_bom_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "a;b\n1;2\n".encode("utf-16-le"))
    with pytest.raises(FileRejected, match="NUL"):
        read_table(p)


def test_random_bytes_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", os.urandom(4096) + b"\x00")
    with pytest.raises(FileRejected):
        read_table(p)


def test_undefined_cp1252_bytes_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", b"a;b\n\x81\x8d;\x90\n")
    with pytest.raises(FileRejected, match="neither UTF-8 nor Windows-1252"):
        read_table(p)


def test_control_characters_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", b"a;b\n" + bytes(range(1, 9)) * 20)
    with pytest.raises(FileRejected, match="control characters"):
        read_table(p)


def test_unclosed_quote_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n"x;1\ny;2\n')
    with pytest.raises(FileRejected, match="never closed"):
        read_table(p)


def test_literal_quote_inside_value_is_fine(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", 'a;b\n5"B;1\n')
    assert read_table(p).frame.loc[0, "a"] == '5"B'


def test_rejection_reason_never_contains_cell_values(tmp_path: Path) -> None:
    secret = "0101901234"
    p = write(tmp_path, "x_2025-01-01.csv", f"cpr;navn\n{secret};\x81\x8d\x90\n".encode("latin-1"))
    with pytest.raises(FileRejected) as exc:
        read_table(p)
    assert secret not in str(exc.value)
    assert exc.value.__cause__ is None


def test_unsupported_suffix(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.txt", "a;b\n")
    with pytest.raises(FileRejected, match="unsupported"):
        read_table(p)


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="could not be opened"):
        read_table(tmp_path / "nope_2025-01-01.csv")


def test_raw_table_repr_has_no_values(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.csv", "cpr\n0101901234\n")
    assert "0101901234" not in repr(read_table(p))


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
    t = read_table(p)
    assert t.encoding == "xlsx"
    assert t.separator is None
    assert list(t.frame.columns) == ["dato", "antal_elever", "pilot", "skole", "id"]
    assert t.frame.to_dict("records") == [
        # the file stores 25.0 as <v>25</v>, which openpyxl reads back as an int
        {"dato": "2025-03-04", "antal_elever": "25", "pilot": "ja", "skole": "Nørrebro Park skole", "id": "7"},
        {"dato": "2025-03-05", "antal_elever": "2.5", "pilot": "nej", "skole": None, "id": "12345678901"},
        {"dato": None, "antal_elever": "3", "pilot": None, "skole": "x", "id": None},
    ]
    assert t.row_numbers == [2, 3, 5]
    assert_text_frame(t)


@pytest.mark.parametrize(
    "value, text",
    [
        (None, None),
        ("", None),
        ("  x ", "x"),
        (25.0, "25.0"),
        (2.5, "2.5"),
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


def test_xlsx_float_counts_parse(tmp_path: Path) -> None:
    from nsk_pipeline.sources.parsing import parse_counts

    p = make_xlsx(tmp_path / "x_2025-01-01.xlsx", [["antal"], [25.0], [1000.0], [2.5], [None]])
    values, errors = parse_counts(read_table(p).frame["antal"])
    assert values.tolist()[:2] == [25, 1000]
    assert errors.tolist() == [None, None, "not a whole number"]


def test_xlsx_header_only(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "x_2025-01-01.xlsx", [["a", "b"]])
    t = read_table(p)
    assert list(t.frame.columns) == ["a", "b"]
    assert len(t.frame) == 0


def test_xlsx_reads_first_sheet(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "x_2025-01-01.xlsx", [["a"], ["1"]], extra_sheet_first=True)
    assert read_table(p).frame["a"].tolist() == ["1"]


def test_xlsx_gap_rows_keep_numbering(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "a"
    ws["A2"] = "x"
    ws["A7"] = "y"
    p = tmp_path / "x_2025-01-01.xlsx"
    wb.save(p)
    t = read_table(p)
    assert t.frame["a"].tolist() == ["x", "y"]
    assert t.row_numbers == [2, 7]


def test_xlsx_duplicate_header(tmp_path: Path) -> None:
    p = make_xlsx(tmp_path / "x_2025-01-01.xlsx", [["a", "A "], [1, 2]])
    with pytest.raises(FileRejected, match="duplicate"):
        read_table(p)


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
        read_table(p)
    assert str(exc.value) == "not a readable .xlsx workbook"


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "0101901234")
    p = write(tmp_path, "x_2025-01-01.xlsx", buf.getvalue())
    with pytest.raises(FileRejected) as exc:
        read_table(p)
    assert str(exc.value) == "not a readable .xlsx workbook"


def test_truncated_xlsx(tmp_path: Path) -> None:
    good = make_xlsx(tmp_path / "good.xlsx", [["a"], ["1"]]).read_bytes()
    p = write(tmp_path, "x_2025-01-01.xlsx", good[: len(good) // 2])
    with pytest.raises(FileRejected, match="not a readable .xlsx workbook"):
        read_table(p)


def test_zero_byte_xlsx(tmp_path: Path) -> None:
    p = write(tmp_path, "x_2025-01-01.xlsx", b"")
    with pytest.raises(FileRejected, match="empty file"):
        read_table(p)


# --------------------------------------------------------------------------- properties


_TMP = Path(tempfile.mkdtemp(prefix="nsk_readers_"))


@FAST
@given(data=st.binary(max_size=600))
def test_read_table_arbitrary_bytes_csv(data: bytes) -> None:
    p = _TMP / "prop_2025-01-01.csv"
    p.write_bytes(data)
    try:
        t = read_table(p)
    except FileRejected as exc:
        assert str(exc)
        return
    assert_text_frame(t)


_csv_alphabet = st.sampled_from(list('ab;,"\n\r æøå1 \t.-|') + ["\x00", "\x81", "é"])


@FAST
@given(text=st.text(alphabet=_csv_alphabet, max_size=200), enc=st.sampled_from(["utf-8", "cp1252", "utf-8-sig"]))
def test_read_table_csv_like_text(text: str, enc: str) -> None:
    p = _TMP / "prop2_2025-01-01.csv"
    p.write_bytes(text.encode(enc, errors="replace"))
    try:
        t = read_table(p, expected_columns=["a", "b"])
    except FileRejected as exc:
        assert str(exc)
        return
    assert_text_frame(t)
    assert all(isinstance(n, int) and n >= 2 for n in t.row_numbers)
    assert t.row_numbers == sorted(set(t.row_numbers))


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
def test_read_table_mangled_xlsx(data: st.DataObject) -> None:
    raw = bytearray(_good_xlsx())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    p = _TMP / "prop_2025-01-01.xlsx"
    p.write_bytes(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw))
    try:
        t = read_table(p)
    except FileRejected as exc:
        assert str(exc)
        return
    assert_text_frame(t)


def _reference_ends_inside_quotes(text: str, sep: str) -> bool:
    """Character-by-character model of the csv module's quote handling."""
    in_quotes, at_field_start, i = False, True, 0
    while i < len(text):
        ch = text[i]
        if in_quotes:
            if ch == '"':
                if text[i + 1 : i + 2] == '"':
                    i += 2
                    continue
                in_quotes = False
        elif ch in (sep, "\r", "\n"):
            at_field_start = True
        elif ch == '"' and at_field_start:
            in_quotes = True
            at_field_start = False
        elif ch != " ":
            at_field_start = False
        i += 1
    return in_quotes


@FAST
@given(text=st.text(alphabet=st.sampled_from(list('a;,"\n\r ')), max_size=60), sep=st.sampled_from([";", ","]))
def test_quote_scanner_matches_reference(text: str, sep: str) -> None:
    from nsk_pipeline.sources.readers import _ends_inside_quotes

    assert _ends_inside_quotes(text, sep) == _reference_ends_inside_quotes(text, sep)


# --------------------------------------------------------------------------- CSV fast path vs row-wise


def _csv_outcome(path: Path, expected: list[str] | None, fast: bool) -> RawTable | tuple[str, str]:
    from nsk_pipeline.sources import readers

    exp = {readers.normalise_header(c) for c in expected} if expected is not None else None
    try:
        return readers._read_csv(path, exp, fast=fast)
    except FileRejected as exc:
        return ("rejected", str(exc))


def assert_fast_matches_rowwise(
    path: Path, expected: list[str] | None = None
) -> RawTable | tuple[str, str]:
    """The columnar CSV reader gives exactly what the row-wise reference reader gives."""
    ref = _csv_outcome(path, expected, fast=False)
    got = _csv_outcome(path, expected, fast=True)
    if isinstance(ref, tuple) or isinstance(got, tuple):
        assert got == ref
        return got
    pd.testing.assert_frame_equal(got.frame, ref.frame, check_exact=True)
    assert list(got.frame.columns) == list(ref.frame.columns)
    assert got.frame.values.tolist() == ref.frame.values.tolist()  # None stays None (not NaN)
    assert got.row_numbers == ref.row_numbers
    assert all(type(n) is int for n in got.row_numbers)
    assert (got.encoding, got.separator) == (ref.encoding, ref.separator)
    assert_text_frame(got)
    return got


@pytest.mark.parametrize(
    "text",
    [
        'a;b\n"x;y";"1"\n',  # quoted separator
        'a,b\n"x,y",2\n',
        'a;b\n"sagde ""hej""";"""";\n',  # doubled quotes, a value that is just a quote
        'a;b\n"multi\nline";1\n"two\r\nbreaks\r\n";2\nx;3\n',  # embedded line breaks
        'a;b;\n1;2;\n3;4;;;\n',  # trailing separators
        'a;b\n\n1;2\n\n\n;\n  ;  \n3;4\n\n',  # blank lines and blank rows
        '\n\n  \n;;\na;b\n1;2\n',  # blank records before the header
        'a;b;c\n1\n1;2;3;4;5\n;;;;x\n;;;;\n',  # short and long rows, one blank up to width only
        ' a ; b \n  1  ;\t2\t\n\xa0x\xa0;\u2003y\u2003\n',  # whitespace of several kinds
        'a;b\n  "q" ;"x"y"z"\n"a" "b";5"B\n',  # quotes after spaces, text after a closing quote
        'a;b\r1;2\r\r3;4\r',  # old Mac line ends
        'a;b\r\n1;2\r\n',
        'a;b\n1;2',  # no final line break
        'a;b\n1;"2"',
        'a;b\n1;"2\n',  # never closed
        'a;b\n1;"2""\n',
        'a;a\n1;"2\n',  # never closed wins over the duplicate header
        # characters csv keeps in a value but str.strip removes
        'x\x0by;b\x1cc\n1\x0c;2\x1d\n\x1e3\x1f;\x854\u2028\n',
        '"a\nb";c\n1;2\n',  # header spanning two lines
        ';\n;\n',  # only blank records
        '"";""\n',
        '\ufeffa;b\n1;2\n',  # a second byte-order mark is data
    ],
)
@pytest.mark.parametrize("chunk", [1, 2, 256])
def test_csv_fast_path_matches_rowwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, chunk: int
) -> None:
    from nsk_pipeline.sources import readers

    monkeypatch.setattr(readers, "_CHUNK_ROWS", chunk)
    for enc in ("utf-8", "utf-8-sig", "cp1252"):
        p = write(tmp_path, f"x_{enc}_2025-01-01.csv", text.encode(enc, errors="replace"))
        assert_fast_matches_rowwise(p)
        assert_fast_matches_rowwise(p, expected=["a", "b"])


def test_csv_fast_path_many_rows_across_slices(tmp_path: Path) -> None:
    lines = ["", " ", "id;tekst;antal"]
    for i in range(3000):
        if i % 97 == 0:
            lines.append(";;")
        elif i % 89 == 0:
            lines.append(f'{i};"linje 1\nlinje 2";{i}')
        elif i % 83 == 0:
            lines.append(f"{i};kort")
        else:
            lines.append(f' "{i}" ; "tekst {i}" ;{i} ')
    p = write(tmp_path, "x_2025-01-01.csv", "\r\n".join(lines) + "\r\n")
    t = assert_fast_matches_rowwise(p)
    assert isinstance(t, RawTable) and len(t.frame) > 2900


def test_csv_parser_error_falls_back_to_rowwise(tmp_path: Path) -> None:
    """A field over csv.field_size_limit() is a csv.Error: the fast path hands over to the
    row-wise reader, so the reason (and which error wins) stay as before."""
    import csv

    old = csv.field_size_limit(20)
    try:
        long_value = "x" * 30
        cases = {
            "late": f"a;b\n1;2\n{long_value};3\n",
            "dup_header_first": f"a;a\n{long_value};3\n",
            "in_header": f"{long_value};a;a\n1;2\n",
            "unclosed": f'a;b\n{long_value};"3\n',
        }
        for name, text in cases.items():
            p = write(tmp_path, f"{name}_2025-01-01.csv", text)
            assert isinstance(assert_fast_matches_rowwise(p), tuple)
        assert _csv_outcome(tmp_path / "late_2025-01-01.csv", None, True) == (
            "rejected",
            "the file could not be parsed as CSV",
        )
    finally:
        csv.field_size_limit(old)


_tricky_alphabet = st.sampled_from(
    list('ab;,"\n\r \t')
    + ["\r\n", '""', '";"', "\x0b", "\x1c", "\x85", "\xa0", "\u2028", "\ufeff", "æ", "é"]
)


@FAST
@given(
    parts=st.lists(_tricky_alphabet, max_size=80),
    enc=st.sampled_from(["utf-8", "cp1252", "utf-8-sig"]),
    chunk=st.sampled_from([1, 2, 3, 256]),
    expected=st.sampled_from([None, ["a", "b"], ["a;b"]]),
)
def test_csv_fast_path_matches_rowwise_property(
    parts: list[str], enc: str, chunk: int, expected: list[str] | None
) -> None:
    from nsk_pipeline.sources import readers

    p = _TMP / "prop3_2025-01-01.csv"
    p.write_bytes("".join(parts).encode(enc, errors="replace"))
    old = readers._CHUNK_ROWS
    readers._CHUNK_ROWS = chunk
    try:
        assert_fast_matches_rowwise(p, expected)
    finally:
        readers._CHUNK_ROWS = old


@FAST
@given(data=st.binary(max_size=300))
def test_csv_fast_path_matches_rowwise_on_bytes(data: bytes) -> None:
    p = _TMP / "prop4_2025-01-01.csv"
    p.write_bytes(data)
    assert_fast_matches_rowwise(p)


@FAST
@given(
    text=st.text(
        alphabet=st.sampled_from([chr(c) for c in range(0xB0)] + ["æ", "€", "\u2028"]),
        max_size=100,
    ),
    enc=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_control_count_on_bytes_matches_regex(text: str, enc: str) -> None:
    from nsk_pipeline.sources import readers

    data = text.encode(enc, errors="ignore")
    try:
        decoded, encoding = readers._decode(data)
    except FileRejected:
        return
    assert readers._count_control_chars(data, encoding) == len(readers._CONTROL_RE.findall(decoded))


def test_control_count_every_cp1252_byte() -> None:
    from nsk_pipeline.sources import readers

    for b in range(1, 256):
        data = bytes([0xFF, b])  # 0xFF first: never valid UTF-8, so decoded as cp1252
        try:
            decoded, encoding = readers._decode(data)
        except FileRejected:
            continue  # undefined in cp1252
        assert encoding == "cp1252"
        expected = len(readers._CONTROL_RE.findall(decoded))
        assert readers._count_control_chars(data, encoding) == expected
