"""Staging assets: one per source, all in one step (`staging`), each a thin wrapper around `ingest_source`."""


from datetime import datetime, timezone

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from nsk_pipeline.core import tables
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.warehouse import Column
from nsk_pipeline.sources.checks import CHECKS, check_description, check_result
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


# The register before the activities: they are judged by it (the rule "actor in register").
DEPENDS_ON = {"omraade_aktiviteter": "omraade_aktoerer"}


def _spec(spec: SourceSpec) -> dg.AssetSpec:
    return dg.AssetSpec(
        staging_key(spec.name), group_name=GROUP, kinds={"duckdb", "pandera"}, tags={"domain": "sources"},
        deps=[staging_key(DEPENDS_ON[spec.name])] if spec.name in DEPENDS_ON else [],
        description=f"{spec.description} Typed and validated; one row per version of a record read, "
                    f"`er_gaeldende` marks the version that counts (latest export wins).",
        metadata={"dagster/column_schema": _column_schema(spec)},
        # not materialised when the source it is judged by fails a blocking check (see `staging`)
        skippable=spec.name in DEPENDS_ON)


def _check_specs(spec: SourceSpec) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=staging_key(spec.name), blocking=blocking,
                              description=check_description(spec, name))
            for name, (blocking, _) in CHECKS.items()]


def build_staging_asset() -> dg.AssetsDefinition:
    """One step that stages every source of `SOURCES` (as they are when called), one asset and its
    checks per source: a step costs more than a demo source's load. As separate steps would: a
    source that fails does not keep the others from being staged (the step fails after the last,
    with the first error), and the activities are not staged when the register they are judged by
    failed (or failed a blocking check)."""
    order = [name for name in SOURCES if name not in DEPENDS_ON] + [name for name in SOURCES if name in DEPENDS_ON]

    @dg.multi_asset(specs=[_spec(SOURCES[name]) for name in order],
                    check_specs=[c for name in order for c in _check_specs(SOURCES[name])],
                    name="staging", can_subset=True,
                    description="Every selected source staged in full, each in its own transaction, then its checks.")
    def staging(context: dg.AssetExecutionContext, nsk: NskResource):
        yield from _stage_selected(context, nsk, order)

    return staging


def _stage_selected(context: dg.AssetExecutionContext, nsk: NskResource, order: list[str]):
    assets = context.selected_asset_keys
    checks = context.selected_asset_check_keys
    failed: dict[str, BaseException] = {}  # source → why it, or what it depends on, failed
    blocked: set[str] = set()  # sources with a failed blocking check
    actors: list[str] | None = None  # the register's actors, when it is staged here
    for name in order:
        spec = SOURCES[name]
        key = staging_key(name)
        upstream = DEPENDS_ON.get(name)
        if key in assets:
            if upstream in failed or upstream in blocked:
                context.log.error(f"staging/{name} not staged: staging/{upstream}, which it is judged by, failed")
                failed.setdefault(name, failed.get(upstream))
                continue
            try:
                result, actors_read = _stage(context, nsk, spec, actors)
            except Exception as e:  # noqa: BLE001 - the first is re-raised after the other sources
                context.log.error(f"staging/{name} failed: {type(e).__name__}: {e}")
                failed[name] = e
                continue
            actors = actors_read if name == "omraade_aktoerer" else actors
            yield result
        for check_name in CHECKS:  # its checks, on what the warehouse now holds
            check_key = dg.AssetCheckKey(key, check_name)
            if check_key in checks and name not in failed:
                outcome = check_result(nsk, spec, check_name)
                if not outcome.passed and CHECKS[check_name][0]:
                    blocked.add(name)
                yield dg.AssetCheckResult(asset_key=key, check_name=check_name, passed=outcome.passed,
                                          severity=outcome.severity, description=outcome.description,
                                          metadata=outcome.metadata)
    first = next((e for e in failed.values() if e is not None), None)
    if first is not None:
        raise first


def _stage(context: dg.AssetExecutionContext, nsk: NskResource, spec: SourceSpec,
           known_actors: list[str] | None) -> tuple[dg.MaterializeResult, list[str] | None]:
    """Stage one source from every export in its folder; its materialisation, and (the register)
    the actor ids its exports hold."""
    key = nsk.pseudonym_key() if spec.sensitive else None
    milestone_goals = None
    if spec.name == "omraade_aktiviteter" and known_actors is None:
        known_actors = _known_actors(nsk)  # the register was not staged in this run
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
        actors = register_actors(result) if spec.name == "omraade_aktoerer" else None
        return _materialization(spec, result, nsk.as_of), actors


def _materialization(spec: SourceSpec, result: SourceResult, as_of: str) -> dg.MaterializeResult:
    loads = result.file_loads
    return dg.MaterializeResult(asset_key=staging_key(spec.name), metadata={
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
    (from the UI) would otherwise judge them by a register staged by an earlier run. (When the
    register is staged in the same run, the staging step passes on what that load read.)
    """
    with ingest_source(SOURCES["omraade_aktoerer"], nsk.raw_path / "omraade_aktoerer", nsk.as_of_date) as register:
        return register_actors(register)


staging_assets = [build_staging_asset()]
