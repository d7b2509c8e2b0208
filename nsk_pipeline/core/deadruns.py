"""A run whose process died (`kill -9`, the machine stopped) stays STARTED in the Dagster instance
for good: nothing is left to report its end, and Dagster's run monitoring watches only runs that a
run launcher started with a worker it can ask about (and `nsk materialize` runs in process).

So each run records its process in run tags when the nsk resource starts (pid, host and the
process's start time, which tells a pid the system gave to a new process since); the sweep marks
a STARTED or STARTING run whose process on this host is gone as failed, with the reason in the
run's event log. `nsk materialize` sweeps before it starts a run, and the code location when it
loads (so `dagster dev` shows the truth); a process sweeps an instance once. Runs on other hosts are left to their own host.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import dagster as dg

PID_TAG = "nsk/pid"
HOST_TAG = "nsk/host"
START_TAG = "nsk/process_start"

log = logging.getLogger(__name__)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first); None off Linux or
    when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tags() -> dict[str, str]:
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    fields = _stat(os.getpid())
    if fields:
        tags[START_TAG] = fields[19]  # starttime, field 22 of stat(5)
    return tags


def record_run_process(instance: dg.DagsterInstance | None, run_id: str | None) -> None:
    if instance is not None and run_id:
        instance.add_run_tags(run_id, process_tags())


def _alive(tags: dict[str, str]) -> bool:
    pid = int(tags[PID_TAG])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    fields = _stat(pid)
    if fields is None:
        return True  # no /proc to tell more: the pid exists
    if fields[0] in ("Z", "X"):  # a zombie has ended; only its exit status is left
        return False
    return tags.get(START_TAG) in (None, fields[19])


def sweep_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark the runs of this host whose process is no longer running as failed; their ids."""
    host = socket.gethostname()
    runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
                                           tags={HOST_TAG: host}))
    failed = []
    for run in runs:
        if PID_TAG not in run.tags or _alive(run.tags):
            continue
        instance.report_run_failed(run, f"The run's process {run.tags[PID_TAG]} on {host} is no longer running "
                                        f"(killed, or the machine stopped): marked failed by nsk at the next start.")
        failed.append(run.run_id)
    return failed


def sweep_home(instance: dg.DagsterInstance) -> list[str]:
    """`sweep_dead_runs` on the instance of DAGSTER_HOME, remembered: loading the definitions in
    the same process (as `nsk materialize` does next) does not open the instance to sweep again."""
    failed = sweep_dead_runs(instance)
    _swept_homes.add(os.environ.get("DAGSTER_HOME", ""))
    return failed


_swept_homes: set[str] = set()


def sweep_on_load() -> None:
    """The code location's sweep: only with a persistent instance, not one this process has swept
    already, and never a reason not to load."""
    if not os.environ.get("DAGSTER_HOME") or os.environ["DAGSTER_HOME"] in _swept_homes:
        return
    try:
        with dg.DagsterInstance.get() as instance:
            sweep_home(instance)
    except Exception as e:  # pragma: no cover - the UI must load even if the instance is unwell
        log.warning("nsk: could not check for runs whose process died: %s", e)
