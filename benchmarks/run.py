"""Benchmark: issue 13's speed and memory targets, measured and judged in one run.

    python benchmarks/run.py                          # demo, 1 M, 2.3 M as one file, 10 M (+ PostgreSQL, refresh)
    python benchmarks/run.py --sizes demo,20000       # choose (a tiny size proves the script end to end)
    python benchmarks/run.py --quick                  # demo only

Sizes: `demo` (the repository's data/raw), `N` (N counsellor-log rows of `benchmarks/scale.py`'s
synthetic data, ten years) and `N:onefile` (the same generator, but the counsellor log's exports
written as ONE file, the latest version of each key, Windows-1252; at 2.3 M rows it is ~200 MB,
the issue's single big file: 1 M rows make only ~86 MB).

For each size: generate the raw exports (not timed), run the pipeline (`nsk materialize`, the
README's command) in a subprocess with its own DuckDB warehouse, reports dir and DAGSTER_HOME
(so the per-step times can be read from the instance), then `benchmarks/baseline.py` the same
way, and compare their indicator_yearly and numeric goals. Wall time is the child's; peak memory
the larger of its own peak RSS (`os.wait4` rusage) and the peak sum of RSS over it and any child
processes (sampled every 0.2 s). On the demo (after a warm-up run), each of --repeat-demo rounds
times a run recorded in a DAGSTER_HOME, the README's command without one, and the start-up floor
(a process that only imports Dagster and the pipeline and makes Dagster's in-memory instance,
which every run pays before its first step); the medians count.

Then, on data already generated:
- PostgreSQL (`--pg-size`, default 1 M if measured, else the smallest synthetic size): the
  pipeline into a fresh database on `--pg-server` (created and dropped here), against the DuckDB
  pipeline at that size; its marts compared with the baseline.
- The quarterly refresh (`--refresh-size`, default the largest synthetic size): the same data
  generated again with each source's last quarter held back (`scale.py --hold-back`), a full run
  on it into a fresh warehouse, then the held-back quarter copied in and `nsk materialize` again
  on the same warehouse and DAGSTER_HOME with the same key: its wall time as a share of the full
  run at that size (fresh warehouse, all files); the refreshed marts compared with the baseline.

Every verdict is computed from figures measured in this run and printed beside them. Prints the
tables, the verdicts and a final line `ratios: demo X.Xx, 1M X.Xx, ...` (pipeline / baseline wall
time, then PostgreSQL / DuckDB and refresh / full), and writes benchmarks/RESULTS.md (a
"## Profile" section already there is kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PY = sys.executable
NSK = str(Path(PY).with_name("nsk"))
PIPELINE = [NSK, "materialize"]  # the README's command
DEMO_AS_OF = "2026-03-01"
SCALE_AS_OF = "2026-12-31"  # every export of the synthetic data counts
RESULTS = BENCH / "RESULTS.md"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
ONEFILE = ":onefile"
# Issue 13, item 5.
FLOOR_ALLOWANCE_S = {"readme": 1.5, "recorded": 3.0}  # over the measured start-up floor
MAX_RATIO = 1.0            # pipeline / baseline wall time, each synthetic size
MAX_RSS_MB = 1024.0        # peak RSS, each synthetic size and the single big file
FLAT_RSS = 1.5             # "flat": the larger size's peak RSS at most this times the smaller's
LINEAR_SLACK = 1.15        # "linear": k× the rows take at most k × this the time
MAX_PG_RATIO = 2.0         # PostgreSQL pipeline / DuckDB pipeline wall time
REFRESH_AIM = 0.25         # quarterly refresh / full run wall time (an aim, not a target)
ISSUE_SIZE = {"pg": "1000000", "refresh": "10000000"}
# What every `nsk materialize` pays before its first step: start Python, import Dagster and the
# pipeline, and make Dagster's in-memory instance.
FLOOR = "import dagster as dg, nsk_pipeline.definitions; dg.DagsterInstance.ephemeral().dispose()"


@dataclass
class Measure:
    wall: float
    rss_mb: float
    code: int
    extra: dict = field(default_factory=dict)


@dataclass
class SizeResult:
    size: str
    rows: int
    gen_s: float | None
    pipeline: Measure
    baseline: Measure
    steps: dict[str, float]
    differences: int | None
    file_mb: float | None = None  # N:onefile: the counsellor log's one file
    folder: Path | None = None    # where its raw data, warehouse and baseline are

    @property
    def ratio(self) -> float:
        return self.pipeline.wall / self.baseline.wall

    @property
    def onefile(self) -> bool:
        return self.size.endswith(ONEFILE)


@dataclass
class PgResult:
    size: str
    pipeline: Measure | None  # None: not run (note says why)
    differences: int | None
    note: str = ""


@dataclass
class RefreshResult:
    size: str
    history: Measure  # the full run on all but the last quarter, fresh warehouse
    refresh: Measure  # `nsk materialize` after adding the quarter, same warehouse
    added_files: int
    added_mb: float
    differences: int | None  # the refreshed marts against the baseline on all files


@dataclass
class Bench:
    results: list[SizeResult]
    pg: PgResult | None = None
    refresh: RefreshResult | None = None
    repeat_demo: int = 3


def label(size: str) -> str:
    if size == "demo":
        return "demo"
    if size.endswith(ONEFILE):
        return label(size[: -len(ONEFILE)]) + "-onefile"
    n = int(size)
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n / 1e6:g}M"


def agree(differences: int | None) -> str:
    return "yes" if differences == 0 else "n/a" if differences is None else f"NO ({differences} differ)"


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without the developer's NSK_* settings or DAGSTER_HOME, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSK_") and k != "DAGSTER_HOME"}
    env.update(settings)
    return env


def pipeline_env(raw: Path, as_of: str, folder: Path, url: str, key: str, home: Path | None) -> dict[str, str]:
    settings = {"NSK_RAW_DIR": str(raw), "NSK_WAREHOUSE_URL": url, "NSK_AS_OF": as_of,
                "NSK_PSEUDONYM_KEY": key, "NSK_REPORTS_DIR": str(folder)}
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        settings["DAGSTER_HOME"] = str(home)
    return clean_env(**settings)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and every process below it, MB."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {pid}, [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier and child not in tree]
        tree.update(frontier)
    total = 0
    for p in tree:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


def timed(cmd: list[str], env: dict, log: Path) -> Measure:
    """Run cmd; wall time and peak memory: the larger of the child's own peak RSS (ru_maxrss via
    wait4) and the peak sum of RSS over the child and its descendants (sampled every 0.2 s)."""
    peak = [0.0]
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        finished = threading.Event()

        def sample() -> None:
            while not finished.wait(0.2):
                peak[0] = max(peak[0], tree_rss_mb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        finished.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measure(wall, max(usage.ru_maxrss / 1024, peak[0]), proc.returncode)


def step_times(dagster_home: Path) -> tuple[dict[str, float], float | None]:
    """Per-step seconds of the latest run in the instance, and the run's own duration."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}, None
        run_id = runs[0].run_id
        steps = {s.step_key: (s.end_time - s.start_time) for s in instance.get_run_step_stats(run_id)
                 if s.start_time and s.end_time}
        record = instance.get_run_record_by_id(run_id)
        run_s = (record.end_time - record.start_time) if record and record.start_time and record.end_time else None
    return steps, run_s


