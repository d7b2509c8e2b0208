"""CPR numbers: validation, derived attributes and pseudonymisation.

CPR numbers are special-category personal data. Nothing in this module ever
puts a CPR number (or any part of the input) into an exception message, a
reason string or a log line: reasons are fixed strings, and every exception
raised while handling a value is caught and replaced by one of them.

Rules (from the source-export contract):

* Accepted shapes, with surrounding spaces: ``DDMMYY-SSSS``, ``DDMMYYSSSS``, and
  the nine-digit forms where Danish Excel dropped a leading zero
  (``DMMYYSSSS``, ``DMMYY-SSSS``, also an Excel float ``DMMYYSSSS.0``); the zero
  is put back.
* Valid when the first six digits are a real date, the century following the
  7th digit: 0-3 → 1900s; 4 or 9 → 2000s if YY ≤ 36 else 1900s; 5-8 → 2000s if
  YY ≤ 57 else 1800s. The modulus-11 check is deliberately *not* applied
  (numbers issued since 2007 may fail it).
* Sex: last digit even → ``kvinde``, odd → ``mand``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

import numpy as np
import pandas as pd

__all__ = [
    "AGE_BANDS",
    "BAD_DATE",
    "NOT_A_CPR",
    "age_band",
    "birth_date",
    "derive",
    "normalise_cpr",
    "pseudonymise",
    "pseudonymise_series",
    "sex",
]

NOT_A_CPR = "not a CPR number (expected DDMMYY-SSSS)"
BAD_DATE = "not a valid CPR number: the date part is not a real date"

AGE_BANDS = ("under_18", "18-29", "30-39", "40-49", "50-64", "65+")
_BAND_LOWER = (0, 18, 30, 40, 50, 65)

_CPR_RE = re.compile(r"([0-9]{5,6})-?([0-9]{4})", re.ASCII)
_EXCEL_FLOAT_RE = re.compile(r"([0-9]{9,10})\.0+", re.ASCII)
_TEN_DIGITS_RE = re.compile(r"[0-9]{10}", re.ASCII)


# --------------------------------------------------------------------------- one value


def _century(yy: int, seventh: int) -> int:
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if yy <= 36 else 1900
    return 2000 if yy <= 57 else 1800


def _birth_or_none(cpr10: str) -> dt.date | None:
    try:
        yy = int(cpr10[4:6])
        return dt.date(_century(yy, int(cpr10[6])) + yy, int(cpr10[2:4]), int(cpr10[0:2]))
    except Exception:  # noqa: BLE001 - never let the value reach a message
        return None


def _normalise_one(value: object) -> tuple[str | None, str | None]:
    """(ten digits or None, reason or None). Blank → (None, None)."""
    try:
        if value is None:
            return None, None
        if not isinstance(value, str):
            if pd.isna(value):
                return None, None
            value = str(value)
        text = value.strip()
        if not text:
            return None, None
        m = _EXCEL_FLOAT_RE.fullmatch(text)
        if m is not None:
            text = m.group(1)
        m = _CPR_RE.fullmatch(text)
        if m is None:
            return None, NOT_A_CPR
        digits = (m.group(1) + m.group(2)).rjust(10, "0")
        if _birth_or_none(digits) is None:
            return None, BAD_DATE
        return digits, None
    except Exception:  # noqa: BLE001
        return None, NOT_A_CPR


def _require(cpr: str) -> str:
    digits, reason = _normalise_one(cpr)
    if reason is not None:
        raise ValueError(reason)
    if digits is None:
        raise ValueError("missing CPR number")
    return digits


# --------------------------------------------------------------------------- public


def _normalise_distinct(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(codes, digits, reasons)``: :func:`_normalise_one` once per distinct raw value;
    ``codes`` gives each row's entry, -1 (blank) the tables' last ``(None, None)``."""
    codes, uniques = pd.factorize(s if s.dtype == object else s.astype(object), use_na_sentinel=True)
    n = len(uniques)
    digits = np.empty(n + 1, dtype=object)
    reasons = np.empty(n + 1, dtype=object)
    for i, u in enumerate(uniques):
        digits[i], reasons[i] = _normalise_one(u)
    digits[n], reasons[n] = None, None
    return codes, digits, reasons


