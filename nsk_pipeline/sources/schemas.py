"""Row rules of each staged source, as pandera models.

The parsers turn text into typed values (or a format error); these models state what a
staged row must satisfy. Ingest quarantines every row that fails them, and an asset check
re-validates the staged tables against the same models.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from nsk_pipeline.sources.specs import SOURCES, SourceSpec

Date = pd.Timestamp
Count = pd.Int64Dtype


class _Row(pa.DataFrameModel):
    export_date: Series[Date] = pa.Field(nullable=False)

    class Config:
        strict = False
        coerce = False


class SkoleforloebRow(_Row):
    forloeb_id: Series[str] = pa.Field(nullable=False)
    dato: Series[Date] = pa.Field(nullable=False)
    skole: Series[str] = pa.Field(nullable=False)
    skoletype: Series[str] = pa.Field(nullable=False, isin=SOURCES["skoleforloeb"].column("skoletype").codes)
    klasse: Series[str] = pa.Field(nullable=True)
    udbyder: Series[str] = pa.Field(nullable=False)
    aktivitet: Series[str] = pa.Field(nullable=False, isin=SOURCES["skoleforloeb"].column("aktivitet").codes)
    tema: Series[str] = pa.Field(nullable=False, isin=SOURCES["skoleforloeb"].column("tema").codes)
    antal_elever: Series[Count] = pa.Field(nullable=False, ge=0)
    antal_fagpersoner: Series[Count] = pa.Field(nullable=False, ge=0)
    antal_foraeldre: Series[Count] = pa.Field(nullable=False, ge=0)
    pilot: Series[str] = pa.Field(nullable=False, isin=("ja", "nej"))
    status: Series[str] = pa.Field(nullable=False, isin=SOURCES["skoleforloeb"].column("status").codes)

    @pa.dataframe_check(error="dato: after the file's export date")
    def dato_not_after_export(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["dato"] > df["export_date"])


class VejlederlogRow(_Row):
    registrering_id: Series[str] = pa.Field(nullable=False)
    oprettet: Series[Date] = pa.Field(nullable=False)
    type: Series[str] = pa.Field(nullable=False, isin=("henvendelse", "borgersag"))
    borger_pseudonym: Series[str] = pa.Field(nullable=True, str_length={"min_value": 64, "max_value": 64})
    koen: Series[str] = pa.Field(nullable=True, isin=("kvinde", "mand"))
    aldersgruppe: Series[str] = pa.Field(nullable=True, isin=("under_18", "18-29", "30-39", "40-49", "50-64", "65+"))
    risikoniveau: Series[str] = pa.Field(nullable=True, isin=("lav", "middel", "hoej"))
    temaer: Series[str] = pa.Field(nullable=True)
    afsluttet: Series[Date] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(nullable=False, isin=("aktiv", "afsluttet", "annulleret"))

    @pa.dataframe_check(error="cpr: a borgersag needs a valid CPR number")
    def borgersag_has_cpr(cls, df: pd.DataFrame) -> Series[bool]:
        return ~((df["type"] == "borgersag") & df["borger_pseudonym"].isna())

    @pa.dataframe_check(error="risikoniveau: a borgersag needs a risk level")
    def borgersag_has_risk(cls, df: pd.DataFrame) -> Series[bool]:
        return ~((df["type"] == "borgersag") & df["risikoniveau"].isna())

    @pa.dataframe_check(error="afsluttet: before oprettet")
    def closed_after_opened(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["afsluttet"] < df["oprettet"])

    @pa.dataframe_check(error="oprettet: after the file's export date")
    def oprettet_not_after_export(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["oprettet"] > df["export_date"])


class RettighedskurserRow(_Row):
    kursus_id: Series[str] = pa.Field(nullable=False)
    dato: Series[Date] = pa.Field(nullable=False)
    sted_type: Series[str] = pa.Field(nullable=False, isin=SOURCES["rettighedskurser"].column("sted_type").codes)
    deltagere: Series[Count] = pa.Field(nullable=False, ge=0)
    status: Series[str] = pa.Field(nullable=False, isin=("gennemfoert", "aflyst"))

    @pa.dataframe_check(error="dato: after the file's export date")
    def dato_not_after_export(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["dato"] > df["export_date"])


class OmraadeAktiviteterRow(_Row):
    aktivitet_id: Series[str] = pa.Field(nullable=False)
    dato: Series[Date] = pa.Field(nullable=False)
    omraade: Series[str] = pa.Field(nullable=False)
    type: Series[str] = pa.Field(nullable=False, isin=SOURCES["omraade_aktiviteter"].column("type").codes)
    maalgruppe: Series[str] = pa.Field(nullable=True, isin=SOURCES["omraade_aktiviteter"].column("maalgruppe").codes)
    deltagere: Series[Count] = pa.Field(nullable=False, ge=0)
    aktoerer: Series[str] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(nullable=False, isin=("gennemfoert", "aflyst"))

    @pa.dataframe_check(error="dato: after the file's export date")
    def dato_not_after_export(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["dato"] > df["export_date"])


class OmraadeAktoererRow(_Row):
    aktoer_id: Series[str] = pa.Field(nullable=False)
    navn: Series[str] = pa.Field(nullable=False)
    sektor: Series[str] = pa.Field(nullable=False, isin=SOURCES["omraade_aktoerer"].column("sektor").codes)
    tilsluttet: Series[Date] = pa.Field(nullable=False)
    udtraadt: Series[Date] = pa.Field(nullable=True)

    @pa.dataframe_check(error="udtraadt: before tilsluttet")
    def left_after_joined(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["udtraadt"] < df["tilsluttet"])

    @pa.dataframe_check(error="tilsluttet: after the file's export date")
    def joined_not_after_export(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["tilsluttet"] > df["export_date"])


class MilepaeleRow(_Row):
    maal_id: Series[str] = pa.Field(nullable=False)
    aar: Series[Count] = pa.Field(nullable=False, ge=2000, le=2100)
    opfyldt: Series[str] = pa.Field(nullable=False, isin=("ja", "nej", "delvist"))
    bemaerkning: Series[str] = pa.Field(nullable=True)


MODELS: dict[str, type[_Row]] = {
    "skoleforloeb": SkoleforloebRow,
    "vejlederlog": VejlederlogRow,
    "rettighedskurser": RettighedskurserRow,
    "omraade_aktiviteter": OmraadeAktiviteterRow,
    "omraade_aktoerer": OmraadeAktoererRow,
    "milepaele": MilepaeleRow,
}


def split_ids(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return [p.strip().casefold() for p in str(value).replace(",", "|").split("|") if p.strip()]


def schema_for(spec: SourceSpec, known_actors: Collection[str] | None = None,
               milestone_goals: Collection[str] | None = None) -> pa.DataFrameSchema:
    """The source's model, plus the rules that need context from other sources."""
    schema = MODELS[spec.name].to_schema()
    if spec.name == "omraade_aktiviteter" and known_actors is not None:
        known = {a.casefold() for a in known_actors}
        schema = _add_check(schema, "aktoerer", pa.Check(
            lambda s: s.map(lambda v: all(a in known for a in split_ids(v))),
            error="aktoerer: names an actor id that is not in the omraade_aktoerer register"))
    if spec.name == "milepaele" and milestone_goals is not None:
        goals = set(milestone_goals)
        schema = _add_check(schema, "maal_id", pa.Check(
            lambda s: s.isin(goals), error="maal_id: not a milestone goal in the goal registry"))
    return schema


