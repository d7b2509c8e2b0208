"""Indicators computed by the warehouse, in SQL that runs the same on DuckDB and PostgreSQL.

Each indicator is one query (`indicators/registry.py`) over `counted_<source>`: the rows of
`current_<source>` (the source's current, not cancelled staged rows with their derived
columns), one per period it falls in (a `stock` source: one per period whose date finds it a
member). `periods` is a small table of (period_id, year, first_day, last_day, as_of), a row for
each calendar year a period spans, that the caller provides; a breakdown is the same query over
the same rows with `dimension` and `category` filled in (a row in each of its themes). The
stored query (`indicator_query`) spells `current_<source>` as its first CTE; a run materialises
it once as a temporary table (`counting`) and runs the rest of the text unchanged.

The SQL is a common subset of the two dialects: `count(*) FILTER (WHERE …)`, `EXTRACT`,
`position`, `||`, `least`, `regexp_replace(…, 'g')`, `LATERAL unnest(regexp_split_to_array(…))`,
`IS DISTINCT FROM` and `WITH … AS (VALUES …)`, tested on both (nsk_pipeline_tests/test_indicators.py).
One thing cannot be spelled alike, and is a shim with two spellings (`key_name`): the
normalised name of a school or class (NFC, lower-cased, runs of whitespace collapsed,
trimmed) — DuckDB's `nfc_normalize(x)` is PostgreSQL's `normalize(x, NFC)`, and RE2 and
PostgreSQL write a Unicode whitespace character differently in a regular expression.

Python holds only small aggregated tables: per source the years it reports on and its latest
export (`source_facts`), per indicator and period its value (`compute_values`), and per
breakdown cell its value (`compute_breakdown`). The goal rules (`goals/attainment.py`) ask
`IndicatorValues.value`, which answers from the values computed, never by scanning a source.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date
from textwrap import indent
from typing import Iterator

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.indicators.periods import PeriodValue
from nsk_pipeline.indicators.registry import INDICATORS, Indicator
from nsk_pipeline.sources.specs import CANCELLED, SOURCES
from nsk_pipeline.sources.sql_typing import AGE_BANDS, SEXES

QUARTERS = (1, 2, 3, 4)
UNKNOWN = "ukendt"
INDICATOR_SOURCES = tuple(dict.fromkeys(i.source for i in INDICATORS.values()))

# --- the one shim: a name used as a key (sql_typing's name rule, lower-cased) -------

# Every character Python's str.split() splits on (str.isspace()), written as each regex dialect
# writes it: RE2 (DuckDB) has no \v or Unicode spaces in \s; PostgreSQL takes \xhh and \uhhhh.
_SPACE_RUN = {
    "duckdb": r"[\s\x{0b}\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+",
    "postgresql": r"[\s\x0b\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+",
}
_NFC = {"duckdb": "nfc_normalize({})", "postgresql": "normalize({}, NFC)"}
DIALECTS = tuple(_NFC)


def key_name(expr: str, dialect: str) -> str:
    """SQL for the normalised name in `expr`: NFC, lower-cased, whitespace collapsed, trimmed; NULL if blank."""
    return f"nullif(trim(regexp_replace(lower({_NFC[dialect].format(expr)}), '{_SPACE_RUN[dialect]}', ' ', 'g')), '')"


# --- the rows each source's indicators count ---------------------------------------------------

# The columns of counted_<source> besides period_id, dimension and category: a staged column
# of the row `s` as it is, or derived from it.
_COLUMNS = {
    "skoleforloeb": {"aktivitet": "", "tema": "", "pilot": "", "skoletype": "",
                     "school_key": "school.name_key", "klasse_key": "klasse.name_key",
                     "udbyder_key": "lower(s.udbyder)", "forloeb_id": "", "antal_elever": "", "antal_fagpersoner": "",
                     "antal_foraeldre": ""},
    "vejlederlog": dict.fromkeys(("registrering_id", "type", "risikoniveau", "temaer", "borger_pseudonym"), ""),
    "rettighedskurser": {"kursus_id": "", "deltagere": ""},
    "omraade_aktiviteter": dict.fromkeys(("aktivitet_id", "type", "deltagere", "aktoerer"), ""),
    "omraade_aktoerer": {"aktoer_id": ""},
}


def _name_joins(source: str, dialect: str) -> list[str]:
    """Joins that give a school's and a class's normalised name: computed once per spelling
    (thousands), not once per row (a regular expression over millions of rows is the slow part)."""
    if source != "skoleforloeb":
        return []
    return [f"LEFT JOIN (SELECT {c} AS name, {key_name(c, dialect)} AS name_key\n"
            f"           FROM staging.{source} GROUP BY {c}) AS {alias} ON {alias}.name = s.{c}"
            for alias, c in (("school", "skole"), ("klasse", "klasse"))]


def _is_stock(source: str) -> bool:
    return any(i.aggregation == "stock" for i in INDICATORS.values() if i.source == source)


def _dates(source: str) -> list[str]:
    return ["tilsluttet", "udtraadt"] if _is_stock(source) else [SOURCES[source].date_column]


def _period_join(source: str) -> str:
    if _is_stock(source):
        # Members at the period's end, or at the as-of date while it is open; leaving on the date itself is out.
        return ("JOIN periods AS p ON s.tilsluttet <= least(p.last_day, p.as_of)\n"
                "  AND (s.udtraadt IS NULL OR s.udtraadt > least(p.last_day, p.as_of))")
    # `periods` has a row for each year a period spans: the join is a hash join on the year.
    return f"JOIN periods AS p ON p.year = s.year AND s.{SOURCES[source].date_column} BETWEEN p.first_day AND p.last_day"


def counts_condition(source: str) -> str:
    """Current rows, not cancelled: a cancelled code of the source's status list never counts."""
    spec = SOURCES[source]
    status = next((c for c in spec.columns if c.name == "status"), None)
    cancelled = [code for code in (status.codes if status else ()) if code in CANCELLED]
    return " AND ".join(["s.er_gaeldende", *(f"s.status IS DISTINCT FROM '{code}'" for code in cancelled)])


