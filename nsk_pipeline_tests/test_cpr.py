"""Tests for nsk_pipeline.sources.cpr.

All CPR numbers here are synthesised from a date, a 7th digit and a serial; none
is meant to belong to anyone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nsk_pipeline.sources import cpr as cpr_module
from nsk_pipeline.sources.cpr import (
    BAD_DATE,
    NOT_A_CPR,
    age_band,
    birth_date,
    derive,
    normalise_cpr,
    pseudonymise,
    pseudonymise_series,
    sex,
)

FAST = settings(max_examples=200, deadline=None)
KEY = b"test-key-not-a-secret"


def make_cpr(day: int, month: int, yy: int, seventh: int, rest: int = 123, dash: bool = False) -> str:
    """Synthesise a CPR number: DDMMYY + 7th digit + three more digits."""
    head = f"{day:02d}{month:02d}{yy:02d}"
    tail = f"{seventh}{rest:03d}"
    return f"{head}-{tail}" if dash else head + tail


def norm(value: object) -> tuple[str | None, str | None]:
    values, errors = normalise_cpr(pd.Series([value], dtype=object))
    return values.iloc[0], errors.iloc[0]


def allowed_seventh(year: int) -> list[int]:
    yy = year % 100
    if 1900 <= year <= 1999:
        return [0, 1, 2, 3] + ([4, 9] if yy >= 37 else [])
    if 2000 <= year <= 2099:
        return ([4, 9] if yy <= 36 else []) + ([5, 6, 7, 8] if yy <= 57 else [])
    if 1800 <= year <= 1899:
        return [5, 6, 7, 8] if yy >= 58 else []
    return []


def mod11_ok(cpr10: str) -> bool:
    weights = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
    return sum(int(d) * w for d, w in zip(cpr10, weights)) % 11 == 0


# --------------------------------------------------------------------------- shapes


def test_accepted_shapes_are_the_same_number() -> None:
    ten = make_cpr(1, 1, 90, 1, 234)  # 0101901234
    nine = ten[1:]
    forms = [
        make_cpr(1, 1, 90, 1, 234, dash=True),
        ten,
        f"  {ten} ",
        nine,
        f"{nine[:5]}-{nine[5:]}",
        f"{nine}.0",
        f"{ten}.0",
    ]
    values, errors = normalise_cpr(pd.Series(forms, dtype=object))
    assert values.tolist() == [ten] * len(forms)
    assert errors.tolist() == [None] * len(forms)


def test_leading_zero_repair() -> None:
    ten = make_cpr(5, 6, 71, 2, 468)
    assert ten.startswith("0")
    assert norm(ten[1:]) == (ten, None)
    assert norm(ten[1:6] + "-" + ten[6:]) == (ten, None)
    assert norm(float(ten[1:])) == (ten, None)  # an Excel number that slipped through


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "01019012345",  # eleven digits
        "01019-01234",  # dash in the wrong place
        "0101-901234",
        "12345678",  # eight digits
        "010190 1234",
        "010190--1234",
        "0101901234.5",
        "+0101901234",
        "٠١٠١٩٠١٢٣٤",  # non-ASCII digits
    ],
)
def test_not_a_cpr(text: str) -> None:
    assert norm(text) == (None, NOT_A_CPR)


def test_blank_is_not_an_error() -> None:
    values, errors = normalise_cpr(pd.Series([None, "", "   ", float("nan")], dtype=object))
    assert values.tolist() == [None] * 4
    assert errors.tolist() == [None] * 4


@pytest.mark.parametrize("day, month, yy", [(31, 2, 90), (0, 1, 90), (1, 13, 90), (32, 1, 90), (31, 4, 90)])
def test_date_part_not_real(day: int, month: int, yy: int) -> None:
    assert norm(make_cpr(day, month, yy, 1)) == (None, BAD_DATE)


def test_index_is_kept() -> None:
    s = pd.Series([make_cpr(1, 1, 90, 1), None, "x"], index=[7, 8, 9], dtype=object)
    values, errors = normalise_cpr(s)
    assert list(values.index) == [7, 8, 9] and list(errors.index) == [7, 8, 9]


# --------------------------------------------------------------------------- century rule


@pytest.mark.parametrize(
    "yy, seventh, year",
    [
        # 0-3: always 1900s
        (0, 0, 1900),
        (36, 1, 1936),
        (57, 2, 1957),
        (99, 3, 1999),
        # 4 and 9: 2000s up to YY 36, then 1900s
        (36, 4, 2036),
        (37, 4, 1937),
        (0, 4, 2000),
        (36, 9, 2036),
        (37, 9, 1937),
        # 5-8: 2000s up to YY 57, then 1800s
        (57, 5, 2057),
        (58, 5, 1858),
        (57, 8, 2057),
        (58, 8, 1858),
        (0, 6, 2000),
        (99, 7, 1899),
    ],
)
def test_century_rule(yy: int, seventh: int, year: int) -> None:
    number = make_cpr(15, 6, yy, seventh)
    assert norm(number) == (number, None)
    assert birth_date(number) == dt.date(year, 6, 15)


def test_century_decides_leap_day() -> None:
    # 29-02-00 is real in 2000 (7th digit 4-9) but not in 1900 (7th digit 0-3)
    assert norm(make_cpr(29, 2, 0, 3)) == (None, BAD_DATE)
    assert norm(make_cpr(29, 2, 0, 4))[1] is None
    assert norm(make_cpr(29, 2, 0, 5))[1] is None
    assert birth_date(make_cpr(29, 2, 0, 5)) == dt.date(2000, 2, 29)


def test_modulus_11_is_not_applied() -> None:
    failing = next(
        make_cpr(12, 3, 88, 1, rest) for rest in range(1000) if not mod11_ok(make_cpr(12, 3, 88, 1, rest))
    )
    passing = next(
        make_cpr(12, 3, 88, 1, rest) for rest in range(1000) if mod11_ok(make_cpr(12, 3, 88, 1, rest))
    )
    assert norm(failing) == (failing, None)
    assert norm(passing) == (passing, None)


# --------------------------------------------------------------------------- derived


@pytest.mark.parametrize("last, expected", [(0, "kvinde"), (2, "kvinde"), (8, "kvinde"), (1, "mand"), (9, "mand")])
def test_sex_from_last_digit(last: int, expected: str) -> None:
    assert sex(make_cpr(1, 1, 90, 1, 230 + last)) == expected


@pytest.mark.parametrize(
    "at, band",
    [
        (dt.date(2018, 6, 14), "under_18"),
        (dt.date(2018, 6, 15), "18-29"),
        (dt.date(2030, 6, 14), "18-29"),
        (dt.date(2030, 6, 15), "30-39"),
        (dt.date(2040, 6, 14), "30-39"),
        (dt.date(2040, 6, 15), "40-49"),
        (dt.date(2050, 6, 14), "40-49"),
        (dt.date(2050, 6, 15), "50-64"),
        (dt.date(2065, 6, 14), "50-64"),
        (dt.date(2065, 6, 15), "65+"),
        (dt.date(2000, 6, 15), "under_18"),
    ],
)
def test_age_band_boundaries(at: dt.date, band: str) -> None:
    assert age_band(dt.date(2000, 6, 15), at) == band


def test_age_band_leap_day_birthday() -> None:
    born = dt.date(2000, 2, 29)
    assert age_band(born, dt.date(2018, 2, 28)) == "under_18"
    assert age_band(born, dt.date(2018, 3, 1)) == "18-29"


def test_age_band_birth_after_reference() -> None:
    with pytest.raises(ValueError):
        age_band(dt.date(2020, 1, 2), dt.date(2020, 1, 1))


def test_birth_date_and_sex_errors_do_not_echo() -> None:
    bad = make_cpr(31, 2, 90, 1, 234)
    for fn in (birth_date, sex):
        with pytest.raises(ValueError) as exc:
            fn(bad)
        assert bad not in str(exc.value) and bad[:6] not in str(exc.value)
        assert exc.value.__cause__ is None


# --------------------------------------------------------------------------- pseudonyms


def test_pseudonym_is_hmac_sha256_of_ten_digits() -> None:
    ten = make_cpr(1, 1, 90, 1, 234)
    expected = hmac.new(KEY, ten.encode(), hashlib.sha256).hexdigest()
    assert pseudonymise(ten, KEY) == expected
    assert len(expected) == 64


def test_dash_and_no_dash_same_pseudonym() -> None:
    dashed = make_cpr(1, 1, 90, 1, 234, dash=True)
    plain = make_cpr(1, 1, 90, 1, 234)
    nine = plain[1:]
    values, _ = normalise_cpr(pd.Series([dashed, plain, nine], dtype=object))
    ps = pseudonymise_series(values, KEY)
    assert ps.nunique() == 1
    assert ps.iloc[0] == pseudonymise(plain, KEY)


def test_pseudonym_depends_on_key() -> None:
    ten = make_cpr(1, 1, 90, 1, 234)
    assert pseudonymise(ten, KEY) != pseudonymise(ten, b"another key")


def test_pseudonymise_requires_ten_digits_and_a_key() -> None:
    dashed = make_cpr(1, 1, 90, 1, 234, dash=True)
    with pytest.raises(ValueError) as exc:
        pseudonymise(dashed, KEY)
    assert dashed not in str(exc.value)
    with pytest.raises(ValueError):
        pseudonymise(make_cpr(1, 1, 90, 1, 234), b"")
    with pytest.raises(TypeError):
        pseudonymise(make_cpr(1, 1, 90, 1, 234), "text key")  # type: ignore[arg-type]


def test_pseudonymise_series_keeps_none_and_index() -> None:
    s = pd.Series([make_cpr(1, 1, 90, 1, 234), None], index=["a", "b"], dtype=object)
    out = pseudonymise_series(s, KEY)
    assert list(out.index) == ["a", "b"]
    assert out["b"] is None and len(out["a"]) == 64


# --------------------------------------------------------------------------- derive


def test_derive() -> None:
    woman_1990 = make_cpr(15, 6, 90, 1, 234)  # last digit 4: kvinde
    man_2010 = make_cpr(1, 2, 10, 4, 567, dash=True)  # 2010-02-01, last digit 7: mand
    future = make_cpr(1, 1, 30, 4, 111)  # 2030-01-01
    cprs = pd.Series([woman_1990, man_2010, future, None, "x", make_cpr(31, 2, 90, 1)], index=list("abcdef"))
    at = pd.Series([dt.date(2025, 6, 14)] * 6, index=list("abcdef"), dtype=object)
    out = derive(cprs, at, KEY)

    assert list(out.columns) == ["borger_pseudonym", "koen", "aldersgruppe", "foedt_efter_oprettet", "cpr_error"]
    assert list(out.index) == list("abcdef")
    assert out.loc["a", "borger_pseudonym"] == pseudonymise(woman_1990, KEY)
    assert out["koen"].tolist() == ["kvinde", "mand", "mand", None, None, None]
    assert out["aldersgruppe"].tolist() == ["30-39", "under_18", None, None, None, None]
    assert out["foedt_efter_oprettet"].dtype == bool
    assert out["foedt_efter_oprettet"].tolist() == [False, False, True, False, False, False]
    assert out["cpr_error"].tolist() == [None, None, None, None, NOT_A_CPR, BAD_DATE]

    text = out.to_string() + repr(out) + out.to_csv()
    for number in (woman_1990, man_2010, man_2010.replace("-", ""), future):
        assert number not in text


def test_derive_age_at_each_row_and_timestamps() -> None:
    number = make_cpr(15, 6, 0, 4, 222)  # 2000-06-15
    cprs = pd.Series([number] * 4)
    at = pd.Series(
        [pd.Timestamp("2018-06-14"), dt.datetime(2018, 6, 15, 9, 30), None, "2065-06-15"], dtype=object
    )
    out = derive(cprs, at, KEY)
    assert out["aldersgruppe"].tolist() == ["under_18", "18-29", None, "65+"]
    assert out["foedt_efter_oprettet"].tolist() == [False, False, False, False]


def test_derive_scalar_at_and_datetime64() -> None:
    number = make_cpr(15, 6, 0, 4, 222)
    out = derive(pd.Series([number]), dt.date(2030, 6, 15), KEY)
    assert out["aldersgruppe"].tolist() == ["30-39"]
    out = derive(pd.Series([number]), pd.Series(pd.to_datetime(["2050-06-14"])), KEY)
    assert out["aldersgruppe"].tolist() == ["40-49"]


def test_derive_empty() -> None:
    out = derive(pd.Series([], dtype=object), pd.Series([], dtype=object), KEY)
    assert len(out) == 0
    assert "cpr_error" in out.columns


def test_module_source_has_no_fstring_with_values() -> None:
    """Reasons are fixed strings; the module never formats a value into text."""
    import inspect

    source = inspect.getsource(cpr_module)
    assert not re.search(r"""\bf["']""", source)
    assert "logging" not in source and "print(" not in source


