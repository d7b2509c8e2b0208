"""Commands do what they say (issue 16, item 4): `nsk validate` judges a delivery in the context of
what is loaded, `nsk report` writes where NSK_REPORTS_DIR says and never creates a warehouse, a
source folder's skipped entries are logged and recorded, and a killed run is marked failed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
import sqlalchemy as sa

from nsk_pipeline.cli import main
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.sources import reasons
from nsk_pipeline.sources.assets import staging_assets, staging_key
from nsk_pipeline.sources.ingest import ingest_source, source_entries
from nsk_pipeline.sources.specs import SOURCES
from nsk_pipeline.sources.uptodate import stale_sources
from nsk_pipeline_tests.conftest import DEMO_RAW, PG_SERVER, create_database, drop_database, require_postgres

AS_OF = "2026-11-01"
NEW_ACTIVITIES = "omraade_aktiviteter_2026-10-06.csv"  # the 13 rows
ACTOR_RULE = "aktoerer: actor_not_in_register"


def _materialize_sources(url: str, raw: Path, sources: list[str]) -> dg.ExecuteInProcessResult:
    """The real load of some sources (and their checks), as `nsk materialize` stages them."""
    keys = [staging_key(s) for s in sources]
    nsk = NskResource(raw_dir=str(raw), warehouse_url=url, as_of=AS_OF)
    return dg.materialize(staging_assets, resources={"nsk": nsk},
                          instance=dg.DagsterInstance.ephemeral(),
                          selection=dg.AssetSelection.assets(*keys) | dg.AssetSelection.checks_for_assets(*keys))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- skipped entries


def _folder_with_odd_entries(raw: Path) -> tuple[Path, dict[str, str]]:
    """A rettighedskurser folder with two exports and every kind of entry that is not a file to
    read; returns the folder and, per skipped entry, a word its reason must hold."""
    folder = raw / "rettighedskurser"
    folder.mkdir(parents=True)
    demo = sorted(p for p in (DEMO_RAW / "rettighedskurser").iterdir() if p.suffix == ".csv")
    shutil.copy(demo[0], folder / demo[0].name)
    elsewhere = raw.parent / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(demo[1], elsewhere / demo[1].name)
    (folder / demo[1].name).symlink_to(elsewhere / demo[1].name)  # a working link to a file: followed
    (folder / "old").mkdir()
    shutil.copy(demo[2], folder / "old" / demo[2].name)  # a sub-folder, with an export in it
    (folder / "rettighedskurser_2026-01-01.csv").mkdir()  # a folder named like an export
    (folder / "rettighedskurser_2026-02-02.csv").symlink_to(raw.parent / "gone.csv")  # broken link
    (folder / "linked_folder").symlink_to(elsewhere)
    os.mkfifo(folder / "rettighedskurser_2026-03-03.csv")  # a pipe: opening it would hang
    return folder, {"old": "sub-folder", "rettighedskurser_2026-01-01.csv": "sub-folder",
                    "rettighedskurser_2026-02-02.csv": "broken symbolic link",
                    "linked_folder": "sub-folder", "rettighedskurser_2026-03-03.csv": "not a regular file"}


def test_skipped_entries_get_a_reason_in_the_file_loads(tmp_path, reliability):
    folder, skipped = _folder_with_odd_entries(tmp_path / "raw")
    with ingest_source(SOURCES["rettighedskurser"], folder, date.fromisoformat(AS_OF)) as result:
        loads = result.file_loads.set_index("file_name")
        assert set(loads.index) == {p.name for p in folder.iterdir()}
        for name, word in skipped.items():
            assert loads.loc[name, "status"] == "skipped" and word in loads.loc[name, "reason"], name
            assert loads.loc[name, "rows_read"] == 0
        loaded = loads[loads["status"] == "loaded"]
        assert len(loaded) == 2 and loaded["rows_read"].sum() > 0  # the copy and the followed link
        assert all(any(name in w and word in w for w in result.warnings) for name, word in skipped.items())
    reliability.record("operator_mistake", "sub-folders, symlinks and pipes in a source folder", survived=True)


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_skipped_entries_are_stored_and_rows_still_reconcile(backend, tmp_path, reliability):
    folder, skipped = _folder_with_odd_entries(tmp_path / "raw")
    if backend == "postgres":
        require_postgres()
        name = create_database()
        url = f"{PG_SERVER}/{name}"
    else:
        url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    try:
        result = _materialize_sources(url, tmp_path / "raw", ["rettighedskurser"])
        assert result.success
        assert all(e.passed for e in result.get_asset_check_evaluations()
                   if e.check_name in ("rows_reconcile", "pandera_rules"))
        wh = Warehouse(url)
        try:
            loads = wh.read_sql("SELECT file_name, status, reason FROM meta.file_loads").set_index("file_name")
            for entry, word in skipped.items():
                assert loads.loc[entry, "status"] == "skipped" and word in loads.loc[entry, "reason"]
            # the staleness guard lists the folder the same way: what was loaded is up to date
            assert not [p for p in stale_sources(wh, tmp_path / "raw", date.fromisoformat(AS_OF), "another run")
                        if "rettighedskurser" in p]
        finally:
            wh.dispose()
    finally:
        if backend == "postgres":
            drop_database(name)
    reliability.record("operator_mistake", f"skipped entries recorded in meta.file_loads ({backend})", survived=True)


def test_skipped_entries_are_warning_lines_in_the_run_log(tmp_path):
    _folder_with_odd_entries(tmp_path / "raw")
    keys = [staging_key("rettighedskurser")]
    nsk = NskResource(raw_dir=str(tmp_path / "raw"), warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}", as_of=AS_OF)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(staging_assets, resources={"nsk": nsk}, instance=instance,
                                selection=dg.AssetSelection.assets(*keys))
        assert result.success
        warnings = [r.user_message for r in instance.all_logs(result.run_id)
                    if r.level == 30 and r.is_dagster_event is False]
    assert any("rettighedskurser/old" in w and "skipped" in w and str(tmp_path) in w for w in warnings), warnings
    assert any("broken symbolic link" in w for w in warnings), warnings


def test_an_unreadable_file_is_skipped_with_its_reason(reliability):
    """chmod 000 stops anyone but root; as root (CI) the listing is judged in a child that drops
    to nobody's uid, which chmod 000 does stop."""
    base = Path(tempfile.mkdtemp(prefix="nsk-unreadable-"))
    try:
        os.chmod(base, 0o755)
        folder = base / "rettighedskurser"
        folder.mkdir()
        os.chmod(folder, 0o755)
        export = sorted((DEMO_RAW / "rettighedskurser").glob("*.csv"))[0]
        shutil.copy(export, folder / "rettighedskurser_2026-01-01.csv")
        os.chmod(folder / "rettighedskurser_2026-01-01.csv", 0o000)
        (folder / "rettighedskurser_2026-02-01.csv").write_text("kursus_id\n")
        os.chmod(folder / "rettighedskurser_2026-02-01.csv", 0o644)
        if os.geteuid() != 0:
            verdict = {p.name: why for p, why in source_entries(folder)}
        else:
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: no Dagster, no DuckDB, only the listing
                try:
                    os.close(read)
                    os.setgid(65534)
                    os.setuid(65534)
                    out = {p.name: why for p, why in source_entries(folder)}
                except BaseException as e:
                    out = {"error": repr(e)}
                os.write(write, json.dumps(out).encode())
                os._exit(0)
            os.close(write)
            with os.fdopen(read, "rb") as f:
                verdict = json.loads(f.read() or b"{}")
            os.waitpid(pid, 0)
        assert verdict.get("rettighedskurser_2026-02-01.csv", "missing") is None, verdict
        unreadable = verdict["rettighedskurser_2026-01-01.csv"]  # a file reason: code and parameters
        assert unreadable["code"] == "cannot_be_read" and reasons.text(unreadable).startswith("cannot be read: ")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    reliability.record("operator_mistake", "an unreadable file in a source folder", survived=True)


