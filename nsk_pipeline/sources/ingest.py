"""From a source's folder of exports to staged rows, quarantined rows and file loads.

Plain functions on DataFrames; the Dagster assets only call `ingest_source`.
Every row read ends up staged or quarantined; every file gets a file-load record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsk_pipeline.core.parallel import map_in_workers
from nsk_pipeline.core.tables import NO_VERSION_COUNTS, STILL_COUNTS, VERSION_NOTES
from nsk_pipeline.sources import parsing
from nsk_pipeline.sources.readers import FileRejected, export_date_from_name, is_data_file, read_table
from nsk_pipeline.sources.schemas import failures_by_row, schema_for
from nsk_pipeline.sources.specs import SOURCES as SOURCES_BY_NAME
from nsk_pipeline.sources.specs import SourceSpec

log = logging.getLogger(__name__)

MASK = "***"
# A CPR number in any written form (10 digits with or without the dash, or 9 where Excel dropped
# the leading zero). In a sensitive source such a token outside the `cpr` column is masked
# before anything else sees the row: a number typed in the wrong column must not leak either.
CPR_LIKE = re.compile(r"(?<!\d)(?:\d{6}-?\d{4}|\d{5}-\d{4}|\d{9})(?!\d)")


def redact_cpr_like(text: str) -> str:
    return CPR_LIKE.sub(MASK, text)


# Files are parsed and validated together up to this many bytes (~100 000 rows): pandas and
# pandera cost a fixed overhead per call (a source re-exports the year to date every quarter, so
# files are many and small), while a whole source at once would hold every raw value of millions
# of rows in memory.
BATCH_BYTES = 10_000_000
# Processes that parse batches side by side when a source has more than one (the assets pass
# NSK_WORKERS); each holds one batch's raw text at a time.
WORKERS = 1
META_COLUMNS = ["export_date", "source_file", "source_row", "er_gaeldende"]
QUARANTINE_COLUMNS = ["source", "file_name", "export_date", "row_number", "record_key", "reasons", "row_data",
                      "row_year"]
FILE_LOAD_COLUMNS = ["source", "file_name", "export_date", "sha256", "status", "reason", "encoding", "separator",
                     "rows_read", "rows_staged", "rows_quarantined", "extra_columns"]


@dataclass
class FileLoad:
    source: str
    file_name: str
    export_date: date | None = None
    sha256: str | None = None
    status: str = "loaded"  # loaded | rejected | ignored | after_as_of | duplicate
    reason: str | None = None
    encoding: str | None = None
    separator: str | None = None
    rows_read: int = 0
    rows_staged: int = 0
    rows_quarantined: int = 0
    extra_columns: str | None = None


@dataclass
class SourceResult:
    source: str
    # The staged rows, a batch of files each, as Arrow tables: compact buffers rather than millions
    # of Python strings (which the allocator cannot hand back once interleaved with live ones).
    parts: list[pa.Table]
    quarantine: pd.DataFrame
    file_loads: pd.DataFrame
    messages: list[str] = field(default_factory=list)

    def frames(self) -> Iterator[pd.DataFrame]:
        """The staged rows as DataFrames, one batch at a time (text columns as categoricals)."""
        for part in self.parts:
            yield part.to_pandas()

    @property
    def staged(self) -> pd.DataFrame:
        """All staged rows in one frame (small sources and tests; the assets write `frames()`)."""
        frames = list(self.frames())
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=self.columns)

    @property
    def columns(self) -> list[str]:
        return staged_columns(SOURCES_BY_NAME[self.source]) if self.source in SOURCES_BY_NAME else []

    @property
    def rows_staged(self) -> int:
        return sum(p.num_rows for p in self.parts)

    @property
    def rows_current(self) -> int:
        return sum(int(pc.sum(p["er_gaeldende"]).as_py() or 0) for p in self.parts)

    @property
    def current(self) -> pd.DataFrame:
        return self.staged[self.staged["er_gaeldende"]]

    def head_current(self, n: int) -> pd.DataFrame:
        """The first `n` current rows, without building the whole staged frame."""
        heads, found = [], 0
        for part in self.parts:
            if found >= n:
                break
            rows = pc.indices_nonzero(part["er_gaeldende"])[:n - found]
            # Decoded: a dictionary column would bring its whole dictionary (a batch's ids) into
            # pandas for a few rows; and batches' dictionaries differ in index width.
            head = part.take(rows)
            heads.append(pa.table({name: (pc.cast(col, col.type.value_type) if pa.types.is_dictionary(col.type)
                                          else col) for name, col in zip(head.column_names, head.columns)}))
            found += len(rows)
        return pd.concat([h.to_pandas() for h in heads], ignore_index=True) if heads else self.staged


@dataclass
class _Parsed:
    typed: pd.DataFrame  # every row read, typed; index = position in `raw`
    raw: pd.DataFrame  # the rows as read (text)
    reasons: dict[int, list[str]]  # index → every reason the row fails


@dataclass
class _Batch:
    """One batch of files after parsing: its valid rows (an Arrow table) with their record keys
    and signatures beside it, and its rows that break a rule (with their masked raw values)."""
    valid: pa.Table
    keys: np.ndarray  # record keys as 128-bit hashes (two uint64 columns): millions of key strings cost GBs
    sigs: np.ndarray
    bad: pd.DataFrame


def staged_columns(spec: SourceSpec) -> list[str]:
    cols = []
    for c in spec.columns:
        if c.kind == "cpr":
            cols += ["borger_pseudonym", "koen", "aldersgruppe"]
        else:
            cols.append(c.name)
    return cols + META_COLUMNS


def ingest_source(spec: SourceSpec, folder: Path, as_of: date, pseudonym_key: bytes | None = None,
                  known_actors: Collection[str] | None = None,
                  milestone_goals: Collection[str] | None = None, workers: int | None = None) -> SourceResult:
    """`workers`: processes that read and parse batches side by side (default `WORKERS`); the
    result is the same for any number of them."""
    messages: list[tuple[int, str]] = []  # (file index, message): reported in file order
    groups: list[list[tuple[int, FileLoad, Path]]] = []  # batches of files to read and parse
    pending: list[tuple[int, FileLoad, Path]] = []
    pending_bytes = 0
    loads: list[FileLoad] = []
    seen: dict[tuple[str, date], str] = {}
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if not files:
        messages.append((-1, f"{spec.name}: no files delivered in {folder}"))
    for index, path in enumerate(files):
        load = FileLoad(spec.name, path.name)
        loads.append(load)
        if not is_data_file(path):
            load.status, load.reason = "ignored", "not a .csv or .xlsx export"
            messages.append((index, f"{spec.name}/{path.name}: ignored (not a .csv or .xlsx export)"))
            continue
        try:
            load.export_date = export_date_from_name(path.name)
        except FileRejected as e:
            messages.append((index, _reject(load, str(e))))
            continue
        if load.export_date > as_of:
            load.status, load.reason = "after_as_of", f"export date after the as-of date {as_of.isoformat()}"
            continue
        content = path.read_bytes()
        load.sha256 = hashlib.sha256(content).hexdigest()
        if (load.sha256, load.export_date) in seen:
            load.status = "duplicate"
            load.reason = f"same content and export date as {seen[(load.sha256, load.export_date)]}"
            messages.append((index, f"{spec.name}/{path.name}: {load.reason}; counted once"))
            continue
        seen[(load.sha256, load.export_date)] = path.name
        pending.append((index, load, path))
        pending_bytes += len(content)
        if pending_bytes >= BATCH_BYTES:
            groups.append(pending)
            pending, pending_bytes = [], 0
    if pending:
        groups.append(pending)
    if groups and spec.sensitive and not pseudonym_key:  # None or empty: never a silent default
        from nsk_pipeline.core.settings import SettingsError

        raise SettingsError("NSK_PSEUDONYM_KEY is not set: the counsellors' log cannot be pseudonymised")
    batches: list[_Batch] = []
    task = partial(_read_group, spec, pseudonym_key, known_actors, milestone_goals)
    for read, notes, batch in map_in_workers(task, groups, WORKERS if workers is None else workers):
        for index, load in read:
            loads[index] = load
        messages += notes
        if batch is not None:
            batches.append(batch)
    parts, quarantine = _resolve_versions(spec, batches, folder)
    staged_per_file = pd.Series(dtype="int64")
    for part in parts:
        counts = part["source_file"].to_pandas().astype(object).value_counts()
        staged_per_file = staged_per_file.add(counts, fill_value=0)
    quarantined_per_file = quarantine["file_name"].value_counts() if len(quarantine) else pd.Series(dtype=int)
    for load in loads:
        if load.status == "loaded" and load.sha256:
            load.rows_staged = int(staged_per_file.get(load.file_name, 0))
            load.rows_quarantined = int(quarantined_per_file.get(load.file_name, 0))
    file_loads = pd.DataFrame([asdict(x) for x in loads], columns=FILE_LOAD_COLUMNS)
    ordered = [text for _, text in sorted(messages, key=lambda m: m[0])]
    return SourceResult(spec.name, parts, quarantine, file_loads, ordered)


def _read_group(spec: SourceSpec, key: bytes | None, known_actors: Collection[str] | None,
                milestone_goals: Collection[str] | None, group: list[tuple[int, FileLoad, Path]]
                ) -> tuple[list[tuple[int, FileLoad]], list[tuple[int, str]], _Batch | None]:
    """Read a batch of files and parse them together: each file's load record (as read), the
    messages on them, and the batch (None when no file could be read)."""
    pending: list[tuple[FileLoad, pd.DataFrame]] = []
    messages: list[tuple[int, str]] = []
    for index, load, path in group:
        try:
            table = read_table(path, expected_columns=spec.column_names)
        except FileRejected as e:
            messages.append((index, _reject(load, str(e))))
            continue
        load.encoding, load.separator = table.encoding, table.separator
        missing = [c for c in spec.required_columns if c not in table.frame.columns]
        if missing:
            messages.append((index, _reject(load, "missing required column" + ("s " if len(missing) > 1 else " ")
                                            + ", ".join(repr(c) for c in missing))))
            continue
        extra = [c for c in table.frame.columns if c not in spec.column_names]
        if extra:
            load.extra_columns = redact_cpr_like(", ".join(extra))
            messages.append((index, f"{spec.name}/{path.name}: extra columns ignored: {load.extra_columns}"))
        raw = _prepared_raw(spec, table)
        load.rows_read = len(raw)
        pending.append((load, raw))
    batch = None
    if pending:
        schema = schema_for(spec, known_actors, milestone_goals)
        batch = _batch(spec, _parse_files(spec, pending, schema, key))
    return [(index, load) for index, load, _ in group], messages, batch


def _prepared_raw(spec: SourceSpec, table) -> pd.DataFrame:
    """A file's rows as the contract names them, indexed by row number; in a sensitive source
    with CPR-like tokens outside the CPR column masked (reasons and row_data quote raw values)."""
    raw = table.frame.reindex(columns=spec.column_names)
    raw.index = pd.Index(table.row_numbers, name="row_number")
    if spec.sensitive:
        for col in raw.columns:
            if col not in spec.sensitive:
                # Once per distinct value (exports repeat the same codes and names on every row),
                # and rewritten only where a value holds a CPR-like token.
                codes, uniques = pd.factorize(raw[col])
                texts = pd.Series(uniques, dtype=object)
                hit = texts.str.contains(CPR_LIKE, na=False).to_numpy(dtype=bool)
                if hit.any():
                    texts[hit] = [redact_cpr_like(v) for v in texts[hit]]
                    values = texts.to_numpy(dtype=object).take(codes)
                    values[codes < 0] = None
                    raw[col] = pd.Series(values, index=raw.index, dtype=object)
    return raw


def _parse_files(spec: SourceSpec, delivered: list[tuple[FileLoad, pd.DataFrame]], schema,
                 key: bytes | None) -> _Parsed:
    raw = pd.concat([r for _, r in delivered], ignore_index=True)
    sizes = [len(r) for _, r in delivered]
    names = [load.file_name for load, _ in delivered]
    files = pd.Series(pd.Categorical.from_codes(np.repeat(np.arange(len(names)), sizes), names), index=raw.index)
    export_dates = pd.Series(np.repeat(np.array([load.export_date for load, _ in delivered], dtype="datetime64[ns]"),
                                       sizes), index=raw.index)
    rows = np.concatenate([r.index.to_numpy(dtype="int64") for _, r in delivered]) if sizes else []
    typed, reasons = _parse(spec, raw, export_dates, key)
    for index, problems in failures_by_row(schema, typed).items():
        have = {r.split(":", 1)[0] for r in reasons.get(index, [])}
        for col, reason in problems:
            if col not in have:  # a format error already explains this column
                reasons.setdefault(index, []).append(reason)
    typed["source_file"] = files
    typed["source_row"] = pd.Series(rows, index=raw.index, dtype="int64")
    return _Parsed(typed, raw, reasons)


def _reject(load: FileLoad, reason: str) -> str:
    load.status, load.reason = "rejected", reason
    return f"{load.source}/{load.file_name}: rejected: {reason}"


def _parse(spec: SourceSpec, raw: pd.DataFrame, export_dates: pd.Series, key: bytes | None
           ) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    typed = pd.DataFrame(index=raw.index)
    errors: dict[str, pd.Series] = {}
    for col in spec.columns:
        s = raw[col.name]
        if col.kind == "date":
            values, err = parsing.parse_dates(s, required=col.required)
            typed[col.name] = pd.to_datetime(values, errors="coerce")
            after = typed[col.name] > export_dates
            if after.any():  # formatted only where needed: a message per row costs seconds at a million
                err = err.where(~after, "after the file's export date "
                                + export_dates[after].dt.strftime("%Y-%m-%d"))
        elif col.kind == "count":
            values, err = parsing.parse_counts(s)
            typed[col.name] = values.astype("Int64")
        elif col.kind == "code":
            values, err = parsing.parse_codes(s, col.codes, required=col.required, default=col.default)
            typed[col.name] = values
        elif col.kind == "code_list":
            values, err = parsing.parse_code_list(s, col.codes)
            typed[col.name] = values
        elif col.kind == "year":
            values, err = parsing.parse_year(s, required=col.required)
            typed[col.name] = values.astype("Int64")
        elif col.kind == "cpr":
            continue  # below, once `oprettet` is typed
        else:
            values, err = parsing.parse_text(s, required=col.required)
            typed[col.name] = values
        errors[col.name] = err
    if spec.sensitive:
        from nsk_pipeline.sources.cpr import derive

        derived = derive(raw["cpr"], typed["oprettet"], key)
        derived.index = raw.index
        for c in ("borger_pseudonym", "koen", "aldersgruppe"):
            typed[c] = derived[c]
        errors["cpr"] = derived["cpr_error"].where(
            ~derived["foedt_efter_oprettet"].fillna(False).astype(bool), "birth date after oprettet")
    typed["export_date"] = export_dates
    reasons: dict[int, list[str]] = {}
    for col, err in errors.items():
        for index, message in err.dropna().items():
            reasons.setdefault(index, []).append(f"{col}: {message}")
    for col in spec.columns:
        if col.kind in ("text", "name_key") and col.name in typed:
            typed[col.name] = typed[col.name].astype(object)
    return typed, reasons


def _record_key(spec: SourceSpec, typed: pd.DataFrame) -> pd.Series:
    parts = []
    for k in spec.key:
        s = typed[k]
        if spec.column(k).kind == "year":
            parts.append(s.astype("string"))
        else:
            parts.append(parsing.normalise_key(s.astype(object)).astype("string"))
    key = parts[0]
    for p in parts[1:]:
        key = key + " | " + p
    return key


def _signature(spec: SourceSpec, rows: pd.DataFrame) -> np.ndarray:
    """Typed, normalised content of each row (its compact form), to tell identical versions from
    conflicting ones. Hashes values, not codes, so it is the same for equal rows in different
    batches; a categorical's categories are hashed once, not per row."""
    cols = [c for c in staged_columns(spec) if c not in META_COLUMNS]
    frame = pd.DataFrame(index=rows.index)
    names = {c.name for c in spec.columns if c.kind == "name_key"}
    for c in cols:
        s = rows[c]
        if c in names:
            codes, table = parsing.normalised_key_codes(s)
            name_codes, distinct = pd.factorize(table)  # two spellings can give one name
            s = pd.Categorical.from_codes(name_codes[codes], pd.Index(distinct, dtype=object))
        frame[c] = s
    return pd.util.hash_pandas_object(frame, index=False, categorize=True).to_numpy(np.uint64)


