"""Typing of raw export text in DuckDB SQL: the contract's formats, written once as SQL macros.

Each column of a source's spec becomes a typed value and, where the text cannot be typed, a
reason: its code and parameters as JSON text (`sources/reasons.py` holds the texts; ingest adds
the column). A parameter may quote the offending text, which has had its CPR
numbers masked first (`nsk_mask`, in every column of every source); the CPR column itself is
never quoted: its reasons are fixed strings.

Dates: ``DD-MM-YYYY``, ``DD.MM.YYYY`` (1- or 2-digit day and month) or ``YYYY-MM-DD``, each
optionally followed by a midnight time (``00:00:00``, as Excel writes date cells into CSV). An
impossible date (31-02-2025) is not a real date; a date after the file's export date is rejected.

Counts: blank = 0. ``.`` between groups of exactly three digits is a Danish thousands separator
(``1.500`` = 1500, ``1.000.000``), while ``1.5``/``1.50`` are fractional and rejected and
``25.0``/``25.00`` = 25. A ``,`` is a decimal comma (``25,0`` = 25, ``2,5`` rejected). ``1,000``
is rejected as ambiguous: in Danish it is 1, in an English export 1000. Negative numbers are
rejected (``-0`` is 0); other signs (``+3``) are not a number.

Codes: matched case-insensitively, trimmed, inner whitespace collapsed, ``æ/ø/å`` = ``ae/oe/aa``;
the contract's spelling is stored. Code lists: codes separated by ``|`` or ``,``, stored
``|``-joined, sorted and de-duplicated. Years: four digits (also ``2024.0`` from Excel).

CPR numbers: ``DDMMYY-SSSS`` or ``DDMMYYSSSS``, and the nine-digit forms where Danish Excel
dropped a leading zero (``DMMYYSSSS``, ``DMMYY-SSSS``, also an Excel float ``DMMYYSSSS.0``); the
zero is put back. Valid when the first six digits are a real date, the century following the
7th digit: 0-3 → 1900s; 4 or 9 → 2000s if YY ≤ 36 else 1900s; 5-8 → 2000s if YY ≤ 57 else
1800s. The modulus-11 check is deliberately not applied (numbers issued since 2007 may fail
it). ``koen``: last digit even → kvinde, odd → mand; ``aldersgruppe``: the age in completed
years at ``oprettet``. The pseudonym is HMAC-SHA-256 of the ten digits with the key, built
from DuckDB's sha256 (RFC 2104: H(K ⊕ opad ‖ H(K ⊕ ipad ‖ m))) in the query that reads the
raw text, so the digits exist only inside that query's expressions.

CPR numbers in free text (`nsk_mask`; `mask_cpr` in Python runs the same macro): the date as
``DDMMYY`` or ``DMMYY`` or with dots (``DD.MM.YY``, ``D.M.YY``), then ``-``, one space or nothing,
then the four digits, bounded by non-digits; masked (``***``) only when the date is real by the
century rule above (`nsk_cpr_birth`, the CPR column's own), so ten digits that are no date
(``9999999999``) are kept. No modulus-11 check here either.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading

import duckdb

from nsk_pipeline.sources.specs import ColumnSpec, SourceSpec

def _code(code: str) -> str:
    """A typing error as the typing query gives it: the reason's code (`sources/reasons.py`) as
    JSON text, its column added by ingest."""
    return json.dumps({"code": code, "params": {}}, separators=(",", ":"))


MISSING = _code("required_missing")
NOT_A_DATE = _code("not_a_date")
NOT_A_REAL_DATE = _code("not_a_real_date")
NOT_A_NUMBER = _code("not_a_number")
NOT_WHOLE = _code("not_a_whole_number")
NEGATIVE = _code("negative_count")
TOO_LARGE = _code("number_too_large")
AMBIGUOUS = _code("ambiguous_number")
NOT_A_CPR = _code("not_a_cpr")
BAD_DATE = _code("cpr_date_not_real")
BORN_AFTER = _code("born_after_oprettet")


def coded(code: str, **params: str) -> str:
    """SQL for a typing error with parameters (each a SQL text expression) as JSON text."""
    pairs = ", ".join(f"{literal(k)}, {v}" for k, v in params.items())
    return f"json_object('code', {literal(code)}, 'params', json_object({pairs}))::VARCHAR"


# What the CPR number gives a row (the names `nsk_age_band` and the sex rule below produce): the
# pandera model, the breakdowns and the dictionary take the value lists from here.
# Each age band with the age (completed years at `oprettet`) it starts at; `nsk_age_band` is
# written from this table.
AGE_BAND_FROM = {"under_18": 0, "18-29": 18, "30-39": 30, "40-49": 40, "50-64": 50, "65+": 65}
AGE_BANDS = tuple(AGE_BAND_FROM)
SEXES = ("kvinde", "mand")  # the last digit even, odd

# CPR numbers as people write them in free text, masked by `nsk_mask` in every text of every
# source: the date as six digits (DDMMYY; DMMYY where the leading zero was dropped) or with dots
# (DD.MM.YY, D.M.YY), then '-', one space or nothing, then the four digits. Two families, masked
# one after the other: a number can hide in a candidate of the other family (55.55.010190 1234).
CPR_PLAIN = r"[0-9]{5,6}[- ]?[0-9]{4}"
CPR_DOTTED = r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{2}[- ]?[0-9]{4}"


def _bounded(family: str) -> str:
    # RE2 has no look-around: the bounding characters are captured and put back. \x01 and \x02
    # mark candidates (nsk_mark), and a mark is no bound: a marked candidate is not marked again.
    return rf"(^|[^0-9\x01\x02])({family})([^0-9\x01\x02]|$)"


MASK = "***"

def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_MIDNIGHT = r"(?:[ T]+0{1,2}:00(?::00(?:\.0+)?)?)?"

# the cheap test: a candidate of either family, unbounded (text that fails it holds no CPR number)
CPR_PREFILTER = f"{CPR_PLAIN}|{CPR_DOTTED}"
_PREFILTER_RE = re.compile(CPR_PREFILTER)

_AGE_BAND_CASES = "".join(f"\n        WHEN (nsk_ymd(on_day) - nsk_ymd(birth)) // 10000 >= {age} THEN {literal(band)}"
                          for band, age in reversed(AGE_BAND_FROM.items()) if age > 0)

MACROS = f"""
CREATE OR REPLACE MACRO nsk_quote(t) AS
    '''' || CASE WHEN length(t) > 60 THEN left(t, 59) || '…' ELSE t END || '''';
