"""From a source's folder of exports to staged rows, quarantined rows and file loads.

DuckDB computes, Python orchestrates: Python lists the files and decides which to read; each
file is read (`readers.read_export`) into one private DuckDB database; a batch of
files (`TYPING_BATCH_ROWS`) is copied into one temporary table of text there (`raw_text`) and
typed by one SQL query (`sql_typing`), the pseudonym computed in that query; pandera validates
the typed rows on Arrow batches; versions are resolved by window functions over every export of
the source. Every row read ends up staged or quarantined; every file gets a file load.

Raw text, CPR numbers included, exists only in the private database (the reader's relations,
their UTF-8 copies of Windows-1252 files in its folder, and `raw_text`), and only until its batch is typed: `raw_text` is dropped then, and `rows` and
everything after it hold pseudonyms. The private database's file and its spill files live in a
temporary folder of its own (`nsk-ingest-*` in the system's temp folder; DuckDB's
`temp_directory`), created for the step and removed with it when the result is closed, on an
error too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import weakref
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa

from nsk_pipeline.core.warehouse import duckdb_memory_limit
from nsk_pipeline.sources import reasons
from nsk_pipeline.sources.readers import (FileRejected, RawExport, drop_export, export_date_from_name, is_data_file,
                                          read_export)
from nsk_pipeline.sources.schemas import row_failures, schema_for
from nsk_pipeline.sources.specs import SOURCES as SOURCES_BY_NAME
from nsk_pipeline.sources.specs import SourceSpec
from nsk_pipeline.sources.sql_typing import (CPR_PREFILTER, MASK, hmac_pads, ident, install_macros, literal,
                                             mask_cpr, typed_names, typing_relation)

log = logging.getLogger(__name__)

# Rows typed by one query: a query costs its planning and start-up whatever its size (39 files
# of 25 000 rows typed one by one took 13 s, together 2 s), and a batch's raw text is held in
# the private database until it is typed (memory stays bounded by the batch, not the source).
TYPING_BATCH_ROWS = 1_000_000
# Rows pandera validates at a time: polars holds one batch, DuckDB the rest (spilling if need be).
VALIDATE_BATCH_ROWS = 200_000
# The private database's buffer pool once its result is made (only read from then on).
RESULT_MEMORY_LIMIT = "128MB"
META_COLUMNS = ["export_date", "source_file", "source_row", "er_gaeldende"]
QUARANTINE_COLUMNS = ["source", "file_name", "export_date", "row_number", "record_key", "reasons", "reason_codes",
                      "row_data"]
FILE_LOAD_COLUMNS = ["source", "file_name", "export_date", "sha256", "status", "reason", "reason_code",
                     "reason_params", "encoding", "separator", "rows_read", "rows_staged", "rows_quarantined",
                     "extra_columns"]
_SQL_TYPES = {"date": "DATE", "count": "BIGINT", "year": "BIGINT"}


@dataclass
class FileLoad:
    source: str
    file_name: str
    export_date: date | None = None
    sha256: str | None = None
    status: str = "loaded"  # loaded | rejected | ignored | skipped | after_as_of | duplicate
    reason: str | None = None  # the English text of reason_code with reason_params
    reason_code: str | None = None  # a code of kind "file" in sources/reasons.py
    reason_params: str | None = None  # its parameters, JSON text
    encoding: str | None = None
    separator: str | None = None
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    extra_columns: str | None = None


def staged_columns(spec: SourceSpec) -> list[str]:
    return typed_names(spec) + META_COLUMNS


@dataclass
class SourceResult:
    """What ingest made of a source. The staged rows stay in the private DuckDB database
    (`staged`, a DataFrame, is for tests and small sources; the write path streams
    `arrow_batches`); `close` drops the database and its spill folder."""
    source: str
    con: duckdb.DuckDBPyConnection | None
    quarantine: pd.DataFrame
    file_loads: pd.DataFrame
    messages: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # entries of the folder that were not read
    _finalizer: weakref.finalize | None = field(default=None, repr=False)

    @property
    def columns(self) -> list[str]:
        return staged_columns(SOURCES_BY_NAME[self.source])

    def _select(self, where: str = "", limit: str = "") -> str:
        cols = ", ".join(ident(c) for c in self.columns)
        return f"SELECT {cols} FROM staged {where} ORDER BY _id {limit}"

    @property
    def staged(self) -> pd.DataFrame:
        return self.con.execute(self._select()).df()

    def head_current(self, n: int) -> pd.DataFrame:
        return self.con.execute(self._select("WHERE er_gaeldende", f"LIMIT {int(n)}")).df()

    @property
    def rows_staged(self) -> int:
        return self.con.execute("SELECT count(*) FROM staged").fetchone()[0]

    @property
    def rows_current(self) -> int:
        return self.con.execute("SELECT count(*) FROM staged WHERE er_gaeldende").fetchone()[0]

    def arrow_batches(self, batch_rows: int = 200_000) -> pa.RecordBatchReader:
        """The staged rows as a stream of Arrow batches (in no particular order)."""
        cols = ", ".join(ident(c) for c in self.columns)
        return self.con.cursor().sql(f"SELECT {cols} FROM staged").to_arrow_reader(batch_rows)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> SourceResult:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _private_database():
    """A DuckDB database of the step's own, in a folder of its own (its file and its spill files),
    and the function that closes it and removes the folder. A file, not an in-memory database:
    DuckDB can write a file database's table pages out under its memory limit, an in-memory
    database's tables it must keep (10 M counsellor-log rows ran out of 512 MB)."""
    spill = tempfile.mkdtemp(prefix="nsk-ingest-")
    try:
        con = duckdb.connect(str(Path(spill) / "ingest.duckdb"),
                             config={"temp_directory": spill, "memory_limit": duckdb_memory_limit()})
        install_macros(con)
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        raise

    def cleanup(con=con, spill=spill):
        con.close()
        shutil.rmtree(spill, ignore_errors=True)

    return con, cleanup