_HASH_KEYS = ("nsk-record-key-1", "nsk-record-key-2")  # two independent 64-bit hashes of a record key


def _key_hashes(spec: SourceSpec, rows: pd.DataFrame) -> np.ndarray:
    """Each row's record key as 128 bits (two uint64 columns): two keys share it with a chance of
    about n²/2¹²⁹ (nil for any n this pipeline sees), and versions are matched on it without
    building a key string per row. A part is hashed once per distinct value, as its key text
    (normalised; a year as digits); parts are combined in order. Only for rows whose key parts
    are all present."""
    out = np.zeros((len(rows), 2), dtype=np.uint64)
    if len(rows) == 0:
        return out
    for k in spec.key:
        s = rows[k]
        if spec.column(k).kind == "year":
            codes, uniques = pd.factorize(s.astype("string").astype(object))
            table = np.append(np.asarray(uniques, dtype=object), None)
        else:
            codes, table = parsing.normalised_key_codes(s)
        for j, hash_key in enumerate(_HASH_KEYS):
            hashed = pd.util.hash_array(table, hash_key=hash_key, categorize=False)
            # FNV-style: the parts' order matters ("a", "b" is not "b", "a")
            out[:, j] = out[:, j] * np.uint64(0x100000001B3) ^ hashed[codes]
    return out


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as categoricals: codes, names and pseudonyms repeat across millions of rows.
    Categories in order of appearance (sorting millions of strings buys nothing here)."""
    for c in frame.columns:
        if frame[c].dtype == object:
            codes, uniques = pd.factorize(frame[c])
            frame[c] = pd.Categorical.from_codes(codes, pd.Index(uniques, dtype=object))
    return frame


def _batch(spec: SourceSpec, p: _Parsed) -> _Batch:
    cols = staged_columns(spec)
    is_bad = p.typed.index.isin([i for i, r in p.reasons.items() if r])
    bad = p.typed[is_bad].copy()
    bad["_reasons"] = [list(p.reasons[i]) for i in bad.index]
    bad["_raw"] = [p.raw.loc[i].to_dict() for i in bad.index]  # not a view: it would keep the batch alive
    bad["_key"] = _record_key(spec, bad) if len(bad) else pd.Series(dtype="string")
    # Compact first: keys and signatures then hash each distinct value once.
    valid = _compact(p.typed.loc[~is_bad, [c for c in cols if c != "er_gaeldende"]].reset_index(drop=True))
    keys = _key_hashes(spec, valid)
    sigs = _signature(spec, valid) if len(valid) else np.zeros(0, dtype=np.uint64)
    return _Batch(pa.Table.from_pandas(valid, preserve_index=False), keys, sigs, bad)


def _resolve_versions(spec: SourceSpec, batches: list[_Batch], folder: Path | None = None
                      ) -> tuple[list[pa.Table], pd.DataFrame]:
    """Latest export wins; same-date conflicts are quarantined; older valid versions step in.

    Decided over every batch at once on narrow arrays (record key codes, export dates,
    signature); the wide rows stay in their batches."""
    if not batches:
        return [], pd.DataFrame(columns=QUARANTINE_COLUMNS)
    # Each batch's hashes move into the arrays decided on (and go from the batch): at 10 M
    # versions a second copy of them is a quarter of a GB at the step's peak.
    k1, k2 = (np.concatenate([b.keys[:, i] for b in batches]) for i in (0, 1))
    sigs = np.concatenate([b.sigs for b in batches])
    for b in batches:
        b.keys = b.sigs = None
    sizes = [b.valid.num_rows for b in batches]
    dates = np.concatenate([b.valid["export_date"].to_numpy().astype("datetime64[ns]").view("int64")
                            for b in batches])
    conflicted, current = _decide((k1, k2), dates, sigs)
    del dates, sigs
    position = np.concatenate([np.arange(n, dtype=np.int32) for n in sizes])
    batch_of = np.repeat(np.arange(len(batches), dtype=np.int32), sizes)
    counting = pd.DataFrame({"_batch": batch_of[current], "_pos": position[current], "_k2": k2[current]},
                            index=pd.Index(k1[current]))
    del position, batch_of

    def still_counts(key: tuple[int, int]) -> str | None:
        """Which version of the key counts; None when none does."""
        try:
            loc = counting.index.get_loc(key[0])
        except KeyError:
            return None
        at = counting.iloc[[loc]] if isinstance(loc, (int, np.integer)) else counting[loc]
        at = at[at["_k2"] == key[1]]
        if at.empty:
            return None
        at = at.iloc[0]
        batch, pos = int(at["_batch"]), int(at["_pos"])
        # Its position in the batch's part, which lacks the batch's conflicting rows.
        pos -= int(np.count_nonzero(conflicted[offsets[batch]:offsets[batch] + pos]))
        row = parts[batch].slice(pos, 1).to_pylist()[0]
        return (f"{STILL_COUNTS} {row['source_file']} row {row['source_row']} "
                f"(export date {pd.Timestamp(row['export_date']).date().isoformat()})")

    parts, moved = [], []
    offsets = np.cumsum([0, *sizes])
    for i, b in enumerate(batches):
        flags = current[offsets[i]:offsets[i + 1]]
        lost = conflicted[offsets[i]:offsets[i + 1]]
        table, b.valid = b.valid, None  # the batch's rows move to its part: never held twice
        if lost.any():
            rows = table.filter(pa.array(lost)).to_pandas()
            moved.append(rows.assign(_k=list(zip(k1[offsets[i]:offsets[i + 1]][lost].tolist(),
                                                 k2[offsets[i]:offsets[i + 1]][lost].tolist())),
                                     _key=_record_key(spec, rows).astype(object)))
            table = table.filter(pa.array(~lost))
        parts.append(table.append_column("er_gaeldende", pa.array(flags[~lost])))
    moved_rows = _conflict_rows(spec, pd.concat(moved, ignore_index=True), folder, still_counts) if moved else None
    bad = pd.concat([b.bad for b in batches if len(b.bad)], ignore_index=True) if any(len(b.bad) for b in batches) \
        else None
    if bad is not None:
        known = bad["_key"].notna().to_numpy()
        hashes = np.zeros((len(bad), 2), np.uint64)
        hashes[known] = _key_hashes(spec, bad[known])
        notes = [still_counts((int(h1), int(h2))) if ok else None for (h1, h2), ok in zip(hashes, known)]
        bad["_reasons"] = [reasons + ([note] if note else []) for reasons, note in zip(bad["_reasons"], notes)]
    rows = [r for r in (bad, moved_rows) if r is not None and len(r)]
    quarantine = _quarantine_frame(spec, pd.concat(rows, ignore_index=True)) if rows else \
        pd.DataFrame(columns=QUARANTINE_COLUMNS)
    return [p for p in parts if p.num_rows] or parts[:1], quarantine


def _same_as_previous(values: np.ndarray) -> np.ndarray:
    return values[1:] == values[:-1]


def _decide(keys: np.ndarray | tuple[np.ndarray, ...], dates: np.ndarray, sigs: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per version: is it in a same-date conflict, and is it the version that counts. `keys`: the
    record key, as one array or as parts (a 128-bit hash in two arrays).

    One stable sort by (key, export date): a conflict is a (key, date) group with two
    signatures; the version that counts is the first (in file order) of its key's latest
    unconflicted date. Arrays, not a groupby: this runs over every version of millions of records.
    """
    parts = keys if isinstance(keys, tuple) else (keys,)
    n = len(dates)
    conflicted, current = np.zeros(n, bool), np.zeros(n, bool)
    if n == 0:
        return conflicted, current

    def same_key_as_previous(rows: np.ndarray) -> np.ndarray:
        same = np.ones(len(rows) - 1, bool)
        for part in parts:
            same &= _same_as_previous(part[rows])
        return same

    # Sorted by key and date only; file order stays within a (key, date) group (the sort is
    # stable). The first part of a key hash alone orders keys unless two keys share it (about
    # never): only then are the other parts sorted on too.
    order = np.lexsort((dates, parts[0]))
    same_first = _same_as_previous(parts[0][order])
    if len(parts) > 1 and any((~_same_as_previous(p[order]))[same_first].any() for p in parts[1:]):
        order = np.lexsort((dates, *reversed(parts)))
        same_first = same_key_as_previous(order)
    d, g = dates[order], sigs[order]
    same_group = same_first & _same_as_previous(d)
    starts = np.flatnonzero(np.concatenate([[True], ~same_group]))
    in_conflict = np.minimum.reduceat(g, starts) != np.maximum.reduceat(g, starts)  # two signatures
    del d, g
    in_conflict = np.repeat(in_conflict, np.diff(np.append(starts, n)))  # per row, in sorted order
    conflicted[order] = in_conflict
    # Among unconflicted versions in (key, date) order, a key's latest date is its last group;
    # the group's first row is the earliest in file order (the sort is stable).
    rest = order[~in_conflict]
    del order, same_group, in_conflict
    if len(rest) == 0:
        return conflicted, current
    same_key = same_key_as_previous(rest)
    d = dates[rest]
    last_date = np.concatenate([~same_key, [True]])  # last row of each key
    latest = np.repeat(d[last_date], np.diff(np.concatenate([[0], np.flatnonzero(last_date) + 1])))
    at_latest = d == latest
    first = at_latest & np.concatenate([[True], ~(same_key & at_latest[:-1])])
    current[rest[first]] = True
    return conflicted, current


