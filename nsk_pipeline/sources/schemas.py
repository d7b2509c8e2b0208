"""Row rules of each staged source, as pandera models (pandera's Polars backend).

SQL types the text (or gives a format error); these models state what a staged row must
satisfy. Ingest validates the typed rows on Arrow batches from DuckDB (zero-copy into polars)
and quarantines every row that fails, with pandera's failing checks as its reasons (each check
named by its reason code, `sources/reasons.py`); the blocking
asset check re-validates the staged tables against the same models.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow

from nsk_pipeline.sources import reasons
from nsk_pipeline.sources.specs import SOURCES, SourceSpec
from nsk_pipeline.sources.sql_typing import AGE_BANDS, SEXES


def _not(condition: pl.Expr) -> pl.Expr:
    """A rule "never `condition`": a comparison with a missing value breaks no rule."""
    return condition.fill_null(False).not_()


def _rule(code: str, column: str, **params: str):
    """A row rule of the model: pandera's check named by its reason code, its column and
    parameters in the check's statistics (row_failures reads them), its message the code's text."""
    return pa.dataframe_check(name=code, statistics={"column": column, **params},
                              error=reasons.text(reasons.entry(code, column, **params)))


class _Row(pa.DataFrameModel):
    export_date: pl.Date = pa.Field(nullable=False)

    class Config:
        strict = False
        coerce = False


def _codes(source: str, column: str) -> tuple[str, ...]:
    return SOURCES[source].column(column).codes


class SkoleforloebRow(_Row):
    forloeb_id: pl.Utf8 = pa.Field(nullable=False)
    dato: pl.Date = pa.Field(nullable=False)
    skole: pl.Utf8 = pa.Field(nullable=False)
    skoletype: pl.Utf8 = pa.Field(nullable=False, isin=_codes("skoleforloeb", "skoletype"))
    klasse: pl.Utf8 = pa.Field(nullable=True)
    udbyder: pl.Utf8 = pa.Field(nullable=False)
    aktivitet: pl.Utf8 = pa.Field(nullable=False, isin=_codes("skoleforloeb", "aktivitet"))
    tema: pl.Utf8 = pa.Field(nullable=False, isin=_codes("skoleforloeb", "tema"))
    antal_elever: pl.Int64 = pa.Field(nullable=False, ge=0)
    antal_fagpersoner: pl.Int64 = pa.Field(nullable=False, ge=0)
    antal_foraeldre: pl.Int64 = pa.Field(nullable=False, ge=0)
    pilot: pl.Utf8 = pa.Field(nullable=False, isin=_codes("skoleforloeb", "pilot"))
    status: pl.Utf8 = pa.Field(nullable=False, isin=_codes("skoleforloeb", "status"))

    @_rule("date_after_export", "dato")
    def dato_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("dato") > pl.col("export_date")))


class VejlederlogRow(_Row):
    registrering_id: pl.Utf8 = pa.Field(nullable=False)
    oprettet: pl.Date = pa.Field(nullable=False)
    type: pl.Utf8 = pa.Field(nullable=False, isin=_codes("vejlederlog", "type"))
    borger_pseudonym: pl.Utf8 = pa.Field(nullable=True, str_length={"min_value": 64, "max_value": 64})
    koen: pl.Utf8 = pa.Field(nullable=True, isin=SEXES)
    aldersgruppe: pl.Utf8 = pa.Field(nullable=True, isin=AGE_BANDS)
    risikoniveau: pl.Utf8 = pa.Field(nullable=True, isin=_codes("vejlederlog", "risikoniveau"))
    temaer: pl.Utf8 = pa.Field(nullable=True)
    afsluttet: pl.Date = pa.Field(nullable=True)
    status: pl.Utf8 = pa.Field(nullable=False, isin=_codes("vejlederlog", "status"))

    @_rule("borgersag_needs_cpr", "cpr")
    def borgersag_has_cpr(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not((pl.col("type") == "borgersag") & pl.col("borger_pseudonym").is_null()))

    @_rule("borgersag_needs_risk", "risikoniveau")
    def borgersag_has_risk(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not((pl.col("type") == "borgersag") & pl.col("risikoniveau").is_null()))

    @_rule("before_other", "afsluttet", other="oprettet")
    def closed_after_opened(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("afsluttet") < pl.col("oprettet")))

    @_rule("date_after_export", "oprettet")
    def oprettet_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("oprettet") > pl.col("export_date")))


class RettighedskurserRow(_Row):
    kursus_id: pl.Utf8 = pa.Field(nullable=False)
    dato: pl.Date = pa.Field(nullable=False)
    sted_type: pl.Utf8 = pa.Field(nullable=False, isin=_codes("rettighedskurser", "sted_type"))
    deltagere: pl.Int64 = pa.Field(nullable=False, ge=0)
    status: pl.Utf8 = pa.Field(nullable=False, isin=_codes("rettighedskurser", "status"))

    @_rule("date_after_export", "dato")
    def dato_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("dato") > pl.col("export_date")))


class OmraadeAktiviteterRow(_Row):
    aktivitet_id: pl.Utf8 = pa.Field(nullable=False)
    dato: pl.Date = pa.Field(nullable=False)
    omraade: pl.Utf8 = pa.Field(nullable=False)
    type: pl.Utf8 = pa.Field(nullable=False, isin=_codes("omraade_aktiviteter", "type"))
    maalgruppe: pl.Utf8 = pa.Field(nullable=True, isin=_codes("omraade_aktiviteter", "maalgruppe"))
    deltagere: pl.Int64 = pa.Field(nullable=False, ge=0)
    aktoerer: pl.Utf8 = pa.Field(nullable=True)
    status: pl.Utf8 = pa.Field(nullable=False, isin=_codes("omraade_aktiviteter", "status"))

    @_rule("date_after_export", "dato")
    def dato_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("dato") > pl.col("export_date")))


class OmraadeAktoererRow(_Row):
    aktoer_id: pl.Utf8 = pa.Field(nullable=False)
    navn: pl.Utf8 = pa.Field(nullable=False)
    sektor: pl.Utf8 = pa.Field(nullable=False, isin=_codes("omraade_aktoerer", "sektor"))
    tilsluttet: pl.Date = pa.Field(nullable=False)
    udtraadt: pl.Date = pa.Field(nullable=True)

    @_rule("before_other", "udtraadt", other="tilsluttet")
    def left_after_joined(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("udtraadt") < pl.col("tilsluttet")))

    @_rule("date_after_export", "tilsluttet")
    def joined_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("tilsluttet") > pl.col("export_date")))


class MilepaeleRow(_Row):
    maal_id: pl.Utf8 = pa.Field(nullable=False)
    aar: pl.Int64 = pa.Field(nullable=False, ge=2000, le=2100)
    opfyldt: pl.Utf8 = pa.Field(nullable=False, isin=_codes("milepaele", "opfyldt"))
    bemaerkning: pl.Utf8 = pa.Field(nullable=True)


MODELS: dict[str, type[_Row]] = {
    "skoleforloeb": SkoleforloebRow,
    "vejlederlog": VejlederlogRow,
    "rettighedskurser": RettighedskurserRow,
    "omraade_aktiviteter": OmraadeAktiviteterRow,
    "omraade_aktoerer": OmraadeAktoererRow,
    "milepaele": MilepaeleRow,
}


def split_ids(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [p.strip().casefold() for p in str(value).replace(",", "|").split("|") if p.strip()]


def _ids(column: str) -> pl.Expr:
    """split_ids as a polars expression: the ids named in a '|' or ',' separated list."""
    return (pl.col(column).str.to_lowercase().str.replace_all(",", "|", literal=True).str.split("|")
            .list.eval(pl.element().str.strip_chars()).list.eval(pl.element().filter(pl.element() != "")))


def schema_for(spec: SourceSpec, known_actors: Collection[str] | None = None,
               milestone_goals: Collection[str] | None = None) -> pa.DataFrameSchema:
    """The source's model, plus the rules that need context from other sources."""
    schema = MODELS[spec.name].to_schema()
    if spec.name == "omraade_aktiviteter" and known_actors is not None:
        known = sorted({a.casefold() for a in known_actors})
        schema = _add_check(schema, "aktoerer", pa.Check(
            lambda data: data.lazyframe.select(
                _ids(data.key).list.eval(pl.element().is_in(known)).list.all().fill_null(True)),
            name="actor_not_in_register", error=reasons.text(reasons.entry("actor_not_in_register", "aktoerer"))))
    if spec.name == "milepaele" and milestone_goals is not None:
        goals = sorted(set(milestone_goals))
        schema = _add_check(schema, "maal_id", pa.Check(
            lambda data: data.lazyframe.select(pl.col(data.key).is_in(goals)),
            name="milestone_goal_unknown", error=reasons.text(reasons.entry("milestone_goal_unknown", "maal_id"))))
    return schema


