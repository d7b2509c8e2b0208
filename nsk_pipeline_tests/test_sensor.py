"""The delivery sensor: evaluated on a real raw folder, and once through the sensor daemon's tick.

The clock is the sensor's (`sensors._now`), set by each test; file times are set with os.utime.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from nsk_pipeline import sensors
from nsk_pipeline.core import tables
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.schedules import JOB_NAME, TAG_AS_OF, TAG_TRIGGER
from nsk_pipeline.sensors import SENSOR_NAME, TAG_FILES, raw_delivery_sensor

QUIET = 120
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc).timestamp()
COURSES = "rettighedskurser/rettighedskurser_2026-01-15.csv"
HEADER = "kursus_id;dato;sted_type;sted;deltagere;status\n"


class Folder:
    """A raw folder, a warehouse whose meta.file_loads holds the files loaded, and a clock."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.raw = tmp_path / "raw"
        for source in ("rettighedskurser", "skoleforloeb"):
            (self.raw / source).mkdir(parents=True)
        self.url = os.environ["NSK_WAREHOUSE_URL"]
        self.now = T0
        monkeypatch.setenv("NSK_RAW_DIR", str(self.raw))
        monkeypatch.setenv("NSK_SENSOR_QUIET_SECONDS", str(QUIET))
        monkeypatch.setattr(sensors, "_now", lambda: self.now)
        self.cursor = None
        self.instance = dg.DagsterInstance.ephemeral()

    def write(self, name: str, text: str, age: float = 1000.0) -> Path:
        path = self.raw / name
        path.write_text(text, encoding="utf-8")
        os.utime(path, (self.now - age, self.now - age))  # a copy that keeps the original's time
        return path

    def loaded(self, *names: str) -> None:
        """meta.file_loads as a refresh leaves it after loading `names`."""
        rows = [{"source": n.split("/")[0], "file_name": n.split("/")[1], "status": "loaded",
                 "sha256": hashlib.sha256((self.raw / n).read_bytes()).hexdigest()} for n in names]
        wh = Warehouse(self.url)
        with wh.transaction() as conn:
            wh.ensure_schemas(conn)
            table = wh.ensure_table(conn, "meta", "file_loads", tables.FILE_LOADS)
            wh.replace_rows(conn, table, pd.DataFrame(rows))
        wh.dispose()

    def tick(self, after: float = 0.0):
        """Evaluate the sensor `after` seconds later, keeping its cursor."""
        self.now += after
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor)
        result = raw_delivery_sensor(context)
        self.cursor = context.cursor
        return result


def _skip(result) -> str:
    assert isinstance(result, dg.SkipReason), result
    return result.skip_message


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Folder:
    return Folder(tmp_path, monkeypatch)


def test_a_new_file_requests_a_refresh_once_the_folder_is_quiet(folder):
    folder.write(COURSES, HEADER + "RK26-01;10-01-2026;jobcenter;Jobcenter;12;gennemfoert\n")
    assert _skip(folder.tick()).startswith("waiting")  # first seen now: it may still be arriving
    assert _skip(folder.tick(QUIET - 10)).startswith("waiting")
    request = folder.tick(20)
    assert isinstance(request, dg.RunRequest), request
    assert request.tags[TAG_FILES] == COURSES
    assert request.tags[TAG_AS_OF] == "2026-03-01" and request.tags[TAG_TRIGGER] == SENSOR_NAME
    assert request.run_key.startswith(f"{SENSOR_NAME}:") and not request.run_config
    assert raw_delivery_sensor.job_name == JOB_NAME


def test_nothing_new_and_files_no_refresh_reads(folder):
    folder.write(COURSES, HEADER + "RK26-01;10-01-2026;jobcenter;Jobcenter;12;gennemfoert\n")
    folder.loaded(COURSES)
    folder.write("rettighedskurser/README.txt", "notes")  # not an export
    folder.write("rettighedskurser/rettighedskurser_2026-06-30.csv", HEADER)  # after the as-of date
    folder.write("skoleforloeb/skoleforloeb.csv", "x")  # no export date: ingest never reads it
    folder.tick()
    assert _skip(folder.tick(QUIET + 1)).startswith("nothing new")


