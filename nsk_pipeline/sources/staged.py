"""Staged rows as read back from the warehouse, in the dtypes the indicator engine expects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nsk_pipeline.sources.ingest import staged_columns
from nsk_pipeline.sources.specs import SourceSpec


def typed_staging(spec: SourceSpec, df: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Staged rows as read back from the warehouse, in the dtypes the indicator engine expects
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