def _add_check(schema: pa.DataFrameSchema, column: str, check: pa.Check) -> pa.DataFrameSchema:
    # update_column replaces a column's checks; keep the model's own.
    return schema.update_column(column, checks=[*schema.columns[column].checks, check])


def failures_by_row(schema: pa.DataFrameSchema, df: pd.DataFrame) -> dict[object, list[tuple[str | None, str]]]:
    """Every rule each row breaks: index → [(column, reason)]. Values are never quoted.

    Column rules are element-wise, so pandera validates each column's distinct values once and
    the verdicts are mapped back to the rows that hold them: exports repeat the same codes,
    names and dates on every row, and pandera's string dtype check is a Python call per value.
    The dataframe-wide rules (vectorised) run on the whole frame.
    """
    if any(name not in df.columns for name in schema.columns):
        return _failures(schema, df)  # pandera reports the missing column
    out: dict[object, list[tuple[str | None, str]]] = {}
    for name, column in schema.columns.items():
        s = df[name]
        one = pa.DataFrameSchema({name: column}, strict=False, coerce=False)
        if isinstance(s.dtype, pd.CategoricalDtype):
            # Text read back from the warehouse: its categories are the distinct values (as
            # the strings the model states), a missing value one more.
            codes = s.cat.codes.to_numpy().astype(np.int64)
            values = list(s.cat.categories)
            if (codes < 0).any():
                codes[codes < 0] = len(values)
                values.append(None)
            distinct = pd.Series(values, dtype=object, name=name)
        else:
            distinct = s.drop_duplicates()
            if len(distinct) == len(s):
                _merge(out, _failures(one, s.to_frame()))
                continue
            codes = None
        failing = _failures(one, distinct.reset_index(drop=True).to_frame())
        if failing:  # rare: only then find the rows holding each failing value
            if codes is None:  # numbered like `distinct`: first appearances
                codes, _ = pd.factorize(s, use_na_sentinel=False)
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(distinct) + 1))
            _merge(out, {row: problems for code, problems in failing.items()
                         for row in df.index[order[bounds[int(code)]:bounds[int(code) + 1]]]})
    if schema.checks:
        wide = pa.DataFrameSchema(checks=schema.checks, strict=False, coerce=False)
        _merge(out, _failures(wide, df))
    return out


def _failures(schema: pa.DataFrameSchema, df: pd.DataFrame) -> dict[object, list[tuple[str | None, str]]]:
    """pandera's verdict on `df`: index → [(column, reason)]."""
    try:
        schema.validate(df, lazy=True)
        return {}
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
    out: dict[object, list[tuple[str | None, str]]] = {}
    for column, check, index in zip(cases["column"], cases["check"], cases["index"]):
        if index is None or (isinstance(index, float) and pd.isna(index)):
            continue
        reason = _describe(column, str(check))
        col = reason.split(":", 1)[0] if ":" in reason else column
        problems = out.setdefault(index, [])
        if (col, reason) not in problems:
            problems.append((col, reason))
    return out


def _merge(into: dict, more: dict) -> None:
    for row, problems in more.items():
        have = into.setdefault(row, [])
        have.extend(p for p in problems if p not in have)


def _describe(column: str | None, check: str) -> str:
    if ": " in check and column is not None and check.split(":", 1)[0] in _ALL_COLUMNS:
        return check  # a dataframe check already names its column
    if check == "not_nullable":
        return f"{column}: missing value"
    if check.startswith("isin"):
        return f"{column}: not one of the allowed codes"
    if check.startswith("greater_than_or_equal_to"):
        return f"{column}: below the allowed minimum"
    if check.startswith("less_than_or_equal_to"):
        return f"{column}: above the allowed maximum"
    return f"{column}: fails {check}" if column else check


_ALL_COLUMNS = {c.name for s in SOURCES.values() for c in s.columns} | {"export_date"}
