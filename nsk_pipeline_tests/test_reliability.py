"""Nothing lost, nothing leaked: bad files, killed runs, database errors, concurrent runs.

Each test records what it tried through the `reliability` fixture; `benchmarks/reliability.py`
runs this file and prints the summary from those records.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline_tests.conftest import (DEMO_RAW, REPO, create_database, database_url, drop_database,
                                         isolated_environ, require_postgres)

pytestmark = pytest.mark.slow
MARTS = ["goal_attainment", "indicator_yearly", "indicator_quarterly", "indicator_breakdown", "indicators", "goals"]


def nsk(env_extra: dict[str, str], *args: str, timeout: float = 300,
        base: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**(os.environ if base is None else base), **env_extra}
    return subprocess.run([sys.executable, "-m", "nsk_pipeline.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def run_env(url: str, as_of: str, raw: Path = DEMO_RAW, **extra: str) -> dict[str, str]:
    return {"NSK_WAREHOUSE_URL": url, "NSK_AS_OF": as_of, "NSK_RAW_DIR": str(raw), **extra}


def snapshot(url: str) -> dict[str, pd.DataFrame]:
    wh = Warehouse(url)
    try:
        out = {}
        for name in MARTS:
            df = wh.read_table("marts", name).drop(columns=["computed_at"], errors="ignore")
            out[name] = df.astype(str).sort_values(list(df.columns)).reset_index(drop=True)
        return out
    finally:
        wh.dispose()


def publications(url: str) -> set[tuple[str, ...]]:
    """(history table, publication, rows) for each publication in the history tables."""
    wh = Warehouse(url)
    try:
        return set(wh.read_sql(
            "SELECT 'goal' AS t, publication_id, count(*) AS n FROM marts.goal_attainment_history "
            "GROUP BY publication_id UNION ALL SELECT 'indicator', publication_id, count(*) "
            "FROM marts.indicator_yearly_history GROUP BY publication_id UNION ALL "
            "SELECT 'files', publication_id, count(*) FROM meta.file_loads_history GROUP BY publication_id"
        ).astype(str).itertuples(index=False, name=None))
    finally:
        wh.dispose()


def same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> bool:
    return all(a[n].equals(b[n]) for n in MARTS)


# --- bad files -------------------------------------------------------------------------------

def make_bad_delivery(raw: Path) -> dict[str, str]:
    """Copy the demo and add one file of every bad kind; returns file → the reason expected."""
    shutil.copytree(DEMO_RAW, raw)
    d = raw / "rettighedskurser"
    (d / "rettighedskurser_2026-02-01.csv").write_text("kursus_id;dato;status\nK1;01-01-2026;gennemfoert\n")
    (d / "rettighedskurser_uden_dato.csv").write_text("kursus_id;dato;sted_type;status\n")
    (d / "rettighedskurser_2026-02-02.csv").write_bytes(b"")
    (d / "rettighedskurser_2026-02-03.csv").write_bytes(os.urandom(3000))
    (d / "rettighedskurser_2026-02-04.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook" + os.urandom(200))
    (d / "rettighedskurser_2026-02-05.csv").write_bytes(
        "kursus_id;dato;sted_type;status\nK9;01-01-2026;jobcenter;gennemført\n".encode("utf-16"))
    (d / "rettighedskurser_2026-02-06.csv").write_text("kursus_id;dato;sted_type;deltagere;status\n")  # valid: empty
    return {"rettighedskurser_2026-02-01.csv": "sted_type", "rettighedskurser_uden_dato.csv": "export date",
            "rettighedskurser_2026-02-02.csv": "empty", "rettighedskurser_2026-02-03.csv": "",
            "rettighedskurser_2026-02-04.xlsx": "xlsx", "rettighedskurser_2026-02-05.csv": ""}


def test_bad_files_are_rejected_with_a_reason_and_the_rest_loads(tmp_path, duckdb_url, reliability):
    import dagster as dg

    from nsk_pipeline.core.settings import Settings
    from nsk_pipeline.definitions import ASSETS, CHECKS, build_definitions

    raw = tmp_path / "raw"
    expected = make_bad_delivery(raw)
    os.environ.update(run_env(duckdb_url, "2026-03-01", raw))
    defs = build_definitions(Settings.from_env())
    result = dg.materialize([*ASSETS, *CHECKS], resources=defs.resources, raise_on_error=False)
    assert result.success  # bad files are reported, never a traceback
    failed = {(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations()
              if not e.passed}
    assert ("staging/rettighedskurser", "files_accepted") in failed
    assert not any(name in ("rows_reconcile", "pandera_rules") for _, name in failed)
    wh = Warehouse(duckdb_url)
    loads = wh.read_table("meta", "file_loads").set_index("file_name")
    for name, words in expected.items():
        assert loads.loc[name, "status"] == "rejected", name
        assert loads.loc[name, "reason"] and words.lower() in loads.loc[name, "reason"].lower(), name
    assert loads.loc["rettighedskurser_2026-02-06.csv", "status"] == "loaded"
    lost = int((loads["rows_read"] - loads["rows_staged"] - loads["rows_quarantined"]).sum())
    assert lost == 0
    # The good files of the same source still count: 15 courses in 2025, as published.
    assert wh.read_sql("SELECT value FROM marts.indicator_yearly WHERE indicator_id = 'rettighedskurser' "
                       "AND year = 2025")["value"].iloc[0] == 15
    wh.dispose()
    for name in expected:
        reliability.record("bad_input", name, survived=True, rows_lost=lost)


# --- atomic publication -----------------------------------------------------------------------

PREVIOUS_AS_OF = "2025-03-01"


def publish_previous(folder: Path, url: str) -> None:
    """One full run as of PREVIOUS_AS_OF: the marts a faulty run must leave as they were."""
    done = nsk(run_env(url, PREVIOUS_AS_OF), "materialize", "--log-level", "WARNING", base=isolated_environ(folder))
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def previous_duckdb(tmp_path_factory) -> Path:
    """A DuckDB warehouse with the previous marts, made once; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("previous_duckdb")
    path = folder / "previous.duckdb"
    publish_previous(folder, f"duckdb:///{path}")
    return path


