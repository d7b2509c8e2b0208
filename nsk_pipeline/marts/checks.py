"""Contract invariants of the published marts, as asset checks."""


import dagster as dg
import pandas as pd

from nsk_pipeline.core.checks import selected_results
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.goals.attainment import STATUS_TEKST
from nsk_pipeline.marts.assets import mart_key


def goal_attainment_problems(ga: pd.DataFrame) -> list[str]:
    problems = []
    dupes = ga.groupby(["goal_id", "year"]).size()
    problems += [f"{g} {y}: {n} rows (one expected)" for (g, y), n in dupes[dupes > 1].items()]
    wrong_text = ga[ga["status"].map(STATUS_TEKST) != ga["status_tekst"]]
    problems += [f"{r.goal_id} {r.year}: status {r.status!r} with text {r.status_tekst!r}" for r in wrong_text.itertuples()]
    numeric = ga[(ga["kind"] == "numeric") & ga["actual"].notna() & ga["target"].notna()]
    off = numeric[(numeric["progress"] - numeric["actual"] / numeric["target"]).abs() > 1e-9]
    problems += [f"{r.goal_id} {r.year}: progress is not actual/target" for r in off.itertuples()]
    judged = ga[(ga["kind"] == "numeric") & ga["status"].isin(["naaet", "ikke_naaet", "i_gang"]) & ga["actual"].isna()]
    problems += [f"{r.goal_id} {r.year}: judged without an actual" for r in judged.itertuples()]
    return problems


def goal_attainment_invariants(nsk: NskResource) -> dg.AssetCheckResult:
    ga = nsk.warehouse.read_table("marts", "goal_attainment")
    problems = goal_attainment_problems(ga)
    return dg.AssetCheckResult(passed=not problems, metadata={"rows": len(ga), "problems": "\n".join(problems) or "none"})


def breakdown_disclosure(nsk: NskResource) -> dg.AssetCheckResult:
    bd = nsk.warehouse.read_sql(
        "SELECT b.* FROM marts.indicator_breakdown b JOIN marts.indicators i USING (indicator_id) "
        "WHERE i.source = 'vejlederlog'")
    small = bd[bd["value"].between(1, 4)]
    shown = bd[bd["suppressed"].astype(bool) & bd["value"].notna()]
    return dg.AssetCheckResult(passed=small.empty and shown.empty,
                               metadata={"cells": len(bd), "small_cells_shown": len(small),
                                         "suppressed_with_value": len(shown)})


_CHECKS = {
    dg.AssetCheckKey(mart_key("goal_attainment"), "contract_invariants"): (
        goal_attainment_invariants,
        "One row per goal and year; status and status_tekst agree; progress = actual/target; "
        "no numeric goal judged without an actual."),
    dg.AssetCheckKey(mart_key("indicator_breakdown"), "disclosure_control"): (
        breakdown_disclosure,
        "No counsellor-log breakdown cell shows a count of 1-4; suppressed cells show no value."),
}


@dg.multi_asset_check(
    name="mart_checks",
    specs=[dg.AssetCheckSpec(key.name, asset=key.asset_key, description=description)
           for key, (_, description) in _CHECKS.items()],
    can_subset=True,
    description="The marts' contract invariants, in one step.",
)
def mart_checks_step(context: dg.AssetCheckExecutionContext, nsk: NskResource):
    yield from selected_results(context, lambda key: _CHECKS[key][0](nsk))


mart_checks = [mart_checks_step]
