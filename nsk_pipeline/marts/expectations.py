"""Great Expectations suites on the marts, built in code, with Data Docs on the local disk.

The suites hold what only they check; the contract's structural invariants (each mart's grain,
status and status_tekst, progress = actual/target, judged with an actual) are the blocking asset
check `contract_invariants` (`marts/checks.py`), run on every run, and are not repeated here
(docs/architecture.md, "Who checks what"). Three suites:

- `goal_attainment` — kind and comparison in the registry's sets; target > 0;
- `indicator_yearly` — indicator_id in the indicator registry; value >= 0;
- `indicator_yearly_yoy` (severity warning) — a value moves by more than a factor F (default 3)
  from the year before. Only complete years are compared (`data_through` on or after 31 December
  of both years): the open year at the as-of date is a part year and would always "drop".
  Both zero is no move; from zero to a positive value (or back) is an infinite factor and warns.

The context is ephemeral (nothing is read from or written to a GX project folder); the only
file output is the Data Docs site of our own (`SITE_NAME`) under `docs_dir`.

`great_expectations` takes seconds to import, so it is imported inside the functions only:
importing this module (and the Dagster code location) does not pay for it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nsk_pipeline.core.settings import DEFAULT_REPORTS_DIR
from nsk_pipeline.goals.registry import COMPARISONS, KINDS
from nsk_pipeline.indicators.registry import INDICATORS

SITE_NAME = "nsk_marts"
DEFAULT_YOY_FACTOR = 3.0
SUITES = ("goal_attainment", "indicator_yearly", "indicator_yearly_yoy")
WARNING_SUITES = ("indicator_yearly_yoy",)
# The computed columns the suites check (not columns of the marts).
PREVIOUS_VALUE = "previous_year_value"
YOY_FACTOR = "yoy_factor"              # value / previous_year_value over complete years


def docs_dir_for(reports_dir: str | os.PathLike | None) -> Path:
    """Where the Data Docs go: `<reports_dir parent>/data_docs` (default data/marts/data_docs/)."""
    reports = Path(reports_dir) if reports_dir else DEFAULT_REPORTS_DIR
    return reports.parent / "data_docs"


def docs_index_for(reports_dir: str | os.PathLike | None) -> Path:
    """The Data Docs index page, as validate_marts writes it."""
    return docs_dir_for(reports_dir).resolve() / "index.html"


def indicator_yearly_frame(iy: pd.DataFrame) -> pd.DataFrame:
    """The mart with the previous year's value and the year-over-year factor (complete years only)."""
    df = iy.copy()
    df["year"] = pd.to_numeric(df["year"]).astype(int)
    value = pd.to_numeric(df["value"], errors="coerce")
    through = pd.to_datetime(df["data_through"], errors="coerce")
    year_end = pd.to_datetime(df["year"].astype(str) + "-12-31")
    complete = through.notna() & (through >= year_end)
    full = pd.DataFrame({"indicator_id": df["indicator_id"], "year": df["year"],
                         "value": value.where(complete)})
    previous = (full.assign(year=full["year"] + 1)
                .drop_duplicates(["indicator_id", "year"])
                .rename(columns={"value": PREVIOUS_VALUE}))
    merged = full.merge(previous, on=["indicator_id", "year"], how="left")
    cur, prev = merged["value"].to_numpy(dtype=float), merged[PREVIOUS_VALUE].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(prev > 0, cur / prev, np.where(cur > 0, np.inf, np.where(cur == 0, 1.0, np.nan)))
    factor = np.where(np.isnan(cur) | np.isnan(prev), np.nan, factor)
    df[PREVIOUS_VALUE] = merged[PREVIOUS_VALUE].to_numpy()
    df[YOY_FACTOR] = factor
    return df


