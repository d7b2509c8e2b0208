"""Indicators computed from the current staged rows of each source.

`IndicatorEngine.value(indicator, start, end)` answers any period by the indicator's
aggregation; the yearly, quarterly and breakdown marts and the goal logic all ask it, so there
is one definition of every indicator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd

from nsk_pipeline.indicators.periods import PeriodValue
from nsk_pipeline.indicators.registry import INDICATORS, Indicator
from nsk_pipeline.sources.parsing import normalise_key
from nsk_pipeline.sources.schemas import split_ids
from nsk_pipeline.sources.specs import CANCELLED, SOURCES

Frame = pd.DataFrame


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


# --- indicator rules: which rows count, and how a set of rows reduces to a number -----------

def _count(df: Frame) -> float:
    return float(len(df))


def _sum(column: str) -> Callable[[Frame], float]:
    return lambda df: float(df[column].fillna(0).sum())


def _class_max_sum(df: Frame) -> float:
    """A class counts once, at its largest `antal_elever`; a session without klasse is its own class."""
    if df.empty:
        return 0.0
    return float(df.groupby("_class")["antal_elever"].max().fillna(0).sum())


def _distinct(column: str) -> Callable[[Frame], float]:
    return lambda df: float(df[column].dropna().nunique())


def _pilot_schools(df: Frame) -> float:
    if df.empty:
        return 0.0
    activities = df.groupby("_school")["aktivitet"].nunique()
    return float((activities == 3).sum())


def _distinct_actors(df: Frame) -> float:
    return float(len({a for v in df["aktoerer"] for a in split_ids(v)}))


@dataclass(frozen=True)
class Rule:
    source: str
    where: Callable[[Frame], pd.Series]
    reduce: Callable[[Frame], float] = _count
    numerator: Callable[[Frame], pd.Series] | None = None  # ratios


def _has_theme(theme: str) -> Callable[[Frame], pd.Series]:
    return lambda df: df["temaer"].fillna("").str.split("|").map(lambda parts: theme in parts)


def _eq(**pairs: str) -> Callable[[Frame], pd.Series]:
    def where(df: Frame) -> pd.Series:
        mask = pd.Series(True, index=df.index)
        for col, value in pairs.items():
            mask &= df[col] == value
        return mask
    return where


RULES: dict[str, Rule] = {
    "elever_nsk": Rule("skoleforloeb", _eq(aktivitet="elevundervisning", tema="nsk"), _class_max_sum),
    "elever_rettigheder": Rule("skoleforloeb", _eq(aktivitet="elevundervisning", tema="rettigheder"), _class_max_sum),
    "fagpersoner_opkvalificeret": Rule("skoleforloeb", _eq(aktivitet="fagpersonsoplaeg", tema="nsk"),
                                       _sum("antal_fagpersoner")),
    "foraeldre_naaet": Rule("skoleforloeb", _eq(aktivitet="foraeldredialog"), _sum("antal_foraeldre")),
    "pilotskoler_sammenhaengende": Rule("skoleforloeb", _eq(pilot="ja"), _pilot_schools),
    "friskoler_naaet": Rule("skoleforloeb", _eq(skoletype="friskole"), _distinct("_school")),
    "henvendelser": Rule("vejlederlog", _eq(type="henvendelse")),
    "borgersager": Rule("vejlederlog", _eq(type="borgersag")),
    "borgersager_hoej_risiko": Rule("vejlederlog", _eq(type="borgersag", risikoniveau="hoej")),
    "andel_borgersager_arbejdsmarked": Rule("vejlederlog", _eq(type="borgersag"),
                                            numerator=_has_theme("arbejdsmarked")),
    "andel_borgersager_vold": Rule("vejlederlog", _eq(type="borgersag"), numerator=_has_theme("vold")),
    "borgere_med_sag": Rule("vejlederlog", _eq(type="borgersag"), _distinct("borger_pseudonym")),
    "rettighedskurser": Rule("rettighedskurser", lambda df: pd.Series(True, index=df.index)),
    "rettighedskursus_deltagere": Rule("rettighedskurser", lambda df: pd.Series(True, index=df.index),
                                       _sum("deltagere")),
    "omraade_borgere_naaet": Rule("omraade_aktiviteter", _eq(type="borgeraktivitet"), _sum("deltagere")),
    "netvaerksmoeder": Rule("omraade_aktiviteter", _eq(type="netvaerksmoede")),
    "kompetenceudviklingsforloeb": Rule("omraade_aktiviteter", _eq(type="kompetenceudvikling")),
    "aktive_aktoerer": Rule("omraade_aktiviteter", lambda df: pd.Series(True, index=df.index), _distinct_actors),
    "aktoerer_i_netvaerk": Rule("omraade_aktoerer", lambda df: pd.Series(True, index=df.index)),
}
assert set(RULES) == set(INDICATORS), "every registered indicator needs a rule"


def countable_rows(source: str, current: Frame) -> Frame:
    """Current rows that indicators may count: not cancelled, with a `_date` and derived keys."""
    df = current
    if "status" in df.columns:
        df = df[~df["status"].isin(CANCELLED)]
    df = df.copy()
    date_col = SOURCES[source].date_column
    df["_date"] = pd.to_datetime(df[date_col]) if date_col else pd.NaT
    if source == "skoleforloeb":
        df["_school"] = normalise_key(df["skole"].astype(object))
        klasse = normalise_key(df["klasse"].astype(object))
        own = "session:" + df["udbyder"].astype(str).str.casefold() + "|" + df["forloeb_id"].astype(str)
        df["_class"] = (df["_school"] + "|" + klasse).where(klasse.notna(), own)
    return df


class PandasIndicatorEngine:
    def __init__(self, current: dict[str, Frame], facts: dict[str, SourceFacts], as_of: date):
        self.as_of = as_of
        self.facts = facts
        self._rows = {s: countable_rows(s, current[s]) for s in current}
        self._matching: dict[str, Frame] = {}
        self._slices: dict[tuple[str, date, date], Frame] = {}

    def matching(self, indicator_id: str) -> Frame:
        if indicator_id not in self._matching:
            rule = RULES[indicator_id]
            rows = self._rows[rule.source]
            self._matching[indicator_id] = rows[rule.where(rows)] if len(rows) else rows
        return self._matching[indicator_id]

    def between(self, indicator_id: str, start: date, end: date) -> Frame:
        """The indicator's matching rows dated in [start, end] (cached: the marts ask for the same years often)."""
        key = (indicator_id, start, end)
        if key not in self._slices:
            self._slices[key] = _between(self.matching(indicator_id), start, end)
        return self._slices[key]

    def measured(self, indicator_id: str, start: date, end: date) -> bool:
        years = self.facts[RULES[indicator_id].source].report_years
        return any(y in years for y in range(start.year, end.year + 1))

    def data_through(self, indicator_id: str) -> date | None:
        return self.facts[RULES[indicator_id].source].latest_export

    def value(self, indicator_id: str, start: date, end: date, rows: Frame | None = None) -> PeriodValue:
        if not self.measured(indicator_id, start, end):
            return PeriodValue(None)
        indicator: Indicator = INDICATORS[indicator_id]
        rule = RULES[indicator_id]
        subset = rows is not None
        rows = self.matching(indicator_id) if rows is None else rows
        if indicator.aggregation == "stock":
            at = pd.Timestamp(min(end, self.as_of))
            joined = pd.to_datetime(rows["tilsluttet"]) <= at
            left = pd.to_datetime(rows["udtraadt"]) <= at
            return PeriodValue(float((joined & ~left.fillna(False)).sum()))
        if indicator.aggregation == "sum":
            # A flow: the period's value is the sum of its years' values (a class counts once a year).
            years = self.facts[rule.source].report_years
            total = 0.0
            for year in range(start.year, end.year + 1):
                if year in years:
                    lo, hi = max(start, date(year, 1, 1)), min(end, date(year, 12, 31))
                    total += rule.reduce(_between(rows, lo, hi) if subset else self.between(indicator_id, lo, hi))
            return PeriodValue(total)
        in_period = _between(rows, start, end) if subset else self.between(indicator_id, start, end)
        if indicator.aggregation == "ratio":
            denominator = float(len(in_period))
            numerator = float(rule.numerator(in_period).sum()) if len(in_period) else 0.0
            value = 100.0 * numerator / denominator if denominator else None
            return PeriodValue(value, numerator, denominator)
        return PeriodValue(rule.reduce(in_period))


