"""Yearly partitions: rebuild or backfill some years while the others stay as they were.

Staging assets are partitioned by calendar year (a row's year is its date's year, `aar` for
milestones). A run names its years with Dagster's partition tags; the marts step, which is not
partitioned, reads the same tags: it replaces only those years of the yearly marts and rebuilds
the goal-attainment table from all years, still in one transaction. `nsk materialize` without
`--years` is a full refresh: every year, including rows dated before the first partition.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

FIRST_YEAR = 2010  # before any plan this project serves; a full refresh covers earlier rows too
YEARS = dg.TimeWindowPartitionsDefinition(cron_schedule="0 0 1 1 *", start=str(FIRST_YEAR), fmt="%Y",
                                          timezone="Europe/Copenhagen", end_offset=1)
FULL_REFRESH_TAG = "nsk/full_refresh"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def run_years(tags: Mapping[str, str]) -> tuple[int, int] | None:
    """The years a run rebuilds, from its tags; None for a full refresh (or an unpartitioned run)."""
    if tags.get(FULL_REFRESH_TAG) == "true":
        return None
    if tags.get(RANGE_START) and tags.get(RANGE_END):
        return int(tags[RANGE_START]), int(tags[RANGE_END])
    if tags.get("dagster/partition"):
        return int(tags["dagster/partition"]), int(tags["dagster/partition"])
    return None


def years_tags(first: int, last: int) -> dict[str, str]:
    return {RANGE_START: str(first), RANGE_END: str(last)}


def full_refresh_tags() -> dict[str, str]:
    keys = YEARS.get_partition_keys()
    return {RANGE_START: keys[0], RANGE_END: keys[-1], FULL_REFRESH_TAG: "true"}


def parse_years(text: str) -> tuple[int, int]:
    """`2018` or `2017-2018` → (first, last); must be partitions that exist."""
    first, _, last = text.partition("-")
    a, b = int(first), int(last or first)
    keys = YEARS.get_partition_keys()
    if a > b or str(a) not in keys or str(b) not in keys:
        raise ValueError(f"years must be within {keys[0]}-{keys[-1]}, first ≤ last: got {text!r}")
    return a, b