def normalise_cpr(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Ten-digit CPR strings (or None) and reasons (or None), aligned to ``s``.

    Blank values give ``(None, None)``: the caller decides whether the CPR is required.
    """
    if not isinstance(s, pd.Series):
        s = pd.Series(s, dtype=object)
    codes, digits, reasons = _normalise_distinct(s)
    return (
        pd.Series(digits[codes], index=s.index, dtype=object),
        pd.Series(reasons[codes], index=s.index, dtype=object),
    )


def birth_date(cpr10: str) -> dt.date:
    """The birth date encoded in a CPR number (any accepted shape).

    Raises ValueError with a generic reason (never the number) when invalid."""
    birth = _birth_or_none(_require(cpr10))
    if birth is None:  # pragma: no cover - _require already checked the date
        raise ValueError(BAD_DATE)
    return birth


def sex(cpr10: str) -> str:
    """``kvinde`` when the last digit is even, else ``mand``."""
    return "kvinde" if int(_require(cpr10)[-1]) % 2 == 0 else "mand"


def _completed_years(birth: dt.date, at: dt.date) -> int:
    return at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))


def _band_of_age(age: int) -> str:
    for band, lower in zip(reversed(AGE_BANDS), reversed(_BAND_LOWER)):
        if age >= lower:
            return band
    raise ValueError("negative age")


def age_band(birth: dt.date, at: dt.date) -> str:
    """Age band from the age in completed years at ``at``: ``under_18``, ``18-29``,
    ``30-39``, ``40-49``, ``50-64``, ``65+``. Raises ValueError when ``birth`` is after ``at``."""
    if isinstance(birth, dt.datetime):
        birth = birth.date()
    if isinstance(at, dt.datetime):
        at = at.date()
    if birth > at:
        raise ValueError("the birth date is after the reference date")
    return _band_of_age(_completed_years(birth, at))


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError("the pseudonymisation key must be bytes")
    if not key:
        raise ValueError("the pseudonymisation key is empty")
    return bytes(key)


def pseudonymise(cpr10: str, key: bytes) -> str:
    """HMAC-SHA-256 (hex) of the ten CPR digits with ``key``.

    ``cpr10`` must be exactly ten digits (use :func:`normalise_cpr` first), so that
    the dashed and undashed forms of one number can never get different pseudonyms by mistake."""
    key = _check_key(key)
    if not isinstance(cpr10, str) or _TEN_DIGITS_RE.fullmatch(cpr10) is None:
        raise ValueError("pseudonymise expects the ten digits of a normalised CPR number")
    return hmac.new(key, cpr10.encode("ascii"), hashlib.sha256).hexdigest()


def pseudonymise_series(s: pd.Series, key: bytes) -> pd.Series:
    """:func:`pseudonymise` over a Series of ten-digit strings; None stays None."""
    key = _check_key(key)
    if not isinstance(s, pd.Series):
        s = pd.Series(s, dtype=object)
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
    out = np.empty(len(uniques) + 1, dtype=object)
    for i, u in enumerate(uniques):
        out[i] = pseudonymise(u, key)
    out[len(uniques)] = None
    return pd.Series(out[np.where(codes < 0, len(uniques), codes)], index=s.index, dtype=object)


def _ymd_of(v: object) -> float:
    """yyyymmdd of a date-like value as float (NaN when missing/unparseable)."""
    try:
        if v is None or (not isinstance(v, (str, dt.date)) and pd.isna(v)):
            return np.nan
        if isinstance(v, str):
            v = dt.date.fromisoformat(v.strip()[:10])
        elif isinstance(v, np.datetime64):
            v = pd.Timestamp(v)
        if isinstance(v, dt.datetime):  # includes pd.Timestamp
            v = v.date()
        if isinstance(v, dt.date):
            return float(v.year * 10000 + v.month * 100 + v.day)
    except Exception:  # noqa: BLE001
        pass
    return np.nan


def _sex_and_birth(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``koen`` and the birth date as yyyymmdd (float) of validated ten-digit numbers,
    vectorised; each with a trailing None/NaN entry for rows without a number."""
    v = numbers.astype(np.int64) if len(numbers) else np.empty(0, dtype=np.int64)
    dd, mm, yy = v // 10**8, v // 10**6 % 100, v // 10**4 % 100
    seventh, last = v // 1000 % 10, v % 10
    # the century rule of _century
    century = np.select(
        [seventh <= 3, (seventh == 4) | (seventh == 9)],
        [1900, np.where(yy <= 36, 2000, 1900)],
        np.where(yy <= 57, 2000, 1800),
    )
    birth = ((century + yy) * 10000 + mm * 100 + dd).astype(float)
    koen = np.where(last % 2 == 0, "kvinde", "mand").astype(object)
    return np.append(koen, None), np.append(birth, np.nan)


def _to_ymd(at: pd.Series) -> np.ndarray:
    dtype = at.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        # vectorised: the same (local) calendar date as Timestamp.date() in _ymd_of
        ymd = at.dt.year * 10000 + at.dt.month * 100 + at.dt.day
        return ymd.to_numpy(dtype=float, na_value=np.nan)
    codes, uniques = pd.factorize(at if dtype == object else at.astype(object), use_na_sentinel=True)
    table = np.array([_ymd_of(u) for u in uniques] + [np.nan], dtype=float)
    return table[codes]


def derive(cpr: pd.Series, at: pd.Series | dt.date, key: bytes) -> pd.DataFrame:
    """Everything the ingest layer needs from a CPR column, without the CPR.

    Returns a frame on ``cpr``'s index with columns ``borger_pseudonym``,
    ``koen``, ``aldersgruppe`` (age at ``at``; None when ``at`` is missing or
    before the birth date), ``foedt_efter_oprettet`` (bool: the birth date is after
    ``at``; False when either is unknown) and ``cpr_error`` (the reason from
    :func:`normalise_cpr`; blank CPR → no error and no derived values).
    ``at`` is aligned on the index (a scalar date applies to every row).
    """
    key = _check_key(key)
    if not isinstance(cpr, pd.Series):
        cpr = pd.Series(cpr, dtype=object)
    raw_codes, raw_digits, reasons = _normalise_distinct(cpr)
    # several raw spellings (dashed, nine digits, ...) can give one number: one HMAC per number
    num_codes, numbers = pd.factorize(raw_digits, use_na_sentinel=True)
    # numbers are validated ten ASCII digits (_normalise_one), so pseudonymise's checks are
    # not repeated per number; hmac.digest is its one-shot equivalent
    pseud = np.empty(len(numbers) + 1, dtype=object)
    pseud[:-1] = [hmac.digest(key, d.encode("ascii"), "sha256").hex() for d in numbers]
    pseud[-1] = None
    koen, birth_ymd = _sex_and_birth(np.asarray(numbers, dtype=object))
    # row -> distinct raw value -> distinct number; a blank row (-1) picks the raw tables'
    # last entry, itself -1 here, and -1 picks the None entry of pseud/koen/birth_ymd
    idx = num_codes[raw_codes]

    if isinstance(at, pd.Series):
        at_series = at.reindex(cpr.index) if not at.index.equals(cpr.index) else at
    elif isinstance(at, (list, tuple, np.ndarray, pd.Index, pd.api.extensions.ExtensionArray)):
        at_series = pd.Series(list(at), index=cpr.index, dtype=object)
    else:
        at_series = pd.Series([at] * len(cpr), index=cpr.index, dtype=object)
    at_ymd = _to_ymd(at_series)
    b_ymd = birth_ymd[idx]

    known = ~np.isnan(b_ymd) & ~np.isnan(at_ymd)
    with np.errstate(invalid="ignore"):
        after = known & (b_ymd > at_ymd)
        # completed years: floor((yyyymmdd_at - yyyymmdd_birth) / 10000)
        age = np.floor((at_ymd - b_ymd) / 10000)
    # band = the last lower bound <= age; rows without a known, non-negative age -> None
    bands = np.array([*AGE_BANDS, None], dtype=object)
    pos = np.searchsorted(np.array(_BAND_LOWER, dtype=float), age, side="right") - 1
    band = bands[np.where(known & ~after, pos, len(AGE_BANDS))]

    return pd.DataFrame(
        {
            "borger_pseudonym": pd.Series(pseud[idx], index=cpr.index, dtype=object),
            "koen": pd.Series(koen[idx], index=cpr.index, dtype=object),
            "aldersgruppe": pd.Series(band, index=cpr.index, dtype=object),
            "foedt_efter_oprettet": pd.Series(after, index=cpr.index, dtype=bool),
            "cpr_error": pd.Series(reasons[raw_codes], index=cpr.index, dtype=object),
        },
        index=cpr.index,
    )