-- codes: case, æ/ø/å and whitespace do not matter
CREATE OR REPLACE MACRO nsk_code(t) AS trim(regexp_replace(
    replace(replace(replace(lower(nfc_normalize(t)), 'æ', 'ae'), 'ø', 'oe'), 'å', 'aa'), '\\s+', ' ', 'g'));
-- names that are part of a key or a signature: case and whitespace do not matter
CREATE OR REPLACE MACRO nsk_name(t) AS trim(regexp_replace(lower(nfc_normalize(t)), '\\s+', ' ', 'g'));

-- NULL when not a real date (try_cast, not try(make_date()): no exception per impossible date)
CREATE OR REPLACE MACRO nsk_make_date(y, m, d) AS try_cast(y || '-' || lpad(m, 2, '0') || '-' || lpad(d, 2, '0') AS DATE);
CREATE OR REPLACE MACRO nsk_dmy(t) AS
    regexp_extract(t, '^([0-9]{{1,2}})([-.])([0-9]{{1,2}})([-.])([0-9]{{4}}){_MIDNIGHT}$', ['d', 's1', 'm', 's2', 'y']);
CREATE OR REPLACE MACRO nsk_iso(t) AS
    regexp_extract(t, '^([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}}){_MIDNIGHT}$', ['y', 'm', 'd']);
