"""The blocking `pandera_rules` check reads back what was staged, in batches, and fails on a
row that breaks the model (on DuckDB and on PostgreSQL)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest
import sqlalchemy as sa

from nsk_pipeline.core.partitions import full_refresh_tags
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.sources.assets import staging_assets, staging_key
from nsk_pipeline.sources.checks import staging_checks

from .conftest import DEMO_RAW


def _pandera_rules(source: str):
    return next(c for c in staging_checks
                if dg.AssetCheckKey(staging_key(source), "pandera_rules") in c.check_keys)


@pytest.mark.parametrize("batch_rows", [3, 500_000])
def test_pandera_rules_fails_on_a_tampered_staged_row(warehouse_url, monkeypatch, batch_rows):
    monkeypatch.setattr("nsk_pipeline.sources.checks.CHECK_BATCH_ROWS", batch_rows)
    nsk = NskResource(raw_dir=str(DEMO_RAW), warehouse_url=warehouse_url, as_of=date(2026, 3, 1).isoformat())
    asset = next(a for a in staging_assets if staging_key("rettighedskurser") in a.keys)
    result = dg.materialize([asset], resources={"nsk": nsk}, instance=dg.DagsterInstance.ephemeral(),
                            tags=full_refresh_tags())
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
    assert set(by_rule) == {"status: not one of the allowed codes", "deltagere: below the allowed minimum"}
    assert "udsat" not in str(broken.metadata) and "rettighedskurser_" in broken.metadata["sample_rows"].value
