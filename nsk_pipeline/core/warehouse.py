"""The warehouse: DuckDB or PostgreSQL behind one SQLAlchemy engine.

Every write goes through a SQLAlchemy transaction. Bulk rows take the driver's fast path
inside that same transaction (DuckDB: an Arrow scan; PostgreSQL: COPY), because executemany
of a million rows costs minutes on both.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SCHEMAS = ("staging", "quarantine", "meta", "marts")


@dataclass(frozen=True)
class Column:
    name: str
    type: Any  # a SQLAlchemy type class or instance
    description: str = ""


class WarehouseUnavailable(Exception):
    """The warehouse cannot be opened to read (`Warehouse.open_existing`); `str(e)` is one line."""


class WarehouseMissing(WarehouseUnavailable):
    """The configured warehouse does not exist (or cannot be reached) where a command only reads it."""


class WarehouseBusy(WarehouseUnavailable):
    """Another process holds the warehouse: on DuckDB, the file's lock (a run writing, or a
    reader while a run waits); for the run lock (`core/runlock.py`), another run."""


_DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in .*?\(PID (\d+)\)")


def duckdb_lock_holder(error: BaseException) -> str | None:
    """The pid DuckDB names when another process holds the file's lock, anywhere in the chain."""
    seen = error
    while seen is not None:
        match = _DUCKDB_HOLDER.search(str(seen))
        if match:
            return match.group(1)
        seen = seen.__cause__ or seen.__context__
    return None


class Warehouse:
    def __init__(self, url: str, read_only: bool = False):
        self.url = url
        self.engine: Engine = _create_engine(url, read_only)

    @classmethod
    def open_existing(cls, url: str) -> Warehouse:
        """The warehouse at `url`, opened to read only: never created, never changed (a DuckDB
        file that is not there stays not there; PostgreSQL sessions are read-only). Raises, with
        one line naming the place, WarehouseMissing when it is not there (or cannot be reached)
        and WarehouseBusy when another process holds the DuckDB file."""
        shown = sa.engine.make_url(url).render_as_string(hide_password=True)
        if url.startswith("duckdb:///"):
            path = url.removeprefix("duckdb:///")
            if not path or path == ":memory:" or not os.path.isfile(path):
                raise WarehouseMissing(f"no warehouse at {path or shown} (NSK_WAREHOUSE_URL)")
        wh = cls(url, read_only=True)
        try:
            with wh.engine.connect():
                pass
        except sa.exc.DBAPIError as e:
            wh.dispose()
            pid = duckdb_lock_holder(e)
            if pid is not None:
                raise WarehouseBusy(f"the warehouse {shown} is in use by another process (pid {pid}), e.g. a run "
                                    f"writing to it; try again when it is done") from None
            detail = " ".join(str(e.orig).split()) if e.orig is not None else type(e).__name__
            raise WarehouseMissing(f"cannot open the warehouse {shown} (NSK_WAREHOUSE_URL): {detail}") from None
        return wh

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self):
        with self.engine.begin() as conn:
            yield conn

    def ensure_schemas(self, conn: Connection) -> None:
        for schema in SCHEMAS:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))

    def ensure_table(self, conn: Connection, schema: str, name: str, columns: Iterable[Column]) -> sa.Table:
        """Create the table, or add the columns it lacks (tables change only by adding)."""
        columns = list(columns)
        table = sa.Table(name, sa.MetaData(), *[sa.Column(c.name, _instance(c.type), comment=c.description or None)
                                              for c in columns], schema=schema)
        have = relation_columns(conn, schema, name)
        if have is None:
            table.create(conn)
        else:
            for c in columns:
                if c.name not in have:
                    coltype = _instance(c.type).compile(dialect=conn.dialect)
                    conn.execute(sa.text(f'ALTER TABLE {schema}.{name} ADD COLUMN "{c.name}" {coltype}'))
        return table

    def replace_rows(self, conn: Connection, table: sa.Table,
                     df: pd.DataFrame | pa.Table | pa.RecordBatchReader | Iterable[pd.DataFrame | pa.Table],
                     where: Mapping[str, Any] | None = None,
                     condition: Callable[[sa.Table], Any] | None = None) -> None:
        """Delete the table's rows (those matching `where` and `condition`, if given) and insert
        `df` (a frame, or frames one after another), in `conn`'s transaction."""
        delete = table.delete()
        for col, value in (where or {}).items():
            delete = delete.where(table.c[col] == value)
        if condition is not None:
            delete = delete.where(condition(table))
        conn.execute(delete)
        if isinstance(df, pa.RecordBatchReader):
            self.insert_stream(conn, table, df)
            return
        for frame in ([df] if isinstance(df, (pd.DataFrame, pa.Table)) else df):
            self.insert_frame(conn, table, frame)

    def insert_stream(self, conn: Connection, table: sa.Table, batches: pa.RecordBatchReader) -> None:
        """Insert a stream of Arrow batches, one batch in memory at a time: DuckDB scans the
        stream in one INSERT; PostgreSQL gets each batch by COPY (as CSV, which Arrow writes)."""
        cols = [c.name for c in table.columns if c.name in batches.schema.names]
        if self.dialect == "duckdb":
            _duckdb_insert(conn, table, batches, cols)
            return
        if self.dialect != "postgresql":
            for batch in batches:
                self.insert_frame(conn, table, pa.Table.from_batches([batch]))
            return
        import pyarrow.csv as pacsv

        quoted = ", ".join(f'"{c}"' for c in cols)
        options = pacsv.WriteOptions(include_header=False)
        cursor = conn.connection.driver_connection.cursor()
        try:
            with cursor.copy(f"COPY {table.schema}.{table.name} ({quoted}) FROM STDIN WITH (FORMAT csv)") as copy:
                for batch in batches:
                    if batch.num_rows:
                        sink = pa.BufferOutputStream()
                        pacsv.write_csv(batch.select(cols), sink, options)
                        copy.write(sink.getvalue().to_pybytes())
        finally:
            cursor.close()

    def insert_frame(self, conn: Connection, table: sa.Table, df: pd.DataFrame | pa.Table) -> None:
        """Insert rows: a DataFrame, or an Arrow table (DuckDB scans it as it is; others via pandas)."""
        if isinstance(df, pa.Table):
            if df.num_rows == 0:
                return
            if self.dialect == "duckdb":
                _duckdb_insert(conn, table, df, [c.name for c in table.columns if c.name in df.column_names])
                return
            df = df.to_pandas()
        if df.empty:
            return
        cols = [c.name for c in table.columns if c.name in df.columns]
        df = df[cols]
        if self.dialect == "duckdb":
            _duckdb_insert(conn, table, df, cols)
        elif self.dialect == "postgresql":
            _postgres_copy(conn, table, df, cols)
        else:
            conn.execute(table.insert(), _records(df))

    def read_sql(self, sql: str, **params: Any) -> pd.DataFrame:
        with self.engine.connect() as conn:
            result = conn.execute(sa.text(sql), params)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def read_arrow(self, sql: str, batch_rows: int) -> Iterator[pa.Table]:
        """A query's rows as Arrow tables of `batch_rows` (at least one, maybe empty)."""
        if self.dialect == "duckdb":
            with self.engine.connect() as conn:
                reader = conn.connection.driver_connection.sql(sql).to_arrow_reader(batch_rows)
                empty = True
                for batch in reader:
                    empty = False
                    yield pa.Table.from_batches([batch])
                if empty:
                    yield reader.schema.empty_table()
            return
        # PostgreSQL: the rows as CSV by COPY, parsed by Arrow as they stream in (a driver's
        # Python tuples cost a minute at 1 M staged rows; this costs seconds).
        with self.engine.connect() as conn:
            yield from _postgres_arrow(conn.connection.driver_connection, sql, batch_rows)

    def has_table(self, schema: str, name: str) -> bool:
        with self.engine.connect() as conn:
            return relation_columns(conn, schema, name) is not None

    def read_table(self, schema: str, name: str) -> pd.DataFrame:
        return self.read_sql(f"SELECT * FROM {schema}.{name}")

    def dispose(self) -> None:
        self.engine.dispose()


