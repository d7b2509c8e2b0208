"""Tests for nsk_pipeline.sources.parsing."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsk_pipeline.sources.parsing import (
    normalise_code,
    normalise_key,
    parse_code_list,
    parse_codes,
    parse_counts,
    parse_dates,
    parse_text,
    parse_year,
)

FAST = settings(max_examples=200, deadline=None)

NOT_A_DATE = "not a date (expected DD-MM-YYYY, DD.MM.YYYY or YYYY-MM-DD)"


def one(parser, value, **kw):
    values, errors = parser(pd.Series([value], dtype=object), **kw)
    v = values.iloc[0]
    return (None if v is pd.NA else v), errors.iloc[0]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text, expected",
    [
        ("04-03-2025", dt.date(2025, 3, 4)),
        ("4-3-2025", dt.date(2025, 3, 4)),
        ("04.03.2025", dt.date(2025, 3, 4)),
        ("4.3.2025", dt.date(2025, 3, 4)),
        ("2025-03-04", dt.date(2025, 3, 4)),
        (" 2025-03-04 ", dt.date(2025, 3, 4)),
        ("2025-03-04 00:00:00", dt.date(2025, 3, 4)),
        ("2025-03-04T00:00:00", dt.date(2025, 3, 4)),
        ("2025-03-04 00:00", dt.date(2025, 3, 4)),
        ("29-02-2024", dt.date(2024, 2, 29)),
    ],
)
def test_dates_accepted(text: str, expected: dt.date) -> None:
    assert one(parse_dates, text) == (expected, None)


@pytest.mark.parametrize("text", ["31-02-2025", "29-02-2025", "2025-13-01", "00-01-2025", "2025-04-31"])
def test_impossible_dates(text: str) -> None:
    assert one(parse_dates, text) == (None, "not a real date")


@pytest.mark.parametrize(
    "text",
    [
        "2025/03/04",
        "04/03/2025",
        "04-03-25",
        "4. marts 2025",
        "04-03.2025",  # mixed separators
        "2025-3-4",  # ISO needs two digits
        "2025-03-04 13:45:00",  # not midnight
        "45720",  # Excel serial number
        "i går",
    ],
)
def test_not_dates(text: str) -> None:
    assert one(parse_dates, text) == (None, NOT_A_DATE)


def test_date_after_export_date() -> None:
    export = dt.date(2025, 4, 2)
    assert one(parse_dates, "02-04-2025", not_after=export) == (dt.date(2025, 4, 2), None)
    assert one(parse_dates, "03-04-2025", not_after=export) == (
        None,
        "after the file's export date 2025-04-02",
    )


def test_blank_dates() -> None:
    assert one(parse_dates, None) == (None, "missing value")
    assert one(parse_dates, "  ") == (None, "missing value")
    assert one(parse_dates, None, required=False) == (None, None)
    assert one(parse_dates, "", required=False) == (None, None)


def test_dates_keep_index_and_object_dtype() -> None:
    s = pd.Series(["01-01-2025", None, "x", "01-01-2025"], index=[10, 20, 30, 40], dtype=object)
    values, errors = parse_dates(s)
    assert list(values.index) == [10, 20, 30, 40]
    assert list(errors.index) == [10, 20, 30, 40]
    assert values.dtype == object
    assert values[10] == dt.date(2025, 1, 1) and type(values[10]) is dt.date
    assert errors.tolist() == [None, "missing value", NOT_A_DATE, None]


def test_dates_empty_series() -> None:
    values, errors = parse_dates(pd.Series([], dtype=object))
    assert len(values) == 0 and len(errors) == 0


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize(
    "text, expected",
    [
        ("25", 25),
        (" 25 ", 25),
        ("0", 0),
        ("25.0", 25),
        ("25.00", 25),
        ("25,0", 25),
        ("25,00", 25),
        ("1.000", 1000),
        ("1.500", 1500),
        ("1.000.000", 1000000),
        ("1.000,0", 1000),
        ("12.345,00", 12345),
        ("1000,0", 1000),
        ("1000.0", 1000),
        ("-0", 0),
        (None, 0),
        ("", 0),
        ("   ", 0),
    ],
)
def test_counts_accepted(text: str | None, expected: int) -> None:
    assert one(parse_counts, text) == (expected, None)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("-3", "negative count"),
        ("-2.5", "negative count"),
        ("- 4", "negative count"),
        ("2.5", "not a whole number"),
        ("2,5", "not a whole number"),
        ("1.5", "not a whole number"),
        ("1.50", "not a whole number"),
        ("1.000,5", "not a whole number"),
        ("+3", "not a number"),
        ("tre", "not a number"),
        ("1e3", "not a number"),
        ("25.", "not a number"),
        (".5", "not a number"),
        ("1 000", "not a number"),
        ("1,000,000", "not a number"),
        ("1.00.0", "not a number"),
        ("--3", "not a number"),
        ("99999999999999999999", "number too large"),
    ],
)
def test_counts_rejected(text: str, reason: str) -> None:
    assert one(parse_counts, text) == (None, reason)


def test_count_comma_thousands_is_ambiguous() -> None:
    value, reason = one(parse_counts, "1,000")
    assert value is None and reason.startswith("ambiguous number")


def test_counts_dtype_and_alignment() -> None:
    s = pd.Series(["1", None, "x", "1.000"], index=list("abcd"), dtype=object)
    values, errors = parse_counts(s)
    assert str(values.dtype) == "Int64"
    assert list(values.index) == list("abcd")
    assert values["a"] == 1 and values["b"] == 0 and values["d"] == 1000
    assert values.isna().tolist() == [False, False, True, False]
    assert errors.tolist() == [None, None, "not a number", None]


# --------------------------------------------------------------------------- codes


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Høj", "hoej"),
        ("HØJ", "hoej"),
        ("  hoej ", "hoej"),
        ("Gennemført", "gennemfoert"),
        ("Forældredialog", "foraeldredialog"),
        ("Udtrådt", "udtraadt"),
        ("ÆØÅ", "aeoeaa"),
        ("a   b", "a b"),
        ("Ba\u030arn", "baarn"),  # decomposed å (as some Mac exports write it)
    ],
)
def test_normalise_code(text: str, expected: str) -> None:
    assert normalise_code(text) == expected


RISK = ["lav", "middel", "hoej"]
STATUS = ["gennemfoert", "aflyst"]


def test_parse_codes() -> None:
    s = pd.Series(["Høj", "hoej", " LAV", "middel ", "meget høj", None], dtype=object)
    values, errors = parse_codes(s, RISK)
    assert values.tolist() == ["hoej", "hoej", "lav", "middel", None, None]
    assert errors.tolist() == [
        None,
        None,
        None,
        None,
        "'meget høj' is not one of: hoej, lav, middel",
        "missing value",
    ]


def test_parse_codes_gennemfoert() -> None:
    assert one(parse_codes, "Gennemført", allowed=STATUS) == ("gennemfoert", None)
    assert one(parse_codes, "gennemfoert", allowed=STATUS) == ("gennemfoert", None)
    assert one(parse_codes, "AFLYST", allowed=STATUS) == ("aflyst", None)


def test_parse_codes_blank_rules() -> None:
    assert one(parse_codes, None, allowed=["ja", "nej"], default="nej") == ("nej", None)
    assert one(parse_codes, "", allowed=["ja", "nej"], required=False) == (None, None)
    assert one(parse_codes, " ", allowed=["ja", "nej"]) == (None, "missing value")
    assert one(parse_codes, "JA", allowed=["ja", "nej"], default="nej") == ("ja", None)


def test_parse_codes_allowed_given_with_danish_letters() -> None:
    assert one(parse_codes, "hoej", allowed=["lav", "høj"]) == ("høj", None)


def test_parse_codes_long_value_truncated_in_reason() -> None:
    _, reason = one(parse_codes, "x" * 500, allowed=["a"])
    assert len(reason) < 120


TEMAER = ["arbejdsmarked", "uddannelse", "vold", "oekonomi", "andet"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("vold", "vold"),
        ("Vold|Økonomi", "oekonomi|vold"),
        ("økonomi, vold", "oekonomi|vold"),
        ("vold|vold,VOLD", "vold"),
        ("uddannelse | arbejdsmarked |", "arbejdsmarked|uddannelse"),
        ("", None),
        (" | , ", None),
        (None, None),
    ],
)
def test_parse_code_list(text: str | None, expected: str | None) -> None:
    assert one(parse_code_list, text, allowed=TEMAER) == (expected, None)


def test_parse_code_list_unknown() -> None:
    value, reason = one(parse_code_list, "vold|tvang", allowed=TEMAER)
    assert value is None
    assert reason == "'tvang' is not one of: andet, arbejdsmarked, oekonomi, uddannelse, vold"
    value, reason = one(parse_code_list, "x, y, vold", allowed=TEMAER)
    assert value is None and "'x'" in reason and "'y'" in reason


# --------------------------------------------------------------------------- year, keys, text


@pytest.mark.parametrize("text, expected", [("2024", 2024), (" 2025 ", 2025), ("2024.0", 2024), ("2024,0", 2024)])
def test_parse_year(text: str, expected: int) -> None:
    assert one(parse_year, text) == (expected, None)


@pytest.mark.parametrize("text", ["24", "20245", "2024.5", "år 2024", "0999", "2024-01-01"])
def test_parse_year_rejected(text: str) -> None:
    value, reason = one(parse_year, text)
    assert value is None and reason.startswith("not a year")


def test_parse_year_blank_and_dtype() -> None:
    values, errors = parse_year(pd.Series(["2024", None], dtype=object))
    assert str(values.dtype) == "Int64"
    assert errors.tolist() == [None, "missing value"]
    assert one(parse_year, None, required=False) == (None, None)


def test_normalise_key() -> None:
    s = pd.Series(["Nørrebro Park Skole", " Nørrebro  Park skole ", "5.B", "5.b", None, "  "], dtype=object)
    out = normalise_key(s)
    assert out.tolist() == ["nørrebro park skole", "nørrebro park skole", "5.b", "5.b", None, None]
    assert list(out.index) == list(s.index)


def test_parse_text() -> None:
    s = pd.Series([" Røde Kors ", "", None, "KVINFO"], dtype=object)
    values, errors = parse_text(s, required=True)
    assert values.tolist() == ["Røde Kors", None, None, "KVINFO"]
    assert errors.tolist() == [None, "missing value", "missing value", None]
    values, errors = parse_text(s, required=False)
    assert errors.tolist() == [None, None, None, None]


def test_nan_is_blank() -> None:
    s = pd.Series(["1", float("nan"), pd.NA], dtype=object)
    values, errors = parse_counts(s)
    assert values.tolist() == [1, 0, 0]
    assert errors.tolist() == [None, None, None]


# --------------------------------------------------------------------------- properties

cells = st.lists(st.one_of(st.none(), st.text(max_size=30), st.from_regex(r"-?[0-9.,]{0,12}", fullmatch=True)), max_size=20)


def _check(values: pd.Series, errors: pd.Series, s: pd.Series) -> None:
    assert list(values.index) == list(s.index)
    assert list(errors.index) == list(s.index)
    for v, e in zip(values.tolist(), errors.tolist()):
        assert e is None or (isinstance(e, str) and e)
        if e is not None:
            assert v is None or v is pd.NA


@FAST
@given(items=cells)
def test_property_parsers_return_value_or_reason(items: list) -> None:
    s = pd.Series(items, dtype=object)
    _check(*parse_dates(s, not_after=dt.date(2025, 1, 1)), s)
    _check(*parse_dates(s, required=False), s)
    values, errors = parse_counts(s)
    _check(values, errors, s)
    assert all((e is None) != (v is pd.NA) for v, e in zip(values.tolist(), errors.tolist()))
    assert all(v is pd.NA or v >= 0 for v in values.tolist())
    _check(*parse_codes(s, ["a", "høj"]), s)
    _check(*parse_codes(s, ["a"], required=False), s)
    _check(*parse_code_list(s, ["a", "b"]), s)
    _check(*parse_year(s), s)
    _check(*parse_text(s), s)
    assert len(normalise_key(s)) == len(s)


@FAST
@given(st.dates(min_value=dt.date(1, 1, 1)), st.sampled_from(["%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%-d-%-m-%Y"]))
def test_property_dates_round_trip(d: dt.date, fmt: str) -> None:
    text = f"{d.day:02d}-{d.month:02d}-{d.year:04d}"
    if fmt == "%d.%m.%Y":
        text = text.replace("-", ".")
    elif fmt == "%Y-%m-%d":
        text = d.isoformat()
    elif fmt == "%-d-%-m-%Y":
        text = f"{d.day}-{d.month}-{d.year:04d}"
    assert one(parse_dates, text) == (d, None)


@FAST
@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["plain", "dot", "comma0", "dot0", "danish"]))
def test_property_counts_round_trip(n: int, form: str) -> None:
    if form == "plain":
        text = str(n)
    elif form == "dot":
        text = f"{n:,}".replace(",", ".")
    elif form == "comma0":
        text = f"{n},0"
    elif form == "dot0":
        text = f"{n}.00"
    else:
        text = f"{n:,}".replace(",", ".") + ",00"
    assert one(parse_counts, text) == (n, None)


@FAST
@given(st.text(max_size=20))
def test_property_normalise_code_idempotent(text: str) -> None:
    once = normalise_code(text)
    assert normalise_code(once) == once


# --------------------------------------------------------------------------- distinct values
# The parsers work once per distinct value and map the results back to the rows; these
# check that against parsing each cell on its own, with repeats, blanks and NA mixed in.

TRICKY = [
    None, float("nan"), pd.NA, "", "  ", "\t", "\xa0", "\x1c", "a", " a", "a ", "A", "Høj", " HØJ ", "hoej",
    "Nørrebro  Park Skole", "nørrebro park skole", "Ba\u030arn", "ÆØÅ", "5.B", "5.b", "1", " 1 ", "1.000",
    "1,000", "-0", "2,5", "04-03-2025", "2025-03-04", " 4.3.2025", "31-02-2025", "2024", "2024.0",
    "vold|Økonomi", "økonomi, vold", " | ", 1, 1.0, True, 0.0, -0.0, 2024, dt.date(2025, 3, 4), ["a"],
]


def _per_cell(parser, items: list, **kw) -> tuple[list, list]:
    """(values, errors) from parsing each cell as a Series of its own."""
    pairs = [parser(pd.Series([v], dtype=object), **kw) for v in items]
    return [v.tolist()[0] for v, _ in pairs], [e.tolist()[0] for _, e in pairs]


def _key_reference(value: object) -> str | None:
    """normalise_key's rule for one cell, written out plainly."""
    import re
    import unicodedata

    if value is None or (not isinstance(value, (str, list)) and pd.isna(value)):
        return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    if not text:
        return None
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text).casefold()).strip() or None


