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