@pytest.fixture(scope="module")
def previous_postgres(tmp_path_factory):
    """A PostgreSQL database with the previous marts, made once: the template of each test's database."""
    require_postgres()
    name = create_database()
    try:
        publish_previous(tmp_path_factory.mktemp("previous_postgres"), database_url(name))
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def warehouse_with_previous_marts(request, tmp_path):
    """`backend` → the URL of this test's own warehouse, holding the previous marts."""
    def make(backend: str) -> str:
        if backend == "duckdb":
            path = tmp_path / "warehouse.duckdb"
            shutil.copy(request.getfixturevalue("previous_duckdb"), path)
            return f"duckdb:///{path}"
        name = create_database(template=request.getfixturevalue("previous_postgres"))
        request.addfinalizer(lambda: drop_database(name))
        return database_url(name)
    return make


@pytest.mark.parametrize(("backend", "point"), [
    ("duckdb", "publish:indicator_yearly:kill"), ("duckdb", "publish:goal_attainment:kill"),
    ("duckdb", "publish:indicator_breakdown:error"),
    ("postgres", "publish:indicator_quarterly:kill"), ("postgres", "publish:history:kill")])
def test_a_failed_publication_leaves_the_previous_marts(backend, point, warehouse_with_previous_marts,
                                                       reliability):
    warehouse_url = warehouse_with_previous_marts(backend)
    before = snapshot(warehouse_url)
    published_before = publications(warehouse_url)
    assert set(before["goal_attainment"]["as_of"]) == {PREVIOUS_AS_OF}
    broken = nsk(run_env(warehouse_url, "2026-03-01", NSK_FAULT=point), "materialize", "--log-level", "WARNING")
    if point.endswith(":kill"):
        assert broken.returncode == -signal.SIGKILL
    else:
        assert broken.returncode == 1 and "injected fault" in broken.stderr
    after = snapshot(warehouse_url)
    survived = same(before, after)
    assert survived, "the marts changed although the publication did not complete"
    assert set(after["goal_attainment"]["as_of"]) == {PREVIOUS_AS_OF}
    assert publications(warehouse_url) == published_before  # and appended nothing to the history
    again = nsk(run_env(warehouse_url, "2026-03-01"), "materialize", "--log-level", "WARNING")
    assert again.returncode == 0, again.stderr[-2000:]
    assert set(snapshot(warehouse_url)["goal_attainment"]["as_of"]) == {"2026-03-01"}
    published = publications(warehouse_url)
    assert published > published_before and len({p for _, p, _ in published - published_before}) == 1
    reliability.record("fault", f"{point} on {warehouse_url.split(':')[0]}", survived=survived)


