"""Operator mistakes: a wrong setting, a second run, an analyst's open connection, a full disk.

A configuration mistake is found before anything is touched (exit 2, one line naming the setting,
the warehouse as it was); a busy warehouse is exit 3 and one line saying who holds it; a full
disk names the disk. Each case is recorded through the `reliability` fixture (kind
"operator_mistake") for `benchmarks/reliability.py`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from nsk_pipeline.cli import main
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline_tests.conftest import (DEMO_RAW, REPO, create_database, database_url, drop_database,
                                         process_holding, require_postgres)

KEPT_SCHEMAS = ("staging", "quarantine", "meta", "marts")


def nsk(capsys, env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    """`nsk materialize` in process with `env` on top of the test's environment: exit code and stderr lines."""
    old = dict(os.environ)
    os.environ.update(env)
    capsys.readouterr()
    try:
        code = main(["materialize", "--log-level", "ERROR", *args])
    finally:
        os.environ.clear()
        os.environ.update(old)
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def row_counts(url: str) -> dict[str, int]:
    wh = Warehouse(url)
    try:
        with wh.engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {f"{s}.{t}": conn.execute(sa.text(f"SELECT count(*) FROM {s}.{t}")).scalar()
                    for s in KEPT_SCHEMAS if inspector.has_schema(s) for t in inspector.get_table_names(schema=s)}
    finally:
        wh.dispose()


def state(url: str) -> tuple:
    """What a failed command must leave as it was: the DuckDB file's bytes, every table's row count."""
    digest = None
    if url.startswith("duckdb:///"):
        digest = hashlib.sha256(Path(url.removeprefix("duckdb:///")).read_bytes()).hexdigest()
    return digest, row_counts(url)


@pytest.fixture(scope="module")
def published_duckdb(tmp_path_factory) -> Path:
    """A DuckDB warehouse holding one source staged from the demo (its staging table, quarantine
    and meta.file_loads), made once; tests work on copies. A whole run would cost ten times more
    and show nothing more: a mistake must leave any warehouse byte for byte as it was."""
    import dagster as dg

    from nsk_pipeline.core.resources import NskResource
    from nsk_pipeline.sources.assets import staging_assets, staging_key

    path = tmp_path_factory.mktemp("published") / "published.duckdb"
    nsk = NskResource(raw_dir=str(DEMO_RAW), warehouse_url=f"duckdb:///{path}", as_of="2026-03-01")
    assert dg.materialize(staging_assets, resources={"nsk": nsk}, instance=dg.DagsterInstance.ephemeral(),
                          selection=[staging_key("rettighedskurser")]).success
    assert row_counts(f"duckdb:///{path}")["staging.rettighedskurser"] > 0
    return path


@pytest.fixture
def published(published_duckdb, tmp_path) -> str:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(published_duckdb, path)
    return f"duckdb:///{path}"


def assert_one_line(lines: list[str], *words: str) -> None:
    assert len(lines) == 1, lines
    assert lines[0].startswith("nsk: ") and "Traceback" not in lines[0], lines
    for word in words:
        assert word in lines[0], (word, lines[0])


# --- configuration: exit 2 before anything is touched ---------------------------------------------

@pytest.mark.parametrize(("case", "setting", "words"), [
    ("raw folder does not exist", {"NSK_RAW_DIR": "{tmp}/data/rwa"}, ["NSK_RAW_DIR", "does not exist"]),
    ("raw folder is a file", {"NSK_RAW_DIR": "{tmp}/a-file"}, ["NSK_RAW_DIR", "not a folder"]),
    ("raw folder holds no source folder", {"NSK_RAW_DIR": "{tmp}"}, ["NSK_RAW_DIR", "none of the source folders"]),
    ("warehouse URL of another kind", {"NSK_WAREHOUSE_URL": "sqlite:///{tmp}/nsk.db"},
     ["NSK_WAREHOUSE_URL", "sqlite"]),
    ("warehouse URL without a scheme", {"NSK_WAREHOUSE_URL": "{tmp}/nsk.duckdb"}, ["NSK_WAREHOUSE_URL"]),
    ("warehouse folder under a file", {"NSK_WAREHOUSE_URL": "duckdb:///{tmp}/a-file/nsk.duckdb"},
     ["NSK_WAREHOUSE_URL", "cannot be written"]),
    ("lock wait not a number", {"NSK_LOCK_WAIT_SECONDS": "abc"}, ["NSK_LOCK_WAIT_SECONDS", "number"]),
    ("lock wait negative", {"NSK_LOCK_WAIT_SECONDS": "-5"}, ["NSK_LOCK_WAIT_SECONDS"]),
    ("memory limit malformed", {"NSK_DUCKDB_MEMORY_LIMIT": "lots"}, ["NSK_DUCKDB_MEMORY_LIMIT"]),
])
def test_a_configuration_mistake_is_exit_2_in_one_line_and_the_warehouse_is_as_it_was(
        case, setting, words, published, tmp_path, capsys, reliability):
    (tmp_path / "a-file").write_text("not a folder\n")
    env = {k: v.format(tmp=tmp_path) for k, v in setting.items()}
    env.setdefault("NSK_WAREHOUSE_URL", published)
    env.setdefault("NSK_RAW_DIR", str(DEMO_RAW))
    before = state(published)
    code, lines = nsk(capsys, env)
    right = code == 2 and len(lines) == 1 and all(w in lines[0] for w in words)
    reliability.record("operator_mistake", case, survived=right and state(published) == before)
    assert code == 2, lines
    assert_one_line(lines, *words)
    assert state(published) == before


