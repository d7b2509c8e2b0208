"""The quarterly schedule: when it ticks (Copenhagen time), what it asks for, and a real tick.

The real tick goes through the scheduler daemon's own code path (`launch_scheduled_runs`): an
instance with the schedule started, a workspace loading the code location, the clock frozen just
after the tick. The instance queues runs (QueuedRunCoordinator, as deploy/dagster.yaml does), so
the tick creates the run exactly as in production without executing it here.
"""

import logging
import os
import textwrap
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from nsk_pipeline.definitions import build_definitions
from nsk_pipeline.schedules import (
    JOB_NAME,
    QUARTERLY_CRON,
    SCHEDULE_NAME,
    TAG_AS_OF,
    TIMEZONE,
    jobs,
    quarterly_refresh_schedule,
    schedules,
)
from nsk_pipeline_tests.conftest import REPO

CPH = ZoneInfo("Europe/Copenhagen")
UTC = timezone.utc


def _request(when: datetime) -> dg.RunRequest:
    context = dg.build_schedule_context(scheduled_execution_time=when)
    result = quarterly_refresh_schedule(context)
    requests = result if isinstance(result, list) else [result]
    assert len(requests) == 1
    return requests[0]


def test_schedule_definition():
    assert quarterly_refresh_schedule.cron_schedule == QUARTERLY_CRON
    assert quarterly_refresh_schedule.execution_timezone == TIMEZONE == "Europe/Copenhagen"
    assert quarterly_refresh_schedule.job_name == JOB_NAME
    assert [s.name for s in schedules] == [SCHEDULE_NAME]
    assert [j.name for j in jobs] == [JOB_NAME]


@pytest.mark.parametrize("when, as_of", [
    (datetime(2026, 1, 5, 6, 0, tzinfo=CPH), "2026-01-05"),
    (datetime(2026, 4, 5, 6, 0, tzinfo=CPH), "2026-04-05"),   # summer time (CEST)
    (datetime(2026, 7, 5, 6, 0, tzinfo=CPH), "2026-07-05"),
    (datetime(2026, 10, 5, 6, 0, tzinfo=CPH), "2026-10-05"),
    (datetime(2027, 1, 5, 6, 0, tzinfo=CPH), "2027-01-05"),
    # New Year: 23:30 UTC on 31 December is already 1 January in Copenhagen.
    (datetime(2025, 12, 31, 23, 30, tzinfo=UTC), "2026-01-01"),
    (datetime(2025, 12, 31, 22, 59, tzinfo=UTC), "2025-12-31"),
    # DST change nights: 2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00.
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "2026-03-29"),
    (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), "2026-10-25"),
])
def test_run_request_at(when, as_of):
    request = _request(when)
    assert request.tags[TAG_AS_OF] == as_of
    # A full refresh: no partition or year range, and no resource config (see schedules.py: it
    # would replace the whole resource).
    assert not any(k.startswith("dagster/") or "year" in k for k in request.tags), request.tags
    assert request.partition_key is None
    assert not request.run_config
    assert request.run_key == f"{JOB_NAME}:{as_of}"


def test_request_without_a_scheduled_time_uses_today_in_copenhagen():
    request = quarterly_refresh_schedule(dg.build_schedule_context())
    request = request[0] if isinstance(request, list) else request
    today = datetime.now(CPH).date()
    assert request.tags[TAG_AS_OF] == today.isoformat()


def test_ticks_are_0600_copenhagen_across_dst():
    from dagster._utils.schedules import cron_string_iterator

    start = datetime(2025, 12, 1, tzinfo=UTC).timestamp()
    ticks = []
    for t in cron_string_iterator(start, QUARTERLY_CRON, TIMEZONE):
        ticks.append(t)
        if len(ticks) == 5:
            break
    local = [t.astimezone(CPH) for t in ticks]
    assert [(d.date(), d.hour, d.minute) for d in local] == [
        (date(2026, 1, 5), 6, 0), (date(2026, 4, 5), 6, 0), (date(2026, 7, 5), 6, 0),
        (date(2026, 10, 5), 6, 0), (date(2027, 1, 5), 6, 0)]
    # Winter time is UTC+1 (05:00 UTC), summer time UTC+2 (04:00 UTC).
    assert [t.astimezone(UTC).hour for t in ticks] == [5, 4, 4, 4, 5]


def _definitions() -> dg.Definitions:
    base = build_definitions()
    if any(s.name == SCHEDULE_NAME for s in (base.schedules or [])):
        return base
    return dg.Definitions.merge(base, dg.Definitions(schedules=schedules, jobs=jobs))


def test_run_request_config_is_valid_for_the_job():
    job = _definitions().resolve_job_def(JOB_NAME)
    request = _request(datetime(2026, 4, 5, 6, 0, tzinfo=CPH))
    resolved = dg.validate_run_config(job, request.run_config)
    nsk_config = resolved["resources"]["nsk"]["config"]
    assert nsk_config["raw_dir"] and nsk_config["warehouse_url"] and nsk_config["as_of"] == "2026-03-01"
    # The job refreshes every asset and runs every check on them.
    assert len(job.asset_layer.asset_graph.get_all_asset_keys()) >= 13


DEFS_FILE = """\
import dagster as dg

from nsk_pipeline.definitions import build_definitions
from nsk_pipeline.schedules import SCHEDULE_NAME, jobs, schedules

_base = build_definitions()
if any(s.name == SCHEDULE_NAME for s in (_base.schedules or [])):
    defs = _base
else:  # until definitions.py wires the schedule in
    defs = dg.Definitions.merge(_base, dg.Definitions(schedules=schedules, jobs=jobs))
"""