_POOL_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB")  # how DuckDB writes a size back


def _pool_bytes(con: duckdb.DuckDBPyConnection) -> float:
    value, unit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0].split()
    return float(value) * 1024 ** _POOL_UNITS.index(unit)


def _shrink_pool(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """What is left is to stream `staged` out, into the warehouse, whose own buffer pool then
    fills: this one is cut to what a scan needs, so that the two together stay in budget; never
    raised above the configured limit (NSK_DUCKDB_MEMORY_LIMIT may be smaller)."""
    before = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    configured = _pool_bytes(con)
    con.execute(f"SET memory_limit = '{limit}'")
    if _pool_bytes(con) > configured:
        con.execute(f"SET memory_limit = '{before}'")


def ingest_source(spec: SourceSpec, folder: Path, as_of: date, pseudonym_key: bytes | None = None,
                  known_actors: Collection[str] | None = None,
                  milestone_goals: Collection[str] | None = None) -> SourceResult:
    messages: list[str] = []
    warnings: list[str] = []
    loads: list[FileLoad] = []
    to_read: list[tuple[FileLoad, Path]] = []
    seen: dict[tuple[str, date], str] = {}
    entries = source_entries(folder)
    if not entries:
        messages.append(f"{spec.name}: no files delivered in {folder}")
    for path, skipped in entries:
        load = FileLoad(spec.name, file_label(path))
        loads.append(load)
        if skipped:
            _not_loaded(load, "skipped", skipped)
            warnings.append(f"{spec.name}/{load.file_name}: skipped: {load.reason} ({mask_cpr(str(path))})")
            continue
        if not is_data_file(path):
            _not_loaded(load, "ignored", reasons.file_reason("not_an_export"))
            messages.append(f"{spec.name}/{load.file_name}: ignored ({load.reason})")
            continue
        try:
            load.export_date = export_date_from_name(path.name)
        except FileRejected as e:
            messages.append(_reject(load, e.reason))
            continue
        if load.export_date > as_of:
            _not_loaded(load, "after_as_of", reasons.file_reason("after_as_of", as_of=as_of.isoformat()))
            continue
        load.sha256 = file_sha256(path)
        if (load.sha256, load.export_date) in seen:
            _not_loaded(load, "duplicate", reasons.file_reason("duplicate_file",
                                                               file=seen[(load.sha256, load.export_date)]))
            messages.append(f"{spec.name}/{load.file_name}: {load.reason}; counted once")
            continue
        seen[(load.sha256, load.export_date)] = load.file_name
        to_read.append((load, path))
    if to_read and spec.sensitive and not pseudonym_key:  # None or empty: never a silent default
        from nsk_pipeline.core.settings import SettingsError

        raise SettingsError("NSK_PSEUDONYM_KEY is not set: the counsellors' log cannot be pseudonymised")

    con, cleanup = _private_database()
    try:
        con.execute(_rows_table(spec))
        batch: list[tuple[int, FileLoad, RawExport]] = []  # read, not typed yet
        try:
            for index, (load, path) in enumerate(to_read):
                message, export = _read_file(con, spec, load, path)
                if message:
                    messages.append(message)
                if export is not None:
                    batch.append((index, load, export))
                if sum(f.rows_read for _, f, _ in batch) >= TYPING_BATCH_ROWS or index == len(to_read) - 1:
                    _type_batch(con, spec, batch, pseudonym_key)
                    batch = []
        finally:
            while batch:
                drop_export(con, batch.pop()[2])
        _check_rows(con, spec, schema_for(spec, known_actors, milestone_goals))
        _resolve_versions(con, spec)
        quarantine = _quarantine(con, spec)
        staged_per_file = dict(con.execute("SELECT source_file, count(*) FROM staged GROUP BY ALL").fetchall())
        con.execute("DROP TABLE rows; DROP TABLE reasons; DROP TABLE versions; DROP TABLE counting")
        _shrink_pool(con, RESULT_MEMORY_LIMIT)
    except BaseException:
        cleanup()
        raise
    quarantined_per_file = quarantine["file_name"].value_counts().to_dict()
    for load in loads:
        if load.status == "loaded" and load.sha256:
            load.rows_staged = int(staged_per_file.get(load.file_name, 0))
            load.rows_quarantined = int(quarantined_per_file.get(load.file_name, 0))
    file_loads = pd.DataFrame([asdict(x) for x in loads], columns=FILE_LOAD_COLUMNS)
    result = SourceResult(spec.name, con, quarantine, file_loads, messages, warnings)
    result._finalizer = weakref.finalize(result, cleanup)  # also when a result is never closed
    return result


def source_entries(folder: Path) -> list[tuple[Path, dict | None]]:
    """Every entry of a source's folder, in the order they are read, each with the reason it is
    skipped (`reasons.file_reason`; None: a file to read). A missing folder: none.

    Only regular files directly in the folder are read; a symbolic link to one is followed (an
    operator may link an export in). Sub-folders (and links to folders) are not searched,
    broken links, pipes, sockets and devices have nothing to read (and opening a pipe would
    wait for ever), and a file that cannot be opened says why."""
    if not folder.is_dir():
        return []
    return [(path, _skip_reason(path)) for path in sorted(folder.iterdir())]


def _skip_reason(path: Path) -> dict | None:
    link = {"symlink": ""} if path.is_symlink() else {}  # a flag: the texts say "(a symbolic link)"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if link:
            return reasons.file_reason("broken_link", target=mask_cpr(os.readlink(path)))
        return reasons.file_reason("removed_while_read")
    except OSError as e:
        return reasons.file_reason("cannot_be_read", error=e.strerror, **link)
    if stat.S_ISDIR(mode):
        return reasons.file_reason("sub_folder", **link)
    if not stat.S_ISREG(mode):
        return reasons.file_reason("not_a_regular_file", **link)
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        return reasons.file_reason("cannot_be_read", error=e.strerror, **link)
    return None


def register_actors(register: SourceResult) -> list[str]:
    """The actor ids the activities' rule "actor in register" accepts: those of every valid row
    of the register's exports read (any version: an actor once registered stays known)."""
    return [a for (a,) in register.con.execute("SELECT DISTINCT aktoer_id FROM staged").fetchall()]


def file_label(path: Path) -> str:
    """A file's name as the warehouse, the logs and the messages show it: CPR numbers masked."""
    return mask_cpr(path.name)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _not_loaded(load: FileLoad, status: str, reason: dict) -> None:
    """The file load's status and reason: its code and parameters, and their English text."""
    load.status, load.reason_code = status, reason["code"]
    load.reason_params = json.dumps(reason["params"], ensure_ascii=False, sort_keys=True)
    load.reason = reasons.text(reason)


def _reject(load: FileLoad, reason: dict) -> str:
    _not_loaded(load, "rejected", reason)
    return f"{load.source}/{load.file_name}: rejected: {load.reason}"


def _raw_kept(spec: SourceSpec) -> list[str]:
    """Columns whose text is kept beside the typed value, for a quarantined row's `row_data`
    (a text column's typed value is its text)."""
    return [c.name for c in spec.columns if c.kind not in ("text", "name_key")]


def _rows_table(spec: SourceSpec) -> str:
    typed = []
    for c in spec.columns:
        if c.kind == "cpr":
            typed += ["borger_pseudonym VARCHAR", "koen VARCHAR", "aldersgruppe VARCHAR"]
        else:
            typed.append(f"{ident(c.name)} {_SQL_TYPES.get(c.kind, 'VARCHAR')}")
    errors = [f"{ident('_e_' + c.name)} VARCHAR" for c in spec.columns]
    raw = [f"{ident('_r_' + name)} VARCHAR" for name in _raw_kept(spec)]
    return (f"CREATE TABLE rows (_id BIGINT, source_file VARCHAR, export_date DATE, source_row BIGINT, "
            f"{', '.join(typed + errors + raw)})")


def _read_file(con: duckdb.DuckDBPyConnection, spec: SourceSpec, load: FileLoad,
               path: Path) -> tuple[str | None, RawExport | None]:
    """Read one file: the message to report, if any, and the file's relation of text (None when
    the file is rejected; else the caller drops it)."""
    try:
        export = read_export(con, path, expected_columns=spec.column_names)
    except FileRejected as e:
        return _reject(load, e.reason), None
    load.encoding, load.separator = export.encoding, export.separator
    missing = [c for c in spec.required_columns if c not in export.header]
    if missing:
        drop_export(con, export)
        listed = ", ".join(repr(c) for c in missing)
        return _reject(load, reasons.file_reason("missing_required_columns", columns=listed) if len(missing) > 1
                       else reasons.file_reason("missing_required_column", column=listed)), None
    load.rows_read = export.rows
    extra = [c for c in export.header if c not in spec.column_names]
    if extra:
        load.extra_columns = mask_cpr(", ".join(extra))
        return f"{spec.name}/{load.file_name}: extra columns ignored: {load.extra_columns}", export
    return None, export


def _pads(key: bytes) -> dict[str, bytes]:
    ipad, opad = hmac_pads(key)
    return {"ipad": ipad, "opad": opad}


def _type_batch(con: duckdb.DuckDBPyConnection, spec: SourceSpec, batch: list[tuple[int, FileLoad, RawExport]],
                key: bytes | None) -> None:
    """Type the rows of a batch of files into `rows`, and drop the files' relations: values, a
    reason per column that cannot be typed, and the raw text that `row_data` shows.

    The files' text is first copied into one temporary table (`raw_text`, a column per spec
    column, NULL where a file lacks it, as a blank cell): one scan of each file, however many
    times the typing reads its text. In every column of every source but the CPR, CPR numbers are
    masked there before anything reads it, and the CPR itself never leaves the typing query
    (`rows` holds its pseudonym and `***`); `raw_text` is dropped after it."""
    if not batch:
        return
    present = {c for _, _, export in batch for c in export.header if c in spec.column_names}
    files = []
    for index, load, export in batch:
        texts = ", ".join(ident(c) for c in spec.column_names if c in export.header)
        files.append(f"SELECT {index}::BIGINT AS _file, {literal(load.file_name)} AS source_file, "
                     f"DATE '{load.export_date.isoformat()}' AS export_date, source_row, {texts} "
                     f"FROM {ident(export.view)}")
    texts = ", ".join(f"{ident(c)} VARCHAR" for c in spec.column_names)
    con.execute(f"CREATE TEMP TABLE raw_text (_file BIGINT, source_file VARCHAR, export_date DATE, "
                f"source_row BIGINT, {texts})")
    try:
        con.execute("INSERT INTO raw_text BY NAME " + " UNION ALL BY NAME ".join(f"({f})" for f in files))
        while batch:
            drop_export(con, batch.pop()[2])
        _mask_texts(con, [c for c in spec.column_names if c in present and c not in spec.sensitive])
        raw = [f"{ident(c) if c in present else 'NULL::VARCHAR'} AS {ident(c)}" for c in spec.column_names]
        kept = [("NULL::VARCHAR" if c not in present else f"CASE WHEN {ident(c)} IS NOT NULL THEN '{MASK}' END"
                 if c in spec.sensitive else ident(c)) + f" AS {ident('_r_' + c)}" for c in _raw_kept(spec)]
        base = f"(SELECT _file, source_file, export_date, source_row, {', '.join(raw)} FROM raw_text)"
        relation, values, errors = typing_relation(spec, base, present)
        named_errors = [f"{e} AS {ident('_e_' + c.name)}" for e, c in zip(errors, spec.columns)]
        con.execute(f"INSERT INTO rows BY NAME SELECT (_file << 32) + source_row AS _id, source_file, export_date, "
                    f"source_row, {', '.join(values + named_errors + kept)} FROM {relation}",
                    _pads(key) if spec.sensitive else None)
    finally:
        con.execute("DROP TABLE raw_text")


def _mask_texts(con: duckdb.DuckDBPyConnection, columns: list[str]) -> None:
    """CPR numbers in `raw_text` masked (`nsk_mask`) before anything reads it: in the columns and
    rows that hold a candidate (the macro's cheap test, once per value; planning the macro costs
    more than testing a million values, and most columns hold none)."""
    if not columns:
        return
    tests = {c: f"regexp_matches({ident(c)}, {literal(CPR_PREFILTER)})" for c in columns}
    found = con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE {t})' for t in tests.values())} "
                        f"FROM raw_text").fetchone()
    hit = [c for c, n in zip(columns, found) if n]
    if hit:
        con.execute(f"UPDATE raw_text SET {', '.join(f'{ident(c)} = nsk_mask({ident(c)})' for c in hit)} "
                    f"WHERE {' OR '.join(tests[c] for c in hit)}")