@dataclass(frozen=True)
class Dimension:
    name: str
    column: str
    codes: tuple[str, ...] = ()  # a fixed code list: every code is listed, 0 where nothing matches
    multi: bool = False  # a row may fall in several categories (`temaer`)

    @property
    def category(self) -> str:
        """The row's category in SQL (NULL: the row lacks a value, listed as `ukendt`)."""
        if self.multi:
            return "t.code"
        return f"s.{self.column}" if self.codes else f"trim(s.{self.column})"  # free text as its trimmed string


def _codes(source: str, column: str) -> tuple[str, ...]:
    return SOURCES[source].column(column).codes


DIMENSIONS: dict[str, list[Dimension]] = {
    "skoleforloeb": [Dimension("skoletype", "skoletype", _codes("skoleforloeb", "skoletype")),
                     Dimension("udbyder", "udbyder"),
                     Dimension("tema", "tema", _codes("skoleforloeb", "tema"))],
    "vejlederlog": [Dimension("risikoniveau", "risikoniveau", _codes("vejlederlog", "risikoniveau")),
                    Dimension("tema", "temaer", _codes("vejlederlog", "temaer"), multi=True),
                    Dimension("koen", "koen", SEXES),
                    Dimension("aldersgruppe", "aldersgruppe", AGE_BANDS)],
    "rettighedskurser": [Dimension("sted_type", "sted_type", _codes("rettighedskurser", "sted_type"))],
    "omraade_aktiviteter": [Dimension("maalgruppe", "maalgruppe", _codes("omraade_aktiviteter", "maalgruppe")),
                            Dimension("omraade", "omraade")],
    "omraade_aktoerer": [Dimension("sektor", "sektor", _codes("omraade_aktoerer", "sektor"))],
}


