"""The Great Expectations suites on the marts: each expectation can fail, good data passes."""

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import dagster as dg

import numpy as np
import pandas as pd
import pytest

from nsk_pipeline.marts.expectations import (
    DEFAULT_YOY_FACTOR,
    build_suites,
    docs_dir_for,
    SITE_NAME,
    YOY_FACTOR,
    indicator_yearly_frame,
    validate_marts,
)
from nsk_pipeline_tests.conftest import DEMO_RAW, REPO

gx = pytest.importorskip("great_expectations")


def _ga_row(goal_id, year, kind="numeric", target=100.0, actual=50.0, status="i_gang", status_tekst="I gang",
            comparison=">=", indicator="elever_nsk"):
    numeric = kind == "numeric"
    return {
        "plan_id": "HP2024", "goal_id": goal_id, "spor": "boern_unge", "goal_text": "tekst", "kind": kind,
        "indicator_id": indicator if numeric else None, "year": year,
        "period_start": date(year, 1, 1), "period_end": date(year, 12, 31),
        "comparison": comparison if numeric else None, "target": target if numeric else None,
        "actual": actual if numeric else None,
        "progress": (actual / target) if numeric and actual is not None and target else None,
        "status": status, "status_tekst": status_tekst,
        "data_through": date(year, 12, 31) if numeric else None,
        "forecast": None, "on_track": None, "note": None if numeric else "ok",
        "as_of": date(2026, 3, 1), "computed_at": datetime(2026, 3, 1, 6, 0),
    }


def good_goal_attainment() -> pd.DataFrame:
    return pd.DataFrame([
        _ga_row("HP2024-B1", 2024, actual=2425.0, target=2000.0, status="naaet", status_tekst="Målet er nået"),
        _ga_row("HP2024-B1", 2025, actual=1428.0, target=2000.0, status="ikke_naaet",
                status_tekst="Målet er ikke nået"),
        _ga_row("HP2024-B1", 2026, actual=0.0, target=2000.0),
        _ga_row("HP2024-V1", 2024, actual=None, target=250.0, status="ikke_opgjort", status_tekst="Ikke opgjort",
                indicator="henvendelser"),
        _ga_row("HP2024-C1", 2024, kind="milestone", status="naaet", status_tekst="Målet er nået"),
        _ga_row("HP2024-C1", 2025, kind="milestone", status="ikke_opgjort", status_tekst="Ikke opgjort"),
    ])


def good_indicator_yearly() -> pd.DataFrame:
    rows = []
    for indicator, values in {"elever_nsk": [1000, 1500, 2000, 40], "henvendelser": [None, 90, 170, 3],
                              "netvaerksmoeder": [0, 0, 0, 0]}.items():
        for year, value in zip(range(2022, 2026), values):
            complete = year < 2025  # 2025 is the open as-of year in this frame: a part year
            rows.append({"indicator_id": indicator, "year": year, "value": value, "numerator": None,
                         "denominator": None, "unit": "x", "suppressed": False,
                         "data_through": date(year, 12, 31) if complete else date(2025, 2, 3)})
    return pd.DataFrame(rows)


def _failed(outcome, suite):
    return {(f["expectation"], f.get("column") or ",".join(f.get("column_list") or [])
             or f"{f.get('column_A')},{f.get('column_B')}"): f["unexpected_count"]
            for f in outcome["suites"][suite]["failed"]}


def test_good_data_passes_and_docs_are_written(tmp_path):
    docs = tmp_path / "data_docs"
    outcome = validate_marts(good_goal_attainment(), good_indicator_yearly(), docs)
    assert outcome["success"]
    for name, suite in outcome["suites"].items():
        assert suite["success"], (name, suite["failed"])
        assert suite["evaluated"] >= 1
        assert Path(suite["validation_page"]).is_file()
    suites = build_suites(DEFAULT_YOY_FACTOR)
    assert all(outcome["suites"][name]["evaluated"] == len(suites[name].expectations) for name in suites)
    index = Path(outcome["data_docs_index"])
    assert index == docs.resolve() / "index.html" and index.is_file()
    html = index.read_text(encoding="utf-8")
    assert "goal_attainment" in html and "indicator_yearly" in html
    # Our own site only: nothing else written beside it.
    assert {p.name for p in docs.iterdir()} <= {"index.html", "static", "expectations", "validations"}


# What only the suites check; the contract's invariants are the asset check (test_mart_invariants.py).
GA_BREAKAGES = {
    "unknown kind": (lambda df: df.assign(kind=df["kind"].where(df.index != 0, "numerisk")),
                     ("expect_column_values_to_be_in_set", "kind"), 1),
    "unknown comparison": (lambda df: df.assign(comparison=df["comparison"].where(df.index != 0, ">")),
                           ("expect_column_values_to_be_in_set", "comparison"), 1),
    "target zero": (lambda df: df.assign(target=df["target"].where(df.index != 3, 0.0)),
                    ("expect_column_values_to_be_between", "target"), 1),
    "target negative": (lambda df: df.assign(target=df["target"].where(df.index != 3, -5.0)),
                        ("expect_column_values_to_be_between", "target"), 1),
}


@pytest.mark.parametrize("case", sorted(GA_BREAKAGES))
def test_goal_attainment_expectation_fails(case, tmp_path):
    breakage, expected, count = GA_BREAKAGES[case]
    outcome = validate_marts(breakage(good_goal_attainment()), good_indicator_yearly(), tmp_path / "docs")
    assert not outcome["success"]
    assert not outcome["suites"]["goal_attainment"]["success"]
    failed = _failed(outcome, "goal_attainment")
    assert failed.get(expected) == count, failed
    assert outcome["suites"]["indicator_yearly"]["success"]