def _between(rows: Frame, start: date, end: date) -> Frame:
    if rows.empty:
        return rows
    return rows[(rows["_date"] >= pd.Timestamp(start)) & (rows["_date"] <= pd.Timestamp(end))]


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
        for year in years:
            start, end = date(year, 1, 1), date(year, 12, 31)
            v = engine.value(indicator.id, start, end)
            rows.append({**_row(indicator, v, _through(engine, indicator.id, v.measured, end)), "year": year})
    return pd.DataFrame(rows, columns=YEARLY_COLUMNS)


def indicator_quarterly(engine: PandasIndicatorEngine, years: list[int]) -> Frame:
    """One row per indicator, year and quarter: year to date through the quarter's end."""
    rows = []
    for indicator in INDICATORS.values():
        for year in years:
            for quarter in range(1, 5):
                q_start = date(year, 3 * quarter - 2, 1)
                if q_start > engine.as_of:
                    break
                q_end = (pd.Timestamp(q_start) + pd.offsets.QuarterEnd(0)).date()
                v = engine.value(indicator.id, date(year, 1, 1), q_end)
                rows.append({**_row(indicator, v, _through(engine, indicator.id, v.measured, q_end)),
                             "year": year, "quarter": quarter})
    return pd.DataFrame(rows, columns=QUARTERLY_COLUMNS)


