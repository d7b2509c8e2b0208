"""Benchmark: the pipeline (`nsk materialize`) against the plain DuckDB baseline, at several sizes.

    python benchmarks/run.py                      # demo, 1 M, 2 M and 5 M counsellor-log rows
    python benchmarks/run.py --sizes demo,1000000 # choose
    python benchmarks/run.py --quick              # demo only

For each size: generate the raw exports (not timed; the demo uses the repository's data/raw),
run `nsk materialize --log-level WARNING` in a subprocess with its own DuckDB warehouse, reports
dir and DAGSTER_HOME (so the run is recorded and the per-asset step times can be read from the
instance), then `benchmarks/baseline.py` the same way. Wall time is the child's; peak memory the
larger of its own peak RSS (`os.wait4` rusage) and the peak sum of RSS over it and its worker
processes (sampled every 0.2 s). Both results are compared (indicator_yearly and the numeric goals).
On the demo it also times the README's command (no DAGSTER_HOME) and the start-up floor: a process
that only imports Dagster and the pipeline and makes Dagster's in-memory instance, which every run
pays before its first step.
Prints a table and a final line `ratios: demo X.Xx, 1M X.Xx, ...` (pipeline / baseline wall
time) and writes benchmarks/RESULTS.md (a "## Profile" section already there is kept).
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
DEMO_AS_OF = "2026-03-01"
SCALE_AS_OF = "2026-12-31"  # every export of the synthetic data counts
RESULTS = BENCH / "RESULTS.md"
TARGETS = {"demo_wall_s": 10.0, "demo_ratio": 3.0, "big_ratio": 3.0, "big_rss_mb": 2048.0}
# What every `nsk materialize` pays before its first step: start Python, import Dagster and the
# pipeline (pandas, pandera, SQLAlchemy, DuckDB), and make Dagster's in-memory instance.
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

    @property
    def ratio(self) -> float:
        return self.pipeline.wall / self.baseline.wall


def label(size: str) -> str:
    if size == "demo":
        return "demo"
    n = int(size)
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n / 1e6:g}M"


def tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and every process below it (the ingest's worker processes), MB."""
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


def compare(baseline_db: Path, warehouse_db: Path) -> int:
    """How many indicator-years and numeric goal rows differ (NULL = NULL)."""
    import duckdb

    b = duckdb.connect(str(baseline_db), read_only=True)
    p = duckdb.connect(str(warehouse_db), read_only=True)
    try:
        def same(x, y):
            return (x is None and y is None) or (x is not None and y is not None and math.isclose(x, y, abs_tol=1e-9))

        by = {(i, y): v for i, y, v in b.sql("SELECT indicator_id, year, value FROM indicator_yearly").fetchall()}
        py = {(i, y): v for i, y, v in p.sql("SELECT indicator_id, year, value FROM marts.indicator_yearly").fetchall()}
        bg = {(g, y): (a, s) for g, y, a, s in b.sql("SELECT goal_id, year, actual, status FROM goal_attainment").fetchall()}
        pg = {(g, y): (a, s) for g, y, a, s in p.sql(
            "SELECT goal_id, year, actual, status FROM marts.goal_attainment WHERE kind = 'numeric'").fetchall()}
        diff = sum(1 for k in set(by) | set(py) if k not in by or k not in py or not same(by[k], py[k]))
        diff += sum(1 for k in set(bg) | set(pg)
                    if k not in bg or k not in pg or bg[k][1] != pg[k][1] or not same(bg[k][0], pg[k][0]))
        return diff
    finally:
        b.close()
        p.close()