def _check_rows(con: duckdb.DuckDBPyConnection, spec: SourceSpec, schema) -> None:
    """The reasons of every row that has one (`reasons`, a narrow table: most rows have none),
    each an entry of `sources/reasons.py` as JSON text: its typing errors, then the pandera rules
    it breaks in columns that could be typed (a format error already explains the column)."""
    model_columns = [c for c in schema.columns if c in typed_names(spec) or c == "export_date"]
    cols = ", ".join(ident(c) for c in ["_id", *model_columns])
    batches = con.cursor().sql(f"SELECT {cols} FROM rows").to_arrow_reader(VALIDATE_BATCH_ROWS)
    found = list(row_failures(schema, batches, "_id"))
    failures = (pl.concat(found) if found else
                pl.DataFrame(schema={"_id": pl.Int64, "column": pl.Utf8, "code": pl.Utf8, "reason": pl.Utf8})
                ).to_arrow()
    con.register("rule_failures", failures)
    # a typing error is its code and parameters; the entry adds its column
    typing = ", ".join(f"CASE WHEN {ident('_e_' + c.name)} IS NOT NULL THEN json_object("
                       f"'code', json_extract_string({ident('_e_' + c.name)}, '$.code'), 'column', {literal(c.name)}, "
                       f"'params', json_extract({ident('_e_' + c.name)}, '$.params'))::VARCHAR END"
                       for c in spec.columns)
    order = {c.name: i for i, c in enumerate(spec.columns)}
    order_of = "CASE f.column " + " ".join(f"WHEN {literal(c)} THEN {i}" for c, i in order.items()) + " END"
    untyped = "CASE f.column " + " ".join(f"WHEN {literal(c.name)} THEN r.{ident('_e_' + c.name)}"
                                          for c in spec.columns) + " END"
    any_error = " OR ".join(f"{ident('_e_' + c.name)} IS NOT NULL" for c in spec.columns)
    con.execute(f"""
        CREATE TABLE reasons AS
        SELECT r._id, list_concat(list_filter([{typing}], lambda x: x IS NOT NULL), coalesce(f.rules, [])) AS _reasons
        FROM rows r LEFT JOIN (
            SELECT f._id, list(f.reason ORDER BY {order_of}, f.reason) AS rules
            FROM rule_failures f JOIN rows r USING (_id)
            WHERE ({untyped}) IS NULL
            GROUP BY f._id) f USING (_id)
        WHERE {any_error} OR f.rules IS NOT NULL""")
    con.unregister("rule_failures")