def test_years_with_a_malformed_value_is_exit_2_in_one_line(published, capsys, reliability):
    code, lines = nsk(capsys, {"NSK_WAREHOUSE_URL": published}, "--years", "abc")
    reliability.record("operator_mistake", "--years abc", survived=code == 2 and len(lines) == 1)
    assert code == 2
    assert_one_line(lines, "--years")


@contextmanager
def mounted_tmpfs(folder: Path, options: str):
    """A small tmpfs at `folder` (root only: CI and this machine run the tests as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def test_a_warehouse_folder_that_cannot_be_written_is_exit_2(tmp_path, capsys, reliability):
    # Root writes through any file mode: only a read-only file system stops it.
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        code, lines = nsk(capsys, {"NSK_WAREHOUSE_URL": f"duckdb:///{folder}/nsk.duckdb"})
        created = list(folder.iterdir())
    reliability.record("operator_mistake", "read-only warehouse folder",
                       survived=code == 2 and len(lines) == 1 and "cannot be written" in lines[0])
    assert code == 2, lines
    assert_one_line(lines, "NSK_WAREHOUSE_URL", "cannot be written", str(folder))
    assert created == []


def test_a_postgres_database_that_does_not_exist_is_exit_2(capsys, reliability):
    require_postgres()
    missing = f"nsk_missing_{uuid.uuid4().hex[:8]}"
    code, lines = nsk(capsys, {"NSK_WAREHOUSE_URL": database_url(missing)})
    reliability.record("operator_mistake", "PostgreSQL database does not exist",
                       survived=code == 2 and len(lines) == 1 and "does not exist" in lines[0])
    assert code == 2, lines
    assert_one_line(lines, "NSK_WAREHOUSE_URL", missing, "does not exist")


def test_a_missing_raw_folder_fails_the_postgres_run_before_staging_is_touched(capsys, reliability):
    require_postgres()
    name = create_database()
    try:
        url = database_url(name)
        wh = Warehouse(url)
        with wh.transaction() as conn:
            conn.execute(sa.text("CREATE SCHEMA staging"))
            conn.execute(sa.text("CREATE TABLE staging.skoleforloeb AS SELECT 'kept' AS forloeb_id"))
        wh.dispose()
        before = state(url)
        code, lines = nsk(capsys, {"NSK_WAREHOUSE_URL": url, "NSK_RAW_DIR": "/nonexistent/raw"})
        reliability.record("operator_mistake", "raw folder does not exist (PostgreSQL)",
                           survived=code == 2 and state(url) == before)
        assert code == 2, lines
        assert_one_line(lines, "NSK_RAW_DIR", "does not exist")
        assert state(url) == before
    finally:
        drop_database(name)


def test_a_run_from_the_ui_with_a_missing_raw_folder_replaces_nothing(published, tmp_path, reliability):
    """The same check guards runs launched from the UI or the schedule (they do not go through the CLI)."""
    import dagster as dg

    from nsk_pipeline.core.settings import Settings
    from nsk_pipeline.definitions import ASSETS, CHECKS, build_definitions

    settings = Settings.from_env({**os.environ, "NSK_WAREHOUSE_URL": published,
                                  "NSK_RAW_DIR": str(tmp_path / "typo")})
    before = state(published)
    result = dg.materialize([*ASSETS, *CHECKS], resources=build_definitions(settings).resources,
                            raise_on_error=False, instance=dg.DagsterInstance.ephemeral())
    failures = [e for e in result.all_events if e.is_run_failure or e.is_step_failure]
    text = " ".join(str(e.event_specific_data.error.to_string()) for e in failures
                    if getattr(e.event_specific_data, "error", None))
    reliability.record("operator_mistake", "raw folder does not exist (run from the UI)",
                       survived=not result.success and state(published) == before)
    assert not result.success
    assert "NSK_RAW_DIR" in text and "does not exist" in text
    assert not [e for e in result.all_events if e.is_step_start], "a step ran although the raw folder is missing"
    assert state(published) == before


# --- a busy warehouse: exit 3, one line, who holds it ---------------------------------------------

def test_two_runs_started_together_one_publishes_the_other_exits_3(published, reliability):
    env = {**os.environ, "NSK_WAREHOUSE_URL": published, "NSK_RAW_DIR": str(DEMO_RAW),
           "NSK_LOCK_WAIT_SECONDS": "1"}
    cmd = [sys.executable, "-m", "nsk_pipeline.cli", "materialize", "--log-level", "WARNING"]
    procs = [subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outs)
    loser = [err for code, _, err in outs if code != 0]
    lines = [line for line in (loser[0] if loser else "").splitlines() if line.strip()]
    right = codes == [0, 3] and len(lines) == 1 and "another nsk run" in lines[0]
    reliability.record("operator_mistake", "two runs started together (DuckDB)", survived=right)
    assert codes == [0, 3], [err[-3000:] for _, _, err in outs]
    assert_one_line(lines, "another nsk run is writing to the warehouse")


def test_a_reader_holding_the_duckdb_file_is_named_with_its_pid(published, capsys, reliability):
    path = Path(published.removeprefix("duckdb:///"))
    before = state(published)
    with process_holding(path, read_only=True) as pid:
        code, lines = nsk(capsys, {"NSK_WAREHOUSE_URL": published, "NSK_LOCK_WAIT_SECONDS": "1"})
    right = code == 3 and len(lines) == 1 and f"open in another process (pid {pid})" in lines[0]
    reliability.record("operator_mistake", "DuckDB file open in a reader", survived=right)
    assert code == 3, lines
    assert_one_line(lines, f"the warehouse file is open in another process (pid {pid})")
    assert "another nsk run" not in lines[0]
    assert state(published) == before


def fill(folder: Path, leave_bytes: int) -> None:
    """Fill the disk of `folder` until at most `leave_bytes` are free."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    with open(folder / "filler", "r+b") as f:
        f.truncate(max(0, (folder / "filler").stat().st_size - leave_bytes))


