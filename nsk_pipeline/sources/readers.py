"""Read one raw export file (CSV or XLSX) as a relation of text in DuckDB.

DuckDB parses the CSV files (``read_csv``, every column VARCHAR, strict mode, no type
detection); this module only decides what DuckDB cannot: the encoding, the separator, the
header line, and the spreadsheet row number of each record. Typing and validation of the
values happen downstream.

Row numbers: ``read_csv ... WITH ORDINALITY`` numbers the records DuckDB returns, and a
record spanning lines (a quoted line break) is one record, as in a spreadsheet. DuckDB skips
empty lines, though (except in a one-column file), and the row numbers count them. So the
byte scan that checks the encoding also lists the physical empty lines (C speed: a regular
expression that starts with a line-ending byte); when there are any, the records whose values
hold line breaks are fetched (only a quoted file can have them), laid out line by line, and
each empty line between records becomes a step ``(first ordinal after it, gaps so far)`` that
the view adds with an ASOF join. Files without empty lines (nearly all) cost nothing extra.

Where DuckDB and the former hand-written reader disagree the file is rejected, never misread:
text after a closing quote (``"x"y``) is rejected with its own reason (it was read as ``xy``);
a file whose header cells DuckDB splits differently from the csv module is rejected as
unparseable. Mixed line endings (CR LF and LF in one file) are normalised to LF in memory
when DuckDB refuses the file; a CR LF inside a quoted value then reads as LF.

Privacy: a :class:`FileRejected` reason never contains a cell value. DuckDB's own parse errors
quote the offending line, so they are never passed on: each is mapped to a fixed reason and
raised outside the ``except`` (nothing chained). Windows-1252 files (and files DuckDB cannot
take as they are) are handed to DuckDB as UTF-8 bytes in fsspec's in-memory filesystem, never
in a temporary file: the counsellors' log holds CPR numbers. :func:`drop_export` removes that
copy, the view and the temporary table.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import datetime as dt
import io
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "FileRejected",
    "RawExport",
    "RawTable",
    "DATA_SUFFIXES",
    "drop_export",
    "export_date_from_name",
    "is_data_file",
    "normalise_header",
    "read_export",
    "read_table",
]

DATA_SUFFIXES = (".csv", ".xlsx")

#: Share of control characters (other than tab, CR, LF) above which decoded text
#: is taken to be binary rather than a CSV export.
CONTROL_CHAR_LIMIT = 0.10

_EXPORT_DATE_RE = re.compile(r"_([0-9]{4})-([0-9]{2})-([0-9]{2})\.[^./\\]+\Z")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: The ASCII characters _CONTROL_RE matches, as bytes (for counting on the raw data).
_ASCII_CONTROL_BYTES = bytes(b for b in range(0x80) if _CONTROL_RE.match(chr(b)))
#: U+0080..U+009F (C1 controls) as UTF-8.
_UTF8_C1_RE = re.compile(rb"\xc2[\x80-\x9f]")
#: UTF-8 continuation bytes: deleting them leaves one byte per character.
_UTF8_CONTINUATION = bytes(range(0x80, 0xC0))
_WS_RE = re.compile(r"\s+")
_SEPARATORS = (";", ",")
#: What ``str.strip()`` removes; the SQL trim removes the same, so a value is trimmed as before.
_WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
#: Whitespace other than space, CR and LF (which only a quoted value can hold), in UTF-8:
#: the ASCII ones (deleted and counted), the others found by their bytes. Each search starts
#: with a literal byte, which the regex engine skips to at C speed (a character class does not).
_OTHER_WHITESPACE_ASCII = b"\t\x0b\x0c\x1c\x1d\x1e\x1f"
_OTHER_WHITESPACE_UTF8 = (b"\xc2\x85", b"\xc2\xa0", b"\xe1\x9a\x80", b"\xe2\x81\x9f", b"\xe3\x80\x80")
_OTHER_WHITESPACE_E2_80 = re.compile(rb"\xe2\x80[\x80-\x8a\xa8\xa9\xaf]")
#: The end of a line that is followed by an empty line (CR LF, CR and LF all end a line).
_EMPTY_LINE_RES = (re.compile(rb"\n(?=[\r\n])"), re.compile(rb"\r(?=\r)"))
_CHUNK_BYTES = 1 << 22
#: Widest row DuckDB is asked to split; a file with longer rows is not an export.
_MAX_COLUMNS = 4096
_MEMORY_ROOT = "nsk_raw"
#: Files up to this size are parsed once into a temporary table (see _export_csv).
_MATERIALISE_BYTES = 1 << 25

_PARSE_FAILED = "the file could not be parsed as CSV"
_NEVER_CLOSED = 'a quoted value is never closed (unbalanced " quotes)'
_TEXT_AFTER_QUOTE = 'the file could not be parsed as CSV (text after the closing " of a quoted value)'
_NO_HEADER = "no header row (the file has no content)"
_NOT_XLSX = "not a readable .xlsx workbook"


class FileRejected(Exception):
    """The whole file is unusable. ``str(e)`` is the reason; it never holds a cell value."""


@dataclass
class RawExport:
    """A file read as a relation of text in a DuckDB connection (see :func:`read_export`)."""

    view: str  # a name in the connection to SELECT from
    header: list[str]  # normalised header names in file order (unnamed blank columns left out)
    encoding: str  # utf-8 | utf-8-sig | cp1252 | xlsx
    separator: str | None
    rows: int  # data rows read
    #: what drop_export removes besides ``view``: registered tables, in-memory files
    _registered: list[str] = field(default_factory=list, repr=False)
    _memory_files: list[str] = field(default_factory=list, repr=False)
    _tables: list[str] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:  # a header-less file's "header" is its first data row
        names = [_safe_column_label(n, i) for i, n in enumerate(self.header, start=1)]
        return (
            f"RawExport(view={self.view!r}, header=[{', '.join(names)}], encoding={self.encoding!r}, "
            f"separator={self.separator!r}, rows={self.rows})"
        )


@dataclass
class RawTable:
    """A file read as text into pandas (the leak audit's view of a file).

    ``frame`` has one object column per header (normalised name) and holds only
    ``str`` (trimmed, non-empty) or ``None``; ``row_numbers[i]`` is the spreadsheet
    row number of ``frame.iloc[i]``.
    """

    frame: pd.DataFrame
    row_numbers: list[int] = field(default_factory=list)
    encoding: str = "utf-8"
    separator: str | None = None

    def __repr__(self) -> str:  # never print cell values
        return (
            f"RawTable(rows={len(self.frame)}, columns={list(self.frame.columns)!r}, "
            f"encoding={self.encoding!r}, separator={self.separator!r})"
        )


# --------------------------------------------------------------------------- names


def export_date_from_name(name: str | Path) -> dt.date:
    """The export date at the end of a file name: ``<anything>_YYYY-MM-DD.<ext>``."""
    base = Path(str(name)).name
    m = _EXPORT_DATE_RE.search(base)
    if m is None:
        raise FileRejected("no export date in the file name (expected <name>_YYYY-MM-DD.csv)")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise FileRejected(
            "no export date in the file name (expected <name>_YYYY-MM-DD.csv)"
        ) from None


def is_data_file(path: str | Path) -> bool:
    """True for ``.csv``/``.xlsx`` files (any case); False for Excel lock files
    (``~$...``), hidden files (``.…``) and anything else."""
    name = Path(str(path)).name
    if not name or name.startswith("~$") or name.startswith("."):
        return False
    return Path(name).suffix.lower() in DATA_SUFFIXES


def normalise_header(name: str) -> str:
    """Header name as matched: stripped, lowercased, inner whitespace collapsed."""
    return _WS_RE.sub(" ", name.strip()).lower()


# --------------------------------------------------------------------------- public

_export_ids = itertools.count(1)


def read_export(
    con: "duckdb.DuckDBPyConnection",
    path: Path | str,
    expected_columns: Iterable[str] | None = None,
) -> RawExport:
    """The file as a relation of text in ``con``: one row per data row, a VARCHAR column per
    header name (normalised: stripped, lower-cased, inner whitespace collapsed), each value
    trimmed with blank -> NULL, plus ``source_row`` BIGINT: the row as a spreadsheet shows it
    (header = row 1; blank rows skipped but counted; a quoted value with line breaks is one
    row). A blank header cell's column is left out unless it holds a value, then it is named
    ``unnamed_<position>``.

    For a CSV file the view reads the file again on every query (it is a view over
    ``read_csv``); the file was parsed through once here, so a query cannot fail on its
    content. ``expected_columns`` only helps choosing the separator. Raises
    :class:`FileRejected` (and nothing else) when the file cannot be used.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    expected = (
        {normalise_header(str(c)) for c in expected_columns} if expected_columns is not None else None
    )
    view = f"raw_export_{next(_export_ids)}"
    try:
        if suffix == ".csv":
            return _export_csv(con, path, expected, view)
        if suffix == ".xlsx":
            return _export_xlsx(con, path, view)
    except FileRejected:
        _drop_partial(con, view)
        raise
    except OSError as exc:
        _drop_partial(con, view)
        raise FileRejected(f"the file could not be opened ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - anything else becomes a generic rejection
        _drop_partial(con, view)
        raise FileRejected(f"the file could not be read (unexpected {type(exc).__name__})") from None
    raise FileRejected("unsupported file type (expected .csv or .xlsx)")


def drop_export(con: "duckdb.DuckDBPyConnection", export: RawExport) -> None:
    """Remove what :func:`read_export` put in ``con`` (and the in-memory copy of the file)."""
    if export.view not in export._registered:
        con.execute(f"DROP VIEW IF EXISTS {export.view}")
    for name in export._registered:
        con.unregister(name)
    for name in export._tables:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    fs = _memory_fs()
    for name in export._memory_files:
        if fs.exists(name):
            fs.rm(name)


def read_table(path: Path | str, expected_columns: Iterable[str] | None = None) -> RawTable:
    """The file in pandas: :func:`read_export` in a connection of its own, fetched."""
    import duckdb

    con = duckdb.connect()
    try:
        export = read_export(con, path, expected_columns)
        try:
            table = con.sql(f"SELECT * FROM {export.view} ORDER BY source_row").to_arrow_table()
        finally:
            drop_export(con, export)
    finally:
        con.close()
    rows = table.column("source_row").to_pylist()
    frame = table.drop_columns(["source_row"]).to_pandas().astype(object)
    return RawTable(frame=frame, row_numbers=rows, encoding=export.encoding, separator=export.separator)


# --------------------------------------------------------------------------- shared


def _clean(value: str) -> str | None:
    value = value.strip()
    return value or None


def _safe_column_label(name: str, position: int) -> str:
    """A header name fit for an error message: a name holding 6+ digits could be a
    data value (e.g. a file whose header row is missing), so it is replaced by its position."""
    if sum(ch.isdigit() for ch in name) >= 6 or len(name) > 80:
        return f"column {position}"
    return repr(name)


def _header_from(cells: Sequence[str | None]) -> list[str]:
    """Names of the header row's cleaned cells; a blank cell becomes ``unnamed_<pos>``."""
    return [
        normalise_header(cell) if cell is not None else f"unnamed_{pos}"
        for pos, cell in enumerate(cells, start=1)
    ]


def _check_unique(header: list[str]) -> None:
    seen: dict[str, int] = {}
    for pos, name in enumerate(header, start=1):
        if name in seen:
            raise FileRejected(
                f"duplicate column name {_safe_column_label(name, pos)} in the header"
            )
        seen[name] = pos


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _drop_partial(con: "duckdb.DuckDBPyConnection", view: str) -> None:
    """After a rejection: nothing of the file stays behind (view, tables, in-memory copy)."""
    try:
        con.execute(f"DROP VIEW IF EXISTS {view}")
        con.execute(f"DROP TABLE IF EXISTS {view}_rows")
        for name in (view, f"{view}_gaps"):
            try:
                con.unregister(name)
            except Exception:  # noqa: BLE001 - it was never registered
                pass
    except Exception:  # noqa: BLE001
        pass
    fs = _memory_fs()
    name = f"{_MEMORY_ROOT}/{view}.csv"
    if fs.exists(name):
        fs.rm(name)


# --------------------------------------------------------------------------- CSV: bytes


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            raise FileRejected(
                "the file starts with a UTF-8 byte-order mark but is not valid UTF-8"
            ) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected("the file is UTF-16 encoded (expected UTF-8 or Windows-1252)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        raise FileRejected(
            "the file's bytes are neither UTF-8 nor Windows-1252 text"
        ) from None


def _count_control_chars(data: bytes, encoding: str) -> int:
    """``len(_CONTROL_RE.findall(text))`` for ``text`` decoded from ``data``, counted on the
    bytes (C speed): both encodings keep ASCII as single bytes, cp1252 decodes no byte to
    a C1 control, and UTF-8 writes U+0080..U+009F as ``C2 80``..``C2 9F``."""
    count = len(data) - len(data.translate(None, _ASCII_CONTROL_BYTES))
    if encoding != "cp1252":
        count += len(_UTF8_C1_RE.findall(data))
    return count


class _EmptyLines:
    """Physical numbers of the empty lines of a byte stream, fed chunk by chunk.

    Only the ends of lines that are followed by an empty line are visited (a regular
    expression finds them); the line endings between them are counted with ``bytes.count``.
    ``CR LF`` is one line ending, as are a lone ``CR`` and a lone ``LF``.
    """

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self._ends = 0  # line endings seen (a CR that a later LF joins is undone then)
        self._carry = b""
        self._started = False
        self.kinds = [0, 0, 0]  # LF, CR, CR LF seen (as bytes: a CR LF counts in all three)

    @property
    def mixed(self) -> bool:
        """More than one kind of line ending (lone LF, lone CR, CR LF)."""
        lf, cr, crlf = self.kinds
        return sum(1 for n in (lf - crlf, cr - crlf, crlf) if n) > 1

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if not self._started:
            self._started = True
            if chunk[:1] in (b"\r", b"\n"):
                self.numbers.append(1)
        first, carry = chunk[:1], self._carry
        joined = carry == b"\r" and first == b"\n"  # a CR LF split between two chunks
        lf = chunk.count(b"\n")
        cr = chunk.count(b"\r") if b"\r" in chunk else 0
        crlf = (chunk.count(b"\r\n") if cr else 0) + joined
        self.kinds = [self.kinds[0] + lf, self.kinds[1] + cr, self.kinds[2] + crlf]
        found = [-1] if (carry == b"\n" and first in (b"\r", b"\n")) or (carry == b"\r" and first == b"\r") else []
        found += sorted(m.start() for pattern in _EMPTY_LINE_RES[: 2 if cr else 1] for m in pattern.finditer(chunk))
        ends, at = self._ends, 0  # `at`: chunk index up to which line endings are counted
        for p in found:
            p += 1  # count through the matched byte (never the CR of a CR LF)
            if p > at:
                ends += chunk.count(b"\n", at, p) + chunk.count(b"\r", at, p) - chunk.count(b"\r\n", at, p)
                ends -= joined and at == 0  # its LF ends no line of its own
                at = p
            self.numbers.append(ends + 1)
        self._ends += lf + cr - crlf
        self._carry = chunk[-1:]


@dataclass
class _Scan:
    encoding: str
    text_start: str  # the decoded beginning of the text (no BOM); all of it when `complete`
    complete: bool
    empty_lines: list[int]
    has_quotes: bool
    other_whitespace: bool  # whitespace other than space, CR, LF anywhere
    mixed_line_endings: bool
    memory: str | None  # the in-memory file DuckDB reads instead (a cp1252 file as UTF-8)


def _has_other_whitespace(data: bytes, has_controls: bool) -> bool:
    """Whitespace other than space, CR, LF in UTF-8 ``data``. All of the ASCII ones but the
    tab are control characters too, so they are looked for only where there are some."""
    if b"\t" in data:
        return True
    if has_controls and len(data.translate(None, _OTHER_WHITESPACE_ASCII)) != len(data):
        return True
    if not any(lead in data for lead in (b"\xc2", b"\xe1", b"\xe2", b"\xe3")):
        return False  # (no lead byte: the common case, decided by memchr)
    return any(seq in data for seq in _OTHER_WHITESPACE_UTF8) or bool(_OTHER_WHITESPACE_E2_80.search(data))


def _scan(path: Path, memory_name: str) -> _Scan:
    """One pass over the bytes, a chunk at a time (flat memory), at C speed (``bytes.count``,
    ``translate``, ``in``, literal-led regular expressions, the UTF-8 decoder): today's
    rejections in today's order, the encoding, and where the empty lines are. A
    Windows-1252 file is decoded in a second pass, chunk by chunk, into the in-memory
    file ``memory_name``."""
    nul = False
    utf8 = True
    controls = chars = 0
    has_quotes = False
    other_ws = False
    lines = _EmptyLines()
    decoder = codecs.getincrementaldecoder("utf-8")()
    text_start = ""
    size = 0
    tail = b""  # the last bytes of the previous chunk: a character may be split
    with open(path, "rb") as fh:
        first = True
        while chunk := fh.read(_CHUNK_BYTES):
            size += len(chunk)
            if not utf8:  # Windows-1252: the second pass does the rest
                nul = nul or b"\x00" in chunk
                continue
            body = chunk
            if first and chunk.startswith(codecs.BOM_UTF8):
                body = chunk[len(codecs.BOM_UTF8) :]
            nul = nul or b"\x00" in chunk
            has_quotes = has_quotes or b'"' in chunk
            chunk_controls = _count_control_chars(chunk, "utf-8")
            if tail[-1:] == b"\xc2" and 0x80 <= chunk[0] <= 0x9F:
                chunk_controls += 1  # a C1 control split across two chunks
            controls += chunk_controls
            ascii_only = body.isascii()
            if not other_ws:
                other_ws = _has_other_whitespace(tail + chunk, chunk_controls > 0)
            tail = (tail + chunk)[-2:]
            lines.feed(body)
            if not ascii_only or decoder.getstate()[0]:  # (ASCII is UTF-8 as it is)
                try:
                    text = decoder.decode(body)
                except UnicodeDecodeError:
                    utf8 = False
                    continue
            else:
                text = body.decode("ascii") if first else ""
            if first:
                text_start = text
            first = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if size == 0:
        raise FileRejected("empty file (0 bytes)")
    if nul:
        raise FileRejected("the file contains NUL bytes (UTF-16 or binary, not a text CSV)")
    memory = None
    if utf8:
        encoding = "utf-8-sig" if size >= 3 and _starts_with_bom(path) else "utf-8"
    else:  # Windows-1252 (or a rejection); DuckDB cannot decode it, so it is done here
        encoding = "cp1252"
        controls = chars = 0
        other_ws = False
        lines = _EmptyLines()
        with open(path, "rb") as fh, _memory_fs().open(memory_name, "wb") as out:
            first = True
            while chunk := fh.read(_CHUNK_BYTES):
                if first and chunk.startswith(codecs.BOM_UTF8):
                    raise FileRejected("the file starts with a UTF-8 byte-order mark but is not valid UTF-8")
                if first and chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise FileRejected("the file is UTF-16 encoded (expected UTF-8 or Windows-1252)")
                try:  # a single-byte encoding: each chunk decodes on its own
                    text = chunk.decode("cp1252")
                except UnicodeDecodeError:
                    raise FileRejected("the file's bytes are neither UTF-8 nor Windows-1252 text") from None
                if first:
                    text_start = text
                    first = False
                has_quotes = has_quotes or b'"' in chunk
                chunk_controls = _count_control_chars(chunk, "cp1252")  # cp1252 has no C1 controls
                controls += chunk_controls
                chars += len(chunk)
                lines.feed(chunk)
                encoded = text.encode("utf-8")
                other_ws = other_ws or _has_other_whitespace(encoded, chunk_controls > 0)
                out.write(encoded)
        memory = memory_name
    if controls and utf8:  # the characters they are weighed against: bytes that are not
        chars = _utf8_characters(path)  # UTF-8 continuation bytes (counted only when needed)
    if chars and controls > CONTROL_CHAR_LIMIT * chars:
        raise FileRejected("not a text file (mostly control characters)")
    return _Scan(
        encoding, text_start, size <= _CHUNK_BYTES, lines.numbers, has_quotes, other_ws, lines.mixed, memory
    )


def _utf8_characters(path: Path) -> int:
    count = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            count += len(chunk.translate(None, _UTF8_CONTINUATION))
    return count - (1 if _starts_with_bom(path) else 0)


def _starts_with_bom(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(3) == codecs.BOM_UTF8


def _full_text(path: Path, scan: _Scan) -> str:
    if scan.complete:
        return scan.text_start
    return _decode(path.read_bytes())[0]


# --------------------------------------------------------------------------- CSV: header


def _header_line(text: str) -> str:
    """The first non-blank line, where quotes may hide line breaks."""
    text = text.lstrip("\r\n\t ")
    in_quotes = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch in "\r\n" and not in_quotes:
            return text[:i]
    return text


def _count_outside_quotes(line: str, sep: str) -> int:
    count, in_quotes = 0, False
    for ch in line:
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == sep and not in_quotes:
            count += 1
    return count


def _split_line(line: str, sep: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=sep, quotechar='"', skipinitialspace=True), [])
    except csv.Error:
        return []


def _detect_separator(text: str, expected: set[str] | None) -> str:
    line = _header_line(text)
    counts = {sep: _count_outside_quotes(line, sep) for sep in _SEPARATORS}
    if expected:
        matches = {
            sep: len({normalise_header(c) for c in _split_line(line, sep)} & expected)
            for sep in _SEPARATORS
        }
        best = max(matches.values())
        candidates = [sep for sep in _SEPARATORS if matches[sep] == best]
        if len(candidates) == 1:
            return candidates[0]
    # more separators wins; a tie (e.g. a one-column file) goes to ';' (Danish Excel)
    return ";" if counts[";"] >= counts[","] else ","


def _ends_inside_quotes(text: str, sep: str) -> bool:
    """True when a quoted field is opened and never closed.

    A ``"`` opens a quoted field only at the start of a field (after optional spaces);
    inside one, ``""`` is a literal quote and ``"`` closes it. Only the quote characters
    are visited. Used where DuckDB does not tell (see :func:`_export_csv`).
    """
    in_quotes = False
    skip_until = -1
    for m in re.finditer('"', text):
        pos = m.start()
        if pos < skip_until:
            continue
        if in_quotes:
            if text.startswith('""', pos):
                skip_until = pos + 2  # escaped quote
            else:
                in_quotes = False
            continue
        before = pos - 1
        while before >= 0 and text[before] == " ":
            before -= 1
        if before < 0 or text[before] in (sep, "\r", "\n"):
            in_quotes = True
    return in_quotes


@dataclass
class _Header:
    cells: list[str | None]  # cleaned
    record: int  # the header's record number (1-based; an empty line is a record)
    empty_before: int  # empty lines before it

    def ordinal(self, columns: int) -> int:
        """Its number among the records DuckDB returns: DuckDB skips empty lines, except
        in a one-column file (where an empty line is an empty value)."""
        return self.record if columns == 1 else self.record - self.empty_before


def _find_header(text: str, complete: bool, sep: str) -> _Header | None:
    """The first record with a non-blank cell, parsed as the csv module does (quotes may
    hide line breaks). ``None`` when ``text`` (not all of the file) ends before it does."""
    buf = io.StringIO(text, newline="")
    reader = csv.reader(
        buf, delimiter=sep, quotechar='"', doublequote=True, skipinitialspace=True, strict=False
    )
    empty = 0  # empty lines: records for the csv module, skipped by DuckDB
    try:
        for records, row in enumerate(reader, start=1):
            if not complete and buf.tell() >= len(text):
                return None  # the record may go on past `text`
            if not row:
                empty += 1
                continue
            cells = [_clean(c) for c in row]
            if any(c is not None for c in cells):
                return _Header(cells, records, empty)
    except csv.Error:
        raise FileRejected(_PARSE_FAILED) from None
    if not complete:
        return None
    raise FileRejected(_NO_HEADER)


# --------------------------------------------------------------------------- CSV: DuckDB


def _memory_fs():
    import fsspec

    return fsspec.filesystem("memory")


def _ensure_memory_fs(con: "duckdb.DuckDBPyConnection") -> None:
    if "memory" not in con.list_filesystems():
        con.register_filesystem(_memory_fs())


def _read_csv_sql(source: str, sep: str, width: int, parallel: bool) -> str:
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, width + 1))
    return (
        f"read_csv({_sql_str(source)}, delim={_sql_str(sep)}, quote='\"', escape='\"', "
        f"header=false, auto_detect=false, columns={{{columns}}}, null_padding=true, "
        f"strict_mode=true, parallel={str(parallel).lower()}, encoding='utf-8') WITH ORDINALITY"
    )


_WHITESPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _WHITESPACE) + "]"


def _text_sql(column: str, all_whitespace: bool) -> str:
    """The column trimmed as ``str.strip()`` trims, blank -> NULL. DuckDB's ``trim`` removes
    spaces only; the other whitespace takes a regular expression, 3x slower (and ``trim``
    with a set of characters 25x), so it is used only where the file holds such characters."""
    if all_whitespace:
        pattern = f"^{_WHITESPACE_CLASS}+|{_WHITESPACE_CLASS}+$"
        return f"nullif(regexp_replace({column}, '{pattern}', '', 'g'), '')"
    return f"nullif(trim({column}), '')"


_LINE_ENDS_SQL = (
    "(length({c}) - length(replace({c}, chr(10), '')) + length({c}) - length(replace({c}, chr(13), ''))"
    " - (length({c}) - length(replace({c}, chr(13) || chr(10), ''))) // 2)"
)


def _gap_steps(empty_lines: list[int], multiline: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(ordinal, gaps)``: from the DuckDB record ``ordinal`` on, ``gaps`` empty lines precede.

    DuckDB skips empty lines, which the spreadsheet row numbers count. An empty line inside a
    quoted value is no record, so the records whose values span lines (``multiline``:
    ``(ordinal, line breaks inside)``) are laid out first: an empty line is a gap exactly when
    it falls between records. Gaps found so far are taken out of the line numbers, so the
    position ``q`` of an empty line is where the next record starts if it is a gap.
    """
    starts, ends, before = [], [], [0]
    shift = 0
    for ordinal, breaks in multiline:
        starts.append(ordinal + shift)
        ends.append(ordinal + shift + breaks)
        shift += breaks
        before.append(shift)
    steps: dict[int, int] = {}
    gaps = 0
    for line in empty_lines:
        q = line - gaps
        j = bisect.bisect_left(starts, q)
        if j and ends[j - 1] >= q:
            continue  # inside a quoted value
        gaps += 1
        steps[q - before[j]] = gaps
    return sorted(steps.items())


def _export_csv(con: "duckdb.DuckDBPyConnection", path: Path, expected: set[str] | None, view: str) -> RawExport:
    import duckdb

    memory_name = f"{_MEMORY_ROOT}/{view}.csv"
    scan = _scan(path, memory_name)
    if not scan.text_start.strip() and scan.complete:
        raise FileRejected(_NO_HEADER)
    sep = _detect_separator(scan.text_start, expected)
    header = _find_header(scan.text_start, scan.complete, sep)
    if header is None:  # the header record goes on past the first chunk: rare, read it all
        scan.text_start, scan.complete = _full_text(path, scan), True
        sep = _detect_separator(scan.text_start, expected)
        header = _find_header(scan.text_start, True, sep)
        assert header is not None
    names = _header_from(header.cells)
    width = len(names)
    _check_unique(names)

    memory_files: list[str] = []

    def to_memory(data: bytes) -> str:
        _ensure_memory_fs(con)
        name = f"{_MEMORY_ROOT}/{view}.csv"
        with _memory_fs().open(name, "wb") as fh:
            fh.write(data)
        if name not in memory_files:
            memory_files.append(name)
        return f"memory://{name}"

    if scan.memory is not None:
        _ensure_memory_fs(con)
        memory_files.append(scan.memory)
        source = f"memory://{scan.memory}"
    else:
        source = str(path)
    # A small file is parsed once, into a temporary table of its trimmed text; a big one is
    # parsed here to check it and again by each query of the view (memory stays flat).
    materialise = path.stat().st_size <= _MATERIALISE_BYTES
    rows_table = f"{view}_rows"
    unnamed = [i for i, n in enumerate(names, start=1) if n.startswith("unnamed_")]
    parallel, columns, normalised = True, width, False
    full_trim = scan.other_whitespace  # (or a value holding a line break: found below)
    while True:
        h = header.ordinal(columns)
        read = _read_csv_sql(source, sep, columns, parallel)
        texts = [_text_sql(f"c{i}", full_trim) for i in range(1, columns + 1)]
        raw = ", ".join(f"c{i}" for i in range(1, columns + 1))
        # only a quoted value can hold a line break (DuckDB does not always say so)
        breaks = f"regexp_matches(concat({raw}), '[\\n\\r]')" if scan.has_quotes else "false"
        if materialise:
            relation, order = rows_table, "o"
            cells = [f"c{i}" for i in range(1, columns + 1)]
            not_blank = f"coalesce({', '.join(cells)}) IS NOT NULL"
            sql = (
                f"CREATE OR REPLACE TEMP TABLE {rows_table} AS SELECT * FROM (SELECT ordinality AS o, "
                + ", ".join(f"{t} AS c{i}" for i, t in enumerate(texts, start=1))
                + f", {breaks} AS line_break FROM {read}) WHERE o = {h} OR (o > {h} AND {not_blank})"
            )
        else:
            relation, order, cells = read, "ordinality", texts
            not_blank = f"coalesce({', '.join(cells)}) IS NOT NULL"
            sql = None
        try:
            if sql is not None:  # the table holds the header row and the non-blank rows only
                con.execute(sql)
                counts = ", ".join(["count(*) - 1"] + [f"count(c{i})" for i in unnamed])
                got = con.execute(
                    f"SELECT {counts}, count(*) FILTER (WHERE line_break) FROM {rows_table}"
                ).fetchall()[0]
                got += con.execute(
                    f"SELECT {', '.join(cells[:width])} FROM {rows_table} WHERE o = {h}"
                ).fetchall()[0]
            else:
                aggregates = [f"count(*) FILTER (WHERE {order} > {h} AND {not_blank})"]
                aggregates += [
                    f"count(*) FILTER (WHERE {order} > {h} AND {cells[i - 1]} IS NOT NULL)" for i in unnamed
                ]
                aggregates += [f"count(*) FILTER (WHERE {breaks})"]
                aggregates += [f"max(CASE WHEN {order} = {h} THEN {cells[i]} END)" for i in range(width)]
                got = con.execute(f"SELECT {', '.join(aggregates)} FROM {relation}").fetchall()[0]
            line_breaks = got[1 + len(unnamed)] > 0
            if line_breaks and not full_trim:
                full_trim = True  # a value may start or end with one: str.strip() removes it
                continue
            break
        except duckdb.Error as exc:
            message = str(exc)  # quotes the file's line: read, never passed on
        if parallel and "null_padding in conjunction with quoted new lines" in message:
            parallel = False  # DuckDB splits such files only in one thread
            continue
        wider = re.search(r"Expected Number of Columns: \d+ Found: (\d+)", message)
        if wider and columns < int(wider.group(1)) <= _MAX_COLUMNS:
            columns = min(max(int(wider.group(1)), 2 * columns), _MAX_COLUMNS)  # longer rows: cut
            continue
        if scan.mixed_line_endings and not normalised and (
            "invalid state" in message or "unterminated quote" in message
        ):
            # DuckDB takes one kind of line ending per file (an LF in a CR LF file is text,
            # which is right inside a quoted value, as Excel writes them, and wrong elsewhere)
            data = scan.text_start if scan.complete else _full_text(path, scan)
            source = to_memory(data.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8"))
            normalised = True
            continue
        if "unterminated quote" in message:
            if _ends_inside_quotes(_full_text(path, scan), sep):
                raise FileRejected(_NEVER_CLOSED)
            raise FileRejected(_TEXT_AFTER_QUOTE)
        raise FileRejected(_PARSE_FAILED)

    rows, unnamed_counts, header_read = got[0], got[1 : 1 + len(unnamed)], got[2 + len(unnamed) :]
    if list(header_read) != header.cells:
        raise FileRejected(_PARSE_FAILED)  # DuckDB and the header line disagree on the records
    if scan.has_quotes and (line_breaks or not parallel):
        # DuckDB's single-threaded scan takes a quote left open at the end for a value that
        # ends with the file (and drops it): the one check DuckDB does not do here
        if _ends_inside_quotes(_full_text(path, scan), sep):
            raise FileRejected(_NEVER_CLOSED)
    keep = [
        i
        for i, n in enumerate(names, start=1)
        if not n.startswith("unnamed_") or unnamed_counts[unnamed.index(i)] > 0
    ]
    registered: list[str] = []
    join, gaps = "", "0"
    if scan.empty_lines and columns > 1:
        multiline: list[tuple[int, int]] = []
        if line_breaks:  # which records span lines, and how many
            breaks = " + ".join(_LINE_ENDS_SQL.format(c=f"coalesce(c{i}, '')") for i in range(1, columns + 1))
            multiline = [
                (int(o), int(b))
                for o, b in con.execute(
                    f"SELECT ordinality, {breaks} AS b FROM {read} WHERE b > 0 ORDER BY ordinality"
                ).fetchall()
            ]
        steps = _gap_steps(scan.empty_lines, multiline)
        if steps:
            table = pa.table(
                {"first": pa.array([s[0] for s in steps], pa.int64()), "g": pa.array([s[1] for s in steps], pa.int64())}
            )
            con.register(f"{view}_gaps", table)
            registered.append(f"{view}_gaps")
            join = f" ASOF LEFT JOIN {view}_gaps AS gaps ON {order} >= gaps.first"
            gaps = "coalesce(gaps.g, 0)"
    select = ", ".join(f"{cells[i - 1]} AS {_sql_name(names[i - 1])}" for i in keep)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {select + ', ' if select else ''}"
        f"CAST({order} + {gaps} AS BIGINT) AS source_row FROM {relation}{join} "
        f"WHERE {order} > {h} AND {not_blank}"
    )
    tables = [rows_table] if materialise else []
    if materialise:
        fs = _memory_fs()
        for name in memory_files:  # the text is in the table now
            if fs.exists(name):
                fs.rm(name)
        memory_files = []
    return RawExport(
        view=view,
        header=[names[i - 1] for i in keep],
        encoding=scan.encoding,
        separator=sep,
        rows=int(rows),
        _registered=registered,
        _memory_files=memory_files,
        _tables=tables,
    )


# --------------------------------------------------------------------------- XLSX


def _cell_to_text(value: object) -> str | None:
    """A cell as text. Excel stores every number as a float; a whole one is written as its
    digits (``25``, and a CPR number whose leading zero Excel dropped: ``101901234``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return _clean(str(value))


def _export_xlsx(con: "duckdb.DuckDBPyConnection", path: Path, view: str) -> RawExport:
    from python_calamine import CalamineWorkbook

    with open(path, "rb") as fh:  # OSError (missing file) is reported as such
        magic = fh.read(4)
    if not magic:
        raise FileRejected("empty file (0 bytes)")
    if magic != b"PK\x03\x04":
        raise FileRejected(_NOT_XLSX)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        if not workbook.sheet_names:
            raise FileRejected("the workbook has no worksheet")
        # from A1 (not from the first used cell), so that list positions are row numbers
        cells = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except FileRejected:
        raise
    except Exception:  # noqa: BLE001 - zip, XML, ... all mean the same
        raise FileRejected(_NOT_XLSX) from None

    names: list[str] | None = None
    columns: list[list[str | None]] = []
    numbers: list[int] = []
    for row_no, row in enumerate(cells, start=1):
        texts = [_cell_to_text(v) for v in row]
        if all(t is None for t in texts):
            continue  # fully blank row: skipped, but its number is used up
        if names is None:
            names = _header_from(texts)
            _check_unique(names)
            columns = [[] for _ in names]
            continue
        texts.extend([None] * (len(names) - len(texts)))
        for column, text in zip(columns, texts):
            column.append(text)
        numbers.append(row_no)
    if names is None:
        raise FileRejected(_NO_HEADER)
    keep = [i for i, n in enumerate(names) if not n.startswith("unnamed_") or any(columns[i])]
    table = pa.table(
        {names[i]: pa.array(columns[i], pa.string()) for i in keep}
        | {"source_row": pa.array(numbers, pa.int64())}
    )
    con.register(view, table)
    return RawExport(
        view=view,
        header=[names[i] for i in keep],
        encoding="xlsx",
        separator=None,
        rows=len(numbers),
        _registered=[view],
    )
