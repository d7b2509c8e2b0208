"""Deliveries start a refresh: a sensor on the raw folder.

`raw_delivery_sensor` looks at `NSK_RAW_DIR` every 30 s. An export that a refresh would read (a
`.csv`/`.xlsx` with an export date on or before the as-of date in its name: ingest hashes exactly
those) whose sha256 is not yet in `meta.file_loads` — a new file, or one replaced in place — asks
for the `quarterly_refresh` job, once nothing in the raw folder has changed for
`NSK_SENSOR_QUIET_SECONDS` (default 180: the person copying a quarter's exports is done).

- The cursor holds every file's size and modification time (and the sha256 once computed for
  them): a file still being written changes between ticks, even when a copy keeps its original
  modification time, and waits; an unchanged file is not hashed again.
- No run is requested while any run is queued or in progress (the warehouse has one writer); its
  files are looked at again on the first tick after it.
- The request's run key is the set of new sha256s, so one delivery gives one run; its tags name
  the files (`nsk/files`) and the as-of date (`nsk/as_of`), and the tick's log says why it fired.
  Only names, sizes and hashes are read: never a file's content beyond hashing it.

The quarterly schedule stays as the backstop. Turn the sensor off or on in the UI (Automation).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from nsk_pipeline.core.settings import Settings
from nsk_pipeline.core.warehouse import Warehouse, WarehouseBusy, WarehouseMissing
from nsk_pipeline.schedules import TAG_AS_OF, TAG_TRIGGER, quarterly_refresh
from nsk_pipeline.sources.ingest import file_sha256, source_entries
from nsk_pipeline.sources.sql_typing import mask_cpr
from nsk_pipeline.sources.readers import FileRejected, export_date_from_name, is_data_file
from nsk_pipeline.sources.specs import SOURCES

SENSOR_NAME = "raw_delivery_sensor"
TAG_FILES = "nsk/files"
MINIMUM_INTERVAL_SECONDS = 30
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]
_TAG_LIMIT = 1000  # a tag value shown in the UI, not a log: the rest is "and N more"


@dataclass(frozen=True)
class Evaluation:
    """What a tick decided: a run for `new` files, or why not (`skip`), and the cursor to keep."""

    new: list[str]
    skip: str | None
    cursor: str


def _now() -> float:
    return time.time()


def _stat(raw_dir: Path) -> dict[str, tuple[int, int]]:
    """Every file of every source folder: (size, modification time in ns), by source/name."""
    out = {}
    for source in SOURCES:
        for path, skipped in source_entries(raw_dir / source):
            if skipped:  # a sub-folder, a broken link, ...: a refresh does not read it either
                continue
            try:
                st = path.stat()
            except FileNotFoundError:  # removed while we looked: the next tick sees it gone
                continue
            out[f"{source}/{path.name}"] = (st.st_size, st.st_mtime_ns)
    return out


def _read_by_ingest(name: str, as_of: date) -> bool:
    """Whether a refresh would read (and hash) the file: an export dated on or before the as-of date."""
    if not is_data_file(name):
        return False
    try:
        return export_date_from_name(name) <= as_of
    except FileRejected:
        return False


def evaluate(raw_dir: Path, loaded: Callable[[], set[tuple[str, str]] | None], as_of: date, quiet_seconds: float,
             cursor: str | None, now: float | None = None, busy: str | None = None) -> Evaluation:
    """The sensor's decision as a plain function. `loaded` gives (source, sha256) of meta.file_loads
    (None: the warehouse cannot be read now), asked only once the folder is quiet and no run is in
    progress (`busy`: why no run may start now)."""
    now = _now() if now is None else now
    before = json.loads(cursor) if cursor else {}
    seen: dict[str, list] = before.get("files", {})
    state = _stat(raw_dir)
    changed = [name for name, st in state.items() if list(seen.get(name, [None, None])[:2]) != list(st)]
    changed += [name for name in seen if name not in state]
    changed_at = now if changed else before.get("changed_at", 0.0)
    files = {name: [*st, seen[name][2] if name in seen and not (name in changed) else None]
             for name, st in state.items()}
    newest = max((st[1] / 1e9 for st in state.values()), default=0.0)
    quiet_for = now - max(changed_at, newest)

    def result(new: list[str], skip: str | None) -> Evaluation:
        return Evaluation(new, skip, json.dumps({"files": files, "changed_at": changed_at}, sort_keys=True))

    if quiet_for < quiet_seconds:
        count = len(changed) or sum(1 for st in state.values() if now - st[1] / 1e9 < quiet_seconds)
        return result([], f"waiting: {count} file(s) in {raw_dir} changed in the last {quiet_seconds:g} s "
                          f"(a delivery may still be arriving)")
    if busy:
        return result([], busy)
    known = loaded()
    if known is None:
        return result([], "the warehouse is in use by another process: looking again on the next tick")
    new = []
    for name in sorted(state):
        source, file_name = name.split("/", 1)
        if not _read_by_ingest(file_name, as_of):
            continue
        if files[name][2] is None:
            files[name][2] = file_sha256(raw_dir / source / file_name)
        if (source, files[name][2]) not in known:
            new.append(name)
    if not new:
        return result([], "nothing new: every export's sha256 is in meta.file_loads")
    return result(new, None)


def loaded_hashes(warehouse_url: str) -> set[tuple[str, str]] | None:
    """(source, sha256) of every file load (none when the warehouse does not exist yet); None
    when another process holds the DuckDB file (`nsk materialize`, or a run of the UI)."""
    try:
        wh = Warehouse.open_existing(warehouse_url)
    except WarehouseBusy:
        return None
    except WarehouseMissing:
        return set()  # no warehouse yet: every export is new
    try:
        if not wh.has_table("meta", "file_loads"):
            return set()
        rows = wh.read_sql("SELECT DISTINCT source, sha256 FROM meta.file_loads WHERE sha256 IS NOT NULL")
        return {(r.source, r.sha256) for r in rows.itertuples()}
    finally:
        wh.dispose()


def run_request(new: list[str], as_of: date, sha256s: list[str]) -> dg.RunRequest:
    new = [mask_cpr(name) for name in new]  # a name is shown: a CPR number typed into one is not
    listed = ", ".join(new)
    if len(listed) > _TAG_LIMIT:
        shown = []
        for name in new:
            if len(", ".join(shown + [name])) > _TAG_LIMIT - 20:
                break
            shown.append(name)
        listed = ", ".join(shown) + f" and {len(new) - len(shown)} more"
    key = hashlib.sha256("\n".join(sorted(sha256s)).encode()).hexdigest()[:32]
    return dg.RunRequest(run_key=f"{SENSOR_NAME}:{key}",
                         tags={TAG_AS_OF: as_of.isoformat(), TAG_TRIGGER: SENSOR_NAME, TAG_FILES: listed})


def _busy(instance: dg.DagsterInstance) -> str | None:
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS), limit=1)
    if runs:
        return (f"run {runs[0].run_id[:8]} ({runs[0].job_name}) is {runs[0].status.value.lower()}: no second run "
                f"while one is queued or running")
    return None


@dg.sensor(name=SENSOR_NAME, job=quarterly_refresh, minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts the full refresh when the raw folder holds an export whose sha256 is not in "
                       "meta.file_loads (a new file, or one replaced in place), once no file has changed for "
                       "NSK_SENSOR_QUIET_SECONDS (default 180). Never while a run is queued or running.")
def raw_delivery_sensor(context: dg.SensorEvaluationContext):
    settings = Settings.from_env()
    decision = evaluate(Path(settings.raw_dir), lambda: loaded_hashes(settings.warehouse_url), settings.as_of,
                        settings.sensor_quiet_seconds, context.cursor, busy=_busy(context.instance))
    context.update_cursor(decision.cursor)
    if decision.skip:
        return dg.SkipReason(decision.skip)
    hashes = [json.loads(decision.cursor)["files"][name][2] for name in decision.new]
    request = run_request(decision.new, settings.as_of, hashes)
    context.log.info(f"new or replaced exports ({len(decision.new)}): {request.tags[TAG_FILES]}")
    return request


sensors = [raw_delivery_sensor]
