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
import operator
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


def _distinct(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, texts)``: the distinct trimmed non-blank texts of ``s`` (as
    :func:`_blank` defines them) and, per row, the position of its text (-1 = blank).

    Python touches each distinct value once, not each row: exports repeat the same
    codes, names and dates on every row."""
    try:
        codes, raw = pd.factorize(s, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists, ...): trim row by row
        cleaned = np.empty(len(s), dtype=object)
        cleaned[:] = [_blank(v) for v in s.array]
        return pd.factorize(cleaned, use_na_sentinel=True)
    raw = np.asarray(raw, dtype=object)
    if pd.api.types.infer_dtype(raw, skipna=False) == "string":  # every distinct value is a str
        stripped = [u.strip() for u in raw]
        if "" not in stripped and not any(map(operator.is_not, stripped, raw)):
            return codes, raw  # already trimmed and non-blank (what the readers produce)
        table = np.array(stripped, dtype=object)
        table[table == ""] = None
        is_text = np.ones(len(raw), dtype=bool)
    else:
        is_text = np.fromiter((isinstance(u, str) for u in raw), dtype=bool, count=len(raw))
        table = np.empty(len(raw), dtype=object)
        table[is_text] = [u.strip() or None for u in raw[is_text]]
    if not is_text.all():
        # Non-text cells go row by row through _blank: equal-but-different values
        # (1 and 1.0 and True, 0.0 and -0.0) share a factorize code but not a str().
        rows = np.flatnonzero((codes >= 0) & ~is_text[codes])
        extra = np.empty(len(rows), dtype=object)
        extra[:] = [_blank(v) for v in s.array[rows]]
        codes = codes.copy()
        codes[rows] = len(table) + np.arange(len(rows))
        table = np.concatenate([table, extra])
    # distinct raw values can trim to the same text (" a" and "a"), and to blank
    codes2, texts = pd.factorize(table, use_na_sentinel=True)
    return np.append(codes2, -1)[codes], np.asarray(texts, dtype=object)


def _as_series(s: object) -> pd.Series:
    return s if isinstance(s, pd.Series) else pd.Series(s, dtype=object)


def _tables(
    texts: np.ndarray, fn: Callable[[str], Result], blank: Result
) -> tuple[list[object], np.ndarray]:
    """``fn`` over each distinct text; the last entry is ``blank``."""
    n = len(texts)
    values: list[object] = [None] * (n + 1)
    errors = np.empty(n + 1, dtype=object)
    for i, u in enumerate(texts):
        try:
            values[i], errors[i] = fn(u)
        except Exception:  # noqa: BLE001 - a parser bug must not crash the ingest
            values[i], errors[i] = None, "could not be parsed"
    values[n], errors[n] = blank
    return values, errors


def _spread(table: np.ndarray, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """One row per code; code -1 (blank) picks the table's last entry."""
    return pd.Series(table[codes], index=index, dtype=object)


def _apply(s: pd.Series, fn: Callable[[str], Result], blank: Result) -> tuple[pd.Series, pd.Series]:
    """Run ``fn`` once per distinct non-blank trimmed value; blanks get ``blank``."""
    s = _as_series(s)
    codes, texts = _distinct(s)
    values, errors = _tables(texts, fn, blank)
    table = np.empty(len(values), dtype=object)
    table[:] = values
    return _spread(table, codes, s.index), _spread(errors, codes, s.index)


def _apply_int(s: pd.Series, fn: Callable[[str], Result], blank: Result) -> tuple[pd.Series, pd.Series]:
    """:func:`_apply` with ``Int64`` values, converted per distinct value, not per row."""
    s = _as_series(s)
    codes, texts = _distinct(s)
    values, errors = _tables(texts, fn, blank)
    ints = pd.array(values, dtype="Int64").take(np.where(codes < 0, len(texts), codes))
    return pd.Series(ints, index=s.index), _spread(errors, codes, s.index)


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
    return _apply_int(s, _parse_one_count, (0, None))


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

    return _apply_int(s, one, (None, MISSING if required else None))


def normalise_key(s: pd.Series) -> pd.Series:
    """Names used as keys of a count (school, class): casefold, runs of whitespace
    collapsed, trimmed. Blank/None → None."""
    s = _as_series(s)
    codes, table = normalised_key_codes(s)
    return _spread(table, codes, s.index)


def normalised_key_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`normalise_key` as ``(codes, table)``: row i's name is ``table[codes[i]]`` (the last
    entry, None, for a blank). Entries need not be distinct (two spellings, one name)."""
    codes, texts = _distinct(_as_series(s))
    table = np.empty(len(texts) + 1, dtype=object)
    # str.split() splits on exactly the characters \s matches, so this is _WS_RE.sub(" ", t).strip()
    table[:-1] = [" ".join(unicodedata.normalize("NFC", t).casefold().split()) or None for t in texts]
    table[-1] = None
    return codes, table


def parse_text(s: pd.Series, required: bool = True) -> tuple[pd.Series, pd.Series]:
    """Trimmed text or None; blank and required → "missing value"."""
    s = _as_series(s)
    codes, texts = _distinct(s)
    # the distinct trimmed texts are the values: no per-value call needed
    values = np.append(texts, None)
    errors = np.full(len(texts) + 1, None, dtype=object)
    errors[-1] = MISSING if required else None
    return _spread(values, codes, s.index), _spread(errors, codes, s.index)
