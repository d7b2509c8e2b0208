"""Typed parsing of text columns read by :mod:`nsk_pipeline.sources.readers`.

Every ``parse_*`` function takes a Series of ``str``/``None`` and returns
``(values, errors)``, both aligned to the input index. ``errors`` holds ``None``
for rows that parsed and a short English reason otherwise (without the column
name: the caller prefixes it). Reasons may quote the offending value, so these
parsers are for non-sensitive columns only (CPR numbers go through
:mod:`nsk_pipeline.sources.cpr`).

The work is done once per distinct value (``pd.factorize``) and mapped back, so
large files with repetitive columns are cheap.

Count rules (see ``parse_counts``): ``.`` between groups of exactly three digits
is a Danish thousands separator, so ``1.500`` = 1500 and ``1.000.000`` = 1000000,
while ``1.5``/``1.50`` are fractional and rejected and ``25.0``/``25.00`` = 25.
A ``,`` is a decimal comma (``25,0`` = 25, ``2,5`` rejected). ``1,000`` is
rejected as ambiguous: in Danish it is 1, in an English export 1000.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Collection

import numpy as np
import pandas as pd

__all__ = [
    "MISSING",
    "normalise_code",
    "normalise_key",
    "parse_code_list",
    "parse_codes",
    "parse_counts",
    "parse_dates",
    "parse_text",
    "parse_year",
]

MISSING = "missing value"
NOT_A_DATE = "not a date (expected DD-MM-YYYY, DD.MM.YYYY or YYYY-MM-DD)"
NOT_A_REAL_DATE = "not a real date"
NOT_A_NUMBER = "not a number"
NOT_WHOLE = "not a whole number"
NEGATIVE = "negative count"
NOT_A_YEAR = "not a year (expected YYYY)"

_MAX_QUOTED = 60  # longest value quoted in a reason
_INT64_MAX = 2**63 - 1

_WS_RE = re.compile(r"\s+")
# an optional midnight time, as Excel writes date cells into CSV
_MIDNIGHT = r"(?:[ T]+(?P<time>[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?))?"
_DAY_FIRST_RE = re.compile(
    r"(?P<d>[0-9]{1,2})(?P<sep>[-.])(?P<m>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4})" + _MIDNIGHT, re.ASCII
)
_ISO_RE = re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})" + _MIDNIGHT, re.ASCII)

_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
_DOT_THOUSANDS_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+", re.ASCII)
_DOT_DECIMAL_RE = re.compile(r"(?P<i>[0-9]+)\.(?P<f>[0-9]+)", re.ASCII)
_COMMA_DECIMAL_RE = re.compile(
    r"(?P<i>[0-9]+|[0-9]{1,3}(?:\.[0-9]{3})+),(?P<f>[0-9]+)", re.ASCII
)
_YEAR_RE = re.compile(r"(?P<y>[1-9][0-9]{3})(?:[.,]0+)?", re.ASCII)

_DANISH = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa"})

Result = tuple[object, str | None]


# --------------------------------------------------------------------------- helpers


def _blank(value: object) -> str | None:
    """Trimmed text of a cell, or None for blank/NA."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    text = str(value).strip()
    return text or None


def _quote(value: str) -> str:
    if len(value) > _MAX_QUOTED:
        value = value[: _MAX_QUOTED - 1] + "…"
    return repr(value)