YEARLY_COLUMNS = ["indicator_id", "year", "value", "numerator", "denominator", "unit", "data_through", "suppressed"]
QUARTERLY_COLUMNS = ["indicator_id", "year", "quarter", "value", "numerator", "denominator", "unit",
                     "data_through", "suppressed"]
BREAKDOWN_COLUMNS = ["indicator_id", "year", "dimension", "category", "value", "suppressed"]
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


def _categories(dim: Dimension, rows: Frame) -> list[tuple[str, pd.Series]]:
    values = rows[dim.column]
    if dim.multi:
        parts = values.fillna("").str.split("|")
        out = [(c, parts.map(lambda p, c=c: c in p)) for c in dim.codes]
        return out
    if dim.codes:
        out = [(c, values == c) for c in dim.codes]
    else:
        seen = sorted({v.strip() for v in values.dropna().astype(str)})
        out = [(c, values.astype(str).str.strip() == c) for c in seen]
    if values.isna().any():
        out.append((UNKNOWN, values.isna()))
    return out


def indicator_breakdown(engine: PandasIndicatorEngine, years: list[int]) -> Frame:
    """One row per indicator, year, dimension and category (measured years; ratios are not broken down)."""
    rows = []
    for indicator in INDICATORS.values():
        if indicator.aggregation == "ratio":
            continue
        for year in years:
            start, end = date(year, 1, 1), date(year, 12, 31)
            if not engine.measured(indicator.id, start, end):
                continue
            # A stock is a state at the year's end, whenever its rows began; the rest count the year's rows.
            in_year = engine.matching(indicator.id) if indicator.aggregation == "stock" else engine.between(
                indicator.id, start, end)
            for dim in DIMENSIONS[indicator.source]:
                for category, mask in _categories(dim, in_year):
                    # .loc and a bool mask: an empty object-dtype mask would select columns instead.
                    v = engine.value(indicator.id, start, end, rows=in_year.loc[mask.astype(bool)])
                    rows.append({"indicator_id": indicator.id, "year": year, "dimension": dim.name,
                                 "category": category, "value": v.value, "suppressed": False})
    return pd.DataFrame(rows, columns=BREAKDOWN_COLUMNS)