def build_suites(yoy_factor: float) -> dict[str, Any]:
    """The three suites, by name (imports great_expectations)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ga = gx.ExpectationSuite(name="goal_attainment", meta={"table": "marts.goal_attainment"})
    for e in [
        gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=list(KINDS)),
        gxe.ExpectColumnValuesToBeInSet(column="comparison", value_set=list(COMPARISONS)),
        gxe.ExpectColumnValuesToBeBetween(column="target", min_value=0, strict_min=True,
                                          description="Targets are positive."),
    ]:
        ga.add_expectation(e)

    iy = gx.ExpectationSuite(name="indicator_yearly", meta={"table": "marts.indicator_yearly"})
    for e in [
        gxe.ExpectColumnValuesToBeInSet(column="indicator_id", value_set=sorted(INDICATORS),
                                        description="Every indicator is in the indicator registry."),
        gxe.ExpectColumnValuesToBeBetween(column="value", min_value=0, description="Indicator values are not negative."),
    ]:
        iy.add_expectation(e)

    yoy = gx.ExpectationSuite(name="indicator_yearly_yoy", meta={"table": "marts.indicator_yearly"})
    yoy.add_expectation(gxe.ExpectColumnValuesToBeBetween(
        column=YOY_FACTOR, min_value=1 / yoy_factor, max_value=yoy_factor, severity="warning",
        description=f"Warning: a complete year's value is within a factor {yoy_factor:g} of the year before "
                    f"(computed column {YOY_FACTOR} = value / {PREVIOUS_VALUE})."))
    return {"goal_attainment": ga, "indicator_yearly": iy, "indicator_yearly_yoy": yoy}


def _failed(result) -> list[dict[str, Any]]:
    failed = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        kwargs = {k: v for k, v in cfg.kwargs.items() if k in ("column", "column_list", "column_A", "column_B")}
        res = r.result or {}
        entry = {"expectation": cfg.type, **kwargs,
                 "unexpected_count": int(res.get("unexpected_count") or 0),
                 "element_count": int(res.get("element_count") or 0)}
        sample = res.get("partial_unexpected_list")
        if sample:
            entry["sample"] = [_plain(v) for v in sample[:5]]
        if r.exception_info and r.exception_info.get("raised_exception"):
            entry["exception"] = str(r.exception_info.get("exception_message"))[:300]
        failed.append(entry)
    return failed


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def yoy_moves(iy: pd.DataFrame, yoy_factor: float = DEFAULT_YOY_FACTOR) -> list[str]:
    """The moves the year-over-year expectation warns about, readable: `elever_nsk 2019: 1090 → 0 (×0)`."""
    df = indicator_yearly_frame(iy)
    f = df[YOY_FACTOR]
    bad = df[f.notna() & ((f > yoy_factor) | (f < 1 / yoy_factor))].sort_values(["indicator_id", "year"])
    return [f"{r.indicator_id} {r.year}: {getattr(r, PREVIOUS_VALUE):g} → {r.value:g} (×{getattr(r, YOY_FACTOR):.2f})"
            for r in bad.itertuples()]


def validate_marts(goal_attainment_df: pd.DataFrame, indicator_yearly_df: pd.DataFrame,
                   docs_dir: str | os.PathLike, yoy_factor: float = DEFAULT_YOY_FACTOR,
                   run_name: str | None = None) -> dict[str, Any]:
    """Validate the two marts with the GX suites and build the Data Docs site under `docs_dir`.

    Returns `{"success": bool (the error-level suites), "suites": {name: {"success", "severity",
    "evaluated", "rows", "failed": [{"expectation", "column"…, "unexpected_count", "element_count",
    "sample"?}], "validation_page"}}, "data_docs_index": "<docs_dir>/index.html"}`; the warning suite
    also lists `moves` (indicator, year, previous → value). `run_name` (e.g. the Dagster run id)
    names the validation run in the Data Docs.
    """
    if yoy_factor <= 1:
        raise ValueError("yoy_factor must be greater than 1")
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    docs_dir = Path(docs_dir).resolve()
    docs_dir.mkdir(parents=True, exist_ok=True)

    context = gx.get_context(mode="ephemeral")
    try:
        context.variables.progress_bars = {"globally": False}
    except Exception:  # pragma: no cover - cosmetic
        pass
    context.add_data_docs_site(site_name=SITE_NAME, site_config={
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
    })
    source = context.data_sources.add_pandas("nsk_marts")
    frames = {
        "goal_attainment": goal_attainment_df,
        "indicator_yearly": indicator_yearly_frame(indicator_yearly_df),
    }
    frames["indicator_yearly_yoy"] = frames["indicator_yearly"]
    batches = {name: source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
               for name in ("goal_attainment", "indicator_yearly")}
    suites = build_suites(yoy_factor)

    out: dict[str, Any] = {"suites": {}}
    for name in SUITES:
        suite = context.suites.add(suites[name])
        vd = context.validation_definitions.add(gx.ValidationDefinition(
            name=f"marts_{name}", data=batches[name.removesuffix("_yoy")], suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"marts_{name}", validation_definitions=[vd],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[SITE_NAME])],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5}))
        cp_result = checkpoint.run(batch_parameters={"dataframe": frames[name]},
                                   run_id=RunIdentifier(run_name=run_name) if run_name else None)
        key, result = next(iter(cp_result.run_results.items()))
        parts = key.to_tuple()
        page = docs_dir.joinpath("validations", *parts[:-1], f"{parts[-1]}.html")
        out["suites"][name] = {
            "success": bool(result.success),
            "severity": "warning" if name in WARNING_SUITES else "error",
            "evaluated": int(result.statistics.get("evaluated_expectations", 0)),
            "rows": len(frames[name]),
            "failed": _failed(result),
            "validation_page": str(page) if page.exists() else None,
        }
        if name == "indicator_yearly_yoy":
            out["suites"][name]["moves"] = yoy_moves(indicator_yearly_df, yoy_factor)
    out["success"] = all(s["success"] for n, s in out["suites"].items() if n not in WARNING_SUITES)
    index = docs_dir / "index.html"
    out["data_docs_index"] = str(index)
    return out