def _current_columns(source: str) -> list[str]:
    """The columns of current_<source>: dates, year, the indicators' columns, the breakdowns' columns."""
    year = [] if _is_stock(source) else [f"EXTRACT(YEAR FROM s.{SOURCES[source].date_column}) AS year"]
    columns = [f"s.{c}" for c in _dates(source)] + year + \
        [f"{expr} AS {name}" if expr else f"s.{name}" for name, expr in _COLUMNS[source].items()]
    return columns + [f"s.{d.column}" for d in DIMENSIONS[source] if d.column not in _COLUMNS[source]]


def record_key(source: str, alias: str = "s") -> str:
    """SQL for a staged row's key as the source writes it (its parts joined by ' | ')."""
    return " || ' | ' || ".join(f"CAST({alias}.{k} AS VARCHAR)" for k in SOURCES[source].key)


TRACE_COLUMNS = ("record_key", "record_date", "source_file", "source_row", "export_date")


def _trace_columns(source: str) -> list[str]:
    """Where a row comes from, for the drill-down (`marts/explain.py`): its key, date, file,
    row and export date."""
    return [f"{record_key(source)} AS record_key", f"s.{SOURCES[source].date_column} AS record_date",
            "s.source_file", "s.source_row", "s.export_date"]


def current_rows(source: str, dialect: str, traced: bool = False) -> str:
    """The SELECT of current_<source>: the rows that count, each once, with their derived columns
    (`traced`: and where each comes from)."""
    select = _wrap(_current_columns(source) + (_trace_columns(source) if traced else []))
    return "\n".join(["SELECT " + select[0].lstrip(), *select[1:], f"FROM staging.{source} AS s",
                      *_name_joins(source, dialect), f"WHERE {counts_condition(source)}"])


def counted_rows(source: str, dimension: Dimension | None = None, in_periods: bool = True) -> str:
    """The SELECT of counted_<source>: the rows of current_<source> (`s`), once per period they
    fall in. With `dimension`, each row's category in it (a row in each of its themes); without
    `in_periods`, every row once (period_id NULL)."""
    cell = [f"'{dimension.name}' AS dimension", f"{dimension.category} AS category"] if dimension else \
        ["NULL AS dimension", "NULL AS category"]  # the whole period: no breakdown
    period = "p.period_id" if in_periods else "NULL AS period_id"
    lines = [f"SELECT {', '.join([period, *cell])}, s.*", f"FROM current_{source} AS s"]
    where = []
    if dimension and dimension.multi:  # `temaer` is a '|'-joined code list: a row counts in each theme it has
        lines.append(f"CROSS JOIN LATERAL unnest(regexp_split_to_array(s.{dimension.column}, '[|]')) AS t(code)")
        where.append(f"t.code IN ({', '.join(repr(c) for c in dimension.codes)})")
    if in_periods:
        lines.append(_period_join(source))
    return "\n".join(lines + ([f"WHERE {' AND '.join(where)}"] if where else []))


def _wrap(columns: list[str], width: int = 100) -> list[str]:
    lines, line = [], "       "
    for i, c in enumerate(columns):
        piece = c + ("," if i < len(columns) - 1 else "")
        if len(line) + len(piece) > width and line.strip():
            lines.append(line.rstrip())
            line = "       "
        line += piece + " "
    return lines + [line.rstrip()]


def _counted_cte(source: str, dimensions: list[Dimension] | None = None, in_periods: bool = True) -> str:
    branches = [counted_rows(source, d, in_periods) for d in (dimensions or [None])]
    return f"counted_{source} AS (\n" + indent("\nUNION ALL\n".join(branches), "  ") + "\n)"


PERIODS_COLUMNS = "periods (period_id, year, first_day, last_day, as_of)"


def indicator_query(indicator_id: str, dialect: str = "duckdb") -> str:
    """The indicator's query as it runs, for analysts: it reads `periods` (period_id, year,
    first_day, last_day, as_of: a row for each calendar year a period spans), a temporary table
    or one more entry in the WITH list. A run materialises current_<source> as a temporary
    table (`counting`) and runs the rest of the text as it is."""
    indicator = INDICATORS[indicator_id]
    current = f"current_{indicator.source} AS (\n{indent(current_rows(indicator.source, dialect), '  ')}\n)"
    return f"WITH {current},\n{_counted_cte(indicator.source)}\n{indicator.query}"