def _key_sql(spec: SourceSpec) -> str:
    """The record key as text: its parts, names normalised (case and whitespace do not matter)."""
    parts = [f"CAST({ident(k)} AS VARCHAR)" if spec.column(k).kind == "year" else f"nsk_name({ident(k)})"
             for k in spec.key]
    return " || ' | ' || ".join(parts)


def _signature_sql(spec: SourceSpec) -> str:
    """A version's typed, normalised content: two versions with equal signatures are one."""
    names = {c.name for c in spec.columns if c.kind == "name_key"}
    fields = [f"{ident(c)} := " + (f"nsk_name({ident(c)})" if c in names else ident(c)) for c in typed_names(spec)]
    return f"struct_pack({', '.join(fields)})"


def _resolve_versions(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> None:
    """Latest valid export per key wins, over every export of the source: a key's versions on
    one export date with different signatures are a conflict (all quarantined); of the rest,
    the first in file order of the key's latest export date counts (`er_gaeldende`)."""
    # Signatures are compared only within (key, date) groups of two or more versions: most keys
    # have one version per export date, and comparing wide rows is what costs.
    con.execute(f"""
        CREATE TABLE versions AS
        WITH v AS (
            SELECT _id, {_key_sql(spec)} AS _key, export_date, source_file, source_row
            FROM rows ANTI JOIN reasons USING (_id)),
        sizes AS (
            SELECT *, count(*) OVER (PARTITION BY _key, export_date) AS _n FROM v),
        compared AS (
            SELECT s._id, min(_sig) OVER same_date IS DISTINCT FROM max(_sig) OVER same_date AS _conflicted
            FROM (SELECT s._id, s._key, s.export_date, {_signature_sql(spec)} AS _sig
                  FROM sizes s JOIN rows USING (_id) WHERE s._n > 1) s
            WINDOW same_date AS (PARTITION BY _key, export_date))
        SELECT s._id, s._key, s.export_date, s.source_file, s.source_row, coalesce(c._conflicted, false) AS _conflicted
        FROM sizes s LEFT JOIN compared c USING (_id)""")
    con.execute("""
        CREATE TABLE counting AS
        SELECT _id, _key, source_file, source_row, export_date FROM versions WHERE NOT _conflicted
        QUALIFY row_number() OVER (PARTITION BY _key ORDER BY export_date DESC, _id) = 1""")
    cols = ", ".join(f"c.{ident(n)}" for n in typed_names(spec))
    con.execute(f"""
        CREATE TABLE staged AS
        SELECT c._id, {cols}, c.export_date, c.source_file, c.source_row, k._id IS NOT NULL AS er_gaeldende
        FROM rows c JOIN versions v ON v._id = c._id AND NOT v._conflicted
        LEFT JOIN counting k ON k._id = c._id""")


def _quarantine(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> pd.DataFrame:
    """Rows that break a rule, and versions in a same-date conflict, each with its reasons (codes,
    `reason_codes`, and their English text, `reasons`), a note on which version of its key still
    counts, and its raw values (sensitive ones masked)."""
    still = ("CASE WHEN k._id IS NOT NULL THEN json_object('code', 'still_counts', 'column', NULL, 'params', "
             "json_object('file', k.source_file, 'row', CAST(k.source_row AS VARCHAR), "
             "'export_date', strftime(k.export_date, '%Y-%m-%d')))::VARCHAR END")
    none_counts = "json_object('code', 'no_version_counts', 'column', NULL, 'params', json_object())::VARCHAR"
    kept = set(_raw_kept(spec))
    row_data = "to_json(struct_pack(" + ", ".join(
        f"{ident(c)} := " + (f"q.{ident('_r_' + c)}" if c in kept else f"q.{ident(c)}") for c in spec.column_names
    ) + "))::VARCHAR"
    frame = con.execute(f"""
        WITH conflicts AS (
            SELECT v._id, v._key, json_object('code', 'duplicate_key_same_export', 'column', NULL,
                   'params', json_object('key', v._key, 'export_date', strftime(v.export_date, '%Y-%m-%d'),
                       'versions', string_agg(v.source_file || ' row ' || v.source_row, ', ' ORDER BY v._id)
                                   OVER (PARTITION BY v._key, v.export_date)))::VARCHAR AS reason
            FROM versions v WHERE v._conflicted),
        rejected AS (
            SELECT q._id, q._reasons, {_key_sql(spec)} AS _key FROM rows JOIN reasons q USING (_id)),
        quarantined AS (
            SELECT r._id, r._key, '[' || array_to_string(r._reasons, ',') || coalesce(',' || {still}, '') || ']'
                   AS reason_codes
            FROM rejected r LEFT JOIN counting k ON k._key = r._key
            UNION ALL
            SELECT x._id, x._key, '[' || x.reason || ',' || coalesce({still}, {none_counts}) || ']'
            FROM conflicts x LEFT JOIN counting k ON k._key = x._key)
        SELECT {literal(spec.name)} AS source, q.source_file AS file_name, q.export_date,
               q.source_row AS row_number, z._key AS record_key, z.reason_codes, {row_data} AS row_data
        FROM quarantined z JOIN rows q ON q._id = z._id
        ORDER BY q.source_file, q.source_row""").df()
    frame["export_date"] = pd.to_datetime(frame["export_date"]).dt.date
    frame["record_key"] = frame["record_key"].astype(object).where(frame["record_key"].notna(), None)
    frame["reasons"] = pd.Series([reasons.english(c) for c in frame["reason_codes"]], index=frame.index, dtype=object)
    return frame[QUARANTINE_COLUMNS]


def reason_counts(reason_codes) -> dict[str, int]:
    """Rows by reason ("column: code", `reasons.label`), each reason counted once per row; the
    notes on which version still counts are no reasons."""
    counts: dict[str, int] = {}
    for codes in reason_codes:
        for label in dict.fromkeys(reasons.label(r) for r in reasons.rules(codes)):
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))
