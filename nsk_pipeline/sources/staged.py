"""Staged rows as read back from the warehouse: typed as the pandera models state, and validated
a batch at a time (in this process or a worker: nothing here imports Dagster)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from nsk_pipeline.core.warehouse import arrow_frame
from nsk_pipeline.sources.ingest import staged_columns
from nsk_pipeline.sources.schemas import MODELS, failures_by_row
from nsk_pipeline.sources.specs import SOURCES, SourceSpec


def typed_staging(spec: SourceSpec, df: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Staged rows as read back from the warehouse, in the dtypes the pandera model states
    (`columns`: only those). Text read as categoricals stays categorical (codes with their
    categories sorted, as the indicator engine orders them)."""
    df = df.reindex(columns=columns or staged_columns(spec)).copy()
    kinds = {c.name: c.kind for c in spec.columns} | {"borger_pseudonym": "text", "koen": "code",
                                                        "aldersgruppe": "code"}
    for name in df.columns:
        kind = kinds.get(name)
        if kind is None:
            continue
        if kind == "date":
            df[name] = pd.to_datetime(df[name]).astype("datetime64[ns]")
        elif kind in ("count", "year"):
            df[name] = pd.to_numeric(df[name]).astype("Int64")
        elif isinstance(df[name].dtype, pd.CategoricalDtype):
            if kind == "code":  # in sorted order, as the engine makes categories of object codes
                df[name] = df[name].cat.reorder_categories(sorted(df[name].cat.categories))
            continue
        else:
            df[name] = pd.Series(np.asarray(df[name], dtype=object), index=df.index).where(df[name].notna(), None)
    if "export_date" in df:
        df["export_date"] = pd.to_datetime(df["export_date"]).astype("datetime64[ns]")
    return df


@dataclass
class Verdict:
    """pandera's verdict on a batch of staged rows: counts by rule and the first failing rows
    (by file and row, never by value)."""
    checked: int
    failing: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    sample: list[str] = field(default_factory=list)


def batch_failures(source: str, batch: pa.Table) -> Verdict:
    """Validate a batch of a staged table against the source's model. Text is read as
    categoricals: pandera then validates each distinct value once."""
    spec = SOURCES[source]
    staged = typed_staging(spec, arrow_frame(batch, categorical=True))
    failures = failures_by_row(MODELS[source].to_schema(), staged)
    verdict = Verdict(len(staged), len(failures))
    for problems in failures.values():
        for _, reason in problems:
            verdict.by_rule[reason] = verdict.by_rule.get(reason, 0) + 1
    verdict.sample = [f"{staged.at[i, 'source_file']} row {staged.at[i, 'source_row']}" for i in list(failures)[:5]]
    return verdict
