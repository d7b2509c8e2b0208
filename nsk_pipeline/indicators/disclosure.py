"""Disclosure control for breakdowns of the counsellors' log.

Cells of 1-4 are suppressed. Because the yearly totals are published, a single suppressed
cell in a dimension could be recovered as total minus the other cells; so a second cell, the
smallest remaining one (non-zero first), is suppressed too.
"""

from __future__ import annotations

import pandas as pd

from nsk_pipeline.indicators.registry import INDICATORS

SMALL = range(1, 5)
PROTECTED_SOURCES = frozenset({"vejlederlog"})


def suppress(breakdown: pd.DataFrame) -> pd.DataFrame:
    out = breakdown.copy()
    out["suppressed"] = False
    protected = out["indicator_id"].map(lambda i: INDICATORS[i].source in PROTECTED_SOURCES)
    values = out["value"]
    primary = protected & values.notna() & values.isin(list(SMALL))
    out.loc[primary, "suppressed"] = True
    for _, group in out[protected].groupby(["indicator_id", "year", "dimension"]):
        hidden = group["suppressed"]
        if hidden.sum() != 1 or len(group) < 2:
            continue
        candidates = group[~hidden & group["value"].notna()]
        if candidates.empty:
            continue
        # Prefer the smallest non-zero cell: a hidden zero next to a hidden small cell would let a
        # reader who knows the zero from elsewhere recover the small one.
        nonzero = candidates[candidates["value"] > 0]
        pick = (nonzero if len(nonzero) else candidates)["value"].idxmin()
        out.loc[pick, "suppressed"] = True
    out.loc[out["suppressed"], "value"] = None
    return out
