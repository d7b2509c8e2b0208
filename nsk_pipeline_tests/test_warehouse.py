"""Warehouse plumbing the checks lean on: Arrow batches read back on both backends."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from nsk_pipeline.core.warehouse import Warehouse, WarehouseBusy, WarehouseMissing
from nsk_pipeline_tests.conftest import process_holding


def test_read_arrow_returns_every_row_in_batches_and_one_empty_table_for_none(warehouse_url):
    wh = Warehouse(warehouse_url)
    try:
        with wh.transaction() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER, name TEXT, day DATE)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'a', DATE '2024-01-02'), (2, NULL, NULL), "
                                 "(3, 'a', DATE '2024-03-04'), (4, 'b', DATE '2024-05-06'), (5, 'c', NULL)"))
        batches = list(wh.read_arrow("SELECT * FROM t ORDER BY id", 2))
        assert all(isinstance(b, pa.Table) and b.num_rows <= 2 for b in batches)
        # A batch is turned into a frame on its own (a column all NULL in one batch has no type there).
        frame = pd.concat([b.to_pandas().astype(object) for b in batches], ignore_index=True)
        assert frame["id"].tolist() == [1, 2, 3, 4, 5]
        assert [None if pd.isna(v) else v for v in frame["name"]] == ["a", None, "a", "b", "c"]
        assert pd.to_datetime(frame["day"]).tolist()[:4] == [pd.Timestamp("2024-01-02"), pd.NaT,
                                                             pd.Timestamp("2024-03-04"), pd.Timestamp("2024-05-06")]
        # An empty string is not NULL; a comma, a quote and a line break in a value survive; booleans.
        conn_rows = list(wh.read_arrow("SELECT '' AS blank, CAST(NULL AS TEXT) AS missing, 'a,\"b\"\nc' AS odd, "
                                       "1 = 1 AS yes, 1 = 2 AS no, CAST(NULL AS BOOLEAN) AS unknown", 2))
        assert pd.concat([b.to_pandas() for b in conn_rows]).astype(object).iloc[0].tolist() == [
            "", None, 'a,"b"\nc', True, False, None]
        empty = list(wh.read_arrow("SELECT * FROM t WHERE id > 9", 2))
        assert len(empty) == 1 and empty[0].num_rows == 0 and empty[0].column_names == ["id", "name", "day"]
    finally:
        wh.dispose()


def test_open_existing_tells_a_missing_warehouse_from_a_busy_one(tmp_path, monkeypatch, capsys):
    """One read-only opening for every reader: the sensor (no warehouse: every export is new; busy:
    look again next tick), `nsk explain` and `nsk report` (missing: exit 2; busy: exit 3)."""
    from nsk_pipeline.cli import main
    from nsk_pipeline.sensors import loaded_hashes

    path = tmp_path / "wh.duckdb"
    url = f"duckdb:///{path}"
    with pytest.raises(WarehouseMissing, match=str(path)):
        Warehouse.open_existing(url)
    assert loaded_hashes(url) == set() and not path.exists()
    wh = Warehouse(url)
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
    wh.dispose()
    with process_holding(path, read_only=False) as pid:
        with pytest.raises(WarehouseBusy, match=f"pid {pid}"):
            Warehouse.open_existing(url)
        assert loaded_hashes(url) is None
        monkeypatch.setenv("NSK_WAREHOUSE_URL", url)
        capsys.readouterr()
        for command in (["explain", "HP2024-V3", "--year", "2025"], ["report", "--plan", "HP2024", "--year", "2025",
                                                                       "--out", str(tmp_path / "out")]):
            assert main(command) == 3, command
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and f"in use by another process (pid {pid})" in err[0], err
    assert not (tmp_path / "out").exists()
    Warehouse.open_existing(url).dispose()  # free again
