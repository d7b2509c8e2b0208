"""Read one raw export file (CSV or XLSX) into a frame of trimmed strings.

This layer only turns bytes into a table of text; typing and validation of the
values happen in :mod:`nsk_pipeline.sources.parsing` and :mod:`nsk_pipeline.sources.cpr`.

Privacy: a :class:`FileRejected` reason never contains a cell value, and any
unexpected error while reading is turned into a generic :class:`FileRejected`
(raised ``from None``, so no traceback with file content is chained to it).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "FileRejected",
    "RawExport",
    "RawTable",
    "DATA_SUFFIXES",
    "export_date_from_name",
    "is_data_file",
    "normalise_header",
    "drop_export",
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
_WS_RE = re.compile(r"\s+")
_SEPARATORS = (";", ",")


class FileRejected(Exception):
    """The whole file is unusable. ``str(e)`` is the reason; it never holds a cell value."""


@dataclass
class RawTable:
    """A file read as text.

    ``frame`` has one object column per header (normalised name) and holds only
    ``str`` (trimmed, non-empty) or ``None``; ``row_numbers[i]`` is the spreadsheet
    row number of ``frame.iloc[i]`` (header = row 1, first data row = row 2,
    blank rows skipped but counted).
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


def read_table(path: Path | str, expected_columns: Iterable[str] | None = None) -> RawTable:
    """Read a ``.csv`` or ``.xlsx`` export into a :class:`RawTable`.

    ``expected_columns`` only helps choosing the CSV separator. Raises
    :class:`FileRejected` (and nothing else) when the file cannot be used.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    expected = (
        {normalise_header(str(c)) for c in expected_columns} if expected_columns is not None else None
    )
    try:
        if suffix == ".csv":
            return _read_csv(path, expected)
        if suffix == ".xlsx":
            return _read_xlsx(path)
    except FileRejected:
        raise
    except OSError as exc:
        raise FileRejected(f"the file could not be opened ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - anything else becomes a generic rejection
        raise FileRejected(f"the file could not be read (unexpected {type(exc).__name__})") from None
    raise FileRejected("unsupported file type (expected .csv or .xlsx)")


@dataclass
class RawExport:
    """A file read as a relation of text in a DuckDB connection (see :func:`read_export`)."""

    view: str  # a name in the connection to SELECT from
    header: list[str]  # normalised header names in file order (unnamed blank columns left out)
    encoding: str  # utf-8 | utf-8-sig | cp1252 | xlsx
    separator: str | None
    rows: int  # data rows read


_export_ids = itertools.count(1)


def read_export(
    con: "duckdb.DuckDBPyConnection", path: Path | str, expected_columns: Iterable[str] | None = None
) -> RawExport:
    """The file as a relation of text in ``con``: one row per data row, a VARCHAR column per
    header name (normalised: stripped, lower-cased, inner whitespace collapsed), each value
    trimmed with blank -> NULL, plus ``source_row`` BIGINT: the row as a spreadsheet shows it
    (header = row 1; blank rows skipped but counted). Raises :class:`FileRejected` (whose
    reason never holds a cell value) when the file cannot be used."""
    import pyarrow as pa

    table = read_table(path, expected_columns)
    header = list(table.frame.columns)
    arrays = [pa.array(table.frame[c].tolist(), type=pa.string()) for c in header]
    arrays.append(pa.array(table.row_numbers, type=pa.int64()))
    arrow = pa.Table.from_arrays(arrays, names=[*header, "source_row"])
    name = f"raw_export_{next(_export_ids)}"
    con.register(name, arrow)
    return RawExport(
        view=name,
        header=header,
        encoding=table.encoding,
        separator=table.separator,
        rows=len(table.row_numbers),
    )


def drop_export(con: "duckdb.DuckDBPyConnection", export: RawExport) -> None:
    """Forget the relation :func:`read_export` made (its rows are freed with it)."""
    con.unregister(export.view)


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


def _finish_table(
    header: list[str],
    rows: Sequence[Sequence[str | None]] | np.ndarray,
    row_numbers: list[int],
    encoding: str,
    separator: str | None,
) -> RawTable:
    """The RawTable of ``rows`` (already cleaned, exactly ``len(header)`` cells each)."""
    # dtype=object: every column is object already (an ndarray is wrapped, not copied)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if len(rows) else pd.DataFrame(
        {name: pd.Series([], dtype=object) for name in header}
    )
    # unnamed columns (blank header cell) are kept only when they hold something,
    # so that the caller can report them as extra columns.
    drop = [c for c in header if c.startswith("unnamed_") and frame[c].isna().all()]
    if drop:
        frame = frame.drop(columns=drop)
    frame.index = pd.RangeIndex(len(frame))  # as reset_index(drop=True), without a copy
    return RawTable(frame=frame, row_numbers=row_numbers, encoding=encoding, separator=separator)


def _build_table(
    records: Iterable[tuple[int, Sequence[str | None]]],
    encoding: str,
    separator: str | None,
) -> RawTable:
    """``records`` yields (row number, cleaned cells). The first non-blank one is the header."""
    header: list[str] | None = None
    rows: list[list[str | None]] = []
    row_numbers: list[int] = []
    width = 0
    for row_no, cells in records:
        if all(c is None for c in cells):
            continue  # fully blank row: skipped, but its number is used up
        if header is None:
            header = _header_from(cells)
            # trailing unnamed columns with nothing in them are common (";;;" exports)
            width = len(header)
            _check_unique(header)
            continue
        row = list(cells[:width])
        if len(row) < width:
            row.extend([None] * (width - len(row)))
        rows.append(row)
        row_numbers.append(row_no)

    if header is None:
        raise FileRejected("no header row (the file has no content)")
    return _finish_table(header, rows, row_numbers, encoding, separator)


# --------------------------------------------------------------------------- CSV


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

    Mirrors the csv module's rules (``skipinitialspace=True``, ``strict=False``):
    a ``"`` opens a quoted field only at the start of a field (after optional
    spaces); inside one, ``""`` is a literal quote and ``"`` closes it. Only the
    quote characters are visited, so files without quotes cost nothing.
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


def _count_control_chars(data: bytes, encoding: str) -> int:
    """``len(_CONTROL_RE.findall(text))`` for ``text`` decoded from ``data``, counted on the
    bytes (C speed): both encodings keep ASCII as single bytes, cp1252 decodes no byte to
    a C1 control, and UTF-8 writes U+0080..U+009F as ``C2 80``..``C2 9F``."""
    count = len(data) - len(data.translate(None, _ASCII_CONTROL_BYTES))
    if encoding != "cp1252":
        count += len(_UTF8_C1_RE.findall(data))
    return count


def _csv_reader(text: str, sep: str) -> Iterator[list[str]]:
    return csv.reader(
        io.StringIO(text, newline=""),
        delimiter=sep,
        quotechar='"',
        doublequote=True,
        skipinitialspace=True,
        strict=False,
    )


def _read_csv(path: Path, expected: set[str] | None, *, fast: bool = True) -> RawTable:
    """``fast=False`` forces the row-wise reference reader (the tests compare the two)."""
    data = path.read_bytes()
    if not data:
        raise FileRejected("empty file (0 bytes)")
    if b"\x00" in data:
        raise FileRejected("the file contains NUL bytes (UTF-16 or binary, not a text CSV)")
    text, encoding = _decode(data)
    if text and _count_control_chars(data, encoding) > CONTROL_CHAR_LIMIT * len(text):
        raise FileRejected("not a text file (mostly control characters)")
    if not text.strip():
        raise FileRejected("no header row (the file has no content)")
    sep = _detect_separator(text, expected)
    if fast:
        try:
            return _csv_table_columnar(text, encoding, sep)
        except csv.Error:
            # rare (a field over csv.field_size_limit()): the row-wise reader reports
            # it, and whatever error comes first in the file, exactly as before
            pass
    return _csv_table_rowwise(text, encoding, sep)


def _csv_table_rowwise(text: str, encoding: str, sep: str) -> RawTable:
    """Reference reader: one record at a time (slow on big files, kept as the fallback)."""
    if _ends_inside_quotes(text, sep):
        raise FileRejected('a quoted value is never closed (unbalanced " quotes)')

    reader = _csv_reader(text, sep)

    def records() -> Iterable[tuple[int, list[str | None]]]:
        try:
            for row_no, row in enumerate(reader, start=1):
                yield row_no, [c.strip() or None for c in row]
        except csv.Error:
            raise FileRejected("the file could not be parsed as CSV") from None

    return _build_table(records(), encoding=encoding, separator=sep)


#: Appended as a record of its own after the text. It comes back as the last record,
#: alone, exactly when the text does not end inside a quoted value; otherwise the open
#: value swallows it (with a line break). NUL never occurs in an accepted file.
_END_MARK = "\x00"
#: Records parsed per slice. Small on purpose: with fewer than ~700 row lists alive at a
#: time the cyclic garbage collector hardly runs (with big slices it ran full collections
#: over the whole heap again and again: about 40% of the CSV reading time).
_CHUNK_ROWS = 256


def _csv_table_columnar(text: str, encoding: str, sep: str) -> RawTable:
    """Same result as :func:`_csv_table_rowwise`, from the same ``csv`` parser (so quoting,
    line breaks, blank lines and record numbers are identical), with the cleaning of the
    cells done a slice of records at a time: ``str.strip`` mapped over all cells and the
    blank checks on a NumPy array instead of per-cell Python code.

    Raises ``csv.Error`` on a parser error; the caller then falls back to the row-wise
    reader, which reports errors in the order the original reader found them.
    """
    end = _END_MARK if text.endswith(("\n", "\r")) else "\n" + _END_MARK
    reader = _csv_reader(text + end, sep)
    header: list[str] | None = None
    width = 0
    parts: list[np.ndarray] = []
    numbers: list[np.ndarray] = []
    row_no = 0  # record number of the last record handled

    def add(rows: list[list[str]]) -> None:
        nonlocal header, width, row_no
        first = row_no + 1
        row_no += len(rows)
        if header is None:
            for i, row in enumerate(rows):
                if any(c.strip() for c in row):
                    header = _header_from([_clean(c) for c in row])
                    width = len(header)
                    del rows[: i + 1]
                    first += i + 1
                    break
            else:
                return  # only blank records so far
            if not rows:
                return
        keep_anyway: list[int] = []  # long rows that are blank up to `width` only
        if list(map(len, rows)).count(width) != len(rows):
            for i, row in enumerate(rows):
                if len(row) > width:
                    if any(c.strip() for c in row[width:]):
                        keep_anyway.append(i)
                    rows[i] = row[:width]
                elif len(row) < width:
                    rows[i] = row + [""] * (width - len(row))
        stripped = map(str.strip, itertools.chain.from_iterable(rows))
        cells = np.fromiter(stripped, dtype=object, count=len(rows) * width)
        cells = cells.reshape(len(rows), width)
        empty = cells == ""
        cells[empty] = None
        keep = ~empty.all(axis=1)
        keep[keep_anyway] = True
        if keep.all():
            parts.append(cells)
            numbers.append(np.arange(first, first + len(rows)))
        else:
            parts.append(cells[keep])
            numbers.append(np.flatnonzero(keep) + first)

    pending: list[list[str]] = []
    while chunk := list(itertools.islice(reader, _CHUNK_ROWS)):
        if pending:
            add(pending)
        pending = chunk  # held back one slice: the end mark is in the last one
    if pending[-1] != [_END_MARK]:
        raise FileRejected('a quoted value is never closed (unbalanced " quotes)')
    pending.pop()
    add(pending)

    if header is None:
        raise FileRejected("no header row (the file has no content)")
    _check_unique(header)
    values = np.concatenate(parts) if parts else np.empty((0, width), dtype=object)
    row_numbers = np.concatenate(numbers).tolist() if numbers else []
    return _finish_table(header, values, row_numbers, encoding, sep)


# --------------------------------------------------------------------------- XLSX


def _cell_to_text(value: object) -> str | None:
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
        return repr(value)
    return _clean(str(value))


def _read_xlsx(path: Path) -> RawTable:
    import openpyxl  # local: only needed for workbooks

    with open(path, "rb") as fh:  # OSError (missing file) is reported as such
        magic = fh.read(4)
    if not magic:
        raise FileRejected("empty file (0 bytes)")
    if magic != b"PK\x03\x04":
        raise FileRejected("not a readable .xlsx workbook")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception:  # noqa: BLE001 - zip, XML, KeyError, ... all mean the same
            raise FileRejected("not a readable .xlsx workbook") from None
        try:
            if not wb.worksheets:
                raise FileRejected("the workbook has no worksheet")
            ws = wb.worksheets[0]
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()  # do not trust the stored used range

            def records() -> Iterable[tuple[int, list[str | None]]]:
                for row_no, row in enumerate(ws.iter_rows(values_only=True), start=1):
                    yield row_no, [_cell_to_text(v) for v in row]

            try:
                return _build_table(records(), encoding="xlsx", separator=None)
            except FileRejected:
                raise
            except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, EOFError):
                raise FileRejected("not a readable .xlsx workbook") from None
            except Exception:  # noqa: BLE001
                raise FileRejected("not a readable .xlsx workbook") from None
        finally:
            try:
                wb.close()
            except Exception:  # noqa: BLE001
                pass