def test_a_file_replaced_in_place_requests_a_refresh(folder):
    folder.write(COURSES, HEADER + "RK26-01;10-01-2026;jobcenter;Jobcenter;12;gennemfoert\n")
    folder.loaded(COURSES)
    folder.tick()
    assert _skip(folder.tick(QUIET + 1)).startswith("nothing new")
    first_key = sensors.run_request([COURSES], datetime(2026, 3, 1).date(),
                                    [hashlib.sha256((folder.raw / COURSES).read_bytes()).hexdigest()]).run_key
    folder.write(COURSES, HEADER + "RK26-01;10-01-2026;jobcenter;Jobcenter;14;gennemfoert\n", age=5000)
    assert _skip(folder.tick(30)).startswith("waiting")  # same name, same old time: its size changed
    request = folder.tick(QUIET + 1)
    assert isinstance(request, dg.RunRequest) and request.tags[TAG_FILES] == COURSES
    assert request.run_key != first_key


def test_a_file_still_being_written_waits(folder):
    path = folder.write(COURSES, HEADER)
    folder.tick()
    for i in range(4):  # a slow copy: the file grows between ticks while keeping the original's time
        with path.open("a", encoding="utf-8") as f:
            f.write(f"RK26-0{i};10-01-2026;jobcenter;Jobcenter;12;gennemfoert\n")
        os.utime(path, (folder.now - 1000, folder.now - 1000))
        assert _skip(folder.tick(QUIET + 1)).startswith("waiting"), i
    assert isinstance(folder.tick(QUIET + 1), dg.RunRequest)


def test_no_second_run_while_one_is_queued_or_running(folder):
    from dagster._core.test_utils import create_run_for_test

    folder.write(COURSES, HEADER + "RK26-01;10-01-2026;jobcenter;Jobcenter;12;gennemfoert\n")
    folder.tick()
    run = create_run_for_test(folder.instance, job_name=JOB_NAME, status=dg.DagsterRunStatus.STARTED)
    assert "no second run" in _skip(folder.tick(QUIET + 1))
    folder.instance.report_run_failed(run)
    assert isinstance(folder.tick(30), dg.RunRequest)


def test_the_sensors_tick_through_the_daemon_launches_a_run(tmp_path, monkeypatch):
    """The sensor daemon's own code path (`execute_sensor_iteration`), with a run launcher that
    executes the run it creates: a delivery into an empty warehouse is refreshed; the next tick
    finds nothing new."""
    from dagster._core.scheduler.instigation import TickStatus
    from dagster._core.test_utils import freeze_time
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.sensor import execute_sensor_iteration
    from dagster._time import get_current_timestamp

    from nsk_pipeline_tests.test_schedule import EXECUTING_DAEMON, Scheduler

    folder = Folder(tmp_path, monkeypatch)
    monkeypatch.setattr(sensors, "_now", get_current_timestamp)  # the daemon's frozen clock
    folder.write(COURSES, HEADER + "RK26-01;10-01-2026;jobcenter;Jobcenter København;12;gennemfoert\n"
                 "RK26-02;20-01-2026;boligomraade;Beboerhuset;8;gennemfoert\n")
    daemon = Scheduler(tmp_path, monkeypatch, EXECUTING_DAEMON)
    with daemon.instance as instance:
        remote = None

        def tick(at: float):
            nonlocal remote
            with freeze_time(datetime.fromtimestamp(at, timezone.utc)):
                with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(daemon.origin)) as workspace:
                    if remote is None:
                        entry = next(iter(workspace.create_request_context().get_code_location_entries().values()))
                        assert entry.code_location, entry.load_error
                        repo = next(iter(entry.code_location.get_repositories().values()))
                        remote = repo.get_sensor(SENSOR_NAME)
                        instance.start_sensor(remote)
                    list(execute_sensor_iteration(workspace, logging.getLogger("nsk_test_sensor"), None, None))
            return instance.get_ticks(remote.get_remote_origin_id(), remote.selector_id)

        ticks = tick(T0)
        assert ticks[0].status == TickStatus.SKIPPED and "waiting" in ticks[0].skip_reason
        ticks = tick(T0 + QUIET + 1)
        assert ticks[0].status == TickStatus.SUCCESS, ticks[0].error
        (run_id,) = ticks[0].run_ids
        run = instance.get_run_by_id(run_id)
        assert run.job_name == JOB_NAME and run.tags[TAG_FILES] == COURSES
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
        ticks = tick(T0 + QUIET + 40)
        assert ticks[0].status == TickStatus.SKIPPED and "nothing new" in ticks[0].skip_reason
    wh = Warehouse(folder.url)
    try:
        loads = wh.read_sql("SELECT source, file_name, status, rows_read FROM meta.file_loads")
        assert loads.values.tolist() == [["rettighedskurser", COURSES.split("/")[1], "loaded", 2]]
    finally:
        wh.dispose()
