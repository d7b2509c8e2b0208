"""Build every mart from the staged tables: plain functions, no Dagster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

import pandas as pd

from nsk_pipeline.core import tables
from nsk_pipeline.core.faults import fault_point
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.goals.attainment import goal_attainment
from nsk_pipeline.goals.registry import Registry
from nsk_pipeline.indicators.disclosure import suppress
from nsk_pipeline.indicators.engine import (
    PandasIndicatorEngine,
    countable_rows,
    indicator_breakdown,
    indicator_quarterly,
    indicator_yearly,
    key_columns,
    report_years,
    source_columns,
    source_facts,
)
from nsk_pipeline.indicators.registry import INDICATORS
from nsk_pipeline.sources.staged import typed_staging
from nsk_pipeline.sources.specs import SOURCES

INDICATOR_SOURCES = [s for s in SOURCES if s != "milepaele"]


@dataclass
class Marts:
    frames: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]


def read_current(wh: Warehouse) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The current version of every staged record, and the file loads. Ids the indicators only
    compare (`key_columns`) come as integer codes, NaN for none."""
    current = {}
    for name, spec in SOURCES.items():
        # Only what the indicators read, text as categoricals and ids as codes numbered by the
        # database: a source can hold millions of rows, and ids millions of distinct values.
        columns = source_columns(name) if name in INDICATOR_SOURCES else None
        keys = key_columns(name) if name in INDICATOR_SOURCES else []
        if wh.has_table("staging", name):
            frame = wh.read_frame(_current_sql(name, columns, keys), categorical=True)
            codes = {c: frame.pop(c).astype(float) for c in keys}
        else:
            frame, codes = pd.DataFrame(), {c: pd.Series(dtype=float) for c in keys}
        df = typed_staging(spec, frame, [c for c in columns if c not in keys] if columns else None)
        current[name] = df.assign(**codes)[columns] if columns else df
    loads = wh.read_table("meta", "file_loads") if wh.has_table("meta", "file_loads") else pd.DataFrame(
        columns=[c.name for c in tables.FILE_LOADS])
    wh.release_memory()  # the indicator engine needs the room more than DuckDB's cache of what was read
    return current, loads


def _current_sql(source: str, columns: list[str] | None, keys: list[str]) -> str:
    """The current rows' `columns` (all without), each of `keys` as the number of its value among
    the distinct values: joined to a numbering of those, which the database holds only while the
    query runs (a window over all rows would hold every row)."""
    table, where = f"staging.{source}", "er_gaeldende"
    if not columns:
        return f"SELECT * FROM {table} WHERE {where}"
    numbered = [f'k{i} AS (SELECT v, row_number() OVER () AS code FROM (SELECT DISTINCT "{c}" AS v '
                f'FROM {table} WHERE {where} AND "{c}" IS NOT NULL) AS d)' for i, c in enumerate(keys)]
    select = ", ".join(f'k{keys.index(c)}.code AS "{c}"' if c in keys else f's."{c}"' for c in columns)
    joins = "".join(f' LEFT JOIN k{i} ON s."{c}" = k{i}.v' for i, c in enumerate(keys))
    return (f"WITH {', '.join(numbered)} " if numbered else "") + \
        f"SELECT {select} FROM {table} AS s{joins} WHERE s.{where}"


def build_marts(current: dict[str, pd.DataFrame], file_loads: pd.DataFrame, registry: Registry,
                as_of: date, computed_at: datetime | None = None) -> Marts:
    """Every mart, from the current rows of each source (`current` is consumed: emptied as read)."""
    computed_at = computed_at or datetime.now(timezone.utc).replace(tzinfo=None)
    facts = {s: source_facts(s, file_loads, current[s]) for s in INDICATOR_SOURCES}
    milestones = current["milepaele"][["maal_id", "aar", "opfyldt", "bemaerkning"]]
    rows = {}
    for s in INDICATOR_SOURCES:
        rows[s] = countable_rows(s, current[s])
        # Consumed: a source's staged rows can be millions, and the engine keeps its compact copy.
        current[s] = current[s].iloc[:0]
    engine = PandasIndicatorEngine.from_rows(rows, facts, as_of)
    years = report_years(facts, as_of)
    _, goals = registry.to_frames()
    indicators = pd.DataFrame([{"indicator_id": i.id, "name": i.name, "definition": i.definition, "unit": i.unit,
                                "source": i.source, "aggregation": i.aggregation, "polarity": i.polarity}
                               for i in INDICATORS.values()])
    return Marts({
        "indicator_yearly": indicator_yearly(engine, years),
        "indicator_quarterly": indicator_quarterly(engine, years),
        "indicator_breakdown": suppress(indicator_breakdown(engine, years)),
        "indicators": indicators,
        "goals": goals,
        "goal_attainment": goal_attainment(registry, engine, milestones, as_of, computed_at),
    })


def publish(wh: Warehouse, marts: Marts) -> None:
    """Replace every mart in one transaction: readers see the old marts or the new, never a mix."""
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        for name, columns in tables.MARTS.items():
            table = wh.ensure_table(conn, "marts", name, columns)
            wh.replace_rows(conn, table, marts[name])
            fault_point(f"publish:{name}")
        # Imported here: the dictionary reads the marts' grains from the Dagster layer.
        from nsk_pipeline.reports.dictionary import apply_comments
        from nsk_pipeline.reports.view import create_report_view

        create_report_view(conn)
        apply_comments(conn)