IY_BREAKAGES = {
    "negative value": (lambda df: df.assign(value=df["value"].where(df.index != 1, -3)),
                       ("expect_column_values_to_be_between", "value"), 1),
    "unknown indicator": (lambda df: df.assign(indicator_id=df["indicator_id"].where(df.index != 0, "elever")),
                          ("expect_column_values_to_be_in_set", "indicator_id"), 1),
}


@pytest.mark.parametrize("case", sorted(IY_BREAKAGES))
def test_indicator_yearly_expectation_fails(case, tmp_path):
    breakage, expected, count = IY_BREAKAGES[case]
    outcome = validate_marts(good_goal_attainment(), breakage(good_indicator_yearly()), tmp_path / "docs")
    assert not outcome["success"]
    assert _failed(outcome, "indicator_yearly").get(expected) == count
    assert outcome["suites"]["goal_attainment"]["success"]


def test_year_over_year_jump_is_a_warning(tmp_path):
    iy = good_indicator_yearly()
    jump = (iy["indicator_id"] == "henvendelser") & (iy["year"] == 2024)
    iy.loc[jump, "value"] = 900  # 90 -> 900: a factor 10
    drop_to_zero = (iy["indicator_id"] == "elever_nsk") & (iy["year"] == 2024)
    iy.loc[drop_to_zero, "value"] = 0  # 1500 -> 0
    outcome = validate_marts(good_goal_attainment(), iy, tmp_path / "docs")
    yoy = outcome["suites"]["indicator_yearly_yoy"]
    assert not yoy["success"] and yoy["severity"] == "warning"
    assert _failed(outcome, "indicator_yearly_yoy") == {("expect_column_values_to_be_between", YOY_FACTOR): 2}
    assert yoy["moves"] == ["elever_nsk 2024: 1500 → 0 (×0.00)", "henvendelser 2024: 90 → 900 (×10.00)"]
    # A warning: the error-level suites pass and so does the whole validation.
    assert outcome["success"] and outcome["suites"]["indicator_yearly"]["success"]
    # A tighter factor flags more; a looser one, none.
    assert not validate_marts(good_goal_attainment(), good_indicator_yearly(), tmp_path / "d2",
                              yoy_factor=1.2)["suites"]["indicator_yearly_yoy"]["success"]


def test_yoy_factor_column():
    df = indicator_yearly_frame(good_indicator_yearly()).set_index(["indicator_id", "year"])
    assert df.loc[("elever_nsk", 2023), YOY_FACTOR] == pytest.approx(1.5)
    assert np.isnan(df.loc[("elever_nsk", 2022), YOY_FACTOR])      # no year before
    assert np.isnan(df.loc[("elever_nsk", 2025), YOY_FACTOR])      # the open year is a part year
    assert np.isnan(df.loc[("henvendelser", 2023), YOY_FACTOR])    # not measured the year before
    assert df.loc[("netvaerksmoeder", 2023), YOY_FACTOR] == 1.0    # 0 -> 0 is no move


def test_data_docs_beside_the_reports(tmp_path):
    assert docs_dir_for("") == REPO / "data" / "marts" / "data_docs"
    assert docs_dir_for(tmp_path / "out" / "reports") == tmp_path / "out" / "data_docs"


def test_importing_the_pipeline_does_not_import_great_expectations():
    code = ("import sys, nsk_pipeline.definitions, nsk_pipeline.marts.gx_checks, nsk_pipeline.marts.expectations, "
            "nsk_pipeline.schedules; print('great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_dagster_checks_on_the_demo_marts(tmp_path, duckdb_url):
    """A real run: the demo data through staging and marts, then the GX checks, with their metadata."""
    from nsk_pipeline.core.resources import NskResource
    from nsk_pipeline.definitions import ASSETS
    from nsk_pipeline.marts.gx_checks import data_docs_dir, gx_checks

    nsk = NskResource(raw_dir=str(DEMO_RAW), warehouse_url=duckdb_url, as_of="2026-03-01",
                      reports_dir=str(tmp_path / "marts" / "reports"))
    result = dg.materialize([*ASSETS, *gx_checks], resources={"nsk": nsk}, instance=dg.DagsterInstance.ephemeral(),
                            selection=dg.AssetSelection.groups("sources", "indicators", "goals"))
    assert result.success
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()
                   if e.asset_key.path[0] == "marts"}  # the staging step runs the sources' own checks too
    assert set(evaluations) == {("marts/goal_attainment", "great_expectations"),
                                ("marts/indicator_yearly", "great_expectations"),
                                ("marts/indicator_yearly", "year_over_year")}
    ga = evaluations[("marts/goal_attainment", "great_expectations")]
    assert ga.passed and ga.severity == dg.AssetCheckSeverity.ERROR
    assert evaluations[("marts/indicator_yearly", "great_expectations")].passed
    yoy = evaluations[("marts/indicator_yearly", "year_over_year")]
    assert yoy.severity == dg.AssetCheckSeverity.WARN
    # The demo has real jumps (e.g. the 2019 school-programme gap), so the warning shows.
    assert not yoy.passed and "elever_nsk 2019" in yoy.metadata["moves"].value
    index = data_docs_dir(nsk) / "index.html"
    assert index == tmp_path / "marts" / "data_docs" / "index.html" and index.is_file()
    assert ga.metadata["data_docs"].value == str(index.resolve())
    assert ga.metadata["data_docs_url"].value.startswith("file://")
    assert ga.metadata["expectations_failed"].value == 0
    assert SITE_NAME  # our own site name, not GX's default local_site
