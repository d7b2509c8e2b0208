"""One owner per invariant on the marts (docs/architecture.md, "Who checks what").

The contract's structural invariants are the asset check `contract_invariants` (every run, blocking);
the Great Expectations suites keep what they alone check. Each breakage below fails its one owner
and nothing else, and the suites no longer hold the expectations the asset check owns.
"""

import dagster as dg
import pandas as pd
import pytest

from nsk_pipeline.marts import checks
from nsk_pipeline.marts.expectations import build_suites, validate_marts
from nsk_pipeline_tests.conftest import DEMO_RAW
from nsk_pipeline_tests.test_expectations import (
    GA_BREAKAGES,
    IY_BREAKAGES,
    good_goal_attainment,
    good_indicator_yearly,
)


def _set(df, column, index, value):
    df = df.copy()
    df[column] = df[column].astype(object)
    df.loc[index, column] = value
    return df


# breakage of a good mart → (mart, the one asset-check invariant that fails)
CHECK_OWNED = {
    "duplicate goal and year": (lambda ga, iy: (pd.concat([ga, ga.iloc[[0]]], ignore_index=True), iy),
                                "goal_attainment", "one_row_per_goal_and_year"),
    "goal without an id": (lambda ga, iy: (_set(ga, "goal_id", 4, None), iy),
                           "goal_attainment", "one_row_per_goal_and_year"),
    "unknown status": (lambda ga, iy: (_set(ga, "status", 2, "done"), iy), "goal_attainment", "status_and_text"),
    "status missing": (lambda ga, iy: (_set(ga, "status", 0, None), iy), "goal_attainment", "status_and_text"),
    "unknown status_tekst": (lambda ga, iy: (_set(ga, "status_tekst", 2, "Færdig"), iy),
                             "goal_attainment", "status_and_text"),
    "status and text disagree": (lambda ga, iy: (_set(ga, "status_tekst", 0, "I gang"), iy),
                                 "goal_attainment", "status_and_text"),
    "progress not actual/target": (lambda ga, iy: (_set(ga, "progress", 1, 0.5), iy),
                                   "goal_attainment", "progress_is_actual_over_target"),
    "progress without an actual": (lambda ga, iy: (_set(ga, "progress", 3, 0.3), iy),
                                   "goal_attainment", "progress_is_actual_over_target"),
    "progress missing": (lambda ga, iy: (_set(ga, "progress", 0, None), iy),
                         "goal_attainment", "progress_is_actual_over_target"),
    "judged without an actual": (lambda ga, iy: (_set(_set(ga, "actual", 1, None), "progress", 1, None), iy),
                                 "goal_attainment", "judged_with_an_actual"),
    "duplicate indicator and year": (lambda ga, iy: (ga, pd.concat([iy, iy.iloc[[5]]], ignore_index=True)),
                                     "indicator_yearly", "one_row_per_indicator_and_year"),
}


def _failing_invariants(ga: pd.DataFrame, iy: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    found = {("goal_attainment", name): p for name, p in checks.invariant_problems("goal_attainment", ga).items()}
    found |= {("indicator_yearly", name): p for name, p in checks.invariant_problems("indicator_yearly", iy).items()}
    return {k: p for k, p in found.items() if p}


def test_good_marts_pass_every_invariant():
    assert _failing_invariants(good_goal_attainment(), good_indicator_yearly()) == {}


@pytest.mark.parametrize("case", sorted(CHECK_OWNED))
def test_an_asset_check_invariant_fails_only_its_owner(case):
    breakage, mart, invariant = CHECK_OWNED[case]
    failing = _failing_invariants(*breakage(good_goal_attainment(), good_indicator_yearly()))
    assert set(failing) == {(mart, invariant)}, failing


def test_the_suites_pass_on_every_breakage_the_asset_check_owns(tmp_path):
    """No duplicate: marts broken in every way the asset check owns, all at once (one GX run),
    pass the error-level suites."""
    ga, iy = good_goal_attainment(), good_indicator_yearly()
    for breakage, _, _ in CHECK_OWNED.values():
        ga, iy = breakage(ga, iy)
    assert {invariant for _, invariant in _failing_invariants(ga, iy)} == {i for _, _, i in CHECK_OWNED.values()}
    outcome = validate_marts(ga, iy, tmp_path / "docs")
    assert outcome["success"], {n: s["failed"] for n, s in outcome["suites"].items()}


@pytest.mark.parametrize("case", sorted(GA_BREAKAGES))
def test_a_goal_attainment_expectation_is_not_an_asset_check(case):
    """test_expectations shows the suite fails on these; the asset check lets them pass."""
    breakage, _, _ = GA_BREAKAGES[case]
    assert _failing_invariants(breakage(good_goal_attainment()), good_indicator_yearly()) == {}


@pytest.mark.parametrize("case", sorted(IY_BREAKAGES))
def test_an_indicator_yearly_expectation_is_not_an_asset_check(case):
    breakage, _, _ = IY_BREAKAGES[case]
    assert _failing_invariants(good_goal_attainment(), breakage(good_indicator_yearly())) == {}


def test_the_suites_hold_no_expectation_the_asset_check_owns():
    owned_columns = {"status", "status_tekst", "progress", "actual"}
    for name, suite in build_suites(3.0).items():
        for e in suite.expectations:
            assert e.expectation_type != "expect_compound_columns_to_be_unique", (name, e)
            assert e.expectation_type != "expect_column_pair_values_to_be_in_set", (name, e)
            assert getattr(e, "column", None) not in owned_columns, (name, e)


def test_a_failed_mart_invariant_blocks_the_report(duckdb_url, monkeypatch):
    """The default run's checks (no Great Expectations) fail on a broken invariant, addressed to its
    asset, and the status report is not written from those marts."""
    from nsk_pipeline.core.settings import Settings
    from nsk_pipeline.definitions import ASSETS, CHECKS, build_definitions

    monkeypatch.setitem(checks.INVARIANTS["goal_attainment"], "status_and_text",
                        lambda ga: ["injected: a status with another status's text"])
    monkeypatch.setenv("NSK_RAW_DIR", str(DEMO_RAW))
    defs = build_definitions(Settings.from_env())
    result = dg.materialize([*ASSETS, *CHECKS], resources=defs.resources, raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral())
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    failed = {k for k, e in evaluations.items() if not e.passed}
    assert failed == {("marts/goal_attainment", "contract_invariants")}
    broken = evaluations[("marts/goal_attainment", "contract_invariants")]
    assert broken.severity == dg.AssetCheckSeverity.ERROR
    assert broken.metadata["status_and_text"].value == 1
    assert "injected" in broken.metadata["problems"].value
    assert ("marts/indicator_yearly", "contract_invariants") in evaluations
    assert not any(k[1] == "great_expectations" for k in evaluations)
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "marts/goal_attainment" in materialised
    assert "reports/status" not in materialised
