"""Read one raw export file (CSV or XLSX) as a relation of text in DuckDB.

DuckDB parses the CSV files (``read_csv``, all VARCHAR, strict mode). Python decides only what
DuckDB cannot: the encoding (DuckDB's ``latin-1`` is not Windows-1252), separator and header row.

Row numbers are the spreadsheet's (header = row 1, a blank line skipped but counted). DuckDB's
ordinality counts records (a quoted line break stays in its record) but skips empty lines, so
only a file with an empty line or a quoted line break is walked once by the csv module: to place
the empty lines, and to reject a quote left open (which DuckDB's one-thread scan drops).

Privacy: no rejection reason holds a cell value; DuckDB's errors (which quote the line) are never
passed on or chained. Text DuckDB cannot read from the file itself (Windows-1252, mixed line
endings) goes to it as UTF-8 in a copy (:func:`_copy_location`): a file in the connection's own
temporary folder when it has one (ingest's private folder, removed with the step: a 200 MB export
then costs no memory), else in fsspec's in-memory filesystem; never anywhere else on disk (the
counsellors' log holds CPR numbers). :func:`drop_export` removes the copy with the view and table.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import fsspec
import pyarrow as pa

from nsk_pipeline.sources import reasons

DATA_SUFFIXES = (".csv", ".xlsx")
#: Share of control bytes (other than tab, CR, LF) above which a file is not text.
CONTROL_CHAR_LIMIT = 0.10

_EXPORT_DATE_RE = re.compile(r"_([0-9]{4})-([0-9]{2})-([0-9]{2})\.[^./\\]+\Z")
_WS_RE = re.compile(r"\s+")
_SPACE_AFTER_QUOTE = re.compile(r'" +(?=[;,\r\n]|\Z)')
_SEPARATORS = (";", ",")
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r") + b"\x7f"
#: Whitespace (in UTF-8) that DuckDB's ``trim``, spaces only, leaves. Where a file holds any, values
#: are trimmed by a regular expression as ``str.strip`` trims (3x slower, so only there).
_OTHER_WS = (b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f", b"\xc2\x85", b"\xc2\xa0",
             b"\xe1\x9a\x80", b"\xe2\x81\x9f", b"\xe3\x80\x80")
_OTHER_WS_E2_80 = re.compile(rb"\xe2\x80[\x80-\x8a\xa8\xa9\xaf]")


@functools.cache
def _whitespace() -> str:
    """Every character `str.strip` trims, as a regular-expression class (made when first needed:
    walking the code points costs a noticeable part of a second on every start)."""
    return "[" + "".join(f"\\x{{{i:x}}}" for i in range(0x110000) if chr(i).isspace()) + "]"


_CHUNK_BYTES = 1 << 24
_MAX_COLUMNS = 4096
#: Files up to this size are parsed once into a temporary table; a bigger one stays a view over
#: ``read_csv``, parsed again by each query (memory stays flat).
_MATERIALISE_BYTES = 1 << 25
_MEMORY_ROOT = "nsk_raw"

# The codes of `sources/reasons.py` a whole file is rejected with (their texts are there).
_NOT_TEXT = "not_text"
_BAD_ENCODING = "bad_encoding"
_PARSE_FAILED = "not_parsed"
_NEVER_CLOSED = "quote_never_closed"
_NO_HEADER = "no_header"
_NOT_XLSX = "not_xlsx"


class FileRejected(Exception):
    """The whole file is unusable: `reason` is its code and parameters (`reasons.file_reason`),
    ``str(e)`` their English text. Neither ever holds a cell value."""

    def __init__(self, code: str, **params: object):
        self.reason = reasons.file_reason(code, **params)
        super().__init__(reasons.text(self.reason))


@dataclass
class RawExport:
    """A file read as a relation of text in a DuckDB connection (see :func:`read_export`)."""

    view: str  # a name in the connection to SELECT from
    header: list[str]  # normalised header names in file order (unnamed blank columns left out)
    encoding: str  # utf-8 | utf-8-sig | cp1252 | xlsx
    separator: str | None
    rows: int  # data rows read

    def __repr__(self) -> str:  # a header-less file's "header" is its first data row
        names = ", ".join(_safe_column_label(n, i) for i, n in enumerate(self.header, start=1))
        return (f"RawExport(view={self.view!r}, header=[{names}], encoding={self.encoding!r}, "
                f"separator={self.separator!r}, rows={self.rows})")


def export_date_from_name(name: str | Path) -> dt.date:
    """The export date at the end of a file name: ``<anything>_YYYY-MM-DD.<ext>``."""
    m = _EXPORT_DATE_RE.search(Path(str(name)).name)
    try:
        return dt.date(*map(int, m.groups()))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        raise FileRejected("no_export_date") from None


def is_data_file(path: str | Path) -> bool:
    """``.csv``/``.xlsx`` (any case), but not Excel's lock files (``~$...``) or hidden files."""
    name = Path(str(path)).name
    return bool(name) and not name.startswith(("~$", ".")) and Path(name).suffix.lower() in DATA_SUFFIXES