def _periods_cte(periods: dict[int, tuple[date, date]], as_of: date) -> str:
    values = ",\n  ".join(f"({pid}, {year}, DATE '{start}', DATE '{end}', DATE '{as_of}')"
                          for pid, (start, end) in periods.items() for year in range(start.year, end.year + 1))
    return f"{PERIODS_COLUMNS} AS (VALUES\n  {values})"


def _statement(indicator: Indicator, periods: dict[int, tuple[date, date]], as_of: date,
               dimensions: list[Dimension] | None = None, in_periods: bool = True) -> str:
    ctes = ([_periods_cte(periods, as_of)] if in_periods else []) + \
        [_counted_cte(indicator.source, dimensions, in_periods)]
    return "WITH " + ",\n".join(ctes) + "\n" + indicator.query


def contributions_statement(indicator: Indicator, periods: dict[int, tuple[date, date]], as_of: date,
                            dialect: str) -> str:
    """The records behind the indicator's value in each period: its contributions (what its
    query sums) over the current rows with where each comes from; one statement, no temporary
    table (it runs on a read-only warehouse). Columns: period_id, the TRACE_COLUMNS,
    counted_unit, amount, denominator (a ratio's; NULL otherwise), period_start, period_end."""
    source = indicator.source
    current = f"current_{source} AS (\n{indent(current_rows(source, dialect, traced=True), '  ')}\n)"
    denominator = "c.denominator" if indicator.aggregation == "ratio" else "CAST(NULL AS INTEGER) AS denominator"
    return (f"WITH {_periods_cte(periods, as_of)},\n{current},\n{_counted_cte(source)}\n"
            f"SELECT c.period_id, p.first_day AS period_start, p.last_day AS period_end,\n"
            f"       {', '.join('c.' + t for t in TRACE_COLUMNS)}, c.counted_unit, c.amount, {denominator}\n"
            f"FROM (\n{indent(indicator.contributions, '  ')}\n) AS c\n"
            f"JOIN (SELECT DISTINCT period_id, first_day, last_day FROM periods) AS p ON p.period_id = c.period_id")


@contextmanager
def counting(wh: Warehouse) -> Iterator[Connection]:
    """A transaction in which current_<source> is a temporary table of every staged source.

    The rows that count are selected, and their derived columns (the year, the normalised
    names) computed, once per run rather than once per indicator and breakdown; on PostgreSQL
    the table is analysed, so the planner knows the rows per year (an expression over a staged
    column has no statistics, and a misestimate there made it sort where it should hash).
    The tables hold pseudonyms, never CPR numbers, and are dropped with the transaction's end.
    """
    staged = [source for source in INDICATOR_SOURCES if wh.has_table("staging", source)]
    with wh.engine.begin() as conn:
        if wh.dialect == "postgresql":
            # JIT-compiling a query that runs once costs more than it saves: 2-6 s of JIT for a
            # 1-3 s query at 1 M rows (measured with EXPLAIN ANALYZE). The default 4 MB of
            # work_mem makes the distinct counts and classes' groupings sort on disk.
            conn.execute(sa.text("SET LOCAL jit = off"))
            conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        # DuckDB plans the expressions well and reads the staged columns faster than a copy of
        # them (measured at 1 M rows: a temporary table cost it time and ~170 MB): a view there.
        kind = "TABLE" if wh.dialect == "postgresql" else "VIEW"
        for source in staged:
            if wh.dialect == "postgresql":
                _postgres_current_table(conn, source)
            else:
                conn.execute(sa.text(f"CREATE TEMPORARY VIEW current_{source} AS\n{current_rows(source, wh.dialect)}"))
        yield conn
        for source in staged:
            conn.execute(sa.text(f"DROP {kind} current_{source}"))