def run_size(size: str, work: Path, repeat: int) -> SizeResult:
    folder = work / label(size)
    folder.mkdir(parents=True, exist_ok=True)
    gen_s = None
    if size == "demo":
        raw, as_of, rows = ROOT / "data" / "raw", DEMO_AS_OF, 0
    else:
        raw, as_of, rows = folder / "raw", SCALE_AS_OF, int(size)
        t = time.perf_counter()
        subprocess.run([PY, str(BENCH / "scale.py"), "--scale", size, "--out", str(raw)], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        gen_s = time.perf_counter() - t
    pipelines, baselines = [], []
    steps: dict[str, float] = {}
    for i in range(repeat):
        home = folder / f"dagster_home_{i}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir()
        warehouse = folder / "warehouse.duckdb"
        warehouse.unlink(missing_ok=True)
        env = {**os.environ, "NSK_RAW_DIR": str(raw), "NSK_WAREHOUSE_URL": f"duckdb:///{warehouse}",
               "NSK_AS_OF": as_of, "NSK_PSEUDONYM_KEY": secrets.token_hex(16),
               "NSK_REPORTS_DIR": str(folder / "reports"), "DAGSTER_HOME": str(home)}
        m = timed([NSK, "materialize", "--log-level", "WARNING"], env, folder / "pipeline.log")
        if m.code != 0:
            print(f"  pipeline failed (exit {m.code}), see {folder / 'pipeline.log'}", file=sys.stderr)
        steps, run_s = step_times(home)
        m.extra["run_s"] = run_s
        if size == "demo":
            # The README's command as a user runs it: no DAGSTER_HOME, so Dagster keeps the run in
            # memory instead of writing ~500 events (one per year partition and asset) to SQLite.
            warehouse.unlink(missing_ok=True)
            bare = {k: v for k, v in env.items() if k != "DAGSTER_HOME"}
            m.extra["no_home_s"] = timed([NSK, "materialize", "--log-level", "WARNING"], bare,
                                         folder / "pipeline_no_home.log").wall
            floor = timed([PY, "-c", FLOOR], bare, folder / "floor.log")
            if floor.code == 0:
                m.extra["floor_s"] = floor.wall
            else:
                print(f"  start-up floor failed (exit {floor.code}), see {folder / 'floor.log'}", file=sys.stderr)
        pipelines.append((m, steps))
        out = folder / "baseline.duckdb"
        timings = folder / "baseline_timings.json"
        b = timed([PY, str(BENCH / "baseline.py"), str(raw), "--as-of", as_of, "--out", str(out),
                   "--timings", str(timings)], dict(os.environ), folder / "baseline.log")
        if b.code != 0:
            print(f"  baseline failed (exit {b.code}), see {folder / 'baseline.log'}", file=sys.stderr)
        b.extra = json.loads(timings.read_text()) if timings.exists() else {}
        baselines.append(b)
    # The median run of each (by wall time).
    pm, steps = sorted(pipelines, key=lambda x: x[0].wall)[len(pipelines) // 2]
    for key in ("no_home_s", "floor_s"):
        values = sorted(m.extra[key] for m, _ in pipelines if key in m.extra)
        if values:
            pm.extra[key] = values[len(values) // 2]
    bm = sorted(baselines, key=lambda x: x.wall)[len(baselines) // 2]
    diff = compare(folder / "baseline.duckdb", folder / "warehouse.duckdb") if pm.code == 0 and bm.code == 0 else None
    return SizeResult(size, rows, gen_s, pm, bm, steps, diff)


def machine() -> dict[str, str]:
    import dagster
    import duckdb
    import pandas

    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"uname": " ".join(platform.uname()), "cpu": cpu, "nproc": str(os.cpu_count()),
            "memory": f"{int(mem) / 1024 / 1024:.1f} GiB", "python": platform.python_version(),
            "duckdb": duckdb.__version__, "pandas": pandas.__version__, "dagster": dagster.__version__,
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds")}


def table(results: list[SizeResult]) -> list[str]:
    lines = ["| size | counsellor-log rows | pipeline wall s | pipeline peak RSS MB | baseline wall s | "
             "baseline peak RSS MB | ratio (wall) | results agree |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        agree = "yes" if r.differences == 0 else "n/a" if r.differences is None else f"NO ({r.differences} differ)"
        lines.append(f"| {label(r.size)} | {r.rows or 'demo'} | {r.pipeline.wall:.2f} | {r.pipeline.rss_mb:.0f} | "
                     f"{r.baseline.wall:.2f} | {r.baseline.rss_mb:.0f} | {r.ratio:.1f}x | {agree} |")
    return lines


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


def targets(results: list[SizeResult]) -> list[str]:
    by = {r.size: r for r in results}
    out = []

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    if "demo" in by:
        d = by["demo"]
        out.append(f"- Demo, `nsk materialize` end to end (warm), run recorded in a DAGSTER_HOME: ≤ "
                   f"{TARGETS['demo_wall_s']:.0f} s wall — {d.pipeline.wall:.1f} s: "
                   f"{verdict(d.pipeline.wall <= TARGETS['demo_wall_s'])}")
        bare = d.pipeline.extra.get("no_home_s")
        if bare:
            out.append(f"- Demo, the README's command (no DAGSTER_HOME: an in-memory instance): ≤ "
                       f"{TARGETS['demo_wall_s']:.0f} s wall — {bare:.1f} s: "
                       f"{verdict(bare <= TARGETS['demo_wall_s'])}; {bare / d.baseline.wall:.1f}× the baseline")
        out.append(f"- Demo: ≤ {TARGETS['demo_ratio']:.0f}× the baseline — {d.ratio:.1f}× (recorded run): "
                   f"{verdict(d.ratio <= TARGETS['demo_ratio'])}")
        floor = d.pipeline.extra.get("floor_s")
        if floor:
            out.append(f"  - start-up floor (Python, importing Dagster and the pipeline, Dagster's in-memory "
                       f"instance; no step run): {floor:.2f} s = {floor / d.baseline.wall:.1f}× the baseline, "
                       f"leaving {max(TARGETS['demo_ratio'] * d.baseline.wall - floor, 0):.2f} s for the run "
                       f"itself if the demo is to stay within {TARGETS['demo_ratio']:.0f}×")
    big = by.get("5000000")
    if big:
        out.append(f"- 5 M rows: ≤ {TARGETS['big_ratio']:.0f}× the baseline's wall time — {big.ratio:.1f}×: "
                   f"{verdict(big.ratio <= TARGETS['big_ratio'])}")
        out.append(f"- 5 M rows: peak RSS ≤ 2 GB — {big.pipeline.rss_mb:.0f} MB: "
                   f"{verdict(big.pipeline.rss_mb <= TARGETS['big_rss_mb'])}")
    else:
        out.append("- 5 M rows: not measured in this run")
    scaled = sorted((r for r in results if r.rows), key=lambda r: r.rows)
    if len(scaled) >= 2:
        a, b = scaled[0], scaled[-1]
        growth = b.pipeline.wall / a.pipeline.wall
        size = b.rows / a.rows
        per_m = ", ".join(f"{label(r.size)} {r.pipeline.wall / (r.rows / 1e6):.1f} s/M" for r in scaled)
        linear = growth <= size * 1.15
        out.append(f"- Time linear from {label(a.size)} to {label(b.size)}: {size:.0f}× the rows took {growth:.2f}× "
                   f"the time ({per_m}): {verdict(linear)}"
                   + ("" if linear else " — super-linear; see the per-step table for the step that grows fastest"))
        steps = [k for k in b.steps if k in a.steps and a.steps[k] > 0.5]
        worst = sorted(steps, key=lambda k: -(b.steps[k] / a.steps[k]))[:3]
        if worst:
            out.append("  - fastest-growing steps: " + ", ".join(
                f"`{k}` {a.steps[k]:.1f} s → {b.steps[k]:.1f} s ({b.steps[k] / a.steps[k]:.1f}×)" for k in worst))
    return out


def write_results(results: list[SizeResult], info: dict[str, str]) -> None:
    keep = ""
    if RESULTS.exists():
        old = RESULTS.read_text(encoding="utf-8")
        if "\n## Profile" in old:
            keep = old[old.index("\n## Profile") + 1:]
    lines = ["# Benchmark: pipeline vs. plain DuckDB baseline", "",
             "Written by `python benchmarks/run.py` (one run, one machine). The pipeline is `nsk materialize "
             "--log-level WARNING` in a subprocess (in-process Dagster executor, a fresh DuckDB warehouse, "
             "DAGSTER_HOME set so the run is recorded); the baseline is `benchmarks/baseline.py` (DuckDB SQL "
             "over the same raw files). Wall time is the child process's; peak RSS the largest of its own and "
             "the sum over it and its worker processes (`NSK_WORKERS`, sampled every 0.2 s). The demo is run "
             "as of " + DEMO_AS_OF + " on `data/raw` (the median of the repeats, after a warm-up run); "
             "the synthetic sizes (`benchmarks/scale.py`, ten years) as of " + SCALE_AS_OF + ", once each.", "",
             "## Machine", ""]
    lines += [f"- {k}: `{v}`" for k, v in info.items()]
    lines += ["", "## Results", ""] + table(results)
    lines += ["", "## Targets", ""] + targets(results)
    lines += ["", "## Pipeline steps (seconds, from the Dagster event log)", ""] + step_table(results)
    lines += ["", "## Baseline phases (seconds)", ""] + baseline_table(results)
    gens = [f"{label(r.size)} {r.gen_s:.1f} s" for r in results if r.gen_s is not None]
    if gens:
        lines += ["", "Generating the synthetic data (not timed above): " + ", ".join(gens) + "."]
    lines += ["", keep.rstrip() if keep else "## Profile\n\n(not yet recorded)", ""]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="demo,1000000,2000000,5000000",
                   help="comma-separated: demo and/or counsellor-log row counts")
    p.add_argument("--quick", action="store_true", help="demo only")
    p.add_argument("--repeat-demo", type=int, default=3, help="timed demo runs (the median counts)")
    p.add_argument("--work", type=Path, help="working folder (default: a temp dir, removed afterwards)")
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    sizes = ["demo"] if args.quick else [s.strip() for s in args.sizes.split(",") if s.strip()]
    work = args.work or Path(tempfile.mkdtemp(prefix="nsk-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    results = []
    try:
        if "demo" in sizes:  # warm-up: bytecode, page cache, first DuckDB open
            run_size("demo", work / "warmup", 1)
        for size in sizes:
            print(f"{label(size)}: running ...", file=sys.stderr, flush=True)
            r = run_size(size, work, args.repeat_demo if size == "demo" else 1)
            results.append(r)
            print(f"{label(size)}: pipeline {r.pipeline.wall:.2f} s / {r.pipeline.rss_mb:.0f} MB, baseline "
                  f"{r.baseline.wall:.2f} s / {r.baseline.rss_mb:.0f} MB, {r.ratio:.1f}x, differences "
                  f"{r.differences}", file=sys.stderr, flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(table(results)))
    print()
    print("\n".join(targets(results)))
    if not args.no_write:
        write_results(results, info)
        print(f"\nwritten {RESULTS.relative_to(ROOT)}")
    print("ratios: " + ", ".join(f"{label(r.size)} {r.ratio:.1f}x" for r in results))
    return 0 if all(r.pipeline.code == 0 and r.baseline.code == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
