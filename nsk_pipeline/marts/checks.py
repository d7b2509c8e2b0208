"""The contract's structural invariants on the published marts, as blocking asset checks.

Each invariant is defined once, here, as a plain function over the mart (a few hundred rows):
the asset check `contract_invariants` runs them on every run, and the Great Expectations suites
(`marts/expectations.py`) no longer repeat them (docs/architecture.md, "Who checks what").
"""


from collections.abc import Callable

import dagster as dg
import numpy as np
import pandas as pd

from nsk_pipeline.core.checks import selected_results
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.goals.registry import STATUS_TEKST
from nsk_pipeline.indicators.disclosure import PROTECTED_LABEL, PROTECTED_SOURCES, SMALL_TEXT, is_small
from nsk_pipeline.marts.assets import mart_key

PROGRESS_TOLERANCE = 1e-9
_JUDGED = ("naaet", "ikke_naaet", "i_gang")


def _grain(df: pd.DataFrame, keys: list[str]) -> list[str]:
    missing = df[df[keys].isna().any(axis=1)]
    problems = [f"{len(missing)} rows without a {' or '.join(keys)}"] if len(missing) else []
    dupes = df.dropna(subset=keys).groupby(keys).size()
    return problems + [f"{' '.join(map(str, k))}: {n} rows (one expected)" for k, n in dupes[dupes > 1].items()]


def one_row_per_goal_and_year(ga: pd.DataFrame) -> list[str]:
    return _grain(ga, ["goal_id", "year"])


def status_and_text(ga: pd.DataFrame) -> list[str]:
    wrong = ga[ga["status"].map(STATUS_TEKST) != ga["status_tekst"]]
    return [f"{r.goal_id} {r.year}: status {r.status!r} with text {r.status_tekst!r}" for r in wrong.itertuples()]


def progress_is_actual_over_target(ga: pd.DataFrame) -> list[str]:
    """progress = actual / target where both are known (and target is not 0), NULL otherwise."""
    actual = pd.to_numeric(ga["actual"], errors="coerce")
    target = pd.to_numeric(ga["target"], errors="coerce")
    progress = pd.to_numeric(ga["progress"], errors="coerce")
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = actual / target.where(target != 0)
    one_side = progress.isna() ^ expected.isna()
    off = one_side | ((progress - expected).abs() > PROGRESS_TOLERANCE)
    return [f"{r.goal_id} {r.year}: progress {r.progress!r} is not actual/target ({r.actual!r}/{r.target!r})"
            for r in ga[off].itertuples()]


def judged_with_an_actual(ga: pd.DataFrame) -> list[str]:
    judged = ga[(ga["kind"] == "numeric") & ga["status"].isin(_JUDGED) & ga["actual"].isna()]
    return [f"{r.goal_id} {r.year}: status {r.status!r} without an actual" for r in judged.itertuples()]


def one_row_per_indicator_and_year(iy: pd.DataFrame) -> list[str]:
    return _grain(iy, ["indicator_id", "year"])


# mart → invariant name → (the function listing its violations, what it asserts)
INVARIANTS: dict[str, dict[str, Callable[[pd.DataFrame], list[str]]]] = {
    "goal_attainment": {
        "one_row_per_goal_and_year": one_row_per_goal_and_year,
        "status_and_text": status_and_text,
        "progress_is_actual_over_target": progress_is_actual_over_target,
        "judged_with_an_actual": judged_with_an_actual,
    },
    "indicator_yearly": {"one_row_per_indicator_and_year": one_row_per_indicator_and_year},
}
_INVARIANT_DESCRIPTIONS = {
    "goal_attainment": "One row per goal and year (both present); status is a status code and status_tekst its "
                       "sentence; progress = actual/target where both are known, NULL otherwise; no numeric goal "
                       "judged without an actual.",
    "indicator_yearly": "One row per indicator and year (both present).",
}


def invariant_problems(mart: str, df: pd.DataFrame) -> dict[str, list[str]]:
    """Each invariant of the mart with its violations (empty: it holds)."""
    return {name: invariant(df) for name, invariant in INVARIANTS[mart].items()}


def contract_invariants(nsk: NskResource, mart: str) -> dg.AssetCheckResult:
    df = nsk.warehouse.read_table("marts", mart)
    problems = invariant_problems(mart, df)
    listed = [p for found in problems.values() for p in found]
    return dg.AssetCheckResult(passed=not listed, metadata={
        "rows": len(df), **{name: len(found) for name, found in problems.items()},
        "problems": "\n".join(listed) or "none"})


def breakdown_disclosure(nsk: NskResource) -> dg.AssetCheckResult:
    protected = ", ".join(f"'{s}'" for s in PROTECTED_SOURCES)
    bd = nsk.warehouse.read_sql(
        "SELECT b.* FROM marts.indicator_breakdown b JOIN marts.indicators i USING (indicator_id) "
        f"WHERE i.source IN ({protected})")
    small = bd[is_small(pd.to_numeric(bd["value"]))]
    shown = bd[bd["suppressed"].astype(bool) & bd["value"].notna()]
    return dg.AssetCheckResult(passed=small.empty and shown.empty,
                               metadata={"cells": len(bd), "small_cells_shown": len(small),
                                         "suppressed_with_value": len(shown)})


_CHECKS = {
    **{dg.AssetCheckKey(mart_key(mart), "contract_invariants"): (
        lambda nsk, mart=mart: contract_invariants(nsk, mart), _INVARIANT_DESCRIPTIONS[mart])
       for mart in INVARIANTS},
    dg.AssetCheckKey(mart_key("indicator_breakdown"), "disclosure_control"): (
        breakdown_disclosure,
        f"No {PROTECTED_LABEL} breakdown cell shows a count of {SMALL_TEXT}; suppressed cells show no value."),
}


@dg.multi_asset_check(
    name="mart_checks",
    # Blocking: the status report is not written from marts that break the contract.
    specs=[dg.AssetCheckSpec(key.name, asset=key.asset_key, description=description, blocking=True)
           for key, (_, description) in _CHECKS.items()],
    can_subset=True,
    description="The marts' contract invariants, in one step.",
)
def mart_checks_step(context: dg.AssetCheckExecutionContext, nsk: NskResource):
    yield from selected_results(context, lambda key: _CHECKS[key][0](nsk))


mart_checks = [mart_checks_step]