def normalise_header(name: str) -> str:
    """Header name as matched: stripped, lowercased, inner whitespace collapsed."""
    return _WS_RE.sub(" ", name.strip()).lower()


_export_ids = itertools.count(1)


def read_export(con: duckdb.DuckDBPyConnection, path: Path | str,
                expected_columns: Iterable[str] | None = None) -> RawExport:
    """The file as a relation of text in ``con``: one row per data row, a VARCHAR column per
    header name (normalised), each value trimmed with blank -> NULL, then ``source_row`` BIGINT,
    the row as a spreadsheet shows it. A blank header cell's column is left out unless it holds
    a value, then it is named ``unnamed_<position>``. ``expected_columns`` only helps choosing
    the separator. The file is parsed through here, so a query of the view cannot fail on its
    content. Raises :class:`FileRejected` (and nothing else) when the file cannot be used."""
    path = Path(path)
    expected = {normalise_header(str(c)) for c in expected_columns or ()}
    view = f"raw_export_{next(_export_ids)}"
    try:
        if path.suffix.lower() == ".csv":
            return _export_csv(con, path, expected, view)
        if path.suffix.lower() == ".xlsx":
            return _export_xlsx(con, path, view)
        failure = reasons.file_reason("unsupported_file_type")
    except FileRejected as exc:
        failure = exc.reason
    except OSError as exc:
        failure = reasons.file_reason("file_not_opened", error=type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - anything else becomes a generic rejection
        failure = reasons.file_reason("file_not_read", error=type(exc).__name__)
    _drop(con, view)
    raise FileRejected(failure["code"], **failure["params"])  # a fresh one: nothing is chained


def drop_export(con: duckdb.DuckDBPyConnection, export: RawExport) -> None:
    """Remove what :func:`read_export` put in ``con`` (and the in-memory copy of the file)."""
    _drop(con, export.view)


def _clean(value: str) -> str | None:
    return value.strip() or None


def _safe_column_params(name: str, position: int) -> dict:
    """A header name fit for a message: one holding 6+ digits could be a data value (a file
    whose header row is missing), so it is replaced by its position."""
    return {"position": position} if sum(ch.isdigit() for ch in name) >= 6 or len(name) > 80 else {"name": repr(name)}


def _safe_column_label(name: str, position: int) -> str:
    safe = _safe_column_params(name, position)
    return safe.get("name") or f"column {position}"


def _header_names(cells: Sequence[str | None]) -> list[str]:
    names = [normalise_header(c) if c is not None else f"unnamed_{pos}" for pos, c in enumerate(cells, start=1)]
    for pos, name in enumerate(names, start=1):
        if name in names[: pos - 1]:
            raise FileRejected("duplicate_column", **_safe_column_params(name, pos))
    return names


def _memory_fs() -> fsspec.AbstractFileSystem:
    return fsspec.filesystem("memory")


def _copy_location(con: duckdb.DuckDBPyConnection, view: str) -> str:
    """Where the UTF-8 copy of a file read as ``view`` goes: into the connection's temporary
    folder when it is one of its own (an absolute folder that exists, as ingest's private
    database has; DuckDB removes nothing there, the folder's owner does), else into memory
    (an in-memory connection's default, ``.tmp``, is relative to wherever the process runs)."""
    folder = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    if folder and Path(folder).is_absolute() and Path(folder).is_dir():
        return str(Path(folder) / f"{_MEMORY_ROOT}_{view}.csv")
    return f"memory://{_MEMORY_ROOT}/{view}.csv"


def _remove_copy(location: str) -> None:
    fs, path = fsspec.core.url_to_fs(location)
    if fs.exists(path):
        fs.rm(path)


def _drop(con: duckdb.DuckDBPyConnection, view: str) -> None:
    for sql in (f"DROP VIEW IF EXISTS {view}", f"DROP TABLE IF EXISTS {view}_all", f"DROP VIEW IF EXISTS {view}_all"):
        try:
            con.execute(sql)
        except duckdb.Error:  # a name of the other kind, or a registered one
            pass
    for name in (view, f"{view}_gaps"):
        con.unregister(name)
    _remove_copy(_copy_location(con, view))


# --------------------------------------------------------------------------- CSV


@dataclass
class _Scan:
    """What a pass over the (UTF-8) bytes tells, at C speed (``in`` and one literal-led regex)."""

    empty_line: bool = False
    quotes: bool = False
    cr: bool = False
    other_ws: bool = False
    _tail: bytes = b"\n"  # as if a line ended before the file: a leading line break is an empty line

    def feed(self, chunk: bytes) -> None:
        window = self._tail + chunk  # a pattern may straddle two chunks
        self.empty_line = self.empty_line or any(p in window for p in (b"\n\n", b"\n\r", b"\r\r"))
        self.quotes = self.quotes or b'"' in chunk
        self.cr = self.cr or b"\r" in chunk
        self.other_ws = self.other_ws or any(w in window for w in _OTHER_WS) or bool(_OTHER_WS_E2_80.search(window))
        self._tail = window[-2:]


def _scan(path: Path, copy: str) -> tuple[str, _Scan, str]:
    """The encoding, the scan, and what DuckDB reads: the file, or (Windows-1252) its text as
    UTF-8 in the copy at ``copy``. The file is read a chunk at a time."""
    scan, decoder = _Scan(), codecs.getincrementaldecoder("utf-8")()
    size = controls = 0
    utf8, bom = True, False
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            if size == 0 and chunk.startswith(codecs.BOM_UTF8):
                bom, chunk, size = True, chunk[3:], 3
            size += len(chunk)
            if b"\x00" in chunk:
                raise FileRejected(_NOT_TEXT)
            controls += len(chunk) - len(chunk.translate(None, _CONTROL_BYTES))
            scan.feed(chunk)
            try:
                utf8 = utf8 and decoder.decode(chunk) is not None
            except UnicodeDecodeError:
                utf8 = False
    if size == 0:
        raise FileRejected("empty_file")
    if controls > CONTROL_CHAR_LIMIT * size:
        raise FileRejected(_NOT_TEXT)
    try:
        if utf8 and decoder.decode(b"", final=True) is not None:
            return ("utf-8-sig" if bom else "utf-8"), scan, str(path)
    except UnicodeDecodeError:
        pass
    if bom:
        raise FileRejected(_BAD_ENCODING)
    return "cp1252", _transcode(path, copy), copy


def _transcode(path: Path, copy: str) -> _Scan:
    """A Windows-1252 file as UTF-8 at ``copy``, a chunk at a time (never the whole file's bytes
    and decoded text at once), and its scan."""
    scan, decoder = _Scan(), codecs.getincrementaldecoder("cp1252")()
    with open(path, "rb") as fh, fsspec.open(copy, "wb") as out:
        try:
            while chunk := fh.read(_CHUNK_BYTES):
                data = decoder.decode(chunk).encode("utf-8")
                scan.feed(data)
                out.write(data)
        except UnicodeDecodeError:
            raise FileRejected(_BAD_ENCODING) from None
    return scan


def _write_copy(copy: str, data: bytes) -> str:
    with fsspec.open(copy, "wb") as fh:
        fh.write(data)
    return copy


def _open_text(source: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(fsspec.open(source, "rb").open(), encoding="utf-8-sig", newline="")


def _find_header(source: str, sep: str) -> tuple[list[str | None], int, int] | None:
    """The first record with a non-blank cell (cleaned), its record number (an empty line is a
    record) and the empty lines before it, as the csv module splits the text with ``sep``."""
    empty = 0
    with _open_text(source) as text:
        for number, row in enumerate(csv.reader(text, delimiter=sep, skipinitialspace=True), start=1):
            cells = [_clean(c) for c in row]
            if any(cells):
                return cells, number, empty
            empty += not row
    return None


def _csv_walk(source: str, sep: str, columns: int) -> tuple[int, list[tuple[int, int]]]:
    """DuckDB's records, counted as the csv module splits them, and the steps ``(first ordinal,
    empty lines before it)`` where the row numbers move past skipped empty lines."""
    ordinal, gaps, steps = 0, 0, []
    try:
        with _open_text(source) as text:
            # DuckDB allows spaces after a closing quote (the strict csv module does not)
            lines = (_SPACE_AFTER_QUOTE.sub('"', line) if '"' in line else line for line in text)
            reader = csv.reader(lines, delimiter=sep, skipinitialspace=True, strict=True)
            for number, row in enumerate(reader, start=1):
                if row or columns == 1:  # DuckDB keeps an empty line only in a one-column read
                    ordinal += 1
                    if number - ordinal != gaps:
                        gaps = number - ordinal
                        steps.append((ordinal, gaps))
    except csv.Error as exc:  # (read_export raises a fresh rejection: nothing is chained)
        raise FileRejected(_NEVER_CLOSED if "unexpected end of data" in str(exc) else _PARSE_FAILED)
    return ordinal, steps


def _export_csv(con: duckdb.DuckDBPyConnection, path: Path, expected: set[str], view: str) -> RawExport:
    copy = _copy_location(con, view)
    encoding, scan, source = _scan(path, copy)
    found = {sep: header for sep in _SEPARATORS if (header := _find_header(source, sep))}
    if not found:
        raise FileRejected(_NO_HEADER)
    # the split that yields most expected names, then most cells; a tie goes to ';' (Danish Excel)
    sep = max(found, key=lambda s: (len({normalise_header(c) for c in found[s][0] if c} & expected),
                                         len(found[s][0]), s == ";"))
    cells, header_record, empty_before = found[sep]
    names = _header_names(cells)
    columns, multiline, normalised = len(names), False, False
    materialise = path.stat().st_size <= _MATERIALISE_BYTES
    while True:
        h = header_record - (empty_before if columns > 1 else 0)  # the header's ordinality
        try:
            got = _load(con, view, source, sep, columns, names, h, multiline, scan, materialise)
            if got is not None:
                break
            multiline = True  # a value holds a line break that DuckDB did not report
            continue
        except duckdb.Error as exc:
            message = str(exc)  # quotes the file's line: read, never passed on
        if "null_padding in conjunction with quoted new lines" in message and not multiline:
            multiline = True  # DuckDB splits such files only in one thread
            continue
        wider = re.search(r"Expected Number of Columns: \d+ Found: (\d+)", message)
        if wider and columns < int(wider.group(1)) <= _MAX_COLUMNS:
            columns = min(max(int(wider.group(1)), 2 * columns), _MAX_COLUMNS)  # longer rows: cut
            continue
        if scan.cr and not normalised:  # DuckDB takes one kind of line ending per file
            with _open_text(source) as text:
                data = text.read().replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
            source, normalised = _write_copy(copy, data), True
            continue
        if scan.quotes:
            _csv_walk(source, sep, columns)  # names the quoting fault, if it finds one
        raise FileRejected(_PARSE_FAILED)
    total, rows, unnamed_counts, header_read = got
    if list(header_read) != cells:
        raise FileRejected(_PARSE_FAILED)  # DuckDB and the csv module disagree on the records
    steps: list[tuple[int, int]] = []
    if (scan.empty_line and columns > 1) or multiline:
        walked, steps = _csv_walk(source, sep, columns)
        if walked != total:
            raise FileRejected(_PARSE_FAILED)
    if materialise:
        _remove_copy(copy)  # the text is in the table now
    keep = [n for n in names if not n.startswith("unnamed_") or unnamed_counts.pop(0)]
    join, gaps = "", "0"
    if steps:
        con.register(f"{view}_gaps", pa.table({"first": [s[0] for s in steps], "g": [s[1] for s in steps]}))
        join, gaps = f" ASOF LEFT JOIN {view}_gaps AS gaps ON a.o >= gaps.first", "coalesce(gaps.g, 0)"
    select = "".join(f'c{names.index(n) + 1} AS "{n.replace(chr(34), chr(34) * 2)}", ' for n in keep)
    not_blank = f"coalesce({', '.join(f'c{i}' for i in range(1, columns + 1))}) IS NOT NULL"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {select}CAST(a.o + {gaps} AS BIGINT) AS source_row "
                f"FROM {view}_all AS a{join} WHERE a.o > {h} AND {not_blank}")
    return RawExport(view, keep, encoding, sep, int(rows))


def _load(con, view, source, sep, columns, names, h, multiline, scan, materialise) -> tuple | None:
    """``{view}_all``: every record DuckDB reads (``o``: its ordinality), trimmed, as a temporary
    table or view; then one pass for the counts and the header. ``None`` when a value holds a
    line break that was not looked for (DuckDB does not always say so)."""
    if source.startswith("memory://") and "memory" not in con.list_filesystems():
        con.register_filesystem(_memory_fs())
    cols = [f"c{i}" for i in range(1, columns + 1)]
    types = ", ".join(f"'{c}': 'VARCHAR'" for c in cols)
    read = (f"read_csv('{source.replace(chr(39), chr(39) * 2)}', delim='{sep}', quote='\"', escape='\"', "
            f"header=false, auto_detect=false, columns={{{types}}}, null_padding=true, strict_mode=true, "
            f"parallel={str(not multiline).lower()}, encoding='utf-8') WITH ORDINALITY")
    full = scan.other_ws or multiline
    trim = f"regexp_replace(COL, '^{_whitespace()}+|{_whitespace()}+$', '', 'g')" if full else "trim(COL)"
    texts = ", ".join(f"nullif({trim.replace('COL', c)}, '') AS {c}" for c in cols)
    kind = "TABLE" if materialise else "VIEW"
    con.execute(f"CREATE OR REPLACE TEMP {kind} {view}_all AS SELECT ordinality AS o, {texts} FROM {read}")
    unnamed = [f"count(c{i}) FILTER (WHERE o > {h})" for i, n in enumerate(names, start=1) if n.startswith("unnamed_")]
    joined = f"concat({', '.join(cols)})"
    breaks = f"count(*) FILTER (WHERE contains({joined}, chr(10)) OR contains({joined}, chr(13)))"
    aggregates = (["count(*)", f"count(*) FILTER (WHERE o > {h} AND coalesce({', '.join(cols)}) IS NOT NULL)",
                   breaks if scan.quotes and not multiline else "0"] + unnamed
                  + [f"max(c{i}) FILTER (WHERE o = {h})" for i in range(1, len(names) + 1)])
    got = con.execute(f"SELECT {', '.join(aggregates)} FROM {view}_all").fetchall()[0]
    if got[2]:
        return None
    return got[0], got[1], list(got[3 : 3 + len(unnamed)]), got[3 + len(unnamed):]


# --------------------------------------------------------------------------- XLSX


def _cell_to_text(value: object) -> str | None:
    """A cell as text. Excel stores every number as a float; a whole one is written as its
    digits (``25``, and a CPR number whose leading zero Excel dropped: ``101901234``)."""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return None if value is None else _clean(str(value))


def _export_xlsx(con: duckdb.DuckDBPyConnection, path: Path, view: str) -> RawExport:
    from python_calamine import CalamineWorkbook

    with open(path, "rb") as fh:  # OSError (missing file) is reported as such
        magic = fh.read(4)
    if not magic:
        raise FileRejected("empty_file")
    try:  # from A1 (not from the first used cell), so that list positions are row numbers
        if magic != b"PK\x03\x04":
            raise ValueError("not a zip file")
        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception:  # noqa: BLE001 - zip, XML, no sheet ... all mean the same
        raise FileRejected(_NOT_XLSX) from None
    names: list[str] | None = None
    columns: list[list[str | None]] = []
    numbers: list[int] = []
    for row_no, row in enumerate(sheet, start=1):
        texts = [_cell_to_text(v) for v in row]
        if all(t is None for t in texts):
            continue  # a blank row: skipped, but its number is used up
        if names is None:
            names = _header_names(texts)
            columns = [[] for _ in names]
            continue
        for column, text in itertools.zip_longest(columns, texts[: len(names)]):
            column.append(text)
        numbers.append(row_no)
    if names is None:
        raise FileRejected(_NO_HEADER)
    keep = [i for i, n in enumerate(names) if not n.startswith("unnamed_") or any(columns[i])]
    table = pa.table({names[i]: pa.array(columns[i], pa.string()) for i in keep}
                     | {"source_row": pa.array(numbers, pa.int64())})
    con.register(view, table)
    return RawExport(view, [names[i] for i in keep], "xlsx", None, len(numbers))