# PostgreSQL's type OIDs as Arrow types (any other type is read as text).
_PG_ARROW_TYPES = {16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(), 700: pa.float64(),
                   701: pa.float64(), 1700: pa.float64(), 1082: pa.date32(), 1114: pa.timestamp("us")}


class _CopyStream(io.RawIOBase):
    """A COPY … TO STDOUT read as a file."""

    def __init__(self, copy: Any):
        self._copy, self._left = copy, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the COPY's rows (it sends a row at a time)."""
        view, n = memoryview(buffer).cast("B"), 0
        while n < len(view):
            if not self._left:
                self._left = memoryview(self._copy.read())
                if not self._left:
                    break
            k = min(len(view) - n, len(self._left))
            view[n:n + k], self._left = self._left[:k], self._left[k:]
            n += k
        return n


def _postgres_arrow(raw: Any, sql: str, batch_rows: int) -> Iterator[pa.Table]:
    import pyarrow.csv as pacsv

    cursor = raw.cursor()
    try:
        cursor.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0")
        schema = pa.schema([(d.name, _PG_ARROW_TYPES.get(d.type_code, pa.string())) for d in cursor.description])
        # In PostgreSQL's CSV a NULL is an empty field and an empty string is quoted ("").
        convert = pacsv.ConvertOptions(column_types=schema, true_values=["t"], false_values=["f"],
                                       strings_can_be_null=True, quoted_strings_can_be_null=False)
        empty = True
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            stream = io.BufferedReader(_CopyStream(copy), 1 << 20)
            reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(
                column_names=schema.names, use_threads=False, block_size=8 << 20),
                convert_options=convert) if stream.peek(1) else []  # Arrow refuses an empty file
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    empty = False
                    yield pa.Table.from_batches([batch.slice(start, batch_rows)])
        if empty:
            yield schema.empty_table()
    finally:
        cursor.close()
