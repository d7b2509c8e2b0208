"""One writer at a time: a run holds the warehouse from its first step to its last.

PostgreSQL: a session-level advisory lock on a connection kept for the run. DuckDB: the
database file's own lock, which the process holds while a connection is open (another process
cannot even open the file then). A second run waits up to `wait_seconds`, then fails with a
message that says what is going on.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from nsk_pipeline.core.warehouse import Warehouse

LOCK_ID = 7_316_202_4  # an arbitrary constant: "nsk-pipeline writes the warehouse"


class WarehouseBusy(RuntimeError):
    pass


class RunLock:
    def __init__(self, warehouse: Warehouse, wait_seconds: float = 60.0, poll_seconds: float = 1.0):
        self.warehouse = warehouse
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._conn: sa.Connection | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while True:
            if self._try():
                return
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"another nsk run is writing to the warehouse ({_safe_url(self.warehouse)}); "
                    f"waited {self.wait_seconds:.0f} s for it to finish. Nothing was changed: try again when "
                    f"it is done (NSK_LOCK_WAIT_SECONDS sets how long to wait).")
            time.sleep(self.poll_seconds)

    def _try(self) -> bool:
        try:
            conn = self.warehouse.engine.connect()
        except Exception as e:  # DuckDB: the file is locked by another process
            if "lock" in str(e).lower():
                return False
            raise
        if self.warehouse.dialect == "postgresql":
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:id)"), {"id": LOCK_ID}).scalar()
            conn.commit()
            if not got:
                conn.close()
                return False
        else:
            conn.execute(sa.text("SELECT 1"))
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            if self.warehouse.dialect == "postgresql":
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": LOCK_ID})
                self._conn.commit()
        finally:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _safe_url(warehouse: Warehouse) -> str:
    return warehouse.engine.url.render_as_string(hide_password=True)