# The daemon's instance with a run launcher that executes the run it creates, in this process.
EXECUTING_DAEMON = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
run_launcher:
  module: dagster._core.launcher.sync_in_memory_run_launcher
  class: SyncInMemoryRunLauncher
"""


class Scheduler:
    """The scheduler daemon's own code path (`launch_scheduled_runs`) over an instance configured
    by `instance_yaml` and a workspace loading the code location, at frozen clock times."""

    def __init__(self, tmp_path, monkeypatch, instance_yaml: str):
        from dagster._core.remote_origin import InProcessCodeLocationOrigin
        from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

        home = tmp_path / "scheduler_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(textwrap.dedent(instance_yaml))
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        defs_file = tmp_path / "nsk_defs_with_schedule.py"
        defs_file.write_text(DEFS_FILE)
        self.origin = InProcessCodeLocationOrigin(
            LoadableTargetOrigin(python_file=str(defs_file), attribute="defs", working_directory=str(REPO)),
            location_name="nsk_pipeline")
        self.instance = dg.DagsterInstance.get()
        self.schedule = None

    def wake(self, when: datetime) -> None:
        """The daemon wakes at `when`; the first wake starts the schedule."""
        from dagster._core.test_utils import freeze_time
        from dagster._core.workspace.context import WorkspaceProcessContext
        from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
        from dagster._scheduler.scheduler import launch_scheduled_runs
        from dagster._time import get_current_datetime

        with freeze_time(when):
            with WorkspaceProcessContext(self.instance, InProcessWorkspaceLoadTarget(self.origin)) as workspace:
                if self.schedule is None:
                    entry = next(iter(workspace.create_request_context().get_code_location_entries().values()))
                    assert entry.code_location, entry.load_error
                    repo = next(iter(entry.code_location.get_repositories().values()))
                    self.schedule = repo.get_schedule(SCHEDULE_NAME)
                    self.instance.start_schedule(self.schedule)
                list(launch_scheduled_runs(workspace, logging.getLogger("nsk_test_scheduler"),
                                           get_current_datetime(), iteration_times={}))

    def ticks(self):
        return self.instance.get_ticks(self.schedule.get_remote_origin_id(), self.schedule.selector_id)


def test_real_tick_through_the_scheduler(tmp_path, monkeypatch):
    from dagster._core.scheduler.instigation import TickStatus

    scheduler = Scheduler(tmp_path, monkeypatch, """\
        run_coordinator:
          module: dagster._core.run_coordinator
          class: QueuedRunCoordinator
          config:
            max_concurrent_runs: 1
        """)
    instance = scheduler.instance
    with instance:
        scheduler.wake(datetime(2026, 3, 20, 12, 0, tzinfo=CPH))
        assert instance.get_runs() == []  # before the tick: nothing to do

        # The daemon wakes up a minute after 06:00 on 5 April 2026 (summer time, 04:00 UTC).
        scheduler.wake(datetime(2026, 4, 5, 6, 1, tzinfo=CPH))
        ticks = scheduler.ticks()
        assert len(ticks) == 1
        tick = ticks[0]
        assert tick.status == TickStatus.SUCCESS, tick.error
        assert datetime.fromtimestamp(tick.timestamp, CPH) == datetime(2026, 4, 5, 6, 0, tzinfo=CPH)
        assert len(tick.run_ids) == 1
        run = instance.get_run_by_id(tick.run_ids[0])
        assert run.job_name == JOB_NAME
        assert run.status == dg.DagsterRunStatus.QUEUED
        assert run.tags[TAG_AS_OF] == "2026-04-05"
        assert run.tags["dagster/schedule_name"] == SCHEDULE_NAME
        assert not run.run_config.get("resources")

        # The next quarter's tick makes the next run; the first is not repeated.
        scheduler.wake(datetime(2026, 7, 5, 6, 1, tzinfo=CPH))
        runs = instance.get_runs()
        assert sorted(r.tags[TAG_AS_OF] for r in runs) == ["2026-04-05", "2026-07-05"]


@pytest.mark.slow
def test_the_daemons_tick_runs_a_refresh_equal_to_a_full_run(tmp_path, monkeypatch):
    """The scheduler daemon's own tick path, with a run launcher that executes the run it creates
    (in this process): after a correction that moves a course across years, the scheduled run
    leaves staging and the marts exactly as a fresh full run does."""
    import shutil

    from dagster._core.scheduler.instigation import TickStatus

    from nsk_pipeline_tests.conftest import DEMO_RAW
    from nsk_pipeline_tests.test_refresh_equals_full import (
        assert_same, course_into_next_year, fresh_full_run, materialize, snapshot)

    raw = tmp_path / "raw"
    shutil.copytree(DEMO_RAW, raw)
    url = f"duckdb:///{tmp_path / 'scheduled.duckdb'}"
    monkeypatch.setenv("NSK_RAW_DIR", str(raw))
    monkeypatch.setenv("NSK_WAREHOUSE_URL", url)
    assert materialize({}) == 0  # the previous quarter's refresh
    course_into_next_year(raw)  # then a correction arrives

    scheduler = Scheduler(tmp_path, monkeypatch, EXECUTING_DAEMON)
    with scheduler.instance as instance:
        scheduler.wake(datetime(2026, 1, 4, 12, 0, tzinfo=CPH))
        scheduler.wake(datetime(2026, 1, 5, 6, 1, tzinfo=CPH))
        (tick,) = scheduler.ticks()
        assert tick.status == TickStatus.SUCCESS, tick.error
        run = instance.get_run_by_id(tick.run_ids[0])
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
        assert run.tags[TAG_AS_OF] == "2026-01-05"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    assert_same(snapshot(url), fresh_full_run(raw, tmp_path, os.environ["NSK_PSEUDONYM_KEY"]))