def _apply(
    s: pd.Series,
    fn: Callable[[str], Result],
    blank: Result,
    dtype: str | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Run ``fn`` once per distinct non-blank trimmed value; blanks get ``blank``."""
    if not isinstance(s, pd.Series):
        s = pd.Series(s, dtype=object)
    cleaned = [_blank(v) for v in s.array] if len(s) else []
    codes, uniques = pd.factorize(pd.Series(cleaned, dtype=object), use_na_sentinel=True)
    n_unique = len(uniques)
    values = np.empty(n_unique + 1, dtype=object)
    errors = np.empty(n_unique + 1, dtype=object)
    for i, u in enumerate(uniques):
        try:
            values[i], errors[i] = fn(u)
        except Exception:  # noqa: BLE001 - a parser bug must not crash the ingest
            values[i], errors[i] = None, "could not be parsed"
    values[n_unique], errors[n_unique] = blank
    idx = np.where(codes < 0, n_unique, codes)
    out_values = values[idx] if len(idx) else np.empty(0, dtype=object)
    out_errors = errors[idx] if len(idx) else np.empty(0, dtype=object)
    if dtype is not None:
        vals = pd.Series(pd.array(list(out_values), dtype=dtype), index=s.index)
    else:
        vals = pd.Series(out_values, index=s.index, dtype=object)
    return vals, pd.Series(out_errors, index=s.index, dtype=object)


# --------------------------------------------------------------------------- dates


def _parse_one_date(text: str, not_after: dt.date | None) -> Result:
    m = _DAY_FIRST_RE.fullmatch(text) or _ISO_RE.fullmatch(text)
    if m is None:
        return None, NOT_A_DATE
    time = m.group("time")
    if time is not None:
        if any(ch not in "0:." for ch in time):
            return None, NOT_A_DATE  # a time of day other than midnight
    try:
        value = dt.date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
    except ValueError:
        return None, NOT_A_REAL_DATE
    if not_after is not None and value > not_after:
        return None, f"after the file's export date {not_after.isoformat()}"
    return value, None


def parse_dates(
    s: pd.Series, not_after: dt.date | None = None, required: bool = True
) -> tuple[pd.Series, pd.Series]:
    """``DD-MM-YYYY``, ``DD.MM.YYYY`` (1- or 2-digit day/month) or ``YYYY-MM-DD``,
    each optionally followed by a midnight time (``00:00:00``) → ``datetime.date``."""
    if isinstance(not_after, dt.datetime):
        not_after = not_after.date()
    blank: Result = (None, MISSING if required else None)
    return _apply(s, lambda t: _parse_one_date(t, not_after), blank)


# --------------------------------------------------------------------------- counts


def _whole(int_part: str, frac: str) -> Result:
    if frac.strip("0"):
        return None, NOT_WHOLE
    return _checked_int(int_part.replace(".", ""))


def _checked_int(digits: str) -> Result:
    value = int(digits)
    if value > _INT64_MAX:
        return None, "number too large"
    return value, None


def _parse_unsigned(text: str) -> Result:
    if _DIGITS_RE.fullmatch(text):
        return _checked_int(text)
    if _DOT_THOUSANDS_RE.fullmatch(text):  # 1.000, 1.500, 1.000.000
        return _checked_int(text.replace(".", ""))
    m = _DOT_DECIMAL_RE.fullmatch(text)  # 25.0, 1.5, 1.50 (not 3-digit groups)
    if m:
        return _whole(m.group("i"), m.group("f"))
    m = _COMMA_DECIMAL_RE.fullmatch(text)  # 25,0  1.000,0  2,5
    if m:
        int_part, frac = m.group("i"), m.group("f")
        if "." not in int_part and len(frac) == 3 and not frac.strip("0") and int_part != "0":
            return None, "ambiguous number (',' followed by three digits could be a thousands separator)"
        return _whole(int_part, frac)
    return None, NOT_A_NUMBER


def _parse_one_count(text: str) -> Result:
    if text.startswith("-"):
        rest = text[1:].strip()
        value, err = _parse_unsigned(rest)
        if err is None and value == 0:
            return 0, None  # "-0"
        if err == NOT_A_NUMBER:
            return None, NOT_A_NUMBER
        return None, NEGATIVE
    return _parse_unsigned(text)


def parse_counts(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Non-negative whole numbers → ``Int64``; blank → 0. See the module docstring
    for the ``.``/``,`` rules. Signs other than none are "not a number" (``+3``)."""
    values, errors = _apply(s, _parse_one_count, (0, None))
    return pd.Series(pd.array(list(values), dtype="Int64"), index=values.index), errors


# --------------------------------------------------------------------------- codes


def normalise_code(text: str) -> str:
    """Casefold, trim, ``æ/ø/å`` → ``ae/oe/aa``, collapse inner whitespace."""
    text = unicodedata.normalize("NFC", str(text)).casefold().translate(_DANISH)
    return _WS_RE.sub(" ", text).strip()


def _allowed_map(allowed: Collection[str]) -> dict[str, str]:
    return {normalise_code(a): a for a in allowed}


def _allowed_list(allowed_map: dict[str, str]) -> str:
    return ", ".join(sorted(allowed_map.values()))


def parse_codes(
    s: pd.Series,
    allowed: Collection[str],
    required: bool = True,
    default: str | None = None,
) -> tuple[pd.Series, pd.Series]:
    """A code from ``allowed`` (matched after :func:`normalise_code`; the allowed
    spelling is returned). Blank → ``default`` if given, else "missing value" when
    required, else None."""
    amap = _allowed_map(allowed)
    listing = _allowed_list(amap)

    def one(text: str) -> Result:
        code = amap.get(normalise_code(text))
        if code is None:
            return None, f"{_quote(text)} is not one of: {listing}"
        return code, None

    if default is not None:
        blank: Result = (default, None)
    else:
        blank = (None, MISSING if required else None)
    return _apply(s, one, blank)


def parse_code_list(
    s: pd.Series, allowed: Collection[str], required: bool = False
) -> tuple[pd.Series, pd.Series]:
    """Codes separated by ``|`` or ``,`` → a ``|``-joined, sorted, de-duplicated
    string (empty elements are ignored; nothing left → None)."""
    amap = _allowed_map(allowed)
    listing = _allowed_list(amap)

    def one(text: str) -> Result:
        parts = [p.strip() for p in re.split(r"[|,]", text)]
        parts = [p for p in parts if p]
        if not parts:
            return None, MISSING if required else None
        codes: set[str] = set()
        unknown: list[str] = []
        for p in parts:
            code = amap.get(normalise_code(p))
            if code is None:
                if p not in unknown:
                    unknown.append(p)
            else:
                codes.add(code)
        if unknown:
            if len(unknown) == 1:
                return None, f"{_quote(unknown[0])} is not one of: {listing}"
            named = ", ".join(_quote(u) for u in unknown[:5])
            return None, f"{named} are not among: {listing}"
        return "|".join(sorted(codes)), None

    return _apply(s, one, (None, MISSING if required else None))


# --------------------------------------------------------------------------- others


def parse_year(s: pd.Series, required: bool = True) -> tuple[pd.Series, pd.Series]:
    """A four-digit year (also ``2024.0`` from Excel) → ``Int64``."""

    def one(text: str) -> Result:
        m = _YEAR_RE.fullmatch(text)
        if m is None:
            return None, f"{NOT_A_YEAR}, got {_quote(text)}"
        return int(m.group("y")), None

    values, errors = _apply(s, one, (None, MISSING if required else None))
    return pd.Series(pd.array(list(values), dtype="Int64"), index=values.index), errors


def normalise_key(s: pd.Series) -> pd.Series:
    """Names used as keys of a count (school, class): casefold, runs of whitespace
    collapsed, trimmed. Blank/None → None."""

    def one(text: str) -> Result:
        return _WS_RE.sub(" ", unicodedata.normalize("NFC", text).casefold()).strip() or None, None

    values, _ = _apply(s, one, (None, None))
    return values


def parse_text(s: pd.Series, required: bool = True) -> tuple[pd.Series, pd.Series]:
    """Trimmed text or None; blank and required → "missing value"."""
    return _apply(s, lambda t: (t, None), (None, MISSING if required else None))