# --------------------------------------------------------------------------- nsk validate


@pytest.fixture
def loaded_register(warehouse_url, tmp_path, monkeypatch):
    """A warehouse that staged the demo's actor register and the new activities file (the real
    load), and a delivery holding only that activities file; returns (url, delivery, real load)."""
    raw = tmp_path / "raw"
    shutil.copytree(DEMO_RAW / "omraade_aktoerer", raw / "omraade_aktoerer")
    (raw / "omraade_aktiviteter").mkdir()
    shutil.copy(DEMO_RAW / "omraade_aktiviteter" / NEW_ACTIVITIES, raw / "omraade_aktiviteter")
    assert _materialize_sources(warehouse_url, raw, ["omraade_aktoerer", "omraade_aktiviteter"]).success
    wh = Warehouse(warehouse_url)
    try:
        real = wh.read_sql("SELECT rows_read, rows_staged, rows_quarantined FROM meta.file_loads "
                           "WHERE file_name = :f", f=NEW_ACTIVITIES).iloc[0]
    finally:
        wh.dispose()
    delivery = tmp_path / "delivery"
    (delivery / "omraade_aktiviteter").mkdir(parents=True)
    shutil.copy(DEMO_RAW / "omraade_aktiviteter" / NEW_ACTIVITIES, delivery / "omraade_aktiviteter")
    monkeypatch.setenv("NSK_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("NSK_AS_OF", AS_OF)
    return warehouse_url, delivery, real


def test_validate_judges_new_activities_by_the_register_already_loaded(loaded_register, capsys, reliability):
    url, delivery, real = loaded_register
    before = _sha(Path(url.removeprefix("duckdb:///"))) if url.startswith("duckdb") else None
    assert main(["validate", str(delivery), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [f] = [f for f in report["files"] if f["file"] == NEW_ACTIVITIES]
    assert real["rows_staged"] == real["rows_read"] > 0  # the real load stages them all
    assert (f["rows_read"], f["rows_staged"], f["rows_quarantined"]) == tuple(int(v) for v in real)
    assert ACTOR_RULE not in f["quarantine_reasons"]
    assert report["actor_register"].startswith("the warehouse")
    if before is not None:
        assert _sha(Path(url.removeprefix("duckdb:///"))) == before  # read-only: not a byte changed
    assert main(["validate", str(delivery / "omraade_aktiviteter")]) == 0
    out = capsys.readouterr().out
    assert "actor register: the warehouse" in out
    assert "0 rows would be quarantined" in out
    reliability.record("operator_mistake", f"validate new activities against the loaded register "
                       f"({url.split(':')[0]})", survived=True)


def test_validate_without_a_warehouse_does_not_check_actors_and_creates_none(tmp_path, monkeypatch, capsys,
                                                                            reliability):
    delivery = tmp_path / "delivery" / "omraade_aktiviteter"
    delivery.mkdir(parents=True)
    shutil.copy(DEMO_RAW / "omraade_aktiviteter" / NEW_ACTIVITIES, delivery)
    warehouse = tmp_path / "nowhere" / "never.duckdb"
    monkeypatch.setenv("NSK_WAREHOUSE_URL", f"duckdb:///{warehouse}")
    monkeypatch.setenv("NSK_AS_OF", AS_OF)
    assert main(["validate", str(delivery.parent)]) == 0
    out = capsys.readouterr().out
    assert "actor register: unknown" in out and "not checked" in out
    assert "aktoerer: names an actor id" not in out
    assert "0 rows would be quarantined" in out
    assert not warehouse.parent.exists()
    reliability.record("operator_mistake", "validate activities with no warehouse and no register", survived=True)


def test_validate_takes_a_register_in_the_delivery_first(tmp_path, monkeypatch, capsys):
    delivery = tmp_path / "delivery"
    (delivery / "omraade_aktiviteter").mkdir(parents=True)
    shutil.copy(DEMO_RAW / "omraade_aktiviteter" / NEW_ACTIVITIES, delivery / "omraade_aktiviteter")
    (delivery / "omraade_aktoerer").mkdir()
    (delivery / "omraade_aktoerer" / "omraade_aktoerer_2026-10-06.csv").write_text(
        "aktoer_id;navn;sektor;tilsluttet;udtraadt\nA01;Bibliotek;kommunal;15.02.2024;\n", encoding="utf-8")
    monkeypatch.setenv("NSK_AS_OF", AS_OF)
    assert main(["validate", str(delivery), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["actor_register"].startswith("the delivery")
    [f] = [f for f in report["files"] if f["file"] == NEW_ACTIVITIES]
    assert f["quarantine_reasons"].get(ACTOR_RULE, 0) > 0  # only A01 is registered


def test_validate_takes_one_sources_folder_and_says_so(tmp_path, monkeypatch, capsys, reliability):
    folder = tmp_path / "raw" / "vejlederlog"
    folder.mkdir(parents=True)
    for export in sorted((DEMO_RAW / "vejlederlog").glob("*.csv"))[-2:]:
        shutil.copy(export, folder)
    monkeypatch.setenv("NSK_AS_OF", AS_OF)
    assert main(["validate", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "source folder vejlederlog"
    names = {p.name for p in folder.iterdir()}
    assert {f["file"] for f in report["files"]} == names and {f["source"] for f in report["files"]} == {"vejlederlog"}
    assert sum(f["rows_read"] for f in report["files"]) > 0
    assert main(["validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"{folder}: the folder of one source, vejlederlog" in out
    assert f"{len(names)} files" in out
    assert main(["validate", str(folder.parent)]) == 0
    assert f"{folder.parent}: a raw folder, one sub-folder per source (found: vejlederlog)" in capsys.readouterr().out
    reliability.record("operator_mistake", "validate pointed at one source's folder", survived=True)


@pytest.mark.parametrize("content", ["empty", "readme only", "loose exports", "unknown sub-folder"])
def test_validate_a_folder_without_exports_exits_2_in_one_line(content, tmp_path, monkeypatch, capsys, reliability):
    folder = tmp_path / "delivery"
    folder.mkdir()
    if content == "readme only":
        (folder / "skoleforloeb").mkdir()
        (folder / "skoleforloeb" / "README.txt").write_text("hello")
    elif content == "loose exports":
        shutil.copy(sorted((DEMO_RAW / "rettighedskurser").glob("*.csv"))[0], folder)
    elif content == "unknown sub-folder":
        shutil.copytree(DEMO_RAW / "rettighedskurser", folder / "kurser")
    monkeypatch.setenv("NSK_AS_OF", AS_OF)
    assert main(["validate", str(folder)]) == 2
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 1 and "no export" in lines[0] and str(folder) in lines[0], lines
    reliability.record("operator_mistake", f"validate a folder without exports ({content})", survived=True)


# --------------------------------------------------------------------------- nsk report


def test_report_writes_to_NSK_REPORTS_DIR(tmp_path, duckdb_url, monkeypatch, capsys, reliability):
    from nsk_pipeline.cli import report as report_cli
    from nsk_pipeline_tests.test_report import make_warehouse

    make_warehouse(duckdb_url).dispose()
    reports = tmp_path / "somewhere" / "reports"
    monkeypatch.setenv("NSK_REPORTS_DIR", str(reports))
    assert report_cli(SimpleNamespace(plan="HP2024", year=2025, out=None)) == 0
    assert (reports / "nsk-status-HP2024-2025.html").exists() and (reports / "nsk-status-HP2024-2025.md").exists()
    assert str(reports) in capsys.readouterr().out
    reliability.record("operator_mistake", "report honours NSK_REPORTS_DIR", survived=True)


def test_report_on_a_missing_duckdb_warehouse_exits_2_and_creates_nothing(tmp_path, monkeypatch, capsys,
                                                                          reliability):
    warehouse = tmp_path / "typo" / "nsk.duckdb"
    monkeypatch.setenv("NSK_WAREHOUSE_URL", f"duckdb:///{warehouse}")
    assert main(["report", "--plan", "HP2024", "--year", "2025", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(warehouse) in err[0], err
    assert not warehouse.parent.exists() and not (tmp_path / "out").exists()
    reliability.record("operator_mistake", "report on a mistyped DuckDB warehouse path", survived=True)


def test_report_on_a_missing_postgres_warehouse_exits_2_in_one_line(tmp_path, monkeypatch, capsys, reliability):
    require_postgres()
    monkeypatch.setenv("NSK_WAREHOUSE_URL", f"{PG_SERVER}/nsk_no_such_database")
    assert main(["report", "--plan", "HP2024", "--year", "2025", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nsk_no_such_database" in err[0] and "Traceback" not in err[0], err
    name = create_database()
    try:
        monkeypatch.setenv("NSK_WAREHOUSE_URL", f"{PG_SERVER}/{name}")
        assert main(["report", "--plan", "HP2024", "--year", "2025", "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "marts.goal_attainment" in err[0], err
        engine = sa.create_engine(f"{PG_SERVER}/{name}")
        with engine.connect() as conn:  # and nothing was created in it
            assert not conn.execute(sa.text("SELECT schema_name FROM information_schema.schemata "
                                            "WHERE schema_name IN ('marts', 'meta', 'staging')")).fetchall()
        engine.dispose()
    finally:
        drop_database(name)
    assert not (tmp_path / "out").exists()
    reliability.record("operator_mistake", "report on a missing PostgreSQL warehouse", survived=True)


# --------------------------------------------------------------------------- a killed run


def test_a_killed_materialize_is_marked_failed_on_the_next_start(tmp_path, reliability):
    from dagster import DagsterRunStatus, RunsFilter

    from nsk_pipeline import cli
    from nsk_pipeline.core.deadruns import PID_TAG

    env = {**os.environ, "NSK_RAW_DIR": str(DEMO_RAW)}
    proc = subprocess.Popen([sys.executable, "-m", "nsk_pipeline.cli", "materialize"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with dg.DagsterInstance.get() as instance:
            deadline = time.monotonic() + 90
            run = None
            while time.monotonic() < deadline and proc.poll() is None:
                runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
                if runs and PID_TAG in runs[0].tags:
                    run = runs[0]
                    break
                time.sleep(0.1)
            assert run is not None, "the run never started"
            assert run.tags[PID_TAG] == str(proc.pid)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED  # Dagster does not know
        with cli._instance() as instance:  # what `nsk materialize` opens first
            assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
            messages = [r.message for r in instance.all_logs(run.run_id)]
            assert any(f"process {proc.pid}" in m and "no longer running" in m for m in messages), messages[-3:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reliability.record("operator_mistake", "a run killed with kill -9", survived=True)


def test_the_sweep_leaves_live_runs_and_other_hosts_alone():
    from dagster import DagsterRunStatus
    from dagster._core.storage.dagster_run import DagsterRun

    from nsk_pipeline.core.deadruns import HOST_TAG, PID_TAG, process_tags, sweep_dead_runs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with dg.DagsterInstance.get() as instance:
        mine = process_tags()
        runs = {
            "alive": {**mine},
            "dead": {**mine, PID_TAG: str(dead.pid)},
            "elsewhere": {**mine, PID_TAG: str(dead.pid), HOST_TAG: "another-host"},
            "untagged": {},
        }
        for run_id, tags in runs.items():
            instance.add_run(DagsterRun(job_name="__ASSET_JOB", run_id=f"{run_id}-0000",
                                        status=DagsterRunStatus.STARTED, tags=tags))
        assert sweep_dead_runs(instance) == ["dead-0000"]
        status = {r: instance.get_run_by_id(f"{r}-0000").status for r in runs}
    assert status == {"alive": DagsterRunStatus.STARTED, "dead": DagsterRunStatus.FAILURE,
                      "elsewhere": DagsterRunStatus.STARTED, "untagged": DagsterRunStatus.STARTED}


def test_nsk_materialize_opens_the_instance_once(monkeypatch):
    """The command sweeps DAGSTER_HOME's instance before its run; loading the definitions after
    that does not open the instance again to sweep it a second time."""
    from nsk_pipeline.core import deadruns

    with dg.DagsterInstance.get() as instance:
        deadruns.sweep_home(instance)
    opened = []
    monkeypatch.setattr(dg.DagsterInstance, "get", staticmethod(lambda: opened.append(1)))
    deadruns.sweep_on_load()
    assert opened == []
