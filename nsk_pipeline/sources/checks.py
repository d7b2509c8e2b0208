"""Asset checks on the staged sources: reconciliation, the pandera rules, rejected files."""


from contextlib import closing

import dagster as dg
import pandas as pd
import polars as pl

from nsk_pipeline.core.checks import selected_results
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.sources.assets import staging_key
from nsk_pipeline.sources.schemas import MODELS, row_failures
from nsk_pipeline.sources.specs import SOURCES, SourceSpec

CHECK_BATCH_ROWS = 200_000


def reconcile(file_loads: pd.DataFrame, staged_rows: int | None, quarantined_rows: int | None) -> list[str]:
    """Rows read = staged + quarantined, per file; and (counts given) the tables hold exactly what
    the file loads say."""
    problems = []
    for row in file_loads.itertuples():
        if row.rows_read != row.rows_staged + row.rows_quarantined:
            problems.append(f"{row.file_name}: read {row.rows_read} ≠ staged {row.rows_staged} + "
                            f"quarantined {row.rows_quarantined}")
    if staged_rows is not None and int(file_loads["rows_staged"].sum()) != staged_rows:
        problems.append(f"staging table holds {staged_rows} rows, file loads say {int(file_loads['rows_staged'].sum())}")
    if quarantined_rows is not None and int(file_loads["rows_quarantined"].sum()) != quarantined_rows:
        problems.append(f"quarantine holds {quarantined_rows} rows, file loads say "
                        f"{int(file_loads['rows_quarantined'].sum())}")
    return problems


def rows_reconcile(nsk: NskResource, spec: SourceSpec) -> dg.AssetCheckResult:
    wh = nsk.warehouse
    loads = wh.read_sql("SELECT * FROM meta.file_loads WHERE source = :s", s=spec.name)
    staged = int(wh.read_sql(f"SELECT count(*) AS n FROM staging.{spec.name}")["n"].iloc[0])
    quarantined = int(wh.read_sql("SELECT count(*) AS n FROM quarantine.rejected_rows WHERE source = :s",
                                  s=spec.name)["n"].iloc[0])
    problems = reconcile(loads, staged, quarantined)
    return dg.AssetCheckResult(passed=not problems, metadata={
        "rows_read": int(loads["rows_read"].sum()), "rows_staged": staged, "rows_quarantined": quarantined,
        "problems": "\n".join(problems) or "none"})


def pandera_rules(nsk: NskResource, spec: SourceSpec) -> dg.AssetCheckResult:
    """The staged rows against the source's pandera model, read back in Arrow batches (polars
    holds one batch at a time); failing rows are named by file and row, never by value."""
    schema = MODELS[spec.name].to_schema()
    rows = int(nsk.warehouse.read_sql(f"SELECT count(*) AS n FROM staging.{spec.name}")["n"].iloc[0])
    batches = nsk.warehouse.read_arrow(
        f"SELECT *, source_file || ' row ' || CAST(source_row AS TEXT) AS _where FROM staging.{spec.name}",
        CHECK_BATCH_ROWS)
    with closing(batches):  # on an error, the warehouse connection is given back at once
        found = list(row_failures(schema, batches, "_where"))
    failures = (pl.concat(found) if found else
                pl.DataFrame(schema={"_where": pl.Utf8, "column": pl.Utf8, "code": pl.Utf8, "reason": pl.Utf8}))
    # by column and code (`reasons.label`), never by value
    by_rule = dict(sorted(failures.group_by(pl.format("{}: {}", "column", "code").alias("rule")).len().iter_rows()))
    failing = failures["_where"].unique(maintain_order=True)
    return dg.AssetCheckResult(passed=failing.is_empty(), metadata={
        "rows_checked": rows, "rows_failing": len(failing),
        "failures_by_rule": by_rule, "sample_rows": ", ".join(failing.head(5).to_list()) or "none"})


def files_accepted(nsk: NskResource, spec: SourceSpec) -> dg.AssetCheckResult:
    loads = nsk.warehouse.read_sql("SELECT file_name, reason FROM meta.file_loads "
                                   "WHERE source = :s AND status = 'rejected'", s=spec.name)
    return dg.AssetCheckResult(
        passed=loads.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={"files_rejected": len(loads),
                  "rejected": "\n".join(f"{r.file_name}: {r.reason}" for r in loads.itertuples()) or "none"})


# name → (blocking, description)
CHECKS = {
    "rows_reconcile": (True, "Every row read is staged or quarantined: rows read = staged + quarantined, per file."),
    "pandera_rules": (True, "The staged rows satisfy the source's pandera model ({model})."),
    "files_accepted": (False, "Every delivered export could be read (a rejected file is reported, not fatal)."),
}


@dg.multi_asset_check(
    name="staging_checks",
    specs=[dg.AssetCheckSpec(name, asset=staging_key(spec.name), blocking=blocking,
                             description=description.format(model=MODELS[spec.name].__name__))
           for spec in SOURCES.values() for name, (blocking, description) in CHECKS.items()],
    can_subset=True,
    description="The staged sources' checks, in one step: a step costs more than these queries.",
)
def staging_checks_step(context: dg.AssetCheckExecutionContext, nsk: NskResource):
    def result_of(key: dg.AssetCheckKey) -> dg.AssetCheckResult:
        spec = SOURCES[key.asset_key.path[-1]]
        if key.name == "rows_reconcile":
            return rows_reconcile(nsk, spec)
        if key.name == "pandera_rules":
            return pandera_rules(nsk, spec)
        return files_accepted(nsk, spec)

    yield from selected_results(context, result_of)


staging_checks = [staging_checks_step]
