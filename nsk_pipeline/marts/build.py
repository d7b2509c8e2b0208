"""Build every mart from the staged tables and publish them: plain functions, no Dagster.

The warehouse computes the indicators (`indicators/engine.py`); what comes back to Python is
small: the values per indicator and period, the breakdown cells, the milestone rows. Python
applies the goal rules and disclosure control to those and writes the marts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pandas as pd

from nsk_pipeline.core import tables
from nsk_pipeline.core.faults import fault_point
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.goals.attainment import goal_attainment, periods_asked
from nsk_pipeline.goals.registry import Registry
from nsk_pipeline.indicators.disclosure import suppress
from nsk_pipeline.indicators.engine import (
    compute_breakdown,
    compute_values,
    counting,
    indicator_query,
    indicator_quarterly,
    indicator_yearly,
    mart_periods,
    refresh_statistics,
    report_years,
    source_facts,
)
from nsk_pipeline.indicators.registry import INDICATORS
from nsk_pipeline.marts.comments import apply_comments
from nsk_pipeline.marts.explain import create_explain_views
from nsk_pipeline.marts.report_view import create_report_view
from nsk_pipeline.marts.revisions import append_history, create_revisions_view

MILESTONE_COLUMNS = ["maal_id", "aar", "opfyldt", "bemaerkning"]


@dataclass
class Marts:
    frames: dict[str, pd.DataFrame]
    # What the `explain` views list records for: each year reported and each goal's period, as of.
    explain_periods: list[tuple[date, date]] = field(default_factory=list)
    as_of: date | None = None  # the run's as-of date (None: the one goal_attainment's rows carry)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]


def indicator_registry(dialect: str) -> pd.DataFrame:
    """`marts.indicators`: the registry, with each indicator's query as it runs on `dialect`."""
    return pd.DataFrame([{"indicator_id": i.id, "name": i.name, "definition": i.definition, "unit": i.unit,
                          "source": i.source, "aggregation": i.aggregation, "polarity": i.polarity,
                          "query": indicator_query(i.id, dialect)} for i in INDICATORS.values()],
                        columns=[c.name for c in tables.INDICATORS])


def read_milestones(wh: Warehouse) -> pd.DataFrame:
    if not wh.has_table("staging", "milepaele"):
        return pd.DataFrame(columns=MILESTONE_COLUMNS)
    return wh.read_sql(f"SELECT {', '.join(MILESTONE_COLUMNS)} FROM staging.milepaele WHERE er_gaeldende")


def build_marts(wh: Warehouse, registry: Registry, as_of: date, computed_at: datetime | None = None) -> Marts:
    """Every mart, computed from the current staged rows by the warehouse."""
    computed_at = computed_at or datetime.now(timezone.utc).replace(tzinfo=None)
    refresh_statistics(wh)
    with counting(wh) as conn:  # the rows that count, selected once for every indicator
        facts = source_facts(wh, as_of, conn)
        years = report_years(facts, as_of)
        asked = periods_asked(registry, as_of)
        values = compute_values(wh, as_of, facts, mart_periods(years, as_of) + asked, conn)
        breakdown = compute_breakdown(wh, as_of, facts, years, conn)
    _, goals = registry.to_frames()
    return Marts({
        "indicator_yearly": indicator_yearly(values, years),
        "indicator_quarterly": indicator_quarterly(values, years),
        "indicator_breakdown": suppress(breakdown),
        "indicators": indicator_registry(wh.dialect),
        "goals": goals,
        "goal_attainment": goal_attainment(registry, values, read_milestones(wh), as_of, computed_at),
    }, [(date(y, 1, 1), date(y, 12, 31)) for y in years] + asked, as_of)


def publish(wh: Warehouse, marts: Marts, publication_id: str | None = None) -> str:
    """Replace every mart in one transaction: readers see the old marts or the new, never a mix.

    The same transaction appends what it published to the history tables under `publication_id`
    (the run id; a new id when None), so a failed publication appends nothing. Returns the id."""
    publication_id = publication_id or f"publication-{uuid.uuid4()}"
    as_of = marts.as_of or _as_of(marts["goal_attainment"])
    published_at = datetime.now(timezone.utc).replace(tzinfo=None)
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        for name, columns in tables.MARTS.items():
            table = wh.ensure_table(conn, "marts", name, columns)
            wh.replace_rows(conn, table, marts[name])
            fault_point(f"publish:{name}")
        append_history(conn, wh, publication_id, published_at, as_of)
        fault_point("publish:history")
        create_report_view(conn)
        create_revisions_view(conn)
        apply_comments(conn)
        if as_of is not None:
            create_explain_views(conn, marts.explain_periods, as_of)
    return publication_id


def _as_of(goal_attainment: pd.DataFrame) -> date | None:
    values = goal_attainment["as_of"].dropna() if "as_of" in goal_attainment else []
    return pd.Timestamp(max(values)).date() if len(values) else None
