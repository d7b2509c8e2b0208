"""Freshness: `source_delivered_recently` (from meta.file_loads) and the freshness policy."""

import shutil
from datetime import date, datetime

import dagster as dg

import pandas as pd

from nsk_pipeline.core import tables
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.definitions import ASSETS
from nsk_pipeline.schedules import SOURCE_FRESHNESS_POLICY, STAGING_KEYS, apply_source_freshness
from nsk_pipeline.sources.assets import staging_assets, staging_key
from nsk_pipeline.sources.checks import delivery_check, delivery_result, latest_delivery
from nsk_pipeline.sources.specs import DELIVERY_WINDOW_DAYS
from nsk_pipeline.sources.specs import SOURCES
from nsk_pipeline_tests.conftest import DEMO_RAW

AS_OF = date(2026, 3, 1)


def _resource(url: str, as_of: date = AS_OF, raw_dir: str = str(DEMO_RAW)) -> NskResource:
    return NskResource(raw_dir=raw_dir, warehouse_url=url, as_of=as_of.isoformat())


def _write_loads(url: str, rows: list[tuple[str, str, str]]) -> None:
    """rows: (source, export_date, status)."""
    df = pd.DataFrame([{
        "source": s, "file_name": f"{s}_{d}.csv", "export_date": date.fromisoformat(d), "sha256": "x",
        "status": st, "reason": None, "encoding": "utf-8", "separator": ";", "rows_read": 1,
        "rows_staged": 1, "rows_quarantined": 0, "extra_columns": None, "as_of": AS_OF,
        "loaded_at": datetime(2026, 3, 1, 6, 0), "run_id": "test"} for s, d, st in rows])
    wh = Warehouse(url)
    try:
        with wh.transaction() as conn:
            wh.ensure_schemas(conn)
            table = wh.ensure_table(conn, "meta", "file_loads", tables.FILE_LOADS)
            wh.replace_rows(conn, table, df)
    finally:
        wh.dispose()


def _check(source: str):
    return lambda nsk: delivery_check(nsk, source)


def test_one_check_per_source():
    keys = {k for a in staging_assets for k in a.check_keys if k.name == "source_delivered_recently"}
    assert {k.asset_key for k in keys} == set(STAGING_KEYS) == {staging_key(s) for s in SOURCES}
    assert len(keys) == len(SOURCES)


def test_fresh_and_stale_sources(duckdb_url):
    _write_loads(duckdb_url, [
        ("skoleforloeb", "2025-10-03", "loaded"),
        ("skoleforloeb", "2026-01-10", "loaded"),        # 50 days before as-of: fresh
        ("vejlederlog", "2025-10-02", "loaded"),         # 150 days: stale …
        ("vejlederlog", "2026-02-03", "rejected"),       # … a rejected file is not a delivery
        ("vejlederlog", "2026-04-02", "after_as_of"),    # … nor is one dated after the as-of date
        ("rettighedskurser", "2025-11-21", "loaded"),    # exactly 100 days: still fresh
        ("omraade_aktiviteter", "2025-11-20", "loaded"),  # 101 days: stale
    ])
    nsk = _resource(duckdb_url)
    assert latest_delivery(nsk, "skoleforloeb") == date(2026, 1, 10)
    assert latest_delivery(nsk, "vejlederlog") == date(2025, 10, 2)
    assert latest_delivery(nsk, "omraade_aktoerer") is None

    results = {s: _check(s)(nsk=nsk) for s in ("skoleforloeb", "vejlederlog", "rettighedskurser",
                                                "omraade_aktiviteter", "omraade_aktoerer")}
    assert results["skoleforloeb"].passed
    assert results["skoleforloeb"].metadata["days_since_export"].value == 50
    assert results["rettighedskurser"].passed
    for stale in ("vejlederlog", "omraade_aktiviteter", "omraade_aktoerer"):
        assert not results[stale].passed, stale
        assert results[stale].severity == dg.AssetCheckSeverity.WARN
    assert results["vejlederlog"].metadata["latest_export_date"].value == "2025-10-02"
    assert "150 days" in results["vejlederlog"].description
    assert "delivered nothing" in results["omraade_aktoerer"].description


def test_the_as_of_date_decides(duckdb_url):
    _write_loads(duckdb_url, [("skoleforloeb", "2025-10-03", "loaded"), ("skoleforloeb", "2026-01-10", "loaded")])
    # As of 2025-12-01 the January export did not exist yet; October's is 59 days old.
    early = _check("skoleforloeb")(nsk=_resource(duckdb_url, date(2025, 12, 1)))
    assert early.passed and early.metadata["latest_export_date"].value == "2025-10-03"
    late = _check("skoleforloeb")(nsk=_resource(duckdb_url, date(2026, 6, 1)))
    assert not late.passed and late.metadata["days_since_export"].value == 142


def test_no_file_loads_table_is_stale(duckdb_url):
    result = _check("skoleforloeb")(nsk=_resource(duckdb_url))
    assert not result.passed


def test_milestones_are_entered_yearly():
    assert delivery_result("milepaele", date(2025, 3, 1), AS_OF).passed  # 365 days, within 400
    assert not delivery_result("milepaele", date(2024, 12, 1), AS_OF).passed
    assert not delivery_result("skoleforloeb", date(2025, 1, 20), AS_OF).passed


def test_materialised_from_old_files_is_still_stale(tmp_path, duckdb_url):
    """The asset is materialised today, but its newest export is old: the check warns."""
    raw = tmp_path / "raw"
    (raw / "rettighedskurser").mkdir(parents=True)
    for f in sorted((DEMO_RAW / "rettighedskurser").iterdir()):
        if f.is_file() and "2025-07" in f.name:
            shutil.copy(f, raw / "rettighedskurser" / f.name)
    assert list((raw / "rettighedskurser").iterdir())
    key = staging_key("rettighedskurser")
    result = dg.materialize(staging_assets, resources={"nsk": _resource(duckdb_url, raw_dir=str(raw))},
                            instance=dg.DagsterInstance.ephemeral(),
                            selection=dg.AssetSelection.assets(key).without_checks()
                            | dg.AssetSelection.checks(dg.AssetCheckKey(key, "source_delivered_recently")))
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["latest_export_date"].value.startswith("2025-07")


def test_demo_sources_are_fresh_as_of_2026_03_01(duckdb_url):
    result = dg.materialize(staging_assets, resources={"nsk": _resource(duckdb_url)},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    evaluations = {e.asset_key: e.passed for e in result.get_asset_check_evaluations()
                   if e.check_name == "source_delivered_recently"}
    assert evaluations == {k: True for k in STAGING_KEYS}


def test_freshness_policy_on_every_staging_asset():
    assert SOURCE_FRESHNESS_POLICY.fail_window.to_timedelta().days == DELIVERY_WINDOW_DAYS
    defs = dg.Definitions(assets=apply_source_freshness(ASSETS), resources={"nsk": _resource("duckdb:///:memory:")})
    specs = {s.key: s for s in defs.resolve_all_asset_specs()}
    for key in STAGING_KEYS:
        assert specs[key].freshness_policy == SOURCE_FRESHNESS_POLICY, key
    others = [s for k, s in specs.items() if k not in STAGING_KEYS]
    assert others and all(s.freshness_policy is None for s in others)
    # The assets as defined are unchanged (the policy is applied to copies).
    assert all(s.freshness_policy is None for a in staging_assets for s in a.specs)
