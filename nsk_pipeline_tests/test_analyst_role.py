"""The analyst role, tested with a real connection as that role."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

from nsk_pipeline.cli import main
from nsk_pipeline.core.warehouse import Column, Warehouse

pytestmark = pytest.mark.postgres


def test_analyst_reads_marts_and_nothing_else(postgres_url, monkeypatch):
    wh = Warehouse(postgres_url)
    frame = pd.DataFrame({"x": [1]})
    columns = [Column("x", sa.BigInteger)]
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        for schema in ("marts", "staging", "quarantine", "meta"):
            wh.replace_rows(conn, wh.ensure_table(conn, schema, "t", columns), frame)
    role = f"nsk_analyst_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("NSK_WAREHOUSE_URL", postgres_url)
    monkeypatch.setenv("NSK_ANALYST_PASSWORD", "s3cret-for-test")
    try:
        assert main(["analyst-role", role]) == 0
        assert main(["analyst-role", role]) == 0  # idempotent: updates
        with wh.transaction() as conn:  # a mart created after the grant is readable too
            wh.replace_rows(conn, wh.ensure_table(conn, "marts", "later", columns), frame)
        server, db = postgres_url.rsplit("/", 1)
        as_analyst = sa.create_engine(f"postgresql+psycopg://{role}:s3cret-for-test@127.0.0.1:5432/{db}")
        with as_analyst.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM marts.t")).scalar() == 1
            assert conn.execute(sa.text("SELECT x FROM marts.later")).scalar() == 1
        for schema in ("staging", "quarantine", "meta"):
            with as_analyst.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text(f"SELECT x FROM {schema}.t"))
        with as_analyst.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text("CREATE TABLE marts.mine (y int)"))
        as_analyst.dispose()
    finally:
        with wh.transaction() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        wh.dispose()


def test_analyst_role_refuses_duckdb(duckdb_url, monkeypatch, capsys):
    monkeypatch.setenv("NSK_WAREHOUSE_URL", duckdb_url)
    assert main(["analyst-role"]) == 2
    assert "PostgreSQL" in capsys.readouterr().err


def test_analyst_role_reports_a_malformed_setting_without_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("NSK_AS_OF", "not-a-date")
    assert main(["analyst-role"]) == 2
    assert "NSK_AS_OF" in capsys.readouterr().err
