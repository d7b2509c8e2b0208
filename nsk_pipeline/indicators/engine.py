"""Indicators computed from the current staged rows of each source.

`IndicatorEngine.value(indicator, start, end)` answers any period by the indicator's
aggregation; the goal logic asks it. The yearly, quarterly and breakdown marts ask the same
rules for many periods at once: one grouping of an indicator's rows by year (by year and
quarter, by year and category) instead of one date mask per period, so there is still one
definition of every indicator.

Rows are prepared once per source (`countable_rows`): only the columns the rules and
dimensions read, as categoricals and integer codes, `temaer` split once into a bit set, and
sorted by date so that any period is a slice.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from nsk_pipeline.indicators.periods import PeriodValue
from nsk_pipeline.indicators.registry import INDICATORS, Indicator
from nsk_pipeline.sources.parsing import normalise_key
from nsk_pipeline.sources.schemas import split_ids
from nsk_pipeline.sources.specs import CANCELLED, SOURCES

Frame = pd.DataFrame
QUARTERS = [1, 2, 3, 4]


@dataclass(frozen=True)
class SourceFacts:
    """What a source says about time: the years it reports on and its latest loaded export."""

    report_years: frozenset[int]
    latest_export: date | None


def source_facts(source: str, file_loads: Frame, current: Frame) -> SourceFacts:
    """A source reports on a year when a loaded file's export date, or a current row's date, is in it.

    The actor register is a snapshot: it reports on every year from its earliest `tilsluttet`
    through its latest export date.
    """
    loaded = file_loads[(file_loads["source"] == source) & (file_loads["status"] == "loaded")]
    export_dates = [d for d in pd.to_datetime(loaded["export_date"]).dt.date if pd.notna(d)]
    years = {d.year for d in export_dates}
    latest = max(export_dates) if export_dates else None
    date_col = SOURCES[source].date_column
    if date_col and len(current):
        years |= {int(y) for y in pd.to_datetime(current[date_col]).dt.year.dropna().unique()}
    if source == "omraade_aktoerer" and len(current) and latest is not None:
        first = pd.to_datetime(current["tilsluttet"]).min()
        if pd.notna(first):
            years |= set(range(first.year, latest.year + 1))
    return SourceFacts(frozenset(years), latest)


# --- how a set of rows reduces to a number ----------------------------------------------------
#
# Every reducer answers per group of key columns (`by`; the whole set is the group `_all`) and
# year to date through each quarter (`ytd`: index year, columns quarters 1-4). Rows carry
# `_year` and `_q` (-1 and 0 when undated: such rows fall in no period).

def _group(rows: Frame, keys: list[str]):
    return rows.groupby(keys, observed=True, sort=False)


def _cumulative(per_quarter: pd.Series) -> Frame:
    """Values per (year, quarter) → year to date through each quarter, for additive values."""
    if per_quarter.empty:
        return pd.DataFrame(columns=QUARTERS, dtype=float)
    return per_quarter.unstack("_q").reindex(columns=QUARTERS).fillna(0.0).cumsum(axis=1)


def _first_seen(rows: Frame, column: str) -> Frame:
    """Distinct values of `column` year to date: each counts from the quarter it first appears in."""
    first = rows.groupby(["_year", column], observed=True, sort=False)["_q"].min()
    return _cumulative(first.reset_index().groupby(["_year", "_q"], sort=False).size().astype(float))


class Reducer:
    reads: dict[str, str] = {}  # the columns it reads, and how `countable_rows` keeps them

    @property
    def columns(self) -> list[str]:
        return list(self.reads)

    def by(self, rows: Frame, keys: list[str]) -> pd.Series:
        raise NotImplementedError

    def ytd(self, rows: Frame) -> Frame:
        return _cumulative(self.by(rows, ["_year", "_q"]))  # flows add up over quarters

    def total(self, rows: Frame) -> float:
        return float(self.by(rows, ["_all"]).sum())


class Count(Reducer):
    def by(self, rows: Frame, keys: list[str]) -> pd.Series:
        return _group(rows, keys).size().astype(float)


@dataclass(frozen=True)
class Sum(Reducer):
    column: str

    @property
    def reads(self) -> dict[str, str]:
        return {self.column: "number"}

    def by(self, rows: Frame, keys: list[str]) -> pd.Series:
        return _group(rows, keys)[self.column].sum().astype(float)  # a missing count adds 0


class ClassMaxSum(Reducer):
    """A class counts once, at its largest `antal_elever`; a session without klasse is its own class."""

    reads = {"_class": "school", "antal_elever": "number"}

    def by(self, rows: Frame, keys: list[str]) -> pd.Series:
        largest = _group(rows, [*keys, "_class"])["antal_elever"].max().astype(float).fillna(0.0)
        return largest.groupby(level=keys, observed=True, sort=False).sum()

    def ytd(self, rows: Frame) -> Frame:
        if rows.empty:
            return pd.DataFrame(columns=QUARTERS, dtype=float)
        largest = (_group(rows, ["_year", "_class", "_q"])["antal_elever"].max().astype(float)
                   .unstack("_q").reindex(columns=QUARTERS))
        # Not additive: a class's size so far is its largest in any quarter up to this one.
        so_far = np.fmax.accumulate(largest.to_numpy(), axis=1)
        return pd.DataFrame(so_far, index=largest.index, columns=QUARTERS).fillna(0.0).groupby(level="_year").sum()


@dataclass(frozen=True)
class Distinct(Reducer):
    column: str  # integer codes, -1 for none

    @property
    def reads(self) -> dict[str, str]:
        return {self.column: "school" if self.column == "_school" else "id"}

    def by(self, rows: Frame, keys: list[str]) -> pd.Series:
        rows = rows[rows[self.column] >= 0]
        return _group(rows, keys)[self.column].nunique().astype(float)

    def ytd(self, rows: Frame) -> Frame:
        return _first_seen(rows[rows[self.column] >= 0], self.column)


class PilotSchools(Reducer):
    """Schools that held all three activities in the period."""

    reads = {"_school": "school", "aktivitet": "code"}

    def by(self, rows: Frame, keys: list[str]) -> pd.Series:
        rows = rows[rows["_school"] >= 0]
        activities = _group(rows, [*keys, "_school"])["aktivitet"].nunique()
        return (activities == 3).groupby(level=keys, observed=True, sort=False).sum().astype(float)

    def ytd(self, rows: Frame) -> Frame:
        rows = rows[rows["_school"] >= 0]
        if rows.empty:
            return pd.DataFrame(columns=QUARTERS, dtype=float)
        first = _group(rows, ["_year", "_school", "aktivitet"])["_q"].min().reset_index()
        new = first.groupby(["_year", "_school", "_q"], sort=False).size()
        activities = new.unstack("_q").reindex(columns=QUARTERS).fillna(0).cumsum(axis=1)
        return (activities == 3).groupby(level="_year").sum().astype(float)


class DistinctActors(Reducer):
    """Distinct actor ids over the rows' `aktoerer` lists (kept as tuples of ids)."""

    reads = {"aktoerer": "actors"}

    def by(self, rows: Frame, keys: list[str]) -> pd.Series:
        pairs = rows[[*keys, "aktoerer"]].explode("aktoerer")
        return _group(pairs, keys)["aktoerer"].nunique().astype(float)

    def ytd(self, rows: Frame) -> Frame:
        return _first_seen(rows[["_year", "_q", "aktoerer"]].explode("aktoerer").dropna(), "aktoerer")