def _conflict_rows(spec: SourceSpec, moved: pd.DataFrame, folder: Path | None, still_counts) -> pd.DataFrame:
    """Same-date conflicting versions, with reasons and their raw values read again from their
    files (rare, so the raw text of millions of valid rows need not be kept)."""
    moved = moved.reset_index(drop=True)
    moved["_key"] = moved["_key"].astype(object)
    moved["source_file"] = moved["source_file"].astype(object)
    reasons = {}
    for (key, exported), group in moved.groupby(["_key", "export_date"]):
        where = ", ".join(f"{f} row {r}" for f, r in zip(group["source_file"], group["source_row"]))
        for i in group.index:
            reasons[i] = [(f"conflict: key {key} has different values in versions with the same export "
                           f"date {exported.date().isoformat()} ({where}); "
                           f"{still_counts(moved.at[i, '_k']) or NO_VERSION_COUNTS}")]
    moved["_reasons"] = [reasons[i] for i in moved.index]
    raw_of: dict[tuple[str, int], pd.Series] = {}
    for name, group in moved.groupby("source_file"):
        raw = _prepared_raw(spec, read_table(Path(folder) / name, expected_columns=spec.column_names))
        for r in group["source_row"]:
            raw_of[(name, int(r))] = raw.loc[int(r)].to_dict()
    moved["_raw"] = [raw_of[(f, int(r))] for f, r in zip(moved["source_file"], moved["source_row"])]
    return moved