def relation_columns(conn: Connection, schema: str, name: str) -> list[str] | None:
    """The column names of the table or view `schema.name`, in order; None when there is none.

    On DuckDB one catalog query: SQLAlchemy's reflection takes several (a run asks about a hundred
    times, and on the demo that cost more than a tenth of the marts step)."""
    if conn.dialect.name == "duckdb":
        rows = conn.execute(sa.text("SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                                    "AND schema_name = :s AND table_name = :n ORDER BY column_index"),
                            {"s": schema, "n": name}).fetchall()
        return [r[0] for r in rows] or None
    inspector = sa.inspect(conn)
    if not inspector.has_table(name, schema=schema) and name not in inspector.get_view_names(schema=schema):
        return None
    return [c["name"] for c in inspector.get_columns(name, schema=schema)]


# DuckDB's buffer pool defaults to 80 % of RAM and keeps every page a run wrote; bounded, it
# writes pages out to the database file (or its temp directory) instead. A run has two pools
# that fill at once (the warehouse's, and a source's ingest database while it is written), over
# ~0.4 GB of Python: two of 512 MB took 10 M counsellor-log rows to 1.08 GB, two of 256 MB to
# 0.92 GB (1 M: within the run-to-run noise).
DUCKDB_MEMORY_LIMIT = "256MB"


def duckdb_memory_limit() -> str:
    return os.environ.get("NSK_DUCKDB_MEMORY_LIMIT", "").strip() or DUCKDB_MEMORY_LIMIT


def _create_engine(url: str, read_only: bool = False) -> Engine:
    """`read_only`: a DuckDB file opened read-only (never created); PostgreSQL transactions read-only."""
    if url.startswith("duckdb:///"):
        from pathlib import Path

        path = url.removeprefix("duckdb:///")
        if path and path != ":memory:" and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        args = {"config": {"memory_limit": duckdb_memory_limit()}} | ({"read_only": True} if read_only else {})
        return sa.create_engine(url, connect_args=args)
    if read_only and url.startswith("postgresql"):
        return sa.create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})
    return sa.create_engine(url)


def _instance(t: Any) -> Any:
    return t() if isinstance(t, type) else t


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(df.columns, row)) for row in _python_rows(df)]


def _python_rows(df: pd.DataFrame) -> Iterable[tuple]:
    """Rows as plain Python values: NaN/NaT/NA become None, Timestamps become datetimes."""
    converted = []
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            values = [None if pd.isna(v) else v.to_pydatetime() for v in s]
        elif pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_integer_dtype(s.dtype):
            values = [None if pd.isna(v) else (bool(v) if pd.api.types.is_bool_dtype(s.dtype) else int(v))
                      for v in s.astype(object)]
        else:
            values = [_plain(v) for v in s.astype(object)]
        converted.append(values)
    return zip(*converted)


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


def _duckdb_insert(conn: Connection, table: sa.Table, df: pd.DataFrame | pa.Table | pa.RecordBatchReader,
                   cols: list[str]) -> None:
    raw = conn.connection.driver_connection
    view = f"_nsk_insert_{table.name}"
    frame = df
    if isinstance(df, pd.DataFrame):
        frame = df.copy()
        for col in cols:
            # DuckDB's pandas scan can't type an all-None object column; Arrow-friendly types
            # keep dates and nullable ints exact.
            if frame[col].dtype == object:
                frame[col] = frame[col].where(frame[col].notna(), None)
    raw.register(view, frame)
    try:
        quoted = ", ".join(f'"{c}"' for c in cols)
        casts = ", ".join(f'CAST("{c}" AS {_instance(table.c[c].type).compile(dialect=conn.dialect)})' for c in cols)
        conn.execute(sa.text(f"INSERT INTO {table.schema}.{table.name} ({quoted}) SELECT {casts} FROM {view}"))
    finally:
        raw.unregister(view)


def _postgres_copy(conn: Connection, table: sa.Table, df: pd.DataFrame, cols: list[str]) -> None:
    quoted = ", ".join(f'"{c}"' for c in cols)
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {table.schema}.{table.name} ({quoted}) FROM STDIN") as copy:
            for row in _python_rows(df):
                copy.write_row(row)
    finally:
        cursor.close()


def disk_full_message(messages: Iterable[str], url: str) -> str | None:
    """"No space left on device" anywhere in an error's messages, said with the disk it is about
    (the cause is often only in the context of a later error such as "transaction is aborted")."""
    import re
    from pathlib import Path

    full = next((m for m in messages if m and "No space left on device" in m), None)
    if full is None:
        return None
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "duckdb" or not parsed.database:
        return (f"No space left on device on the database server {parsed.host or 'localhost'} "
                f"({parsed.render_as_string(hide_password=True)}): free space there and run again")
    quoted = re.search(r'"(/[^"]+)"', full)
    where = Path(quoted.group(1) if quoted else parsed.database).resolve()
    mount = where.parent
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    return (f"No space left on device: the disk mounted at {mount} is full (writing {where}); "
            f"free space there and run again")