def _add_check(schema: pa.DataFrameSchema, column: str, check: pa.Check) -> pa.DataFrameSchema:
    # update_column replaces a column's checks; keep the model's own.
    return schema.update_column(column, checks=[*schema.columns[column].checks, check])


def as_model_types(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """Staged rows read back from a warehouse in the model's dtypes (PostgreSQL's driver gives
    timestamps for dates and floats for counts with gaps): the rules are about values."""
    casts = [pl.col(name).cast(column.dtype.type) for name, column in schema.columns.items()
             if name in frame.columns and frame.schema[name] != column.dtype.type]
    return frame.with_columns(casts) if casts else frame


def row_failures(schema: pa.DataFrameSchema, batches: Iterator[pa_arrow.RecordBatch], id_column: str
                 ) -> Iterator[pl.DataFrame]:
    """pandera's verdict on Arrow batches: per batch, a frame of (`id_column`, column, code,
    reason) for every rule a row breaks; `reason` is the stored entry (`reasons.entry`, JSON),
    read from the failing check's name and statistics (values are never quoted)."""
    for batch in batches:
        frame = pl.from_arrow(batch)
        if isinstance(frame, pl.Series):  # pragma: no cover - a batch is a table
            frame = frame.to_frame()
        frame = as_model_types(schema, frame)
        try:
            schema.validate(frame, lazy=True)
            continue
        except pa.errors.SchemaErrors as e:
            cases = e.failure_cases
        broken = cases.filter(pl.col("index").is_null())
        if not broken.is_empty():  # a column missing or of the wrong type: the frame, not a row
            # (the failure case of such a check is a column name or a dtype, never a value)
            raise TypeError("rows not in the model's shape: " + ", ".join(
                f"{k} {f}" for k, f in zip(broken["check"], broken["failure_case"])))
        which = ["schema_context", "column", "check", "check_number"]
        entries = {key: _entry(schema, *key) for key in cases.select(which).unique().iter_rows()}
        found = [entries[key] for key in cases.select(which).iter_rows()]
        ids = frame[id_column].gather(cases["index"].cast(pl.UInt32))
        yield pl.DataFrame({id_column: ids, "column": [e["column"] for e in found],
                            "code": [e["code"] for e in found],
                            "reason": [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in found]}
                           ).unique()


def _entry(schema: pa.DataFrameSchema, context: str, column: str | None, check: str,
           number: int | None) -> dict:
    """The reason of one failing check: a row rule names its code and column itself (`_rule`);
    pandera's built-in checks are known by name, their parameters in their statistics."""
    if context == "DataFrameSchema":
        found = schema.checks[number]
        params = dict(found.statistics or {})
        return reasons.entry(found.name, params.pop("column"), **params)
    if number is None:  # pandera's nullable test is no check object
        return reasons.entry(reasons.PANDERA_CHECKS[check], column)
    found = schema.columns[column].checks[number]
    stats = found.statistics or {}
    if found.name in reasons.REASONS:
        return reasons.entry(found.name, column)
    code = reasons.PANDERA_CHECKS[found.name]
    if code == "code_not_allowed":
        return reasons.entry(code, column, allowed=", ".join(sorted(map(str, stats["allowed_values"]))))
    if code == "wrong_length":
        return reasons.entry(code, column, min_length=stats["min_value"], max_length=stats["max_value"])
    return reasons.entry(code, column, minimum=stats.get("min_value"), maximum=stats.get("max_value"))
