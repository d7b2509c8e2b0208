"""Asset checks on the staged sources: reconciliation, the pandera rules, rejected files and the
delivery age. They run in the staging step itself (`sources/assets.py`), each source's right after
it is written: a step costs more than these queries."""


from contextlib import closing
from datetime import date, datetime

import dagster as dg
import pandas as pd
import polars as pl

from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.sources.schemas import MODELS, row_failures
from nsk_pipeline.sources.specs import SourceSpec, delivery_window_days

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


def latest_delivery(nsk: NskResource, source: str) -> date | None:
    """The export date of the source's latest loaded file dated on or before the as-of date."""
    wh = nsk.warehouse
    if not wh.has_table("meta", "file_loads"):
        return None
    df = wh.read_sql("SELECT max(export_date) AS latest FROM meta.file_loads "
                     "WHERE source = :s AND status = 'loaded' AND export_date <= :as_of",
                     s=source, as_of=nsk.as_of_date)
    latest = df["latest"].iloc[0] if len(df) else None
    if latest is None or (not isinstance(latest, (date, datetime)) and str(latest) in ("NaT", "nan", "None")):
        return None
    return latest.date() if isinstance(latest, datetime) else date.fromisoformat(str(latest)[:10])


def delivery_result(source: str, latest: date | None, as_of: date) -> dg.AssetCheckResult:
    window = delivery_window_days(source)
    age = (as_of - latest).days if latest else None
    passed = age is not None and age <= window
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.WARN,
        description=None if passed else (
            f"{source} has delivered nothing on or before {as_of}" if latest is None else
            f"{source}'s latest export is {latest}, {age} days before the as-of date {as_of} "
            f"(expected at least every {window} days)"),
        metadata={"latest_export_date": latest.isoformat() if latest else "none",
                  "days_since_export": age if age is not None else -1,
                  "window_days": window, "as_of": as_of.isoformat()})


def delivery_check(nsk: NskResource, source: str) -> dg.AssetCheckResult:
    return delivery_result(source, latest_delivery(nsk, source), nsk.as_of_date)


def check_result(nsk: NskResource, spec: SourceSpec, name: str) -> dg.AssetCheckResult:
    """The result of the source's check `name` (one of CHECKS), from what the warehouse holds."""
    if name == "rows_reconcile":
        return rows_reconcile(nsk, spec)
    if name == "pandera_rules":
        return pandera_rules(nsk, spec)
    if name == "files_accepted":
        return files_accepted(nsk, spec)
    return delivery_check(nsk, spec.name)


# name → (blocking, description), every source's checks
CHECKS = {
    "rows_reconcile": (True, "Every row read is staged or quarantined: rows read = staged + quarantined, per file."),
    "pandera_rules": (True, "The staged rows satisfy the source's pandera model ({model})."),
    "files_accepted": (False, "Every delivered export could be read (a rejected file is reported, not fatal)."),
    "source_delivered_recently": (
        False, "The source's latest loaded export (dated on or before the as-of date) is at most {window} days old: "
               "a source that stopped delivering shows here, even when the asset itself was just re-materialised "
               "from old files."),
}


def check_description(spec: SourceSpec, name: str) -> str:
    return CHECKS[name][1].format(model=MODELS[spec.name].__name__, window=delivery_window_days(spec.name))
