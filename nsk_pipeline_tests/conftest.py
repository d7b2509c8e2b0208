"""Shared fixtures: every test gets its own warehouse, DAGSTER_HOME and fixed as-of date."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
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


# NSK_* variables that configure the test run itself, not the pipeline under test.
TEST_RUN_SETTINGS = ("NSK_REQUIRE_POSTGRES", "NSK_TEST_PG_SERVER", "NSK_SHARED_DIR", "NSK_RELIABILITY_LOG",
                     "NSK_UI_SCREENSHOT_DIR", "NSK_REPORT_SCREENSHOT_DIR")


def _developer_setting(name: str) -> bool:
    return name.startswith("NSK_") and name not in TEST_RUN_SETTINGS


def isolated_environ(folder: Path) -> dict[str, str]:
    """The environment a test runs in: none of the developer's NSK_* settings, and its own
    DAGSTER_HOME, warehouse and reports folder under `folder`, with a fixed as-of date."""
    env = {k: v for k, v in os.environ.items() if not _developer_setting(k)}
    home = folder / "dagster_home"
    home.mkdir(exist_ok=True)
    env.update(DAGSTER_HOME=str(home), NSK_WAREHOUSE_URL=f"duckdb:///{folder / 'warehouse.duckdb'}",
               NSK_PSEUDONYM_KEY=TEST_KEY, NSK_AS_OF="2026-03-01", NSK_REPORTS_DIR=str(folder / "reports"))
    return env


def pytest_configure(config):
    """Collection imports the code location, which builds its Definitions from NSK_* settings: the
    developer's settings must not count there either (a bad key file would stop the collection)."""
    for name in [n for n in os.environ if _developer_setting(n)]:
        del os.environ[name]
    os.environ["NSK_PSEUDONYM_KEY"] = TEST_KEY


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test reads the developer's NSK_* settings or writes into data/marts/."""
    env = isolated_environ(tmp_path)
    for name in list(os.environ):
        if name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    yield


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


def require_postgres() -> None:
    if not _pg_available():
        if os.environ.get("NSK_REQUIRE_POSTGRES") or os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required here but {PG_SERVER} cannot be reached")
        pytest.skip("no PostgreSQL server at 127.0.0.1:5432")


def create_database(template: str | None = None) -> str:
    """A new database on the test server (a copy of `template` if given); returns its name."""
    name = f"nsk_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    return name


def drop_database(name: str) -> None:
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


@pytest.fixture
def postgres_url():
    """A fresh database on the local PostgreSQL server, dropped afterwards."""
    require_postgres()
    name = create_database()
    try:
        yield database_url(name)
    finally:
        drop_database(name)


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


@contextmanager
def process_holding(path: Path, read_only: bool):
    """Another process with the DuckDB file open (an analyst's read-only connection, or a run
    writing), holding its lock until the block ends; yields its pid."""
    proc = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}, "
                             f"read_only={read_only}); print('ready', flush=True); time.sleep(60)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()
