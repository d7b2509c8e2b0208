"""Names used as keys of a count (school, class), normalised in pandas for the indicator engine.

Ingest types and normalises in SQL (`sql_typing.nsk_name`); this is the same rule for the
engine's frames: casefold, runs of whitespace collapsed, trimmed.
"""

from __future__ import annotations

import unicodedata

import pandas as pd


def normalise_key(s: pd.Series) -> pd.Series:
    """Casefold, runs of whitespace collapsed, trimmed; blank/None → None."""
    s = s if isinstance(s, pd.Series) else pd.Series(s, dtype=object)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    table = [(" ".join(unicodedata.normalize("NFC", str(u)).casefold().split()) or None) for u in uniques]
    table.append(None)
    return pd.Series([table[c] for c in codes], index=s.index, dtype=object)
