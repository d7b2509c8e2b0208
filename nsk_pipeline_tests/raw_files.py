"""A raw export fetched into pandas, for tests that look at what a file holds (the leak audit,
the revisions' deliveries): the pipeline itself never fetches a file into pandas."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from nsk_pipeline.sources.readers import drop_export, read_export


@dataclass
class RawTable:
    """A file fetched into pandas: text or None per cell, and each row's number in the file."""

    frame: pd.DataFrame
    row_numbers: list[int] = field(default_factory=list)

    def __repr__(self) -> str:  # never print cell values
        return f"RawTable(rows={len(self.frame)}, columns={list(self.frame.columns)!r})"


def read_table(path: Path | str, expected_columns: Iterable[str] | None = None) -> RawTable:
    """The file in pandas: `read_export` in a connection of its own, fetched."""
    with duckdb.connect() as con:
        export = read_export(con, path, expected_columns)
        table = con.sql(f"SELECT * FROM {export.view} ORDER BY source_row").to_arrow_table()
        drop_export(con, export)
    frame = table.drop_columns(["source_row"]).to_pandas().astype(object)
    return RawTable(frame, table.column("source_row").to_pylist())
