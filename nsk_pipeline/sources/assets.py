"""Staging assets: one per source, each a thin wrapper around `ingest_source`."""


from datetime import datetime, timezone

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from nsk_pipeline.core import tables
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.warehouse import Column
from nsk_pipeline.sources.columns import staged_column_descriptions
from nsk_pipeline.sources.ingest import SourceResult, ingest_source, reason_counts, register_actors
from nsk_pipeline.sources.specs import SOURCES, SourceSpec

GROUP = "sources"


def staging_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["staging", source])


_SQL_TYPES = {"date": sa.Date, "integer": sa.BigInteger, "boolean": sa.Boolean, "text": sa.Text}


def staging_columns(spec: SourceSpec) -> list[Column]:
    """The staging table's columns, typed from the contract (not from whatever a run happened to
    read), with the descriptions of `sources/columns.py`."""
    return [Column(name, _SQL_TYPES[kind], description)
            for name, kind, description in staged_column_descriptions(spec)]


def write_source(nsk: NskResource, result: SourceResult, run_id: str) -> None:
    """Replace all of the source's staging rows, quarantine rows and file loads in one transaction.

    Always the whole source: "latest export wins" is a rule per key across every export, so no
    part of a source (a year, a file) can be rebuilt on its own and stay right."""
    wh = nsk.warehouse
    spec = SOURCES[result.source]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    quarantine = result.quarantine.assign(run_id=run_id)
    loads = result.file_loads.assign(as_of=nsk.as_of_date, loaded_at=now, run_id=run_id)
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        staged_table = wh.ensure_table(conn, "staging", result.source, staging_columns(spec))
        wh.replace_rows(conn, staged_table, result.arrow_batches())
        q_table = wh.ensure_table(conn, "quarantine", "rejected_rows", tables.REJECTED_ROWS)
        wh.replace_rows(conn, q_table, quarantine, where={"source": result.source})
        f_table = wh.ensure_table(conn, "meta", "file_loads", tables.FILE_LOADS)
        wh.replace_rows(conn, f_table, loads, where={"source": result.source})


PERSONAL = ("borger_pseudonym", "koen", "aldersgruppe")


def preview(current: pd.DataFrame, spec: SourceSpec, rows: int = 5) -> str:
    """A few current rows as Markdown, without the pseudonym or the values derived from a CPR number."""
    shown = current.drop(columns=[c for c in PERSONAL if c in current.columns]).head(rows)
    return shown.to_markdown(index=False) if len(shown) else "(no rows)"


def _column_schema(spec: SourceSpec) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, kind, description=description)
                                   for name, kind, description in staged_column_descriptions(spec)])


def build_staging_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    deps = [staging_key("omraade_aktoerer")] if spec.name == "omraade_aktiviteter" else []

    @dg.asset(key=staging_key(spec.name), group_name=GROUP, deps=deps, kinds={"duckdb", "pandera"},
              description=f"{spec.description} Typed and validated; one row per version of a record read, "
                          f"`er_gaeldende` marks the version that counts (latest export wins).",
              tags={"domain": "sources"},
              metadata={"dagster/column_schema": _column_schema(spec)})
    def _staging(context: dg.AssetExecutionContext, nsk: NskResource) -> dg.MaterializeResult:
        key = nsk.pseudonym_key() if spec.sensitive else None
        known_actors = milestone_goals = None
        if spec.name == "omraade_aktiviteter":
            known_actors = _known_actors(nsk)
        if spec.name == "milepaele":
            from nsk_pipeline.goals.registry import load_registry

            registry = load_registry(nsk.goals_path)
            milestone_goals = [g.id for g in registry.goals if g.kind == "milestone"]
        with ingest_source(spec, nsk.raw_path / spec.name, nsk.as_of_date, key, known_actors,
                           milestone_goals) as result:
            for message in result.messages:
                context.log.info(message)
            for warning in result.warnings:
                context.log.warning(warning)
            write_source(nsk, result, context.run_id)
            return _materialization(spec, result, nsk.as_of)

    return _staging


def _materialization(spec: SourceSpec, result: SourceResult, as_of: str) -> dg.MaterializeResult:
    loads = result.file_loads
    return dg.MaterializeResult(metadata={
        "rows_read": int(loads["rows_read"].sum()),
        "rows_staged": result.rows_staged,
        "rows_current": result.rows_current,
        "rows_quarantined": len(result.quarantine),
        "files_loaded": int((loads["status"] == "loaded").sum()),
        "files_rejected": int((loads["status"] == "rejected").sum()),
        "quarantine_reasons": reason_counts(result.quarantine["reason_codes"]),
        "as_of": as_of,
        "preview": dg.MetadataValue.md(preview(result.head_current(5), spec)),
    })


def _known_actors(nsk: NskResource) -> list[str]:
    """Actor ids of the register's valid rows in all its exports up to the as-of date.

    Read from the exports, not the staging table: a run that materialises the activities alone
    (from the UI) would otherwise judge them by a register staged by an earlier run.
    """
    with ingest_source(SOURCES["omraade_aktoerer"], nsk.raw_path / "omraade_aktoerer", nsk.as_of_date) as register:
        return register_actors(register)


staging_assets = [build_staging_asset(spec) for spec in SOURCES.values()]