def _postgres_current_table(conn: Connection, source: str) -> None:
    """current_<source> as a temporary table on PostgreSQL, its text columns in the "C"
    collation (byte order, as DuckDB compares text): the indicators sort and partition by
    pseudonyms, names and keys, and in any other collation PostgreSQL compares each pair of
    strings with the C library's strcoll, not memcmp (at 1 M rows, about a third of the marts' time).
    Only the order of text changes, and no indicator depends on it: equal is equal in every
    deterministic collation. Analysed, so the planner knows the rows per year."""
    select = current_rows(source, "postgresql")
    conn.execute(sa.text(f"CREATE TEMPORARY TABLE current_{source} AS\n{select}\nWITH NO DATA"))
    texts = conn.execute(sa.text(
        "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 "
        "AND atttypid = CAST('text' AS regtype)"), {"t": f"current_{source}"}).scalars().all()
    if texts:
        conn.execute(sa.text(f"ALTER TABLE current_{source} " + ", ".join(
            f'ALTER COLUMN "{c}" TYPE text COLLATE "C"' for c in texts)))
    conn.execute(sa.text(f"INSERT INTO current_{source}\n{select}"))
    conn.execute(sa.text(f"ANALYZE current_{source}"))


def _run(conn: Connection, sql: str) -> list[sa.Row]:
    return conn.execute(sa.text(sql)).fetchall()


def refresh_statistics(wh: Warehouse) -> None:
    """PostgreSQL plans the joins from table statistics, which a table loaded moments ago lacks
    until autovacuum comes by (it then guesses a few rows, and picks nested loops over millions).
    DuckDB keeps its statistics as it writes."""
    if wh.dialect != "postgresql":
        return
    with wh.transaction() as conn:
        for source in INDICATOR_SOURCES:
            if wh.has_table("staging", source):
                conn.execute(sa.text(f"ANALYZE staging.{source}"))


def _number(v) -> float | None:
    return None if v is None else float(v)


# --- what a source says about time -------------------------------------------------------------

@dataclass(frozen=True)
class SourceFacts:
    """The years a source reports on, and its latest loaded export."""

    report_years: frozenset[int]
    latest_export: date | None

    def reports_on(self, first_year: int, last_year: int) -> bool:
        """No data is not zero: an indicator of this source is measured over a period (its value,
        0 included) only when the source reports on one of the period's years; else NULL."""
        return any(y in self.report_years for y in range(first_year, last_year + 1))


def source_facts(wh: Warehouse, as_of: date, conn: Connection | None = None) -> dict[str, SourceFacts]:
    """A source reports on a year when a loaded file's export date, or a current row's date (any
    status), is in it. The actor register is a snapshot: it reports on every year from its
    earliest `tilsluttet` through its latest export date."""
    with nullcontext(conn) if conn is not None else wh.engine.connect() as conn:
        return _source_facts(wh, conn, as_of)


def _source_facts(wh: Warehouse, conn: Connection, as_of: date) -> dict[str, SourceFacts]:
    years: dict[str, set[int]] = {s: set() for s in INDICATOR_SOURCES}
    latest: dict[str, date | None] = dict.fromkeys(INDICATOR_SOURCES)
    if wh.has_table("meta", "file_loads"):
        for source, year, last in _run(conn, f"""
                SELECT source, EXTRACT(YEAR FROM export_date) AS year, max(export_date) AS latest
                FROM meta.file_loads WHERE status = 'loaded' AND export_date <= DATE '{as_of}'
                GROUP BY source, EXTRACT(YEAR FROM export_date)"""):
            if source in years:
                years[source].add(int(year))
                latest[source] = max(filter(None, (latest[source], last)))
    first_joined = None
    for source in INDICATOR_SOURCES:
        if not wh.has_table("staging", source):
            continue
        column = SOURCES[source].date_column
        years[source] |= {int(y) for (y,) in _run(conn, f"""
            SELECT DISTINCT EXTRACT(YEAR FROM {column}) FROM staging.{source}
            WHERE er_gaeldende AND {column} IS NOT NULL""")}
        if source == "omraade_aktoerer":
            first_joined = _run(conn, f"SELECT min({column}) FROM staging.{source} WHERE er_gaeldende")[0][0]
    if first_joined is not None and latest["omraade_aktoerer"] is not None:
        years["omraade_aktoerer"] |= set(range(first_joined.year, latest["omraade_aktoerer"].year + 1))
    return {s: SourceFacts(frozenset(years[s]), latest[s]) for s in INDICATOR_SOURCES}