MART_SQL = {
    "baseline": ("SELECT indicator_id, year, value FROM indicator_yearly",
                 "SELECT goal_id, year, actual, status FROM goal_attainment"),
    "pipeline": ("SELECT indicator_id, year, value FROM marts.indicator_yearly",
                 "SELECT goal_id, year, actual, status FROM marts.goal_attainment WHERE kind = 'numeric'"),
}


def fetch(url: str, queries: tuple[str, ...]) -> list[list[tuple]]:
    if url.startswith("duckdb:///"):
        import duckdb

        con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
        try:
            return [con.sql(q).fetchall() for q in queries]
        finally:
            con.close()
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [[tuple(row) for row in conn.execute(sa.text(q))] for q in queries]
    finally:
        engine.dispose()


def compare(baseline_db: Path, warehouse_url: str) -> int:
    """How many indicator-years and numeric goal rows differ between the baseline's file and the
    pipeline's warehouse (DuckDB or PostgreSQL; NULL = NULL)."""
    def num(x):
        return None if x is None else float(x)

    def same(x, y):
        return (x is None and y is None) or (x is not None and y is not None and math.isclose(x, y, abs_tol=1e-9))

    b_ind, b_goal = fetch(f"duckdb:///{baseline_db}", MART_SQL["baseline"])
    p_ind, p_goal = fetch(warehouse_url, MART_SQL["pipeline"])
    by = {(i, int(y)): num(v) for i, y, v in b_ind}
    py = {(i, int(y)): num(v) for i, y, v in p_ind}
    bg = {(g, int(y)): (num(a), s) for g, y, a, s in b_goal}
    pg = {(g, int(y)): (num(a), s) for g, y, a, s in p_goal}
    diff = sum(1 for k in set(by) | set(py) if k not in by or k not in py or not same(by[k], py[k]))
    diff += sum(1 for k in set(bg) | set(pg)
                if k not in bg or k not in pg or bg[k][1] != pg[k][1] or not same(bg[k][0], pg[k][0]))
    return diff