# --------------------------------------------------------------------------- properties


@st.composite
def valid_cprs(draw: st.DrawFn) -> tuple[str, dt.date]:
    born = draw(st.dates(min_value=dt.date(1858, 1, 1), max_value=dt.date(2057, 12, 31)))
    options = allowed_seventh(born.year)
    assume(options)
    seventh = draw(st.sampled_from(options))
    rest = draw(st.integers(0, 999))
    return make_cpr(born.day, born.month, born.year % 100, seventh, rest), born


@FAST
@given(valid_cprs(), st.sampled_from(["plain", "dash", "nine", "nine_dash", "float", "spaces"]))
def test_property_valid_cprs_any_form(item: tuple[str, dt.date], form: str) -> None:
    ten, born = item
    text = {
        "plain": ten,
        "dash": f"{ten[:6]}-{ten[6:]}",
        "nine": ten[1:] if ten.startswith("0") else ten,
        "nine_dash": f"{ten[1:6]}-{ten[6:]}" if ten.startswith("0") else ten,
        "float": (ten[1:] if ten.startswith("0") else ten) + ".0",
        "spaces": f"  {ten}\t",
    }[form]
    values, errors = normalise_cpr(pd.Series([text, ten], dtype=object))
    assert errors.tolist() == [None, None]
    assert values.iloc[0] == ten
    assert birth_date(text) == born
    ps = pseudonymise_series(values, KEY)
    assert ps.iloc[0] == ps.iloc[1] == pseudonymise(ten, KEY)


