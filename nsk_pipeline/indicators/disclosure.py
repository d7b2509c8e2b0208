"""Disclosure control for breakdowns of the counsellors' log: the contract's rule, here and
nowhere else ("Privacy rules the marts keep" in goals-and-marts.md).

Cells of `SMALL_TEXT` are suppressed. Because the yearly totals are published, a single
suppressed cell in a dimension could be recovered as total minus the other cells; so a second
cell, the smallest remaining one (non-zero first), is suppressed too. The asset check
`disclosure_control`, the column descriptions and the data dictionary take the bounds and the
protected sources from the names below.
"""

from __future__ import annotations

import pandas as pd

from nsk_pipeline.indicators.registry import INDICATORS

# A breakdown cell counting from SMALLEST through LARGEST rows is withheld (0 is not small).
SMALLEST, LARGEST = 1, 4
SMALL_TEXT = f"{SMALLEST}-{LARGEST}"  # as the descriptions say it
# The sources whose breakdowns are protected, and how the descriptions name them.
PROTECTED_SOURCES = ("vejlederlog",)
PROTECTED_LABEL = "counsellor-log"


def is_small(values: pd.Series) -> pd.Series:
    """Whether each value is a count the rule withholds (NULL is not)."""
    return values.notna() & values.between(SMALLEST, LARGEST)


def suppress(breakdown: pd.DataFrame) -> pd.DataFrame:
    out = breakdown.copy()
    out["suppressed"] = False
    protected = out["indicator_id"].map(lambda i: INDICATORS[i].source in PROTECTED_SOURCES)
    values = out["value"]
    primary = protected & is_small(values)
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