def generate(size: str, raw: Path, hold_back: Path | None = None) -> float:
    """scale.py's data for `size` into `raw` (not timed as part of any run); seconds taken."""
    rows = size.removesuffix(ONEFILE)
    cmd = [PY, str(BENCH / "scale.py"), "--scale", rows, "--out", str(raw)]
    if size.endswith(ONEFILE):
        cmd += ["--one-file", "vejlederlog"]
    if hold_back is not None:
        shutil.rmtree(hold_back, ignore_errors=True)
        cmd += ["--hold-back", str(hold_back)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def run_baseline(raw: Path, as_of: str, folder: Path) -> Measure:
    out, timings = folder / "baseline.duckdb", folder / "baseline_timings.json"
    out.unlink(missing_ok=True)
    timings.unlink(missing_ok=True)
    b = timed([PY, str(BENCH / "baseline.py"), str(raw), "--as-of", as_of, "--out", str(out),
               "--timings", str(timings)], clean_env(), folder / "baseline.log")
    if b.code != 0:
        print(f"  baseline failed (exit {b.code}), see {folder / 'baseline.log'}", file=sys.stderr)
    b.extra = json.loads(timings.read_text()) if timings.exists() else {}
    return b


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def run_size(size: str, work: Path, repeat: int) -> SizeResult:
    folder = work / label(size)
    folder.mkdir(parents=True, exist_ok=True)
    gen_s = file_mb = None
    if size == "demo":
        raw, as_of, rows = ROOT / "data" / "raw", DEMO_AS_OF, 0
    else:
        raw, as_of, rows = folder / "raw", SCALE_AS_OF, int(size.removesuffix(ONEFILE))
        gen_s = generate(size, raw)
        if size.endswith(ONEFILE):
            file_mb = sum(f.stat().st_size for f in (raw / "vejlederlog").glob("vejlederlog_*")) / 1e6
    warehouse = folder / "warehouse.duckdb"
    url = f"duckdb:///{warehouse}"
    pipelines, baselines = [], []
    for i in range(repeat):
        warehouse.unlink(missing_ok=True)
        key = secrets.token_hex(16)
        env = pipeline_env(raw, as_of, folder / "reports", url, key, folder / f"dagster_home_{i}")
        m = timed(PIPELINE, env, folder / "pipeline.log")
        if m.code != 0:
            print(f"  pipeline failed (exit {m.code}), see {folder / 'pipeline.log'}", file=sys.stderr)
        steps, m.extra["run_s"] = step_times(Path(env["DAGSTER_HOME"]))
        if size == "demo":
            # The README's command as a user runs it: no DAGSTER_HOME, Dagster keeps the run in memory.
            warehouse.unlink(missing_ok=True)
            bare = pipeline_env(raw, as_of, folder / "reports", url, key, None)
            readme = timed(PIPELINE, bare, folder / "pipeline_no_home.log")
            m.extra["no_home_s"], m.extra["no_home_code"] = readme.wall, readme.code
            floor = timed([PY, "-c", FLOOR], bare, folder / "floor.log")
            if floor.code == 0:
                m.extra["floor_s"] = floor.wall
            else:
                print(f"  start-up floor failed (exit {floor.code}), see {folder / 'floor.log'}", file=sys.stderr)
        pipelines.append((m, steps))
        baselines.append(run_baseline(raw, as_of, folder))
    # The median run of each (by wall time); the demo's other figures are medians of their own.
    pm, steps = sorted(pipelines, key=lambda x: x[0].wall)[len(pipelines) // 2]
    for key in ("no_home_s", "floor_s"):
        values = [m.extra[key] for m, _ in pipelines if key in m.extra]
        if values:
            pm.extra[key] = median(values)
    pm.extra["no_home_code"] = max((m.extra.get("no_home_code", 0) for m, _ in pipelines), default=0)
    bm = sorted(baselines, key=lambda x: x.wall)[len(baselines) // 2]
    # The last pipeline run's warehouse and the last baseline's file are what is left to compare.
    last_ok = pipelines[-1][0].code == 0 and baselines[-1].code == 0
    diff = compare(folder / "baseline.duckdb", url) if last_ok else None
    return SizeResult(size, rows, gen_s, pm, bm, steps, diff, file_mb, folder)


def run_postgres(r: SizeResult, server: str) -> PgResult:
    """The pipeline at r's size into a fresh PostgreSQL database (created and dropped here)."""
    import sqlalchemy as sa

    name = f"nsk_bench_{secrets.token_hex(6)}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # no server: reported, not judged
        admin.dispose()
        shown = sa.engine.make_url(server).render_as_string(hide_password=True)
        return PgResult(r.size, None, None, f"cannot create a database on {shown}: {type(e).__name__}")
    try:
        url = f"{server}/{name}"
        folder = r.folder
        env = pipeline_env(folder / "raw", SCALE_AS_OF, folder / "reports_pg", url, secrets.token_hex(16),
                           folder / "dagster_home_pg")
        m = timed(PIPELINE, env, folder / "pipeline_pg.log")
        if m.code != 0:
            print(f"  PostgreSQL pipeline failed (exit {m.code}), see {folder / 'pipeline_pg.log'}", file=sys.stderr)
        diff = compare(folder / "baseline.duckdb", url) if m.code == 0 and r.baseline.code == 0 else None
        return PgResult(r.size, m, diff)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def run_refresh(r: SizeResult) -> RefreshResult:
    """A full run on r's data without each source's last quarter, then that quarter added and
    `nsk materialize` again on the same warehouse, DAGSTER_HOME and key (as production would)."""
    folder = r.folder / "refresh"
    shutil.rmtree(folder, ignore_errors=True)
    raw, quarter = folder / "raw", folder / "quarter"
    generate(r.size, raw, hold_back=quarter)  # the same seed: r's files, less the held-back quarter
    files = sorted(p for p in quarter.rglob("*") if p.is_file())
    added_mb = sum(p.stat().st_size for p in files) / 1e6
    url = f"duckdb:///{folder / 'warehouse.duckdb'}"
    env = pipeline_env(raw, SCALE_AS_OF, folder / "reports", url, secrets.token_hex(16), folder / "dagster_home")
    history = timed(PIPELINE, env, folder / "history.log")
    for p in files:
        shutil.move(p, raw / p.parent.name / p.name)
    refresh = timed(PIPELINE, env, folder / "refresh.log")
    for m, log in ((history, "history.log"), (refresh, "refresh.log")):
        if m.code != 0:
            print(f"  refresh benchmark: a run failed (exit {m.code}), see {folder / log}", file=sys.stderr)
    ok = history.code == 0 and refresh.code == 0 and r.baseline.code == 0
    diff = compare(r.folder / "baseline.duckdb", url) if ok else None
    return RefreshResult(r.size, history, refresh, len(files), added_mb, diff)


def machine() -> dict[str, str]:
    import dagster
    import duckdb

    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"uname": " ".join(platform.uname()), "cpu": cpu, "nproc": str(os.cpu_count()),
            "memory": f"{int(mem) / 1024 / 1024:.1f} GiB", "python": platform.python_version(),
            "duckdb": duckdb.__version__, "dagster": dagster.__version__,
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds")}


def table(results: list[SizeResult]) -> list[str]:
    lines = ["| size | counsellor-log rows | pipeline wall s | pipeline peak RSS MB | baseline wall s | "
             "baseline peak RSS MB | ratio (wall) | results agree |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        rows = "demo" if not r.rows else f"{r.rows}" + (f" (one {r.file_mb:.0f} MB file)" if r.onefile else "")
        lines.append(f"| {label(r.size)} | {rows} | {r.pipeline.wall:.2f} | {r.pipeline.rss_mb:.0f} | "
                     f"{r.baseline.wall:.2f} | {r.baseline.rss_mb:.0f} | {r.ratio:.2f}x | {agree(r.differences)} |")
    return lines


def other_table(bench: Bench) -> list[str]:
    by = {r.size: r for r in bench.results}
    lines = ["| run | wall s | peak RSS MB | against | results agree |", "|---|---:|---:|---|---|"]
    pg = bench.pg
    if pg and pg.pipeline:
        duck = by[pg.size].pipeline.wall
        lines.append(f"| PostgreSQL {label(pg.size)} (exit {pg.pipeline.code}) | {pg.pipeline.wall:.2f} | "
                     f"{pg.pipeline.rss_mb:.0f} | DuckDB pipeline {duck:.2f} s ({pg.pipeline.wall / duck:.2f}×) | "
                     f"{agree(pg.differences)} |")
    rf = bench.refresh
    if rf:
        full = by[rf.size].pipeline.wall
        lines.append(f"| {label(rf.size)} less the last quarter, fresh warehouse (exit {rf.history.code}) | "
                     f"{rf.history.wall:.2f} | {rf.history.rss_mb:.0f} | | |")
        lines.append(f"| + the quarter ({rf.added_files} files, {rf.added_mb:.1f} MB), same warehouse "
                     f"(exit {rf.refresh.code}) | {rf.refresh.wall:.2f} | {rf.refresh.rss_mb:.0f} | full run "
                     f"{full:.2f} s ({rf.refresh.wall / full:.0%}) | {agree(rf.differences)} |")
    return lines if len(lines) > 2 else []


def step_table(results: list[SizeResult]) -> list[str]:
    keys: list[str] = []
    for r in results:
        keys += [k for k in sorted(r.steps, key=lambda k: -r.steps[k]) if k not in keys]
    lines = ["| step | " + " | ".join(label(r.size) for r in results) + " |",
             "|---|" + "---:|" * len(results)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{r.steps[k]:.2f}" if k in r.steps else "" for r in results) + " |")
    lines.append("| *sum of steps* | " + " | ".join(f"{sum(r.steps.values()):.2f}" for r in results) + " |")
    lines.append("| *Dagster run (start to end)* | " + " | ".join(
        f"{r.pipeline.extra.get('run_s') or 0:.2f}" for r in results) + " |")
    lines.append("| *process wall (imports, setup, run)* | " + " | ".join(f"{r.pipeline.wall:.2f}" for r in results)
                 + " |")
    return lines


def baseline_table(results: list[SizeResult]) -> list[str]:
    keys: list[str] = []
    for r in results:
        keys += [k for k in r.baseline.extra if k not in keys]
    lines = ["| baseline phase | " + " | ".join(label(r.size) for r in results) + " |",
             "|---|" + "---:|" * len(results)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{r.baseline.extra[k]:.2f}" if k in r.baseline.extra else ""
                                            for r in results) + " |")
    return lines


def verdict(ok: bool, failed: tuple[str, int] | None = None, aim: bool = False) -> str:
    """`failed`: (which run, exit code) when a run the figure comes from failed: then nothing is met."""
    word = ("**aim met**" if ok else "**aim not met**") if aim else ("**met**" if ok else "**not met**")
    if failed:
        return ("**aim not met**" if aim else "**not met**") + f" (the {failed[0]} failed, exit {failed[1]})"
    return word


def failure(*runs: tuple[str, int]) -> tuple[str, int] | None:
    return next(((what, code) for what, code in runs if code != 0), None)


def issue_size(kind: str, size: str) -> str:
    return "" if size == ISSUE_SIZE[kind] else f" (issue 13 sets this at {label(ISSUE_SIZE[kind])})"


def targets(bench: Bench) -> list[str]:
    by = {r.size: r for r in bench.results}
    out: list[str] = []

    d = by.get("demo")
    if d:
        extra = d.pipeline.extra
        floor = extra.get("floor_s")
        checks = (("- Demo, the README's command (`nsk materialize`, no DAGSTER_HOME): ≤ start-up floor + "
                   f"{FLOOR_ALLOWANCE_S['readme']:g} s — ", extra.get("no_home_s"), FLOOR_ALLOWANCE_S["readme"],
                   extra.get("no_home_code", 0)),
                  ("- Demo, a run recorded in a DAGSTER_HOME: ≤ start-up floor + "
                   f"{FLOOR_ALLOWANCE_S['recorded']:g} s — ", d.pipeline.wall, FLOOR_ALLOWANCE_S["recorded"],
                   d.pipeline.code))
        for head, wall, allowance, code in checks:
            if wall is None:
                out.append(head + "not measured")
            elif floor is None:
                out.append(head + f"{wall:.2f} s; start-up floor not measured: **not judged**")
            else:
                out.append(head + f"{wall:.2f} s against {floor:.2f} s + {allowance:g} s = {floor + allowance:.2f} s "
                           f"(medians of {bench.repeat_demo} runs): "
                           + verdict(wall <= floor + allowance, failure(("pipeline", code))))
        if floor is not None:
            bare = extra.get("no_home_s")
            out.append(f"  - start-up floor (Python, importing Dagster and the pipeline, Dagster's in-memory "
                       f"instance; no step run): {floor:.2f} s; the baseline {d.baseline.wall:.2f} s; the README's "
                       f"command {(bare or 0) / d.baseline.wall:.1f}× the baseline, the recorded run "
                       f"{d.ratio:.1f}×")

    plain = sorted((r for r in bench.results if r.rows and not r.onefile), key=lambda r: r.rows)
    for r in plain:
        failed = failure(("pipeline", r.pipeline.code), ("baseline", r.baseline.code))
        out.append(f"- {label(r.size)} rows: pipeline ≤ {MAX_RATIO:.1f}× the baseline's wall time — "
                   f"{r.pipeline.wall:.1f} s against {r.baseline.wall:.1f} s = {r.ratio:.2f}×: "
                   + verdict(r.ratio <= MAX_RATIO, failed))
        out.append(f"- {label(r.size)} rows: peak RSS ≤ 1 GB ({MAX_RSS_MB:.0f} MB) — {r.pipeline.rss_mb:.0f} MB: "
                   + verdict(r.pipeline.rss_mb <= MAX_RSS_MB, failure(("pipeline", r.pipeline.code))))

    if len(plain) >= 2:
        ups = [r for r in plain if r.rows >= 1_000_000]
        lo, hi = (ups[0] if len(ups) >= 2 else plain[0]), plain[-1]
        growth = hi.pipeline.rss_mb / lo.pipeline.rss_mb
        out.append(f"- Peak RSS flat from {label(lo.size)} to {label(hi.size)} (flat: the larger size's peak ≤ "
                   f"{FLAT_RSS:g}× the smaller's) — {hi.pipeline.rss_mb:.0f} MB / {lo.pipeline.rss_mb:.0f} MB = "
                   f"{growth:.2f}×: " + verdict(growth <= FLAT_RSS, failure(("pipeline", lo.pipeline.code),
                                                                            ("pipeline", hi.pipeline.code))))
        a, b = plain[0], plain[-1]
        growth = b.pipeline.wall / a.pipeline.wall
        size = b.rows / a.rows
        per_m = ", ".join(f"{label(r.size)} {r.pipeline.wall / (r.rows / 1e6):.1f} s/M" for r in plain)
        linear = growth <= size * LINEAR_SLACK
        out.append(f"- Time linear from {label(a.size)} to {label(b.size)}: {size:.0f}× the rows took {growth:.2f}× "
                   f"the time ({per_m}): "
                   + verdict(linear, failure(("pipeline", a.pipeline.code), ("pipeline", b.pipeline.code)))
                   + ("" if linear else " — super-linear; see the per-step table for the step that grows fastest"))
        steps = [k for k in b.steps if k in a.steps and a.steps[k] > 0.5]
        worst = sorted(steps, key=lambda k: -(b.steps[k] / a.steps[k]))[:3]
        if worst:
            out.append("  - fastest-growing steps: " + ", ".join(
                f"`{k}` {a.steps[k]:.1f} s → {b.steps[k]:.1f} s ({b.steps[k] / a.steps[k]:.1f}×)" for k in worst))
    else:
        out.append(f"- Peak RSS flat from 1 M up: not measured ({'one' if plain else 'no'} synthetic size)")

    big = [r for r in bench.results if r.onefile]
    for r in big:
        out.append(f"- {label(r.size.removesuffix(ONEFILE))} rows, the counsellor log as ONE file "
                   f"({r.file_mb or 0:.0f} MB): peak RSS ≤ 1 GB ({MAX_RSS_MB:.0f} MB) — {r.pipeline.rss_mb:.0f} MB: "
                   + verdict(r.pipeline.rss_mb <= MAX_RSS_MB, failure(("pipeline", r.pipeline.code))))
        out.append(f"  - its wall time {r.pipeline.wall:.1f} s against the baseline's {r.baseline.wall:.1f} s "
                   f"({r.ratio:.2f}×); results agree: {agree(r.differences)}")
    if not big:
        out.append("- Single big file: not measured in this run")

    pg = bench.pg
    if pg is None:
        out.append("- PostgreSQL: not measured in this run")
    else:
        head = f"- PostgreSQL at {label(pg.size)}{issue_size('pg', pg.size)}: "
        duck = by.get(pg.size)
        if pg.pipeline is None or duck is None:
            out.append(head + f"not measured ({pg.note or 'no DuckDB run at this size'})")
        else:
            ratio = pg.pipeline.wall / duck.pipeline.wall
            failed = failure(("pipeline", pg.pipeline.code), ("DuckDB pipeline", duck.pipeline.code))
            out.append(head + f"≤ {MAX_PG_RATIO:g}× the DuckDB pipeline's wall time — {pg.pipeline.wall:.1f} s "
                       f"against {duck.pipeline.wall:.1f} s = {ratio:.2f}×: " + verdict(ratio <= MAX_PG_RATIO, failed)
                       + ("" if failed else f"; marts agree with the baseline: {agree(pg.differences)}"))

    rf = bench.refresh
    if rf is None:
        out.append("- Quarterly refresh: not measured in this run")
    else:
        full = by[rf.size].pipeline
        share = rf.refresh.wall / full.wall
        failed = failure(("full run before it", rf.history.code), ("refresh", rf.refresh.code),
                         ("full run", full.code))
        out.append(f"- Quarterly refresh at {label(rf.size)}{issue_size('refresh', rf.size)} (aim, not a target): "
                   f"one quarter of exports ({rf.added_files} files, {rf.added_mb:.1f} MB) added to a warehouse "
                   f"holding the rest (its full run {rf.history.wall:.1f} s), then `nsk materialize` — "
                   f"{rf.refresh.wall:.1f} s = {share * 100:.0f} % of the full run at {label(rf.size)} "
                   f"({full.wall:.1f} s); aim ≤ {REFRESH_AIM * 100:.0f} %: "
                   + verdict(share <= REFRESH_AIM, failed, aim=True)
                   + ("" if failed else f"; marts agree with the baseline: {agree(rf.differences)}"))
    return out


def ratios(bench: Bench) -> str:
    parts = [f"{label(r.size)} {r.ratio:.1f}x" for r in bench.results]
    by = {r.size: r for r in bench.results}
    if bench.pg and bench.pg.pipeline and bench.pg.size in by:
        parts.append(f"postgres/duckdb {label(bench.pg.size)} "
                     f"{bench.pg.pipeline.wall / by[bench.pg.size].pipeline.wall:.1f}x")
    if bench.refresh:
        parts.append(f"refresh/full {label(bench.refresh.size)} "
                     f"{bench.refresh.refresh.wall / by[bench.refresh.size].pipeline.wall:.0%}")
    return "ratios: " + ", ".join(parts)


def write_results(bench: Bench, info: dict[str, str]) -> None:
    keep = ""
    if RESULTS.exists():
        old = RESULTS.read_text(encoding="utf-8")
        if "\n## Profile" in old:
            keep = old[old.index("\n## Profile") + 1:]
    results = bench.results
    lines = ["# Benchmark: pipeline vs. plain DuckDB baseline (issue 13's targets)", "",
             "Written by `python benchmarks/run.py` (one run, one machine; every verdict below from figures "
             "measured in it). The pipeline is `nsk materialize` (the README's command) in a subprocess, a fresh "
             "DuckDB warehouse, DAGSTER_HOME set so the run is recorded; the baseline is `benchmarks/baseline.py` "
             "(DuckDB SQL over the same raw files). Wall time is the child process's; peak RSS the larger of its "
             "own and the sum over it and any child processes (sampled every 0.2 s; for PostgreSQL the server's "
             "own processes are not counted). The demo is run as of " + DEMO_AS_OF + " on `data/raw` (medians of "
             f"{bench.repeat_demo} rounds after a warm-up run; each round: a recorded run, the README's command "
             "without DAGSTER_HOME, the start-up floor); the synthetic sizes (`benchmarks/scale.py`, ten years) "
             "as of " + SCALE_AS_OF + ", once each. `N-onefile`: the same generator with the counsellor log's "
             "exports written as one Windows-1252 file (the latest version of each key). The quarterly refresh: "
             "the same data less each source's last quarter, a full run into a fresh warehouse, then the "
             "quarter added and `nsk materialize` again on that warehouse and DAGSTER_HOME with the same key.", "",
             "## Machine", ""]
    lines += [f"- {k}: `{v}`" for k, v in info.items()]
    lines += ["", "## Results", ""] + table(results)
    other = other_table(bench)
    if other:
        lines += ["", "## PostgreSQL and the quarterly refresh", ""] + other
    lines += ["", "## Targets (issue 13, item 5)", ""] + targets(bench)
    lines += ["", "## Pipeline steps (seconds, from the Dagster event log)", ""] + step_table(results)
    lines += ["", "## Baseline phases (seconds)", ""] + baseline_table(results)
    gens = [f"{label(r.size)} {r.gen_s:.1f} s" for r in results if r.gen_s is not None]
    if gens:
        lines += ["", "Generating the synthetic data (not timed above): " + ", ".join(gens) + "."]
    lines += ["", "`" + ratios(bench) + "`"]
    lines += ["", keep.rstrip() if keep else "## Profile\n\n(not yet recorded)", ""]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")


def parse_size(text: str) -> str:
    text = text.strip()
    if text == "demo":
        return text
    rows = text.removesuffix(ONEFILE)
    if not rows.isdigit() or int(rows) <= 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (demo, N or N{ONEFILE})")
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=f"demo,1000000,2300000{ONEFILE},10000000",
                   help=f"comma-separated: demo, counsellor-log row counts N, and N{ONEFILE} (the counsellor "
                        "log as one file)")
    p.add_argument("--quick", action="store_true", help="demo only")
    p.add_argument("--repeat-demo", type=int, default=3, help="timed demo rounds (the medians count)")
    p.add_argument("--pg-size", help="synthetic size to run on PostgreSQL too (default 1000000 if measured, "
                                     "else the smallest; 'none' to skip)")
    p.add_argument("--pg-server", default=PG_SERVER, help="PostgreSQL server URL (a database is created there)")
    p.add_argument("--refresh-size", help="synthetic size of the quarterly-refresh run (default the largest; "
                                          "'none' to skip)")
    p.add_argument("--work", type=Path, help="working folder (default: a temp dir, removed afterwards)")
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    try:
        sizes = ["demo"] if args.quick else [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    plain = sorted({s for s in sizes if s != "demo" and not s.endswith(ONEFILE)}, key=int)

    def chosen(option: str | None, default: str | None, name: str) -> str | None:
        if option == "none":
            return None
        if option is None:
            return default
        if option not in plain:
            p.error(f"{name} {option} is not one of the synthetic sizes in --sizes ({', '.join(plain) or 'none'})")
        return option

    pg_size = chosen(args.pg_size, "1000000" if "1000000" in plain else (plain[0] if plain else None), "--pg-size")
    refresh_size = chosen(args.refresh_size, plain[-1] if plain else None, "--refresh-size")
    work = args.work or Path(tempfile.mkdtemp(prefix="nsk-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    results: list[SizeResult] = []
    pg = refresh = None
    try:
        if "demo" in sizes:  # warm-up: bytecode, page cache, first DuckDB open
            run_size("demo", work / "warmup", 1)
        for size in sizes:
            print(f"{label(size)}: running ...", file=sys.stderr, flush=True)
            r = run_size(size, work, args.repeat_demo if size == "demo" else 1)
            results.append(r)
            print(f"{label(size)}: pipeline {r.pipeline.wall:.2f} s / {r.pipeline.rss_mb:.0f} MB, baseline "
                  f"{r.baseline.wall:.2f} s / {r.baseline.rss_mb:.0f} MB, {r.ratio:.2f}x, differences "
                  f"{r.differences}", file=sys.stderr, flush=True)
        by = {r.size: r for r in results}
        if pg_size:
            print(f"PostgreSQL {label(pg_size)}: running ...", file=sys.stderr, flush=True)
            pg = run_postgres(by[pg_size], args.pg_server)
        if refresh_size:
            print(f"quarterly refresh {label(refresh_size)}: running ...", file=sys.stderr, flush=True)
            refresh = run_refresh(by[refresh_size])
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    bench = Bench(results, pg, refresh, args.repeat_demo)
    print("\n".join(table(results)))
    other = other_table(bench)
    if other:
        print("\n" + "\n".join(other))
    print()
    print("\n".join(targets(bench)))
    if not args.no_write:
        write_results(bench, info)
        print(f"\nwritten {RESULTS.relative_to(ROOT)}")
    print(ratios(bench))
    runs = [m for r in results for m in (r.pipeline, r.baseline)]
    runs += [pg.pipeline] if pg and pg.pipeline else []
    runs += [refresh.history, refresh.refresh] if refresh else []
    return 0 if all(m.code == 0 for m in runs) and not (pg and pg.pipeline is None) else 1


if __name__ == "__main__":
    raise SystemExit(main())