COUNT = Count()


@dataclass(frozen=True)
class Rule:
    source: str
    where: tuple[tuple[str, str], ...] = ()  # every column equals its value
    reduce: Reducer = COUNT
    theme: str | None = None  # ratios: the numerator is the rows whose `temaer` include this code


def _eq(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(pairs.items())


RULES: dict[str, Rule] = {
    "elever_nsk": Rule("skoleforloeb", _eq(aktivitet="elevundervisning", tema="nsk"), ClassMaxSum()),
    "elever_rettigheder": Rule("skoleforloeb", _eq(aktivitet="elevundervisning", tema="rettigheder"), ClassMaxSum()),
    "fagpersoner_opkvalificeret": Rule("skoleforloeb", _eq(aktivitet="fagpersonsoplaeg", tema="nsk"),
                                       Sum("antal_fagpersoner")),
    "foraeldre_naaet": Rule("skoleforloeb", _eq(aktivitet="foraeldredialog"), Sum("antal_foraeldre")),
    "pilotskoler_sammenhaengende": Rule("skoleforloeb", _eq(pilot="ja"), PilotSchools()),
    "friskoler_naaet": Rule("skoleforloeb", _eq(skoletype="friskole"), Distinct("_school")),
    "henvendelser": Rule("vejlederlog", _eq(type="henvendelse")),
    "borgersager": Rule("vejlederlog", _eq(type="borgersag")),
    "borgersager_hoej_risiko": Rule("vejlederlog", _eq(type="borgersag", risikoniveau="hoej")),
    "andel_borgersager_arbejdsmarked": Rule("vejlederlog", _eq(type="borgersag"), theme="arbejdsmarked"),
    "andel_borgersager_vold": Rule("vejlederlog", _eq(type="borgersag"), theme="vold"),
    "borgere_med_sag": Rule("vejlederlog", _eq(type="borgersag"), Distinct("borger_pseudonym")),
    "rettighedskurser": Rule("rettighedskurser"),
    "rettighedskursus_deltagere": Rule("rettighedskurser", reduce=Sum("deltagere")),
    "omraade_borgere_naaet": Rule("omraade_aktiviteter", _eq(type="borgeraktivitet"), Sum("deltagere")),
    "netvaerksmoeder": Rule("omraade_aktiviteter", _eq(type="netvaerksmoede")),
    "kompetenceudviklingsforloeb": Rule("omraade_aktiviteter", _eq(type="kompetenceudvikling")),
    "aktive_aktoerer": Rule("omraade_aktiviteter", reduce=DistinctActors()),
    "aktoerer_i_netvaerk": Rule("omraade_aktoerer"),
}
assert set(RULES) == set(INDICATORS), "every registered indicator needs a rule"


# --- dimensions of the breakdown mart ---------------------------------------------------------

UNKNOWN = "ukendt"


@dataclass(frozen=True)
class Dimension:
    name: str
    column: str
    codes: tuple[str, ...] = ()  # a fixed code list: every code is listed, 0 where nothing matches
    multi: bool = False  # a row may fall in several categories (`temaer`)


def _codes(source: str, column: str) -> tuple[str, ...]:
    return SOURCES[source].column(column).codes


DIMENSIONS: dict[str, list[Dimension]] = {
    "skoleforloeb": [Dimension("skoletype", "skoletype", _codes("skoleforloeb", "skoletype")),
                     Dimension("udbyder", "udbyder"),
                     Dimension("tema", "tema", _codes("skoleforloeb", "tema"))],
    "vejlederlog": [Dimension("risikoniveau", "risikoniveau", _codes("vejlederlog", "risikoniveau")),
                    Dimension("tema", "temaer", _codes("vejlederlog", "temaer"), multi=True),
                    Dimension("koen", "koen", ("kvinde", "mand")),
                    Dimension("aldersgruppe", "aldersgruppe", ("under_18", "18-29", "30-39", "40-49", "50-64", "65+"))],
    "rettighedskurser": [Dimension("sted_type", "sted_type", _codes("rettighedskurser", "sted_type"))],
    "omraade_aktiviteter": [Dimension("maalgruppe", "maalgruppe", _codes("omraade_aktiviteter", "maalgruppe")),
                            Dimension("omraade", "omraade")],
    "omraade_aktoerer": [Dimension("sektor", "sektor", _codes("omraade_aktoerer", "sektor"))],
}

THEMES: tuple[str, ...] = _codes("vejlederlog", "temaer")  # bit i of the `temaer` bit set is THEMES[i]
assert len(THEMES) <= 16 and {r.theme for r in RULES.values() if r.theme} <= set(THEMES)


# --- the rows indicators count ----------------------------------------------------------------

def _reads(source: str) -> dict[str, str]:
    """Every column the source's rules and dimensions read, and how it is kept."""
    reads: dict[str, str] = {}
    for indicator_id, rule in RULES.items():
        if rule.source != source:
            continue
        reads.update({column: "code" for column, _ in rule.where})
        reads.update(rule.reduce.reads)
        if rule.theme:
            reads["temaer"] = "themes"
        if INDICATORS[indicator_id].aggregation == "stock":
            reads.update(tilsluttet="date", udtraadt="date")
    for dim in DIMENSIONS.get(source, []):
        reads[dim.column] = "themes" if dim.multi else "code" if dim.codes else "text"
    return reads


def source_columns(source: str) -> list[str]:
    """The staged columns `countable_rows` and `source_facts` read: the marts load no others."""
    from nsk_pipeline.sources.ingest import staged_columns

    spec = SOURCES[source]
    wanted = {"status", spec.date_column, "tilsluttet"}
    for column, kind in _reads(source).items():
        wanted |= {"skole", "klasse", "udbyder", "forloeb_id"} if kind == "school" else {column}
    return [c for c in staged_columns(spec) if c in wanted]


def key_columns(source: str) -> list[str]:
    """The columns `countable_rows` only compares for equality (ids, as integer codes): the marts
    may read them as any integer codes (NaN for none) instead of their text, which at scale is
    a Python string per row (a pseudonym per case, an id per school session)."""
    reads = _reads(source)
    keys = {column for column, kind in reads.items() if kind == "id"}
    keys |= {"forloeb_id"} if "school" in reads.values() else set()
    return [c for c in source_columns(source) if c in keys]


def _day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _per_distinct(values: pd.Series, fn, missing: object) -> np.ndarray:
    """`fn` over the distinct values (a list in, a list out), spread over the rows; `missing` where none."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    table = np.empty(len(uniques) + 1, dtype=object)
    for i, result in enumerate(fn(list(uniques))):
        table[i] = result  # one by one: a tuple result must stay one object
    table[-1] = missing
    return table[codes]  # code -1 picks `missing`


def _int_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    return pd.factorize(values)[0].astype(np.int32)  # -1 for missing


def _trimmed(values: pd.Series) -> pd.Categorical:
    """Free text as its trimmed string, the category the breakdown lists."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    cat_codes, categories = pd.factorize(pd.Index(uniques.astype(str)).str.strip())
    return pd.Categorical.from_codes(np.append(cat_codes, -1)[codes], categories=categories)


def _theme_bits(temaer: pd.Series) -> np.ndarray:
    def bits(value: object) -> int:
        parts = str(value).split("|")
        return sum(1 << i for i, theme in enumerate(THEMES) if theme in parts)
    return _per_distinct(temaer, lambda values: [bits(v) for v in values], 0).astype(np.uint16)


def _normalised_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the `normalise_key` names (-1 for none) and the names; normalised once per distinct value."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object))
    norm_codes, names = pd.factorize(normalise_key(pd.Series(uniques, dtype=object)))
    return np.append(norm_codes, -1)[codes].astype(np.int32), np.asarray(names, dtype=object)


def _school_and_class(get) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of the session's school and class; a session without klasse is its own class.

    A class is the pair (school, klasse), or, without klasse, the pair (udbyder, forloeb_id): as
    integer codes, so no string is built per session (a national roll-up has millions)."""
    school, _ = _normalised_codes(get("skole"))
    klasse, klasser = _normalised_codes(get("klasse"))
    in_class = klasse >= 0
    width = len(klasser) + 1
    pair_codes, pairs = pd.factorize(school[in_class].astype(np.int64) * width + klasse[in_class])
    provider = _per_distinct(get("udbyder"), lambda values: [str(v).casefold() for v in values], "none")
    provider_codes = pd.factorize(provider[~in_class])[0].astype(np.int64)
    session_codes = _int_codes(get("forloeb_id")[~in_class]).astype(np.int64) + 1  # 0: no id
    own_codes, _ = pd.factorize(provider_codes * (int(session_codes.max(initial=0)) + 1) + session_codes)
    classes = np.empty(len(klasse), np.int32)
    classes[in_class] = pair_codes
    classes[~in_class] = len(pairs) + own_codes
    return school, classes


def countable_rows(source: str, current: Frame) -> Frame:
    """Current rows that indicators may count (not cancelled), compact and sorted by date.

    Besides the columns in `_reads` (codes as categoricals, ids as integer codes, `temaer` as a
    bit set of THEMES, `aktoerer` as tuples of ids) each row has `_day` (days since 1970),
    `_year`, `_q` and `_all` (0, the one group of `Reducer.total`).
    """
    keep = ~current["status"].isin(CANCELLED).to_numpy() if "status" in current.columns else np.ones(len(current), bool)

    def get(column: str) -> pd.Series:
        if column not in current.columns:
            return pd.Series([None] * int(keep.sum()), dtype=object)
        return current[column][keep].reset_index(drop=True)

    # Staged dates are whole days (parse_dates), so a day number orders and slices them exactly.
    dates = pd.to_datetime(get(SOURCES[source].date_column))
    days = dates.to_numpy().astype("datetime64[D]").astype(np.int64)
    out: dict[str, object] = {
        "_day": np.where(dates.isna().to_numpy(), np.iinfo(np.int32).min, days).astype(np.int32),
        "_year": dates.dt.year.fillna(-1).astype(np.int16).to_numpy(),
        "_q": dates.dt.quarter.fillna(0).astype(np.int8).to_numpy(),
        "_all": np.zeros(len(dates), np.int8),
    }
    for column, kind in _reads(source).items():
        if kind == "code":
            out[column] = get(column).astype("category")
        elif kind == "text":
            out[column] = _trimmed(get(column))
        elif kind == "number":
            out[column] = get(column)
        elif kind == "date":
            out[column] = pd.to_datetime(get(column))
        elif kind == "id":
            out[column] = _int_codes(get(column))
        elif kind == "themes":
            out[column] = _theme_bits(get(column))
        elif kind == "actors":
            out[column] = _per_distinct(get(column), lambda values: [tuple(split_ids(v)) for v in values], ())
        elif kind == "school" and "_school" not in out:  # both keys at once
            out["_school"], out["_class"] = _school_and_class(get)
    rows = pd.DataFrame(out)
    return rows.take(np.argsort(rows["_day"].to_numpy(), kind="stable")).reset_index(drop=True)


def _theme_pairs(rows: Frame, columns: list[str]) -> Frame:
    """One row per (row, theme it includes), with the theme's index in `_theme`."""
    bits = rows["temaer"].to_numpy()
    found = [np.flatnonzero(bits & (1 << i)) for i in range(len(THEMES))]
    pairs = rows[columns].take(np.concatenate(found))
    pairs["_theme"] = np.repeat(np.arange(len(THEMES), dtype=np.int8), [len(f) for f in found])
    return pairs


# --- the engine -------------------------------------------------------------------------------

class PandasIndicatorEngine:
    def __init__(self, current: dict[str, Frame], facts: dict[str, SourceFacts], as_of: date):
        self.as_of = as_of
        self.facts = facts
        self._rows = {s: countable_rows(s, current[s]) for s in current}
        self._matching: dict[tuple, Frame] = {}

    @classmethod
    def from_rows(cls, rows: dict[str, Frame], facts: dict[str, SourceFacts], as_of: date) -> PandasIndicatorEngine:
        """An engine over rows already prepared by `countable_rows`."""
        engine = cls({}, facts, as_of)
        engine._rows = rows
        return engine

    def matching(self, indicator_id: str) -> Frame:
        """The rows the indicator counts, by date (shared by indicators with the same filter)."""
        rule = RULES[indicator_id]
        key = (rule.source, rule.where)
        if key not in self._matching:
            rows = self._rows[rule.source]
            if rule.where:
                mask = np.ones(len(rows), bool)
                for column, value in rule.where:
                    mask &= (rows[column] == value).to_numpy()
                rows = rows[mask]
            self._matching[key] = rows
        return self._matching[key]

    def measured(self, indicator_id: str, start: date, end: date) -> bool:
        years = self.facts[RULES[indicator_id].source].report_years
        return any(y in years for y in range(start.year, end.year + 1))

    def data_through(self, indicator_id: str) -> date | None:
        return self.facts[RULES[indicator_id].source].latest_export

    def _active(self, rows: Frame, end: date) -> np.ndarray:
        """Stock members at min(end, as_of): joined on or before it and not left on or before it."""
        at = pd.Timestamp(min(end, self.as_of))
        return ((rows["tilsluttet"] <= at) & ~(rows["udtraadt"] <= at)).to_numpy()

    def _has_theme(self, rows: Frame, theme: str) -> np.ndarray:
        return (rows["temaer"].to_numpy() & (1 << THEMES.index(theme))) != 0

    def value(self, indicator_id: str, start: date, end: date) -> PeriodValue:
        if not self.measured(indicator_id, start, end):
            return PeriodValue(None)
        aggregation = INDICATORS[indicator_id].aggregation
        rule = RULES[indicator_id]
        rows = self.matching(indicator_id)
        if aggregation == "stock":
            return PeriodValue(float(self._active(rows, end).sum()))
        day = rows["_day"].to_numpy()
        rows = rows.iloc[np.searchsorted(day, _day(start), "left"):np.searchsorted(day, _day(end), "right")]
        if aggregation == "sum":
            # A flow: the period's value is the sum of its reported years' values (a class counts once a year).
            years = self.facts[rule.source].report_years
            return PeriodValue(float(sum(v for y, v in rule.reduce.by(rows, ["_year"]).items() if y in years)))
        if aggregation == "ratio":
            return _ratio(float(len(rows)), float(self._has_theme(rows, rule.theme).sum()))
        return PeriodValue(rule.reduce.total(rows))

    def yearly(self, indicator_id: str, years: list[int]) -> dict[int, PeriodValue]:
        """The value in each calendar year (NULL where not measured): one grouping by year."""
        rule, aggregation = RULES[indicator_id], INDICATORS[indicator_id].aggregation
        rows = self.matching(indicator_id)
        if aggregation == "stock":
            return {y: self.value(indicator_id, date(y, 1, 1), date(y, 12, 31)) for y in years}
        if aggregation == "ratio":
            parts = self._ratio_parts(rows, rule.theme, ["_year"])
            values = {y: _ratio(*parts.get(y, (0.0, 0.0))) for y in years}
        else:
            per_year = rule.reduce.by(rows, ["_year"])
            values = {y: PeriodValue(float(per_year.get(y, 0.0))) for y in years}
        return {y: v if self._measured_year(indicator_id, y) else PeriodValue(None) for y, v in values.items()}

    def year_to_date(self, indicator_id: str, years: list[int]) -> dict[tuple[int, int], PeriodValue]:
        """The value from 1 January through each quarter's end, per (year, quarter)."""
        rule, aggregation = RULES[indicator_id], INDICATORS[indicator_id].aggregation
        rows = self.matching(indicator_id)
        periods = [(y, q) for y in years for q in QUARTERS]
        if aggregation == "stock":
            return {(y, q): self.value(indicator_id, date(y, 1, 1), _quarter_end(y, q)) for y, q in periods}
        if aggregation == "ratio":
            flag = pd.Series(self._has_theme(rows, rule.theme), index=rows.index)
            per_quarter = flag.groupby([rows["_year"], rows["_q"]], sort=False).agg(["size", "sum"]).astype(float)
            denominator, numerator = _cumulative(per_quarter["size"]), _cumulative(per_quarter["sum"])
            values = {(y, q): _ratio(_at(denominator, y, q), _at(numerator, y, q)) for y, q in periods}
        else:
            table = rule.reduce.ytd(rows)
            values = {(y, q): PeriodValue(_at(table, y, q)) for y, q in periods}
        return {p: v if self._measured_year(indicator_id, p[0]) else PeriodValue(None) for p, v in values.items()}

    def breakdown(self, indicator_id: str, years: list[int]) -> list[tuple[int, str, str, float]]:
        """(year, dimension, category, value) for each measured year, in the order the mart lists them."""
        rule, aggregation = RULES[indicator_id], INDICATORS[indicator_id].aggregation
        years = [y for y in years if self._measured_year(indicator_id, y)]
        rows = self.matching(indicator_id)
        if aggregation == "stock":
            # A state at each year's end, whenever its rows began: a year's members count as rows of
            # that year; the categories listed come from all rows.
            counted = pd.concat([rows[self._active(rows, date(y, 12, 31))].assign(_year=np.int16(y)) for y in years]
                                ) if years else rows
            reducer, listed_by_year = COUNT, False
        else:
            counted, reducer, listed_by_year = rows, rule.reduce, True
        cells = [_dimension_cells(dim, rows, counted, reducer, years, listed_by_year)
                 for dim in DIMENSIONS[rule.source]]
        return [(y, dim.name, category, value)
                for y in years for dim, per_year in zip(DIMENSIONS[rule.source], cells)
                for category, value in per_year[y]]

    def _measured_year(self, indicator_id: str, year: int) -> bool:
        return year in self.facts[RULES[indicator_id].source].report_years

    def _ratio_parts(self, rows: Frame, theme: str, keys: list[str]) -> dict:
        flag = pd.Series(self._has_theme(rows, theme), index=rows.index)
        parts = flag.groupby([rows[k] for k in keys], sort=False).agg(["size", "sum"]).astype(float)
        return {k: (d, n) for k, d, n in zip(parts.index, parts["size"], parts["sum"])}


def _ratio(denominator: float, numerator: float) -> PeriodValue:
    """Pooled: the period's numerator over its denominator, in percent; NULL without a denominator."""
    return PeriodValue(100.0 * numerator / denominator if denominator else None, numerator, denominator)


def _at(table: Frame, year: int, quarter: int) -> float:
    return float(table.at[year, quarter]) if year in table.index else 0.0


def _quarter_end(year: int, quarter: int) -> date:
    return date(year, 3 * quarter, calendar.monthrange(year, 3 * quarter)[1])


def _dimension_cells(dim: Dimension, rows: Frame, counted: Frame, reducer: Reducer, years: list[int],
                     listed_by_year: bool) -> dict[int, list[tuple[str, float]]]:
    """Per year, (category, value) for every category the dimension lists that year.

    Fixed codes are always listed (0 where nothing matches), free text as seen in the year's
    rows (`listed_by_year`) or in all rows, and `ukendt` for the rows without a value.
    """
    if dim.multi:
        values = reducer.by(_theme_pairs(counted, ["_year", *reducer.columns]), ["_year", "_theme"])
        index = {code: THEMES.index(code) for code in dim.codes}
        return {y: [(c, float(values.get((y, index[c]), 0.0))) for c in dim.codes] for y in years}
    values = reducer.by(counted, ["_year", dim.column]).to_dict()
    unknown = reducer.by(counted[counted[dim.column].isna()], ["_year"]).to_dict()
    missing = rows[dim.column].isna().to_numpy()
    if listed_by_year:
        missing_in = set(rows["_year"].to_numpy()[missing].tolist())
        seen: dict[int, list[str]] = {}
        if not dim.codes:
            for y, category in _group(rows, ["_year", dim.column]).size().index:
                seen.setdefault(y, []).append(category)
    else:
        missing_in = set(years) if missing.any() else set()
        everywhere = [] if dim.codes else rows[dim.column].dropna().unique().tolist()
        seen = {y: everywhere for y in years}
    out = {}
    for y in years:
        listed = [(c, float(values.get((y, c), 0.0))) for c in (dim.codes or sorted(seen.get(y, [])))]
        if y in missing_in:
            listed.append((UNKNOWN, float(unknown.get(y, 0.0))))
        out[y] = listed
    return out


# --- the marts ------------------------------------------------------------------------------

def report_years(facts: dict[str, SourceFacts], as_of: date) -> list[int]:
    """From the earliest year any source reports on through the as-of year."""
    years = [y for f in facts.values() for y in f.report_years if y <= as_of.year]
    return list(range(min(years), as_of.year + 1)) if years else []


def _row(indicator: Indicator, value: PeriodValue, through: date | None) -> dict:
    return {"indicator_id": indicator.id, "value": value.value,
            "numerator": value.numerator if indicator.aggregation == "ratio" else None,
            "denominator": value.denominator if indicator.aggregation == "ratio" else None,
            "unit": indicator.unit, "data_through": through, "suppressed": False}


def _through(engine: PandasIndicatorEngine, indicator_id: str, measured: bool, period_end: date) -> date | None:
    latest = engine.data_through(indicator_id)
    if not measured or latest is None:
        return None
    return min(latest, period_end)


def indicator_yearly(engine: PandasIndicatorEngine, years: list[int]) -> Frame:
    """One row per indicator and year."""
    rows = []
    for indicator in INDICATORS.values():
        values = engine.yearly(indicator.id, years)
        for year in years:
            v = values[year]
            rows.append({**_row(indicator, v, _through(engine, indicator.id, v.measured, date(year, 12, 31))),
                         "year": year})
    return pd.DataFrame(rows, columns=YEARLY_COLUMNS)


def indicator_quarterly(engine: PandasIndicatorEngine, years: list[int]) -> Frame:
    """One row per indicator, year and quarter that has begun: year to date through the quarter's end."""
    rows = []
    for indicator in INDICATORS.values():
        values = engine.year_to_date(indicator.id, years)
        for year in years:
            for quarter in QUARTERS:
                if date(year, 3 * quarter - 2, 1) > engine.as_of:
                    break
                v = values[(year, quarter)]
                rows.append({**_row(indicator, v, _through(engine, indicator.id, v.measured,
                                                           _quarter_end(year, quarter))),
                             "year": year, "quarter": quarter})
    return pd.DataFrame(rows, columns=QUARTERLY_COLUMNS)


def indicator_breakdown(engine: PandasIndicatorEngine, years: list[int]) -> Frame:
    """One row per indicator, year, dimension and category (measured years; ratios are not broken down)."""
    rows = [{"indicator_id": indicator.id, "year": year, "dimension": dimension, "category": category,
             "value": value, "suppressed": False}
            for indicator in INDICATORS.values() if indicator.aggregation != "ratio"
            for year, dimension, category, value in engine.breakdown(indicator.id, years)]
    return pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)


YEARLY_COLUMNS = ["indicator_id", "year", "value", "numerator", "denominator", "unit", "data_through", "suppressed"]
QUARTERLY_COLUMNS = ["indicator_id", "year", "quarter", "value", "numerator", "denominator", "unit",
                     "data_through", "suppressed"]
BREAKDOWN_COLUMNS = ["indicator_id", "year", "dimension", "category", "value", "suppressed"]