@pytest.mark.parametrize("free", [0, 256 * 1024], ids=["full before the run", "full during the run"])
def test_a_full_disk_names_the_disk(free, tmp_path, capsys, reliability):
    with mounted_tmpfs(tmp_path / "small", "size=2m") as folder:
        fill(folder, free)
        code, lines = nsk(capsys, {"NSK_WAREHOUSE_URL": f"duckdb:///{folder}/nsk.duckdb"})
    named = [line for line in lines if line.startswith("nsk: ") and "No space left on device" in line]
    right = code == 1 and bool(named) and f"the disk mounted at {folder} is full" in named[0]
    reliability.record("operator_mistake", f"full disk (DuckDB, {free // 1024} KB free)", survived=right)
    assert code == 1, lines
    assert named and f"the disk mounted at {folder} is full" in named[0], lines
    assert not any("Current transaction is aborted" in line for line in lines), lines


def test_a_full_disk_behind_an_aborted_transaction_is_named(tmp_path, reliability):
    """A large insert writes to the database file before commit; when that write finds the disk
    full, the next statement of the transaction fails with "Current transaction is aborted", and
    that is the error Dagster reports (the real cause is only its context)."""
    import dagster as dg
    import numpy as np
    import pyarrow as pa

    from nsk_pipeline.cli import _failure_message, _root_message
    from nsk_pipeline.core.settings import Settings
    from nsk_pipeline.core.warehouse import Column

    with mounted_tmpfs(tmp_path / "small", "size=2m") as folder:
        fill(folder, 256 * 1024)
        url = f"duckdb:///{folder}/nsk.duckdb"

        @dg.asset
        def big_table() -> None:
            wh = Warehouse(url)
            n = 400_000
            rows = pa.table({"x": pa.array(np.arange(n, dtype="int64")), "s": pa.array([f"row {i} " * 3 for i in range(n)])})
            try:
                with wh.transaction() as conn:
                    wh.ensure_schemas(conn)
                    table = wh.ensure_table(conn, "staging", "big", [Column("x", sa.BigInteger), Column("s", sa.Text)])
                    wh.insert_frame(conn, table, rows)
            finally:
                wh.dispose()

        result = dg.materialize([big_table], raise_on_error=False, instance=dg.DagsterInstance.ephemeral())
        [error] = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
        message = _failure_message(error, Settings(warehouse_url=url))
    right = "No space left on device" in message and f"the disk mounted at {folder} is full" in message
    reliability.record("operator_mistake", "full disk behind an aborted transaction (DuckDB)", survived=right)
    assert "Current transaction is aborted" in _root_message(error)  # what used to be all it said
    assert right, message