def test_killed_at_any_moment_the_marts_are_old_or_new_never_mixed(tmp_path, previous_duckdb, reliability):
    shutil.copy(previous_duckdb, tmp_path / "old.duckdb")  # read here, never the shared file
    old_url = f"duckdb:///{tmp_path / 'old.duckdb'}"
    new_url = f"duckdb:///{tmp_path / 'new.duckdb'}"
    assert nsk(run_env(new_url, "2026-03-01"), "materialize").returncode == 0
    old, new = snapshot(old_url), snapshot(new_url)
    for delay in (1.0, 3.0, 5.0, 6.5, 8.0):
        url = f"duckdb:///{tmp_path / f'kill_{delay}.duckdb'}"
        shutil.copy(previous_duckdb, tmp_path / f"kill_{delay}.duckdb")
        env = {**os.environ, **run_env(url, "2026-03-01")}
        proc = subprocess.Popen([sys.executable, "-m", "nsk_pipeline.cli", "materialize"], env=env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        seen = snapshot(url)
        survived = same(seen, old) or same(seen, new)
        reliability.record("fault", f"SIGKILL after {delay:.1f} s", survived=survived)
        assert survived, f"killed after {delay} s: the marts are neither the old nor the new ones"


def test_running_twice_gives_identical_marts(warehouse_url, reliability):
    env = run_env(warehouse_url, "2026-03-01")
    assert nsk(env, "materialize").returncode == 0
    first = snapshot(warehouse_url)
    assert nsk(env, "materialize").returncode == 0
    survived = same(first, snapshot(warehouse_url))
    reliability.record("fault", "the same run twice", survived=survived)
    assert survived


# --- two runs at once -------------------------------------------------------------------------

def test_a_second_run_waits_then_fails_clearly_while_duckdb_is_held(duckdb_url, reliability):
    path = duckdb_url.removeprefix("duckdb:///")
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({path!r}); "
                               "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        out = nsk({**run_env(duckdb_url, "2026-03-01"), "NSK_LOCK_WAIT_SECONDS": "2"}, "materialize")
    finally:
        holder.kill()
        holder.wait()
    assert out.returncode == 3
    # The holder here is a plain DuckDB connection, not a run: said as such, with its pid.
    assert f"the warehouse file is open in another process (pid {holder.pid})" in out.stderr
    assert "Traceback" not in out.stderr
    reliability.record("fault", "concurrent run (DuckDB)", survived=out.returncode == 3)


@pytest.mark.postgres
def test_a_second_run_waits_then_fails_clearly_while_postgres_is_held(postgres_url, reliability):
    from nsk_pipeline.core.runlock import RunLock

    holder = Warehouse(postgres_url)
    with RunLock(holder, wait_seconds=0):
        out = nsk({**run_env(postgres_url, "2026-03-01"), "NSK_LOCK_WAIT_SECONDS": "2"}, "materialize")
    holder.dispose()
    assert out.returncode == 3 and "another nsk run is writing to the warehouse" in out.stderr
    # Once the first run is done, the next one goes through.
    assert nsk(run_env(postgres_url, "2026-03-01"), "materialize").returncode == 0
    reliability.record("fault", "concurrent run (PostgreSQL)", survived=True)


def test_a_second_run_waits_for_the_first_to_finish(duckdb_url):
    path = duckdb_url.removeprefix("duckdb:///")
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({path!r}); "
                               "print('ready', flush=True); time.sleep(3)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    out = nsk({**run_env(duckdb_url, "2026-03-01"), "NSK_LOCK_WAIT_SECONDS": "60"}, "materialize")
    holder.wait()
    assert out.returncode == 0, out.stderr[-2000:]


# --- random input through the whole ingest -----------------------------------------------------

def test_random_rows_and_files_end_staged_quarantined_or_rejected(tmp_path, reliability):
    """Seeded random cells and random files: every row is staged or quarantined with a reason,
    every unreadable file is rejected with one, and nothing raises."""
    import random
    from datetime import date

    from nsk_pipeline.sources.ingest import ingest_source
    from nsk_pipeline.sources.specs import SOURCES

    rng = random.Random(20261122)
    alphabet = "0123456789-.,;| abcæøåÆØÅ\"'\t/:xyzHØJgennemført"
    pool = ["", " ", "25", "25,0", "1.000", "-3", "2.5", "31-02-2024", "01.03.2025", "2025-03-01", "høj", "HOEJ",
            "borgersag", "henvendelse", "aktiv", "annulleret", "ja", "nej", "arbejdsmarked|vold", "x" * 300]
    rows_tried = files_tried = 0
    for source, spec in SOURCES.items():
        folder = tmp_path / source
        folder.mkdir()
        for n in range(3):
            lines = [";".join(spec.column_names)]
            for _ in range(100):
                cells = [rng.choice(pool) if rng.random() < 0.6 else
                         "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
                         for _ in spec.column_names]
                lines.append(";".join(c.replace(";", ",").replace('"', "") for c in cells))
            (folder / f"{source}_2025-0{n + 4}-01.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
            (folder / f"{source}_2025-0{n + 4}-02.csv").write_bytes(bytes(rng.randrange(256) for _ in range(500)))
            files_tried += 2
        result = ingest_source(spec, folder, date(2026, 1, 1), b"k" * 32, known_actors=["a1"], milestone_goals=["M"])
        loads = result.file_loads
        assert (loads["rows_read"] == loads["rows_staged"] + loads["rows_quarantined"]).all()
        assert loads.loc[loads["status"] == "rejected", "reason"].str.len().gt(0).all()
        assert result.quarantine["reasons"].str.len().gt(0).all()
        rows_tried += int(loads["rows_read"].sum())
    reliability.record("bad_input", f"{rows_tried} random rows, {files_tried} random files", survived=True,
                       rows_lost=0, count=rows_tried + files_tried)