PARSERS = [
    (parse_dates, {}),
    (parse_dates, {"required": False, "not_after": dt.date(2025, 3, 4)}),
    (parse_counts, {}),
    (parse_codes, {"allowed": ["a", "høj", "1"]}),
    (parse_codes, {"allowed": ["a"], "default": "a"}),
    (parse_code_list, {"allowed": ["vold", "oekonomi", "a"]}),
    (parse_year, {}),
    (parse_text, {}),
    (parse_text, {"required": False}),
]


def _same_as_per_cell(items: list, index: list | None = None) -> None:
    s = pd.Series(items, index=index, dtype=object)
    for parser, kw in PARSERS:
        values, errors = parser(s, **kw)
        expected_values, expected_errors = _per_cell(parser, items, **kw)
        assert list(values.index) == list(s.index) and list(errors.index) == list(s.index)
        assert values.dtype == parser(pd.Series([None], dtype=object), **kw)[0].dtype
        assert values.tolist() == expected_values, parser.__name__
        assert [type(v) for v in values.tolist()] == [type(v) for v in expected_values]
        assert errors.tolist() == expected_errors, parser.__name__
    assert normalise_key(s).tolist() == [_key_reference(v) for v in items]


def test_distinct_values_match_each_cell_parsed_alone() -> None:
    items = TRICKY + TRICKY[::-1] + TRICKY
    _same_as_per_cell(items, index=[f"r{i}" for i in range(len(items))])


