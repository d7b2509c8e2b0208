"""One writer at a time: a run holds the warehouse from its first step to its last.

PostgreSQL: a session-level advisory lock on a connection kept for the run. DuckDB: an
exclusive `flock` on `<file>.nsk-run` (so a second run knows it is another run, whatever else
holds the file), then the database file's own lock, which the process holds while a connection
is open (another process cannot even open the file then, not even read-only). A second run
waits up to `wait_seconds`, then fails with a message that says who holds the warehouse.

The lock is re-entrant within a process: `nsk materialize` takes it before the run starts and
keeps it to the end, and the run's resource then finds it already held, so no second run can
slip in between the check and the run.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import sqlalchemy as sa

from nsk_pipeline.core.warehouse import Warehouse, WarehouseBusy, duckdb_lock_holder

LOCK_ID = 7_316_202_4  # an arbitrary constant: "nsk-pipeline writes the warehouse"
_HELD: dict[str, int] = {}  # lock key → how many holders in this process

class RunLock:
    def __init__(self, warehouse: Warehouse, wait_seconds: float = 60.0, poll_seconds: float = 1.0):
        self.warehouse = warehouse
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._conn: sa.Connection | None = None
        self._fd: int | None = None
        self._nested = False
        self._key = _lock_key(warehouse)
        self._busy = ""

    def acquire(self) -> None:
        if _HELD.get(self._key):
            _HELD[self._key] += 1
            self._nested = True
            return
        deadline = time.monotonic() + self.wait_seconds
        while True:
            if self._try():
                _HELD[self._key] = 1
                return
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"{self._busy}: {_safe_url(self.warehouse)}; waited {self.wait_seconds:.0f} s. "
                    f"Nothing was changed: try again when it is done (NSK_LOCK_WAIT_SECONDS sets how long to wait).")
            time.sleep(self.poll_seconds)

    def _try(self) -> bool:
        if _run_file(self.warehouse) and not self._take_run_file():
            return False
        try:
            conn = self.warehouse.engine.connect()
            conn.execute(sa.text("SELECT 1"))
        except Exception as e:
            self._drop_run_file()
            pid = duckdb_lock_holder(e)
            if pid is None:
                raise
            self._busy = (f"the warehouse file is open in another process (pid {pid}), e.g. an analyst's "
                          "DuckDB connection; a run needs the file to itself while it writes")
            return False
        if self.warehouse.dialect == "postgresql":
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:id)"), {"id": LOCK_ID}).scalar()
            conn.commit()
            if not got:
                conn.close()
                self._busy = "another nsk run is writing to the warehouse"
                return False
        self._conn = conn
        return True

    def _take_run_file(self) -> bool:
        fd = os.open(_run_file(self.warehouse), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            self._busy = "another nsk run is writing to the warehouse" + (f" (pid {holder})" if holder.isdigit() else "")
            return False
        try:  # only to name the holder: a full disk must not stop the run here
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        self._fd = fd
        return True

    def _drop_run_file(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def release(self) -> None:
        if self._nested:
            _HELD[self._key] -= 1
            self._nested = False
            return
        if self._conn is None:
            return
        try:
            if self.warehouse.dialect == "postgresql":
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": LOCK_ID})
                self._conn.commit()
        finally:
            self._conn.close()
            self._conn = None
            self._drop_run_file()
            _HELD.pop(self._key, None)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _run_file(warehouse: Warehouse) -> str | None:
    url = warehouse.engine.url
    if url.get_backend_name() != "duckdb" or url.database in (None, "", ":memory:"):
        return None
    return f"{url.database}.nsk-run"


def _lock_key(warehouse: Warehouse) -> str:
    url = warehouse.engine.url
    if url.get_backend_name() == "duckdb" and url.database:
        return f"duckdb:{Path(url.database).resolve()}"
    return url.render_as_string(hide_password=True)


def _safe_url(warehouse: Warehouse) -> str:
    return warehouse.engine.url.render_as_string(hide_password=True)