CREATE OR REPLACE MACRO nsk_date_from(p, q) AS CASE
    WHEN p.s1 <> '' AND p.s1 = p.s2 THEN {{'shape': true, 'v': nsk_make_date(p.y, p.m, p.d)}}
    WHEN q.y <> '' THEN {{'shape': true, 'v': nsk_make_date(q.y, q.m, q.d)}}
    ELSE {{'shape': false, 'v': NULL::DATE}} END;
CREATE OR REPLACE MACRO nsk_date_error(t, d, not_after, required) AS CASE
    WHEN t IS NULL THEN CASE WHEN required THEN {literal(MISSING)} END
    WHEN NOT d.shape THEN {literal(NOT_A_DATE)}
    WHEN d.v IS NULL THEN {literal(NOT_A_REAL_DATE)}
    WHEN d.v > not_after THEN {coded('date_after_export', export_date="strftime(not_after, '%Y-%m-%d')")} END;

CREATE OR REPLACE MACRO nsk_int(digits) AS CASE WHEN try_cast(digits AS BIGINT) IS NULL
    THEN {{'v': NULL::BIGINT, 'e': {literal(TOO_LARGE)}}} ELSE {{'v': try_cast(digits AS BIGINT), 'e': NULL::VARCHAR}} END;
CREATE OR REPLACE MACRO nsk_whole(int_part, frac) AS CASE WHEN regexp_full_match(frac, '0*')
    THEN nsk_int(replace(int_part, '.', '')) ELSE {{'v': NULL::BIGINT, 'e': {literal(NOT_WHOLE)}}} END;
CREATE OR REPLACE MACRO nsk_comma(int_part, frac) AS CASE
    WHEN strpos(int_part, '.') = 0 AND length(frac) = 3 AND regexp_full_match(frac, '0+') AND int_part <> '0'
        THEN {{'v': NULL::BIGINT, 'e': {literal(AMBIGUOUS)}}}
    ELSE nsk_whole(int_part, frac) END;
CREATE OR REPLACE MACRO nsk_unsigned(u) AS CASE
    WHEN regexp_full_match(u, '[0-9]+') THEN nsk_int(u)
    WHEN regexp_full_match(u, '[0-9]{{1,3}}(\\.[0-9]{{3}})+') THEN nsk_int(replace(u, '.', ''))
    WHEN regexp_full_match(u, '[0-9]+\\.[0-9]+') THEN nsk_whole(split_part(u, '.', 1), split_part(u, '.', 2))
    WHEN regexp_full_match(u, '([0-9]+|[0-9]{{1,3}}(\\.[0-9]{{3}})+),[0-9]+')
        THEN nsk_comma(split_part(u, ',', 1), split_part(u, ',', 2))
    ELSE {{'v': NULL::BIGINT, 'e': {literal(NOT_A_NUMBER)}}} END;
CREATE OR REPLACE MACRO nsk_signed(t, r) AS CASE
    WHEN t IS NULL THEN {{'v': 0::BIGINT, 'e': NULL::VARCHAR}}
    WHEN NOT starts_with(t, '-') THEN r
    WHEN r.e IS NULL AND r.v = 0 THEN {{'v': 0::BIGINT, 'e': NULL::VARCHAR}}
    WHEN r.e = {literal(NOT_A_NUMBER)} THEN r
    ELSE {{'v': NULL::BIGINT, 'e': {literal(NEGATIVE)}}} END;

CREATE OR REPLACE MACRO nsk_year(t) AS CASE WHEN regexp_full_match(t, '[1-9][0-9]{{3}}([.,]0+)?')
    THEN left(t, 4)::BIGINT END;

-- CPR: the two parts of a CPR-shaped text (empty when it has no CPR shape)
CREATE OR REPLACE MACRO nsk_cpr_shape(t) AS regexp_extract(
    CASE WHEN regexp_full_match(t, '[0-9]{{9,10}}\\.0+') THEN split_part(t, '.', 1) ELSE t END,
    '^([0-9]{{5,6}})-?([0-9]{{4}})$', ['a', 'b']);