def report_years(facts: dict[str, SourceFacts], as_of: date) -> list[int]:
    """From the earliest year any source reports on through the as-of year."""
    years = [y for f in facts.values() for y in f.report_years if y <= as_of.year]
    return list(range(min(years), as_of.year + 1)) if years else []


# --- indicator values over periods --------------------------------------------------------------

Period = tuple[date, date]


class IndicatorValues:
    """Indicator values over the periods computed (`compute_values`), by the contract's rules:
    what goal attainment asks (`indicators/periods.py::IndicatorEngine`)."""

    def __init__(self, as_of: date, facts: dict[str, SourceFacts], periods: set[Period],
                 computed: dict[tuple[str, date, date], tuple[float | None, float | None, float | None]]):
        self.as_of = as_of
        self.facts = facts
        self._periods = periods
        self._computed = computed  # a period without matching rows has no entry

    def measured(self, indicator_id: str, start: date, end: date) -> bool:
        return self.facts[INDICATORS[indicator_id].source].reports_on(start.year, end.year)

    def value(self, indicator_id: str, start: date, end: date) -> PeriodValue:
        if not self.measured(indicator_id, start, end):
            return PeriodValue(None)  # no data is not zero
        if (start, end) not in self._periods:
            raise KeyError(f"{indicator_id} over {start}..{end} was not computed: pass the period to compute_values")
        value, numerator, denominator = self._computed.get((indicator_id, start, end), (None, None, None))
        if INDICATORS[indicator_id].aggregation == "ratio":
            # Pooled; NULL without a denominator, its parts kept (0 when no row matched).
            return PeriodValue(value, numerator or 0.0, denominator or 0.0)
        return PeriodValue(value or 0.0)  # the source reports on the period, and nothing matched

    def data_through(self, indicator_id: str) -> date | None:
        return self.facts[INDICATORS[indicator_id].source].latest_export


def compute_values(wh: Warehouse, as_of: date, facts: dict[str, SourceFacts],
                   periods: list[Period], conn: Connection | None = None) -> IndicatorValues:
    """Every indicator over every period: one query per indicator, all periods at once
    (in `conn` from `counting`, or in a transaction of its own)."""
    numbered = {pid: p for pid, p in enumerate(sorted(set(periods)), start=1)}
    computed = {}
    if numbered:
        with nullcontext(conn) if conn is not None else counting(wh) as conn:
            _compute_values(wh, conn, as_of, numbered, computed)
    return IndicatorValues(as_of, facts, set(numbered.values()), computed)


def _compute_values(wh: Warehouse, conn: Connection, as_of: date, numbered: dict[int, Period], computed: dict) -> None:
    for indicator in INDICATORS.values():
        if not wh.has_table("staging", indicator.source):
            continue
        ratio = indicator.aggregation == "ratio"
        for row in _run(conn, _statement(indicator, numbered, as_of)):
            start, end = numbered[row.period_id]
            computed[(indicator.id, start, end)] = (
                _number(row.value), _number(row.numerator) if ratio else None,
                _number(row.denominator) if ratio else None)


def quarter_end(year: int, quarter: int) -> date:
    return date(year, 3 * quarter, calendar.monthrange(year, 3 * quarter)[1])


def begun_quarters(years: list[int], as_of: date) -> list[tuple[int, int]]:
    """Every (year, quarter) whose first day is on or before the as-of date."""
    return [(y, q) for y in years for q in QUARTERS if date(y, 3 * q - 2, 1) <= as_of]


def mart_periods(years: list[int], as_of: date) -> list[Period]:
    """The periods of the yearly and quarterly marts: each year, and each begun quarter's year to date."""
    return [(date(y, 1, 1), date(y, 12, 31)) for y in years] + \
        [(date(y, 1, 1), quarter_end(y, q)) for y, q in begun_quarters(years, as_of)]


# --- the marts ------------------------------------------------------------------------------------

