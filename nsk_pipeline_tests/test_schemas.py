"""`failures_by_row` validates each column's distinct values once: it must find exactly what
pandera finds when it validates every row."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from nsk_pipeline.sources.schemas import MODELS, _failures, failures_by_row, schema_for
from nsk_pipeline.sources.specs import SOURCES

TYPES = st.sampled_from(["henvendelse", "borgersag", "sag", None])
RISK = st.sampled_from(["lav", "middel", "hoej", "HOEJ", None])
STATUS = st.sampled_from(["aktiv", "afsluttet", "annulleret", "?", None])
PSEUDO = st.sampled_from(["a" * 64, "b" * 64, "c" * 63, None])
DAY = st.sampled_from([pd.Timestamp("2024-01-02"), pd.Timestamp("2024-03-01"), pd.NaT])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TYPES, RISK, STATUS, PSEUDO, DAY, DAY, DAY), min_size=1, max_size=40))
def test_distinct_value_validation_equals_row_by_row(rows):
    df = pd.DataFrame(rows, columns=["type", "risikoniveau", "status", "borger_pseudonym", "oprettet",
                                     "afsluttet", "export_date"])
    df["registrering_id"] = [f"VL-{i % 7}" for i in range(len(df))]
    df["koen"] = "kvinde"
    df["aldersgruppe"] = "18-29"
    df["temaer"] = None
    for c in ("type", "risikoniveau", "status", "borger_pseudonym", "temaer"):
        df[c] = df[c].astype(object).where(df[c].notna(), None)
    df.index = df.index * 3 + 5  # row labels are not positions
    schema = MODELS["vejlederlog"].to_schema()
    expected = _failures(schema, df)
    got = failures_by_row(schema, df)
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in expected.items()}
    # Text as categoricals (how the blocking check reads the staged table back), with a category
    # no row uses: the same verdicts.
    as_read = df.copy()
    for c in ("type", "risikoniveau", "status", "borger_pseudonym", "temaer", "registrering_id"):
        as_read[c] = as_read[c].astype("category").cat.add_categories(["unused-" + c])
    got = failures_by_row(schema, as_read)
    assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in expected.items()}


def test_context_rules_apply_to_every_row_holding_a_value():
    spec = SOURCES["omraade_aktiviteter"]
    schema = schema_for(spec, known_actors=["A1"])
    df = pd.DataFrame({
        "aktivitet_id": ["x1", "x2", "x3"], "dato": pd.to_datetime(["2024-01-01"] * 3),
        "omraade": ["Mjølnerparken"] * 3, "type": ["netvaerksmoede"] * 3, "maalgruppe": [None] * 3,
        "deltagere": pd.array([1, 2, 3], dtype="Int64"), "aktoerer": ["A1", "B9", "B9"],
        "status": ["gennemfoert"] * 3, "export_date": pd.to_datetime(["2024-02-01"] * 3)})
    got = failures_by_row(schema, df)
    assert sorted(got) == [1, 2]
    assert all(any("not in the omraade_aktoerer register" in r for _, r in v) for v in got.values())
