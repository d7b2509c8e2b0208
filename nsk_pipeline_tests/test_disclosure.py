"""Disclosure control: no suppressed cell can be recovered from the total and the other cells."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from nsk_pipeline.indicators.disclosure import suppress


def cells(values: dict[str, int], indicator="borgersager", dimension="koen") -> pd.DataFrame:
    return pd.DataFrame([dict(indicator_id=indicator, year=2025, dimension=dimension, category=c, value=float(v),
                              suppressed=False) for c, v in values.items()])



def test_small_cells_are_suppressed():
    out = suppress(cells({"kvinde": 3, "mand": 40, "ukendt": 12})).set_index("category")
    assert out.loc["kvinde", "suppressed"] and pd.isna(out.loc["kvinde", "value"])


def test_a_single_small_cell_gets_a_second_cell_suppressed_the_smallest_non_zero():
    out = suppress(cells({"lav": 2, "middel": 0, "hoej": 9, "ukendt": 30})).set_index("category")
    assert out["suppressed"].to_dict() == {"lav": True, "middel": False, "hoej": True, "ukendt": False}


def test_zero_is_not_small():
    out = suppress(cells({"lav": 0, "middel": 7, "hoej": 9}))
    assert not out["suppressed"].any()


def test_two_small_cells_need_no_secondary_suppression():
    out = suppress(cells({"lav": 1, "middel": 2, "hoej": 50})).set_index("category")
    assert out["suppressed"].to_dict() == {"lav": True, "middel": True, "hoej": False}


def test_only_counsellor_log_indicators_are_suppressed():
    out = suppress(cells({"folkeskole": 2, "friskole": 40}, indicator="elever_nsk", dimension="skoletype"))
    assert not out["suppressed"].any() and out["value"].tolist() == [2, 40]


def test_each_dimension_is_protected_on_its_own():
    df = pd.concat([cells({"kvinde": 3, "mand": 40}), cells({"18-29": 20, "30-39": 23}, dimension="aldersgruppe")])
    out = suppress(df.reset_index(drop=True))
    assert out.groupby("dimension")["suppressed"].sum().to_dict() == {"aldersgruppe": 0, "koen": 2}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=30), min_size=2, max_size=7))
def test_no_suppressed_cell_can_be_recovered_from_total_and_other_cells(values):
    out = suppress(cells({f"c{i}": v for i, v in enumerate(values)}))
    hidden = out[out["suppressed"]]
    # Every cell of 1-4 is hidden ...
    assert all(out.loc[i, "suppressed"] for i, v in enumerate(values) if 1 <= v <= 4)
    # ... and hidden cells never stand alone: total minus the shown cells is then a sum of at
    # least two unknowns, and it is at least 1 (a primary cell is hidden), so it splits in
    # more than one way.
    assert len(hidden) != 1
    if len(hidden):
        assert sum(values) - out.loc[~out["suppressed"], "value"].sum() >= 1