YEARLY_COLUMNS = ["indicator_id", "year", "value", "numerator", "denominator", "unit", "data_through", "suppressed"]
QUARTERLY_COLUMNS = ["indicator_id", "year", "quarter", "value", "numerator", "denominator", "unit",
                     "data_through", "suppressed"]
BREAKDOWN_COLUMNS = ["indicator_id", "year", "dimension", "category", "value", "suppressed"]


def _row(values: IndicatorValues, indicator: Indicator, start: date, end: date) -> dict:
    v = values.value(indicator.id, start, end)
    latest = values.data_through(indicator.id)
    ratio = indicator.aggregation == "ratio"
    return {"indicator_id": indicator.id, "value": v.value,
            "numerator": v.numerator if ratio else None, "denominator": v.denominator if ratio else None,
            "unit": indicator.unit, "suppressed": False,
            # How far the data reaches: the latest export, capped at the period's end.
            "data_through": min(latest, end) if v.measured and latest is not None else None}


def indicator_yearly(values: IndicatorValues, years: list[int]) -> pd.DataFrame:
    """One row per indicator and year."""
    rows = [{**_row(values, i, date(y, 1, 1), date(y, 12, 31)), "year": y} for i in INDICATORS.values() for y in years]
    return pd.DataFrame(rows, columns=YEARLY_COLUMNS)


def indicator_quarterly(values: IndicatorValues, years: list[int]) -> pd.DataFrame:
    """One row per indicator, year and quarter that has begun: year to date through the quarter's end."""
    rows = [{**_row(values, i, date(y, 1, 1), quarter_end(y, q)), "year": y, "quarter": q}
            for i in INDICATORS.values() for y, q in begun_quarters(years, values.as_of)]
    return pd.DataFrame(rows, columns=QUARTERLY_COLUMNS)


def compute_breakdown(wh: Warehouse, as_of: date, facts: dict[str, SourceFacts], years: list[int],
                      conn: Connection | None = None) -> pd.DataFrame:
    """One row per indicator, measured year, dimension and category; ratios are not broken down.

    Fixed codes are always listed (0 where nothing matches), free text as seen in the year's
    rows, and `ukendt` where rows lack a value. A stock is broken down at each year's end (or
    the as-of date), its categories listed from all its rows.
    """
    with nullcontext(conn) if conn is not None else counting(wh) as conn:
        return _compute_breakdown(wh, conn, as_of, facts, years)


def _compute_breakdown(wh: Warehouse, conn: Connection, as_of: date, facts: dict[str, SourceFacts],
                       years: list[int]) -> pd.DataFrame:
    rows = []
    for indicator in INDICATORS.values():
        if indicator.aggregation == "ratio":
            continue
        dimensions = DIMENSIONS[indicator.source]
        measured = [y for y in years if facts[indicator.source].reports_on(y, y)]
        cells: dict[tuple[int, str], dict[str | None, float]] = defaultdict(dict)
        if measured and wh.has_table("staging", indicator.source):
            periods = {y: (date(y, 1, 1), date(y, 12, 31)) for y in measured}
            for r in _run(conn, _statement(indicator, periods, as_of, dimensions)):
                cells[(r.period_id, r.dimension)][r.category] = _number(r.value) or 0.0
        everywhere: dict[str, set[str | None]] = defaultdict(set)
        if indicator.aggregation == "stock" and measured and wh.has_table("staging", indicator.source):
            for r in _run(conn, _statement(indicator, {}, as_of, dimensions, in_periods=False)):
                everywhere[r.dimension].add(r.category)
        for y in measured:
            for dim in dimensions:
                found = cells[(y, dim.name)]
                seen = everywhere[dim.name] if indicator.aggregation == "stock" else set(found)
                listed = list(dim.codes) or sorted(c for c in seen if c is not None)
                listed += [None] if None in seen and not dim.multi else []
                rows += [{"indicator_id": indicator.id, "year": y, "dimension": dim.name,
                          "category": UNKNOWN if c is None else c, "value": found.get(c, 0.0), "suppressed": False}
                         for c in listed]
    return pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)
