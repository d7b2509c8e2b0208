"""The blocking `pandera_rules` check reads back what was staged, in batches, and fails on a
row that breaks the model (on DuckDB and on PostgreSQL)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest
import sqlalchemy as sa

from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.sources.assets import staging_assets, staging_key
from nsk_pipeline.sources.checks import pandera_rules
from nsk_pipeline.sources.specs import SOURCES

from .conftest import DEMO_RAW


def _pandera_rules(source: str):
    return lambda nsk: pandera_rules(nsk, SOURCES[source])


@pytest.mark.parametrize("batch_rows", [3, 500_000])
def test_pandera_rules_fails_on_a_tampered_staged_row(warehouse_url, monkeypatch, batch_rows):
    """In one batch or many (20 batches of 3 rows)."""
    monkeypatch.setattr("nsk_pipeline.sources.checks.CHECK_BATCH_ROWS", batch_rows)
    nsk = NskResource(raw_dir=str(DEMO_RAW), warehouse_url=warehouse_url, as_of=date(2026, 3, 1).isoformat())
    result = dg.materialize(staging_assets, resources={"nsk": nsk}, instance=dg.DagsterInstance.ephemeral(),
                            selection=[staging_key("rettighedskurser")])
    assert result.success
    check = _pandera_rules("rettighedskurser")
    clean = check(nsk=nsk)
    wh = Warehouse(warehouse_url)
    try:
        staged = int(wh.read_sql("SELECT count(*) AS n FROM staging.rettighedskurser")["n"].iloc[0])
        assert clean.passed and clean.metadata["rows_checked"].value == staged > 10
        with wh.transaction() as conn:
            ids = [r[0] for r in conn.execute(sa.text(
                "SELECT kursus_id FROM staging.rettighedskurser ORDER BY kursus_id, export_date LIMIT 2"))]
            conn.execute(sa.text("UPDATE staging.rettighedskurser SET status = 'udsat' WHERE kursus_id = :k"),
                         {"k": ids[0]})
            conn.execute(sa.text("UPDATE staging.rettighedskurser SET deltagere = -1 WHERE kursus_id = :k"),
                         {"k": ids[1]})
            tampered = conn.execute(sa.text("SELECT count(*) FROM staging.rettighedskurser "
                                            "WHERE kursus_id IN (:a, :b)"), {"a": ids[0], "b": ids[1]}).scalar()
    finally:
        wh.dispose()
    broken = check(nsk=nsk)
    assert not broken.passed
    assert broken.metadata["rows_checked"].value == staged
    assert broken.metadata["rows_failing"].value == tampered
    by_rule = broken.metadata["failures_by_rule"].value
    assert set(by_rule) == {"status: code_not_allowed", "deltagere: below_minimum"}
    assert "udsat" not in str(broken.metadata) and "rettighedskurser_" in broken.metadata["sample_rows"].value


def test_a_failed_blocking_check_stops_the_marts(duckdb_url, monkeypatch):
    """The checks run in one step per domain; a failed blocking check still keeps the marts from
    being built on the rows it rejected."""
    from nsk_pipeline.core.settings import Settings
    from nsk_pipeline.definitions import ASSETS, CHECKS, build_definitions
    from nsk_pipeline.sources import checks

    real = checks.reconcile

    def broken(loads, staged, quarantined):
        problems = real(loads, staged, quarantined)
        return problems + (["injected: a row went missing"] if loads["source"].eq("vejlederlog").any() else [])

    monkeypatch.setattr(checks, "reconcile", broken)
    monkeypatch.setenv("NSK_RAW_DIR", str(DEMO_RAW))
    defs = build_definitions(Settings.from_env())
    result = dg.materialize([*ASSETS, *CHECKS], resources=defs.resources, raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral())
    failed = {(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations()
              if not e.passed}
    assert failed == {("staging/vejlederlog", "rows_reconcile")}
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "staging/vejlederlog" in materialised
    assert not any(k.startswith("marts/") for k in materialised)


def _stage_all(url: str, **kwargs) -> dg.ExecuteInProcessResult:
    nsk = NskResource(raw_dir=str(DEMO_RAW), warehouse_url=url, as_of=date(2026, 3, 1).isoformat())
    return dg.materialize(staging_assets, resources={"nsk": nsk}, instance=dg.DagsterInstance.ephemeral(), **kwargs)


def _materialised(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}


def test_the_sources_are_one_step_and_the_register_is_read_once(duckdb_url, monkeypatch):
    """A step costs more than a demo source's load: every source and its checks run in the step
    `staging`, and the activities are judged by the register this run loaded (not a second read)."""
    from nsk_pipeline.sources import assets

    read = []
    real = assets.ingest_source

    def counting(spec, *args, **kwargs):
        read.append(spec.name)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(assets, "ingest_source", counting)
    result = _stage_all(duckdb_url)
    assert result.success
    assert {e.step_key for e in result.all_events if e.is_step_start} == {"staging"}
    assert _materialised(result) == set(SOURCES)
    assert sorted(read) == sorted(SOURCES)  # each source's exports read once
    checks = {(e.asset_key.path[-1], e.check_name) for e in result.get_asset_check_evaluations()}
    assert len(checks) == 4 * len(SOURCES)


def test_a_source_that_fails_leaves_the_others_staged(duckdb_url, monkeypatch):
    """As separate steps would: the other sources are staged, the step fails with the error."""
    from nsk_pipeline.sources import assets

    real = assets.ingest_source

    def failing(spec, *args, **kwargs):
        if spec.name == "skoleforloeb":
            raise RuntimeError("injected: the school exports cannot be read")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(assets, "ingest_source", failing)
    result = _stage_all(duckdb_url, raise_on_error=False)
    assert not result.success
    assert _materialised(result) == set(SOURCES) - {"skoleforloeb"}
    [failure] = [e for e in result.all_events if e.is_step_failure]
    from nsk_pipeline.cli import _root_message  # what `nsk materialize` prints

    assert _root_message(failure.step_failure_data.error) == "RuntimeError: injected: the school exports cannot be read"
    assert "skoleforloeb" not in {e.asset_key.path[-1] for e in result.get_asset_check_evaluations()}


def test_a_register_failing_a_blocking_check_keeps_the_activities_out(duckdb_url, monkeypatch):
    """The activities are judged by the register: when the register fails a blocking check they are
    not staged (as Dagster skips what follows a failed blocking check); the other sources are."""
    from nsk_pipeline.sources import checks

    real = checks.reconcile

    def broken(loads, staged, quarantined):
        problems = real(loads, staged, quarantined)
        return problems + (["injected: a row went missing"] if loads["source"].eq("omraade_aktoerer").any() else [])

    monkeypatch.setattr(checks, "reconcile", broken)
    result = _stage_all(duckdb_url, raise_on_error=False)
    assert not result.success
    assert _materialised(result) == set(SOURCES) - {"omraade_aktiviteter"}
    failed = {(e.asset_key.path[-1], e.check_name) for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {("omraade_aktoerer", "rows_reconcile")}


def test_a_check_runs_alone_on_what_the_warehouse_holds(duckdb_url):
    assert _stage_all(duckdb_url, selection=[staging_key("milepaele")]).success
    key = dg.AssetCheckKey(staging_key("milepaele"), "rows_reconcile")
    result = _stage_all(duckdb_url, selection=dg.AssetSelection.checks(key))
    assert result.success and not result.get_asset_materialization_events()
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.asset_check_key == key and evaluation.passed