CREATE OR REPLACE MACRO nsk_cpr_century(yy, seventh) AS CASE
    WHEN seventh <= 3 THEN 1900
    WHEN seventh IN (4, 9) THEN CASE WHEN yy <= 36 THEN 2000 ELSE 1900 END
    ELSE CASE WHEN yy <= 57 THEN 2000 ELSE 1800 END END;
CREATE OR REPLACE MACRO nsk_cpr_birth(digits) AS nsk_make_date(
    (nsk_cpr_century(substr(digits, 5, 2)::INT, substr(digits, 7, 1)::INT) + substr(digits, 5, 2)::INT)::VARCHAR,
    substr(digits, 3, 2), substr(digits, 1, 2));
-- CPR numbers in free text. A candidate's ten digits (the dots' day and month padded, the dropped
-- zero put back); it is a CPR number when they are a birth date by the CPR column's own rule.
CREATE OR REPLACE MACRO nsk_cpr_candidate_digits(c) AS CASE WHEN contains(c, '.')
    THEN lpad(split_part(c, '.', 1), 2, '0') || lpad(split_part(c, '.', 2), 2, '0')
        || replace(replace(split_part(c, '.', 3), '-', ''), ' ', '')
    ELSE lpad(replace(replace(c, '-', ''), ' ', ''), 10, '0') END;
-- each candidate put between chr(1) and chr(2); twice, because a bound shared by two adjacent
-- candidates is consumed by the first match
CREATE OR REPLACE MACRO nsk_mark(t, pattern) AS regexp_replace(
    regexp_replace(t, pattern, '\\1' || chr(1) || '\\2' || chr(2) || '\\3', 'g'),
    pattern, '\\1' || chr(1) || '\\2' || chr(2) || '\\3', 'g');
