"""The production instance: deploy/dagster.yaml keeps runs, events and schedules in PostgreSQL.

A fresh database on the local server; the shipped deploy/dagster.yaml, unchanged, as the
instance's config; a real materialisation of one source (its checks included) with the warehouse
on PostgreSQL too; then the run and its events are read back from PostgreSQL's own tables.
"""

import shutil
from datetime import datetime, timezone

import dagster as dg

import pytest
import sqlalchemy as sa

from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.settings import Settings
from nsk_pipeline.schedules import SCHEDULE_NAME
from nsk_pipeline.sources.assets import staging_assets, staging_key
from nsk_pipeline_tests.conftest import DEMO_RAW, REPO

pytestmark = pytest.mark.postgres
DAGSTER_YAML = REPO / "deploy" / "dagster.yaml"
SOURCE = "rettighedskurser"


def _set_pg_env(monkeypatch, sqlalchemy_url: str) -> None:
    url = sa.make_url(sqlalchemy_url)
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_DB", url.database)
    monkeypatch.setenv("DAGSTER_PG_USERNAME", url.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")


@pytest.fixture
def pg_instance(postgres_url, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home_pg"
    home.mkdir()
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    _set_pg_env(monkeypatch, postgres_url)
    with dg.DagsterInstance.get() as instance:
        yield instance


def test_instance_storage_is_postgres(pg_instance, postgres_url):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert isinstance(pg_instance.run_storage, PostgresRunStorage)
    assert isinstance(pg_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(pg_instance.schedule_storage, PostgresScheduleStorage)
    assert type(pg_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    # a run whose process died is failed by the daemon, not left running
    assert pg_instance.run_monitoring_enabled and pg_instance.run_monitoring_max_runtime_seconds > 0
    engine = sa.create_engine(postgres_url)
    try:
        tables = set(sa.inspect(engine).get_table_names(schema="public"))
    finally:
        engine.dispose()
    assert {"runs", "event_logs", "jobs", "job_ticks", "asset_keys"} <= tables


def test_materialise_with_postgres_instance_and_warehouse(pg_instance, postgres_url, monkeypatch):
    monkeypatch.setenv("NSK_RAW_DIR", str(DEMO_RAW))
    monkeypatch.setenv("NSK_WAREHOUSE_URL", postgres_url)  # the warehouse on the same server (own schemas)
    settings = Settings.from_env()
    key = staging_key(SOURCE)
    result = dg.materialize(staging_assets, instance=pg_instance,
                            resources={"nsk": NskResource.from_settings(settings)},
                            tags={"nsk/as_of": settings.as_of.isoformat()},
                            selection=dg.AssetSelection.assets(key) | dg.AssetSelection.checks_for_assets(key))
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["rows_reconcile"] and evaluations["source_delivered_recently"]

    # Read back through the instance …
    run = pg_instance.get_run_by_id(result.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["nsk/as_of"] == "2026-03-01"
    latest = pg_instance.get_latest_materialization_event(key)
    assert latest is not None and latest.run_id == result.run_id

    # … and straight from PostgreSQL's tables: the run, its events and the schedule state.
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        InstigatorType,
        ScheduleInstigatorData,
    )

    pg_instance.schedule_storage.add_instigator_state(InstigatorState(
        origin=_fake_origin(SCHEDULE_NAME), instigator_type=InstigatorType.SCHEDULE,
        status=InstigatorStatus.RUNNING,
        instigator_data=ScheduleInstigatorData(cron_schedule="0 6 5 1,4,7,10 *",
                                                  start_timestamp=datetime.now(timezone.utc).timestamp())))
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(sa.text("SELECT status FROM runs WHERE run_id = :r"), {"r": result.run_id}).all()
            assert runs == [("SUCCESS",)]
            events = dict(conn.execute(sa.text(
                "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = :r "
                "GROUP BY dagster_event_type"), {"r": result.run_id}).all())
            assert events.get("ASSET_MATERIALIZATION") == 1  # one source, one materialisation (no partitions)
            assert events.get("ASSET_CHECK_EVALUATION", 0) >= 3
            assert events.get("PIPELINE_SUCCESS", events.get("RUN_SUCCESS")) == 1
            asset_keys = {r[0] for r in conn.execute(sa.text("SELECT asset_key FROM asset_keys")).all()}
            assert any(SOURCE in k for k in asset_keys)
            assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar() == 1
            # The warehouse tables sit beside Dagster's, in their own schemas.
            staged = conn.execute(sa.text(f"SELECT count(*) FROM staging.{SOURCE}")).scalar()
            assert staged > 0
    finally:
        engine.dispose()


def _fake_origin(name: str):
    """A schedule origin without a code server, enough to store an instigator state row."""
    from dagster._core.remote_origin import (
        GrpcServerCodeLocationOrigin,
        RemoteInstigatorOrigin,
        RemoteRepositoryOrigin,
    )

    location = GrpcServerCodeLocationOrigin(host="localhost", port=4000, location_name="nsk_pipeline")
    return RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "__repository__"), name)
