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
- the asset check `source_delivered_recently` on every `staging/<source>` asset (WARN): the
  source's latest *loaded* export dated on or before the as-of date is at most
  `delivery_window_days(source)` old (`DELIVERY_WINDOW_DAYS`, or the source's entry in
  `DELIVERY_WINDOW_OVERRIDES`, in `sources/specs.py`); the check's description is written from the same numbers. An
  asset materialised today from old files is not fresh data; this check says so.
"""


from collections.abc import Iterable
from datetime import date, datetime, timedelta

import dagster as dg

from nsk_pipeline.core.checks import selected_results
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.settings import COPENHAGEN
from nsk_pipeline.sources.assets import staging_key
from nsk_pipeline.sources.specs import DELIVERY_WINDOW_DAYS, SOURCES, delivery_window_days

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


# --- freshness -----------------------------------------------------------------------------

def latest_delivery(nsk: NskResource, source: str) -> date | None:
    """The export date of the source's latest loaded file dated on or before the as-of date."""
    wh = nsk.warehouse
    if not wh.has_table("meta", "file_loads"):
        return None
    df = wh.read_sql("SELECT max(export_date) AS latest FROM meta.file_loads "
                     "WHERE source = :s AND status = 'loaded' AND export_date <= :as_of",
                     s=source, as_of=nsk.as_of_date)
    latest = df["latest"].iloc[0] if len(df) else None
    if latest is None or (not isinstance(latest, (date, datetime)) and str(latest) in ("NaT", "nan", "None")):
        return None
    return latest.date() if isinstance(latest, datetime) else date.fromisoformat(str(latest)[:10])


def delivery_result(source: str, latest: date | None, as_of: date) -> dg.AssetCheckResult:
    window = delivery_window_days(source)
    age = (as_of - latest).days if latest else None
    passed = age is not None and age <= window
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.WARN,
        description=None if passed else (
            f"{source} has delivered nothing on or before {as_of}" if latest is None else
            f"{source}'s latest export is {latest}, {age} days before the as-of date {as_of} "
            f"(expected at least every {window} days)"),
        metadata={"latest_export_date": latest.isoformat() if latest else "none",
                  "days_since_export": age if age is not None else -1,
                  "window_days": window, "as_of": as_of.isoformat()})


def delivery_check(nsk: NskResource, source: str) -> dg.AssetCheckResult:
    return delivery_result(source, latest_delivery(nsk, source), nsk.as_of_date)


@dg.multi_asset_check(
    name="freshness_checks",
    specs=[dg.AssetCheckSpec(
        "source_delivered_recently", asset=staging_key(source), blocking=False,
        description=f"The source's latest loaded export (dated on or before the as-of date) is at most "
                    f"{delivery_window_days(source)} days old: a source that stopped delivering shows here, even "
                    f"when the asset itself was just re-materialised from old files.")
        for source in SOURCES],
    can_subset=True,
    description="Each source's delivery age, in one step.",
)
def freshness_checks_step(context: dg.AssetCheckExecutionContext, nsk: NskResource):
    yield from selected_results(context, lambda key: delivery_check(nsk, key.asset_key.path[-1]))


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
freshness_checks = [freshness_checks_step]
schedules = [quarterly_refresh_schedule]
jobs = [quarterly_refresh]
