"""Row rules of each staged source, as pandera models (pandera's Polars backend).

SQL types the text (or gives a format error); these models state what a staged row must
satisfy. Ingest validates the typed rows on Arrow batches from DuckDB (zero-copy into polars)
and quarantines every row that fails, with pandera's failure cases as its reasons; the blocking
asset check re-validates the staged tables against the same models.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow

from nsk_pipeline.sources.specs import SOURCES, SourceSpec


def _not(condition: pl.Expr) -> pl.Expr:
    """A rule "never `condition`": a comparison with a missing value breaks no rule."""
    return condition.fill_null(False).not_()


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
    pilot: pl.Utf8 = pa.Field(nullable=False, isin=("ja", "nej"))
    status: pl.Utf8 = pa.Field(nullable=False, isin=_codes("skoleforloeb", "status"))

    @pa.dataframe_check(error="dato: after the file's export date")
    def dato_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("dato") > pl.col("export_date")))


class VejlederlogRow(_Row):
    registrering_id: pl.Utf8 = pa.Field(nullable=False)
    oprettet: pl.Date = pa.Field(nullable=False)
    type: pl.Utf8 = pa.Field(nullable=False, isin=("henvendelse", "borgersag"))
    borger_pseudonym: pl.Utf8 = pa.Field(nullable=True, str_length={"min_value": 64, "max_value": 64})
    koen: pl.Utf8 = pa.Field(nullable=True, isin=("kvinde", "mand"))
    aldersgruppe: pl.Utf8 = pa.Field(nullable=True, isin=("under_18", "18-29", "30-39", "40-49", "50-64", "65+"))
    risikoniveau: pl.Utf8 = pa.Field(nullable=True, isin=("lav", "middel", "hoej"))
    temaer: pl.Utf8 = pa.Field(nullable=True)
    afsluttet: pl.Date = pa.Field(nullable=True)
    status: pl.Utf8 = pa.Field(nullable=False, isin=("aktiv", "afsluttet", "annulleret"))

    @pa.dataframe_check(error="cpr: a borgersag needs a valid CPR number")
    def borgersag_has_cpr(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not((pl.col("type") == "borgersag") & pl.col("borger_pseudonym").is_null()))

    @pa.dataframe_check(error="risikoniveau: a borgersag needs a risk level")
    def borgersag_has_risk(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not((pl.col("type") == "borgersag") & pl.col("risikoniveau").is_null()))

    @pa.dataframe_check(error="afsluttet: before oprettet")
    def closed_after_opened(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("afsluttet") < pl.col("oprettet")))

    @pa.dataframe_check(error="oprettet: after the file's export date")
    def oprettet_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("oprettet") > pl.col("export_date")))


class RettighedskurserRow(_Row):
    kursus_id: pl.Utf8 = pa.Field(nullable=False)
    dato: pl.Date = pa.Field(nullable=False)
    sted_type: pl.Utf8 = pa.Field(nullable=False, isin=_codes("rettighedskurser", "sted_type"))
    deltagere: pl.Int64 = pa.Field(nullable=False, ge=0)
    status: pl.Utf8 = pa.Field(nullable=False, isin=("gennemfoert", "aflyst"))

    @pa.dataframe_check(error="dato: after the file's export date")
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
    status: pl.Utf8 = pa.Field(nullable=False, isin=("gennemfoert", "aflyst"))

    @pa.dataframe_check(error="dato: after the file's export date")
    def dato_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("dato") > pl.col("export_date")))


class OmraadeAktoererRow(_Row):
    aktoer_id: pl.Utf8 = pa.Field(nullable=False)
    navn: pl.Utf8 = pa.Field(nullable=False)
    sektor: pl.Utf8 = pa.Field(nullable=False, isin=_codes("omraade_aktoerer", "sektor"))
    tilsluttet: pl.Date = pa.Field(nullable=False)
    udtraadt: pl.Date = pa.Field(nullable=True)

    @pa.dataframe_check(error="udtraadt: before tilsluttet")
    def left_after_joined(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("udtraadt") < pl.col("tilsluttet")))

    @pa.dataframe_check(error="tilsluttet: after the file's export date")
    def joined_not_after_export(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_not(pl.col("tilsluttet") > pl.col("export_date")))


class MilepaeleRow(_Row):
    maal_id: pl.Utf8 = pa.Field(nullable=False)
    aar: pl.Int64 = pa.Field(nullable=False, ge=2000, le=2100)
    opfyldt: pl.Utf8 = pa.Field(nullable=False, isin=("ja", "nej", "delvist"))
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
            error="aktoerer: names an actor id that is not in the omraade_aktoerer register"))
    if spec.name == "milepaele" and milestone_goals is not None:
        goals = sorted(set(milestone_goals))
        schema = _add_check(schema, "maal_id", pa.Check(
            lambda data: data.lazyframe.select(pl.col(data.key).is_in(goals)),
            error="maal_id: not a milestone goal in the goal registry"))
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
    """pandera's verdict on Arrow batches: per batch, a frame of (`id_column`, column, reason)
    for every rule a row breaks (values are never quoted)."""
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
        reasons = [_describe(column, check) for column, check in zip(cases["column"], cases["check"])]
        ids = frame[id_column].gather(cases["index"].cast(pl.UInt32))
        yield pl.DataFrame({id_column: ids, "reason": reasons}).with_columns(
            pl.col("reason").str.split_exact(":", 1).struct.field("field_0").alias("column")).unique()


def _describe(column: str | None, check: str) -> str:
    if ": " in check and check.split(":", 1)[0] in _ALL_COLUMNS:
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