def reason_list(reasons: str) -> list[str]:
    """A quarantine row's reasons, without the notes on which version still counts; every
    same-date conflict is the one reason "conflict" (its text names keys and files)."""
    out = []
    for reason in str(reasons).split("; "):
        if reason.startswith(VERSION_NOTES):
            continue
        out.append("conflict" if reason.startswith("conflict") else reason)
    return out


def _quarantine_frame(spec: SourceSpec, rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=QUARANTINE_COLUMNS)
    out = pd.DataFrame({
        "source": spec.name,
        "file_name": rows["source_file"],
        "export_date": rows["export_date"].dt.date,
        "row_number": rows["source_row"].astype("int64"),
        "record_key": rows["_key"].astype(object).where(rows["_key"].notna(), None),
        "reasons": ["; ".join(r) for r in rows["_reasons"]],
        "row_data": [_masked_json(spec, raw) for raw in rows["_raw"]],
        "row_year": row_year(spec, rows),
    })
    return out.sort_values(["file_name", "row_number"]).reset_index(drop=True)


def row_year(spec: SourceSpec, rows: pd.DataFrame) -> pd.Series:
    """The calendar year a row belongs to: its date's (`aar` for milestones), or, when that could
    not be read, its file's export year. Yearly partitions replace rows by this year."""
    export_year = pd.to_datetime(rows["export_date"]).dt.year
    if spec.date_column:
        own = pd.to_datetime(rows[spec.date_column], errors="coerce").dt.year
    else:
        own = pd.to_numeric(rows["aar"], errors="coerce")
    return own.fillna(export_year).astype("int64")


def _masked_json(spec: SourceSpec, raw: pd.Series) -> str:
    row = {k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)) for k, v in raw.items()}
    for col in spec.sensitive:
        if row.get(col):
            row[col] = MASK
    return json.dumps(row, ensure_ascii=False)