-- the marked text with each candidate that is a CPR number masked and the marks removed (in
-- steps: a macro's argument is copied where it is used, and the digits are used nine times)
CREATE OR REPLACE MACRO nsk_unmark(m) AS array_to_string(list_transform(list_transform(
    string_split(m, chr(1)),
    lambda p, i: {{'p': p, 'd': CASE WHEN i > 1 THEN nsk_cpr_candidate_digits(split_part(p, chr(2), 1)) END}}),
    lambda x: CASE WHEN x.d IS NULL THEN x.p
        WHEN nsk_cpr_birth(x.d) IS NOT NULL THEN '{MASK}' || split_part(x.p, chr(2), 2)
        ELSE replace(x.p, chr(2), '') END), '');
-- The cheap test first (a candidate of either family, unbounded); a text that passes it loses
-- any chr(1)/chr(2) of its own (they would be taken for marks; a CSV export cannot hold them).
CREATE OR REPLACE MACRO nsk_mask(t) AS CASE WHEN regexp_matches(t, {literal(CPR_PREFILTER)}) THEN
    nsk_unmark(nsk_mark(nsk_unmark(nsk_mark(replace(replace(t, chr(1), ''), chr(2), ''),
        {literal(_bounded(CPR_DOTTED))})), {literal(_bounded(CPR_PLAIN))}))
    ELSE t END;
CREATE OR REPLACE MACRO nsk_hmac(ipad, opad, message) AS
    sha256(opad || unhex(sha256(ipad || encode(message))));
CREATE OR REPLACE MACRO nsk_ymd(d) AS year(d) * 10000 + month(d) * 100 + day(d);
CREATE OR REPLACE MACRO nsk_age_band(birth, on_day) AS CASE
    WHEN birth IS NULL OR on_day IS NULL OR birth > on_day THEN NULL
    ELSE CASE{_AGE_BAND_CASES}
        ELSE {literal(AGE_BANDS[0])} END END;
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(MACROS)


_masking: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (process id, connection)
_masking_lock = threading.Lock()


def mask_cpr(text: str) -> str:
    """`text` with its CPR numbers masked by `nsk_mask` itself: for the text Python handles (file
    and header names, messages), so that one definition decides what is masked everywhere."""
    global _masking
    if not _PREFILTER_RE.search(text):  # the same pattern as the macro's cheap test
        return text
    with _masking_lock:
        if _masking is None or _masking[0] != os.getpid():  # a DuckDB connection is not forked
            con = duckdb.connect()
            install_macros(con)
            _masking = (os.getpid(), con)
        return _masking[1].execute("SELECT nsk_mask(?)", [text]).fetchone()[0]


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The HMAC-SHA-256 key padded and XOR-ed with ipad and opad (RFC 2104), passed to the
    query as parameters: the key never appears in SQL text."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _code_case(expr: str, codes: tuple[str, ...]) -> str:
    """The contract's spelling of a code (NULL when unknown), matched as nsk_code normalises."""
    whens = " ".join(f"WHEN nsk_code({literal(c)}) THEN {literal(c)}" for c in codes)
    return f"CASE nsk_code({expr}) {whens} END"


def _listing(codes: tuple[str, ...]) -> str:
    return ", ".join(sorted(codes))


_BLANK_TYPES = {"date": "DATE", "count": "BIGINT", "year": "BIGINT"}


def _blank(col: ColumnSpec) -> str:
    """The typed value of a blank cell of `col` (an optional column a file lacks is blank)."""
    if col.kind == "count":
        return "0::BIGINT"
    if col.kind == "code" and col.default is not None:
        return literal(col.default)
    return f"NULL::{_BLANK_TYPES.get(col.kind, 'VARCHAR')}"


def typed_columns(spec: SourceSpec, export_date: str, absent: frozenset[str] = frozenset()
                  ) -> tuple[list[list[str]], list[str], list[str]]:
    """How to type `spec`'s columns over a relation that has each present column's trimmed text
    (NULL for blank) under its own name (optional columns in `absent` are blank in every row),
    with the row's export date as the SQL `export_date` and, for the CPR, `$ipad`/`$opad`
    parameters. Returns (layers, values, errors): each layer's expressions are added to the
    previous one's columns (`SELECT *, ...`), so that no intermediate value is written out
    twice; over the last layer, `values` are the typed columns (named as staged) and `errors`
    each column's reason (NULL when it could be typed)."""
    first, second, third, values, errors = [], [], [], [], []
    for col in spec.columns:
        c = ident(col.name)
        h = lambda tag: ident(f"_{tag}_{col.name}")  # noqa: E731 - this column's helper columns
        required = "true" if col.required else "false"
        if col.name in absent and col.kind != "cpr":
            values.append(f"{_blank(col)} AS {c}")
            errors.append(literal(MISSING) if col.required and col.default is None and col.kind != "count"
                          else "NULL::VARCHAR")
        elif col.kind == "date":
            first += [f"nsk_dmy({c}) AS {h('p')}", f"nsk_iso({c}) AS {h('q')}"]
            second.append(f"nsk_date_from({h('p')}, {h('q')}) AS {h('d')}")
            values.append(f"{h('d')}.v AS {c}")
            errors.append(f"nsk_date_error({c}, {h('d')}, {export_date}, {required})")
        elif col.kind == "count":
            # '' for blank (nsk_signed types blank as 0 before it looks at this): DuckDB 2.0 fails
            # to bind nsk_unsigned over a column it knows to be all NULL
            first.append(f"CASE WHEN starts_with({c}, '-') THEN trim(substr({c}, 2)) ELSE coalesce({c}, '') END "
                         f"AS {h('u')}")
            second.append(f"nsk_unsigned({h('u')}) AS {h('s')}")
            values.append(f"nsk_signed({c}, {h('s')}).v AS {c}")
            errors.append(f"nsk_signed({c}, {h('s')}).e")
        elif col.kind == "code":
            first.append(f"{_code_case(c, col.codes)} AS {h('k')}")
            blank = literal(col.default) if col.default is not None else "NULL"
            allowed = literal(_listing(col.codes))
            values.append(f"CASE WHEN {c} IS NULL THEN {blank} ELSE {h('k')} END AS {c}")
            missing = literal(MISSING) if col.required and col.default is None else "NULL"
            errors.append(f"CASE WHEN {c} IS NULL THEN {missing} WHEN {h('k')} IS NULL "
                          f"THEN {coded('code_not_allowed', value=f'nsk_quote({c})', allowed=allowed)} END")
        elif col.kind == "code_list":
            raise ValueError("a code list is typed per distinct text (typing_relation)")
        elif col.kind == "year":
            values.append(f"nsk_year({c}) AS {c}")
            missing = literal(MISSING) if col.required else "NULL"
            errors.append(f"CASE WHEN {c} IS NULL THEN {missing} WHEN nsk_year({c}) IS NULL "
                          f"THEN {coded('not_a_year', value=f'nsk_quote({c})')} END")
        elif col.kind == "cpr":
            # the digits exist only in these helper columns of the one query that reads the text
            first.append(f"nsk_cpr_shape({c}) AS _cpr_shape")
            second.append("CASE WHEN _cpr_shape.a <> '' THEN lpad(_cpr_shape.a || _cpr_shape.b, 10, '0') END "
                          "AS _cpr_digits")
            third.append("nsk_cpr_birth(_cpr_digits) AS _cpr_birth")
            values += [
                "CASE WHEN _cpr_birth IS NOT NULL THEN nsk_hmac($ipad, $opad, _cpr_digits) END AS borger_pseudonym",
                "CASE WHEN _cpr_birth IS NOT NULL THEN CASE WHEN substr(_cpr_digits, 10, 1)::INT % 2 = 0 "
                f"THEN {literal(SEXES[0])} ELSE {literal(SEXES[1])} END END AS koen",
                f"nsk_age_band(_cpr_birth, {ident('_lv_oprettet')}) AS aldersgruppe",
            ]
            errors.append(f"CASE WHEN {c} IS NULL THEN NULL WHEN _cpr_digits IS NULL THEN {literal(NOT_A_CPR)} "
                          f"WHEN _cpr_birth IS NULL THEN {literal(BAD_DATE)} "
                          f"WHEN _cpr_birth > {ident('_lv_oprettet')} THEN {literal(BORN_AFTER)} END")
        else:
            values.append(f"{c} AS {c}")
            errors.append(f"CASE WHEN {c} IS NULL THEN {literal(MISSING)} END" if col.required else "NULL::VARCHAR")
    return [layer for layer in (first, second, third) if layer], values, errors


# Kinds typed once per distinct text and joined back: their values repeat (codes, dates,
# counts), and typing a text costs far more than a hash join.
LOOKED_UP = ("date", "count", "code", "code_list")


def typing_relation(spec: SourceSpec, base: str, present: set[str]) -> tuple[str, list[str], list[str]]:
    """`base` (a relation of each present column's text under its name, and each row's
    `export_date`: it may hold the rows of many files) with the helper columns the typing
    needs, and the typed values and reasons over it (in spec order, as `typed_columns` gives
    them). Present columns of the kinds in `LOOKED_UP` are typed per distinct text (a date per
    distinct text and export date: a date after the export date is an error); the CPR's age
    band uses `oprettet` typed that way."""
    looked = [c for c in spec.columns if c.kind in LOOKED_UP and c.name in present]
    relation = base
    for col in looked:
        key = ident("_lk_" + col.name)
        on = f"{ident(col.name)} IS NOT DISTINCT FROM {key}"
        if col.kind == "date":
            on += f" AND export_date = {ident('_ld_' + col.name)}"
            key += ", " + ident("_ld_" + col.name)
        relation = f"(SELECT * EXCLUDE ({key}) FROM {relation} LEFT JOIN {_lookup(col, base)} ON {on})"
    rest = SourceSpec(spec.name, tuple(c for c in spec.columns if c not in looked), key=(), date_column=None)
    layers, values, errors = typed_columns(rest, "export_date", frozenset(spec.column_names) - present)
    for layer in layers:
        relation = f"(SELECT *, {', '.join(layer)} FROM {relation})"
    out_values, out_errors = [], []
    values_left, errors_left = iter(values), iter(errors)
    for col in spec.columns:
        if col in looked:
            out_values.append(f"{ident('_lv_' + col.name)} AS {ident(col.name)}")
            out_errors.append(ident("_le_" + col.name))
        else:
            out_values += [next(values_left) for _ in range(3 if col.kind == "cpr" else 1)]
            out_errors.append(next(errors_left))
    return relation, out_values, out_errors


def _lookup(col: ColumnSpec, base: str) -> str:
    """`col` typed once per distinct text of `base` (a date: per distinct text and export date,
    `_ld_<col>`): the text (`_lk_<col>`), its value (`_lv_<col>`) and its reason (`_le_<col>`)."""
    c = ident(col.name)
    if col.kind == "code_list":
        return code_list_lookup(col, f"(SELECT DISTINCT {c} FROM {base})")
    layers, values, errors = typed_columns(SourceSpec("lookup", (col,), key=(), date_column=None), "export_date")
    relation = f"(SELECT DISTINCT {c}{', export_date' if col.kind == 'date' else ''} FROM {base})"
    for layer in layers:
        relation = f"(SELECT *, {', '.join(layer)} FROM {relation})"
    value = values[0].rsplit(" AS ", 1)[0]
    export_date = f"export_date AS {ident('_ld_' + col.name)}, " if col.kind == "date" else ""
    return (f"(SELECT {c} AS {ident('_lk_' + col.name)}, {export_date}{value} AS {ident('_lv_' + col.name)}, "
            f"{errors[0]} AS {ident('_le_' + col.name)} FROM {relation})")


def code_list_lookup(col: ColumnSpec, distinct: str) -> str:
    """A code-list column typed once per distinct text: over `distinct` (a relation of the
    column's distinct texts under its name), the text with its value `_lv_<col>` and reason
    `_le_<col>`, to join to the rows on the text."""
    c = ident(col.name)
    h = lambda tag: ident(f"_{tag}_{col.name}")  # noqa: E731
    parts = f"list_filter(list_transform(string_split_regex({c}, '[|,]'), lambda x: trim(x)), lambda x: x <> '')"
    mapped = f"list_transform({h('l')}, lambda x: {_code_case('x', col.codes)})"
    unknown = f"list_filter({h('l')}, lambda x, i: {h('m')}[i] IS NULL)"
    first = f"list_filter({h('x')}, lambda x, i: list_position({h('x')}, x) = i)"
    listing = literal(_listing(col.codes))
    values = f"array_to_string(list_transform({first}[1:5], lambda x: nsk_quote(x)), ', ')"
    missing = literal(MISSING) if col.required else "NULL"
    return f"""(SELECT {c} AS {h('lk')},
        CASE WHEN len({h('x')}) = 0 AND len({h('l')}) > 0
            THEN array_to_string(list_sort(list_distinct({h('m')})), '|') END AS {h('lv')},
        CASE WHEN {c} IS NULL OR len({h('l')}) = 0 THEN {missing}
            WHEN len({first}) = 1 THEN {coded('code_not_allowed', value=f'nsk_quote({first}[1])', allowed=listing)}
            WHEN len({first}) > 1 THEN {coded('codes_not_allowed', values=values, allowed=listing)}
            END AS {h('le')}
        FROM (SELECT *, {unknown} AS {h('x')} FROM (SELECT *, {mapped} AS {h('m')} FROM (
            SELECT {c}, {parts} AS {h('l')} FROM {distinct}))))"""


def typed_names(spec: SourceSpec) -> list[str]:
    """The typed columns `typed_columns` gives, in order (as staged)."""
    names = []
    for col in spec.columns:
        names += ["borger_pseudonym", "koen", "aldersgruppe"] if col.kind == "cpr" else [col.name]
    return names
