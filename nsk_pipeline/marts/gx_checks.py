"""Great Expectations suites on the marts as Dagster asset checks, with a link to the Data Docs.

One step validates both marts (one GX context, one Data Docs build) and reports three checks:

- `marts/goal_attainment` · `great_expectations` (ERROR, not blocking)
- `marts/indicator_yearly` · `great_expectations` (ERROR, not blocking)
- `marts/indicator_yearly` · `year_over_year` (WARN): a complete year moved by more than a factor
  `YOY_FACTOR` from the year before.

`great_expectations` is imported only when the check runs (it costs seconds), so defining these
checks is free; `nsk materialize` selects them only with `--expectations`, the quarterly job always.
"""


from pathlib import Path
from typing import Any

import dagster as dg

from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.marts.assets import mart_key
from nsk_pipeline.marts.expectations import docs_dir_for

YOY_FACTOR = 3.0
GA = mart_key("goal_attainment")
IY = mart_key("indicator_yearly")
# (asset, check name, suite, severity)
_CHECKS = [
    (GA, "great_expectations", "goal_attainment", dg.AssetCheckSeverity.ERROR),
    (IY, "great_expectations", "indicator_yearly", dg.AssetCheckSeverity.ERROR),
    (IY, "year_over_year", "indicator_yearly_yoy", dg.AssetCheckSeverity.WARN),
]
_DESCRIPTIONS = {
    "goal_attainment": "GX suite: kind and comparison in the registry's sets; target > 0 (the contract's "
                       "invariants are the check contract_invariants).",
    "indicator_yearly": "GX suite: indicator_id in the indicator registry; value >= 0 (the grain is the check "
                        "contract_invariants).",
    "indicator_yearly_yoy": f"GX suite (warning): a complete year's value is within a factor {YOY_FACTOR:g} "
                            "of the year before.",
}


def data_docs_dir(nsk: NskResource) -> Path:
    """`<reports_dir parent>/data_docs`: by default data/marts/data_docs/ beside data/marts/reports/."""
    return docs_dir_for(nsk.reports_dir)


def check_results(outcome: dict[str, Any]) -> list[dg.AssetCheckResult]:
    """The Dagster check results of a `validate_marts` outcome."""
    index = Path(outcome["data_docs_index"])
    results = []
    for asset, check_name, suite, severity in _CHECKS:
        s = outcome["suites"][suite]
        metadata: dict[str, Any] = {
            "suite": suite,
            "rows": s["rows"],
            "expectations_evaluated": s["evaluated"],
            "expectations_failed": len(s["failed"]),
            "unexpected_rows": sum(f["unexpected_count"] for f in s["failed"]),
            "failed_expectations": dg.MetadataValue.json(s["failed"]),
            "data_docs": dg.MetadataValue.path(str(index)),
            "data_docs_url": dg.MetadataValue.url(index.as_uri()),
        }
        if s.get("validation_page"):
            metadata["validation_page"] = dg.MetadataValue.url(Path(s["validation_page"]).as_uri())
        if "moves" in s:
            metadata["moves"] = dg.MetadataValue.md("\n".join(f"- {m}" for m in s["moves"]) or "none")
        results.append(dg.AssetCheckResult(asset_key=asset, check_name=check_name, passed=s["success"],
                                           severity=severity, metadata=metadata))
    return results


@dg.multi_asset_check(
    name="marts_great_expectations",
    specs=[dg.AssetCheckSpec(check_name, asset=asset, blocking=False, description=_DESCRIPTIONS[suite],
                             metadata={"engine": "great_expectations"})
           for asset, check_name, suite, _ in _CHECKS],
    description="Validate marts.goal_attainment and marts.indicator_yearly with Great Expectations and "
                "build the Data Docs under <reports_dir parent>/data_docs.",
)
def marts_great_expectations(context: dg.AssetCheckExecutionContext, nsk: NskResource):
    from nsk_pipeline.marts.expectations import validate_marts

    ga = nsk.warehouse.read_table("marts", "goal_attainment")
    iy = nsk.warehouse.read_table("marts", "indicator_yearly")
    outcome = validate_marts(ga, iy, data_docs_dir(nsk), yoy_factor=YOY_FACTOR, run_name=context.run.run_id)
    context.log.info(f"Data Docs: {outcome['data_docs_index']}")
    yield from check_results(outcome)


gx_checks = [marts_great_expectations]
