"""The quarterly refresh and the freshness expectations on the sources.

**Schedule.** `quarterly_refresh_schedule` ticks at 06:00 Copenhagen time on 5 January, April,
July and October (a few days after each quarter ends, when the sources have exported the quarter)
and runs the job `quarterly_refresh`: every asset and every check, a full refresh of every year
from every export (the same run as `nsk materialize`). Its tags name the as-of date it is meant
for (`nsk/as_of`, the tick's Copenhagen date). The request carries no resource config: Dagster
replaces a resource's whole config when a run sets any of it, which would drop the raw folder and
the warehouse URL (and a URL in run config is stored with every run). Each run starts in a fresh
process (DefaultRunLauncher / K8sRunLauncher) whose settings are read then, so without NSK_AS_OF
its as-of date is the day it starts: the tick's day.

**Freshness.** Two signals, both in the UI:

- `SOURCE_FRESHNESS_POLICY` on every `staging/<source>` asset (Dagster's freshness policy,
  evaluated by the daemon): the asset is expected to be materialised at least every
  `DELIVERY_WINDOW_DAYS`;
- the asset check `source_delivered_recently` on every `staging/<source>` asset (WARN; in
  `sources/checks.py`, run in the staging step): the source's latest *loaded* export dated on or
  before the as-of date is at most `delivery_window_days(source)` old (`DELIVERY_WINDOW_DAYS`, or
  the source's entry in `DELIVERY_WINDOW_OVERRIDES`, in `sources/specs.py`); the check's
  description is written from the same numbers. An asset materialised today from old files is not
  fresh data; this check says so.
"""


from collections.abc import Iterable
from datetime import datetime, timedelta

import dagster as dg

from nsk_pipeline.core.settings import COPENHAGEN
from nsk_pipeline.sources.assets import staging_key
from nsk_pipeline.sources.specs import DELIVERY_WINDOW_DAYS, SOURCES

TIMEZONE = "Europe/Copenhagen"
# 06:00 on the 5th of January, April, July and October, in TIMEZONE.
QUARTERLY_CRON = "0 6 5 1,4,7,10 *"
JOB_NAME = "quarterly_refresh"
SCHEDULE_NAME = "quarterly_refresh_schedule"
TAG_AS_OF = "nsk/as_of"
TAG_TRIGGER = "nsk/trigger"

SOURCE_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=DELIVERY_WINDOW_DAYS), warn_window=timedelta(days=95))


# --- the quarterly refresh ------------------------------------------------------------------

quarterly_refresh = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.all(),  # every asset, and with them every check on them
    description="Refresh everything: all sources from every export, the marts, reports and their checks (Great "
                "Expectations included). Started by the quarterly schedule.",
    tags={TAG_TRIGGER: "quarterly"},
)


def quarterly_run_requests(tick: datetime) -> list[dg.RunRequest]:
    """The run for the tick at `tick` (any timezone; read in Copenhagen time): a full refresh,
    tagged with the tick's date."""
    as_of = tick.astimezone(COPENHAGEN).date()
    return [dg.RunRequest(run_key=f"{JOB_NAME}:{as_of.isoformat()}",
                          tags={TAG_AS_OF: as_of.isoformat(), TAG_TRIGGER: "quarterly_schedule"})]


@dg.schedule(name=SCHEDULE_NAME, cron_schedule=QUARTERLY_CRON, execution_timezone=TIMEZONE,
             job=quarterly_refresh, default_status=dg.DefaultScheduleStatus.RUNNING,
             description="06:00 Copenhagen time on 5 January, April, July and October: a full refresh, "
                         "as of that day.")
def quarterly_refresh_schedule(context: dg.ScheduleEvaluationContext):
    return quarterly_run_requests(_tick_time(context))


def _tick_time(context: dg.ScheduleEvaluationContext) -> datetime:
    try:
        tick = context.scheduled_execution_time  # set by the daemon and by "Test schedule" in the UI
    except Exception:  # a context built without a time (Dagster raises rather than return None)
        tick = None
    return tick or datetime.now(COPENHAGEN)


# --- freshness ---------------------------------------------------------------------------

def with_source_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    """`Definitions.map_asset_specs(func=with_source_freshness, selection=STAGING_KEYS)`."""
    return dg.apply_freshness_policy(spec, SOURCE_FRESHNESS_POLICY)


def apply_source_freshness(assets: Iterable) -> list:
    """The assets with the freshness policy set on every `staging/<source>` asset (others unchanged)."""
    keys = set(STAGING_KEYS)
    out = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and set(a.keys) & keys:
            a = a.map_asset_specs(lambda spec: with_source_freshness(spec) if spec.key in keys else spec)
        out.append(a)
    return out


STAGING_KEYS = [staging_key(s) for s in SOURCES]
schedules = [quarterly_refresh_schedule]
jobs = [quarterly_refresh]
