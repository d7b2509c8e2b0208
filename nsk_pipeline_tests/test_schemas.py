"""The pandera models (Polars backend) as ingest and the blocking check use them: `row_failures`
finds, on Arrow batches of any size, exactly the rules each row breaks as pandera states them."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nsk_pipeline.sources import reasons
from nsk_pipeline.sources.schemas import MODELS, row_failures, schema_for
from nsk_pipeline.sources.specs import SOURCES

TYPES = st.sampled_from(["henvendelse", "borgersag", "sag", None])
RISK = st.sampled_from(["lav", "middel", "hoej", "HOEJ", None])
STATUS = st.sampled_from(["aktiv", "afsluttet", "annulleret", "?", None])
PSEUDO = st.sampled_from(["a" * 64, "b" * 64, "c" * 63, None])
DAY = st.sampled_from([dt.date(2024, 1, 2), dt.date(2024, 3, 1), None])


def by_row(schema, table: pa.Table, batch_rows: int) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for frame in row_failures(schema, iter(table.to_batches(batch_rows)), "id"):
        for row_id, reason in zip(frame["id"], frame["reason"]):
            out.setdefault(row_id, set()).add(reasons.text(json.loads(reason)))
    return out


def expected(row: dict) -> set[str]:
    """The counsellor-log model's rules, written out row by row."""
    found = set()
    if row["type"] is None or row["status"] is None or row["oprettet"] is None or row["export_date"] is None:
        found |= {f"{c}: missing value" for c in ("type", "status", "oprettet", "export_date") if row[c] is None}
    if row["type"] not in (None, "henvendelse", "borgersag"):
        found.add("type: not one of: borgersag, henvendelse")
    if row["status"] not in (None, "aktiv", "afsluttet", "annulleret"):
        found.add("status: not one of: afsluttet, aktiv, annulleret")
    if row["risikoniveau"] not in (None, "lav", "middel", "hoej"):
        found.add("risikoniveau: not one of: hoej, lav, middel")
    if row["borger_pseudonym"] is not None and len(row["borger_pseudonym"]) != 64:
        found.add("borger_pseudonym: length not between 64 and 64")
    if row["type"] == "borgersag" and row["borger_pseudonym"] is None:
        found.add("cpr: a borgersag needs a valid CPR number")
    if row["type"] == "borgersag" and row["risikoniveau"] is None:
        found.add("risikoniveau: a borgersag needs a risk level")
    if None not in (row["afsluttet"], row["oprettet"]) and row["afsluttet"] < row["oprettet"]:
        found.add("afsluttet: before oprettet")
    if None not in (row["oprettet"], row["export_date"]) and row["oprettet"] > row["export_date"]:
        found.add("oprettet: after the file's export date")
    return found


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TYPES, RISK, STATUS, PSEUDO, DAY, DAY, DAY), min_size=1, max_size=40),
       st.integers(1, 7))
def test_row_failures_are_the_models_rules_in_any_batch_size(rows, batch_rows):
    names = ["type", "risikoniveau", "status", "borger_pseudonym", "oprettet", "afsluttet", "export_date"]
    records = [dict(zip(names, r), id=i * 3 + 5, registrering_id=f"VL-{i % 7}", koen="kvinde",
                    aldersgruppe="18-29", temaer=None) for i, r in enumerate(rows)]
    table = pa.Table.from_pylist(records, schema=pa.schema(
        [("id", pa.int64()), ("registrering_id", pa.string()), ("type", pa.string()),
         ("risikoniveau", pa.string()), ("status", pa.string()), ("borger_pseudonym", pa.string()),
         ("koen", pa.string()), ("aldersgruppe", pa.string()), ("temaer", pa.string()),
         ("oprettet", pa.date32()), ("afsluttet", pa.date32()), ("export_date", pa.date32())]))
    got = by_row(MODELS["vejlederlog"].to_schema(), table, batch_rows)
    want = {r["id"]: expected(r) for r in records if expected(r)}
    assert got == want


def test_context_rules_apply_to_every_row_holding_a_value():
    spec = SOURCES["omraade_aktiviteter"]
    schema = schema_for(spec, known_actors=["A1", "a2"])
    n = 5
    table = pa.table({
        "id": list(range(n)), "aktivitet_id": [f"x{i}" for i in range(n)], "dato": [dt.date(2024, 1, 1)] * n,
        "omraade": ["Mjølnerparken"] * n, "type": ["netvaerksmoede"] * n, "maalgruppe": [None] * n,
        "deltagere": pa.array([1, 2, 3, 4, 5], pa.int64()), "aktoerer": ["A1", "B9", "b9|a1", "a1, A2", None],
        "status": ["gennemfoert"] * n, "export_date": [dt.date(2024, 2, 1)] * n})
    table = table.set_column(table.schema.get_field_index("maalgruppe"), "maalgruppe", pa.array([None] * n, pa.string()))
    got = by_row(schema, table, 2)
    assert sorted(got) == [1, 2]
    assert all(r == {"aktoerer: names an actor id that is not in the omraade_aktoerer register"} for r in got.values())


def test_a_frame_not_in_the_models_shape_raises_instead_of_passing():
    table = pa.table({"id": [1], "kursus_id": ["K1"], "dato": [dt.date(2024, 1, 1)], "sted_type": ["jobcenter"],
                      "deltagere": pa.array([1], pa.int64()), "export_date": [dt.date(2024, 2, 1)]})
    with pytest.raises(TypeError, match="status"):
        list(row_failures(MODELS["rettighedskurser"].to_schema(), iter(table.to_batches()), "id"))


def test_the_models_code_lists_are_the_specs():
    """One home for a code list: every `isin` of a pandera model is the spec's codes for that column
    (or, for what the CPR number gives, sql_typing's value lists)."""
    from nsk_pipeline.sources.sql_typing import AGE_BANDS, SEXES

    checked = 0
    for source, model in MODELS.items():
        spec = SOURCES[source]
        for name, column in model.to_schema().columns.items():
            for check in column.checks:
                if check.name != "isin":
                    continue
                allowed = tuple(check.statistics["allowed_values"])
                expected = {"aldersgruppe": AGE_BANDS, "koen": SEXES}.get(name) or spec.column(name).codes
                assert set(allowed) == set(expected), f"{source}.{name}"
                checked += 1
    assert checked >= 15