def _digit_runs(text: str) -> list[str]:
    return re.findall(r"[0-9]{6,}", text)


@FAST
@given(
    st.one_of(
        st.text(max_size=30),
        st.from_regex(r"\s*[0-9]{4,12}(-[0-9]{2,6})?(\.[0-9]{1,3})?\s*", fullmatch=True),
        st.text(alphabet="0123456789-. x", max_size=20),
    )
)
def test_property_reason_never_contains_digits_of_input(text: str) -> None:
    s = pd.Series([text], dtype=object)
    values, errors = normalise_cpr(s)
    reason = errors.iloc[0]
    assert reason in (None, NOT_A_CPR, BAD_DATE)
    for run in _digit_runs(text):
        assert run not in (reason or "")
    out = derive(s, pd.Series([dt.date(2025, 1, 1)]), KEY)
    dump = out.to_csv()
    for run in _digit_runs(text):
        # a 6+ digit run could only appear by chance inside a 64-hex pseudonym
        assert run not in dump.replace(out["borger_pseudonym"].fillna("").iloc[0], "")
    for fn in (birth_date, sex):
        try:
            fn(text)
        except ValueError as exc:
            for run in _digit_runs(text):
                assert run not in str(exc)


@FAST
@given(valid_cprs(), st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_property_derive_agrees_with_scalar_functions(item: tuple[str, dt.date], at: dt.date) -> None:
    ten, born = item
    out = derive(pd.Series([ten]), pd.Series([at], dtype=object), KEY)
    row = out.iloc[0]
    assert row["foedt_efter_oprettet"] == (born > at)
    assert row["koen"] == sex(ten)
    if born > at:
        assert row["aldersgruppe"] is None
    else:
        assert row["aldersgruppe"] == age_band(born, at)


def test_derive_list_at_and_misaligned_index() -> None:
    number = make_cpr(15, 6, 0, 4, 222)  # 2000-06-15
    out = derive(pd.Series([number, number]), [dt.date(2018, 6, 14), dt.date(2018, 6, 15)], KEY)
    assert out["aldersgruppe"].tolist() == ["under_18", "18-29"]
    at = pd.Series([dt.date(2018, 6, 15), dt.date(2018, 6, 14)], index=[1, 0], dtype=object)
    out = derive(pd.Series([number, number], index=[0, 1]), at, KEY)
    assert out["aldersgruppe"].tolist() == ["under_18", "18-29"]  # aligned on the index


# --------------------------------------------------------------------------- distinct values
# derive works once per distinct raw value / number and vectorises the age; these check it
# against the scalar functions applied row by row, with repeats and mixed spellings.


def _derive_reference(value: object, at: object) -> tuple:
    digits, reason = norm(value)
    if digits is None:
        return None, None, None, False, reason
    born = birth_date(digits)
    at_date = None if at is None or at is pd.NaT else pd.Timestamp(at).date()
    after = at_date is not None and born > at_date
    band = age_band(born, at_date) if at_date is not None and not after else None
    return pseudonymise(digits, KEY), sex(digits), band, after, None


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(
                valid_cprs().map(lambda item: item[0]),
                st.sampled_from([None, float("nan"), "", "  ", "x", make_cpr(31, 2, 90, 1), "0101901234"]),
            ),
            st.sampled_from(["plain", "dash", "nine", "spaces"]),
            st.one_of(st.none(), st.dates(min_value=dt.date(1850, 1, 1), max_value=dt.date(2100, 12, 31))),
        ),
        max_size=15,
    )
)
def test_property_derive_matches_row_by_row(rows: list) -> None:
    cells = []
    for value, form, _ in rows:
        if isinstance(value, str) and re.fullmatch(r"[0-9]{10}", value):
            value = {
                "plain": value,
                "dash": f"{value[:6]}-{value[6:]}",
                "nine": value[1:] if value.startswith("0") else value,
                "spaces": f" {value}\t",
            }[form]
        cells.append(value)
    cprs = pd.Series(cells * 2, index=range(100, 100 + 2 * len(cells)), dtype=object)
    ats = [at for _, _, at in rows] * 2
    expected = [_derive_reference(v, at) for v, at in zip(cprs, ats)]
    for at in (
        pd.Series(ats, index=cprs.index, dtype=object),
        pd.Series(pd.to_datetime(pd.Series(ats, dtype=object)).array, index=cprs.index),  # datetime64
    ):
        out = derive(cprs, at, KEY)
        assert list(out.index) == list(cprs.index)
        assert out["foedt_efter_oprettet"].dtype == bool
        assert [tuple(r) for r in out.itertuples(index=False)] == expected


