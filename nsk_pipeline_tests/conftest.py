"""Shared fixtures: every test gets its own warehouse, DAGSTER_HOME and fixed as-of date."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_SERVER = os.environ.get("NSK_TEST_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
TEST_KEY = "test-pseudonym-key-not-for-production"


def _pg_available() -> bool:
    try:
        engine = sa.create_engine(f"{PG_SERVER}/postgres", connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test reads the developer's NSK_* settings or writes into data/marts/."""
    for name in list(os.environ):
        if name.startswith("NSK_") and name not in ("NSK_REQUIRE_POSTGRES", "NSK_TEST_PG_SERVER", "NSK_SHARED_DIR",
                                                    "NSK_RELIABILITY_LOG", "NSK_UI_SCREENSHOT_DIR",
                                                    "NSK_REPORT_SCREENSHOT_DIR"):
            monkeypatch.delenv(name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("NSK_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.setenv("NSK_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.setenv("NSK_AS_OF", "2026-03-01")
    monkeypatch.setenv("NSK_REPORTS_DIR", str(tmp_path / "reports"))
    yield


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture
def postgres_url():
    """A fresh database on the local PostgreSQL server, dropped afterwards."""
    if not _pg_available():
        if os.environ.get("NSK_REQUIRE_POSTGRES") or os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required here but {PG_SERVER} cannot be reached")
        pytest.skip("no PostgreSQL server at 127.0.0.1:5432")
    name = f"nsk_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_url")


REPO = Path(__file__).resolve().parents[1]
DEMO_RAW = REPO / "data" / "raw"


class ReliabilityLog:
    """What the reliability tests tried, for `python benchmarks/reliability.py` (NSK_RELIABILITY_LOG)."""

    def __init__(self, test_name: str):
        self.test_name = test_name
        self.path = os.environ.get("NSK_RELIABILITY_LOG")

    def record(self, kind: str, name: str, survived: bool, rows_lost: int = 0, **extra) -> None:
        if not self.path:
            return
        import json

        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": self.test_name, "kind": kind, "name": name, "survived": bool(survived),
                                "rows_lost": int(rows_lost), **extra}) + "\n")


@pytest.fixture
def reliability(request) -> ReliabilityLog:
    return ReliabilityLog(request.node.nodeid)