@settings(max_examples=100, deadline=None)  # each cell is also parsed alone: keep it short
@given(st.lists(st.sampled_from(TRICKY) | st.text(alphabet=" \ta1.,-|AaøØ", max_size=6), max_size=20))
def test_property_distinct_values_match_each_cell_parsed_alone(items: list) -> None:
    _same_as_per_cell(items)


@pytest.mark.parametrize("dtype", ["string", "string[pyarrow]", "large_string[pyarrow]"])
def test_string_dtypes_parse_like_object(dtype: str) -> None:
    items = [v for v in TRICKY if v is None or isinstance(v, str)] * 2
    obj = pd.Series(items, dtype=object)
    typed = pd.Series(items, dtype=dtype)
    for parser, kw in PARSERS:
        for got, expected in zip(parser(typed, **kw), parser(obj, **kw)):
            assert got.dtype == expected.dtype
            assert got.tolist() == expected.tolist()
    assert normalise_key(typed).tolist() == normalise_key(obj).tolist()


@pytest.mark.parametrize("items", [[], [None, float("nan"), pd.NA, "", "  "]])
def test_empty_and_all_blank(items: list) -> None:
    s = pd.Series(items, dtype=object)
    for parser, kw in PARSERS:
        values, errors = parser(s, **kw)
        assert len(values) == len(errors) == len(s)
        assert _per_cell(parser, items, **kw) == (values.tolist(), errors.tolist())
    assert str(parse_counts(s)[0].dtype) == "Int64" and str(parse_year(s)[0].dtype) == "Int64"
    assert parse_text(s)[0].dtype == object and parse_dates(s)[0].dtype == object
    assert normalise_key(s).tolist() == [None] * len(s)