def test_derive_tz_aware_at_uses_local_date() -> None:
    number = make_cpr(15, 6, 0, 4, 222)  # 2000-06-15
    at = pd.Series(pd.to_datetime(["2018-06-14 23:30", "2018-06-15 00:30"]).tz_localize("Europe/Copenhagen"))
    out = derive(pd.Series([number, number]), at, KEY)
    assert out["aldersgruppe"].tolist() == ["under_18", "18-29"]
    assert derive(pd.Series([number, number]), at.astype(object), KEY).equals(out)


def test_derive_all_blank() -> None:
    out = derive(pd.Series([None, "", float("nan")], dtype=object), dt.date(2025, 1, 1), KEY)
    assert out["borger_pseudonym"].tolist() == [None] * 3
    assert out["aldersgruppe"].tolist() == [None] * 3
    assert out["foedt_efter_oprettet"].tolist() == [False] * 3
    assert out["cpr_error"].tolist() == [None] * 3


def test_derive_century_rule() -> None:
    # (YY, 7th digit, birth year) on each side of every boundary of the century rule
    cases = [(0, 0, 1900), (99, 3, 1999), (36, 4, 2036), (37, 4, 1937), (36, 9, 2036), (37, 9, 1937),
             (57, 5, 2057), (58, 5, 1858), (57, 8, 2057), (58, 8, 1858), (0, 6, 2000), (99, 7, 1899)]
    numbers = pd.Series([make_cpr(15, 6, yy, seventh) for yy, seventh, _ in cases] * 2)
    born = [dt.date(year, 6, 15) for _, _, year in cases]
    at = pd.Series(born + [b - dt.timedelta(days=1) for b in born], dtype=object)
    out = derive(numbers, at, KEY)
    assert out["aldersgruppe"].tolist() == ["under_18"] * len(born) + [None] * len(born)
    assert out["foedt_efter_oprettet"].tolist() == [False] * len(born) + [True] * len(born)
