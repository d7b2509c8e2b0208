"""benchmarks/run.py's verdicts on issue 13's targets, from made-up measurements (no benchmark is run)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from nsk_pipeline_tests.conftest import REPO


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def result(run, size, pipeline_s, baseline_s, rss_mb=500.0, steps=None, code=0, file_mb=None, **extra):
    rows = 0 if size == "demo" else int(size.split(":")[0])
    return run.SizeResult(size, rows, None, run.Measure(pipeline_s, rss_mb, code, dict(extra)),
                          run.Measure(baseline_s, 200.0, 0), steps or {}, 0, file_mb)


def line(lines, start):
    found = [x.lstrip() for x in lines if x.lstrip().startswith(start)]
    assert len(found) == 1, lines
    return found[0]


def verdicts(run, *results, pg=None, refresh=None):
    return run.targets(run.Bench(list(results), pg, refresh, repeat_demo=3))


def test_demo_is_judged_against_the_start_up_floor(run):
    # floor 2.5 s: the README's command may take 4.0 s, a recorded run 5.5 s.
    slow = verdicts(run, result(run, "demo", 5.6, 1.25, no_home_s=4.1, floor_s=2.5))
    assert line(slow, "- Demo, the README's command") == (
        "- Demo, the README's command (`nsk materialize`, no DAGSTER_HOME): ≤ start-up floor + 1.5 s — "
        "4.10 s against 2.50 s + 1.5 s = 4.00 s (medians of 3 runs): **not met**")
    assert line(slow, "- Demo, a run recorded in a DAGSTER_HOME") == (
        "- Demo, a run recorded in a DAGSTER_HOME: ≤ start-up floor + 3 s — 5.60 s against "
        "2.50 s + 3 s = 5.50 s (medians of 3 runs): **not met**")
    assert line(slow, "- start-up floor").startswith("- start-up floor (Python, importing Dagster and the "
                                                     "pipeline, Dagster's in-memory instance; no step run): 2.50 s")
    fast = verdicts(run, result(run, "demo", 5.5, 1.25, no_home_s=4.0, floor_s=2.5))
    assert line(fast, "- Demo, the README's command").endswith("= 4.00 s (medians of 3 runs): **met**")
    assert line(fast, "- Demo, a run recorded in a DAGSTER_HOME").endswith("= 5.50 s (medians of 3 runs): **met**")


def test_demo_without_a_floor_is_not_judged(run):
    lines = verdicts(run, result(run, "demo", 5.5, 1.25, no_home_s=4.0))
    assert line(lines, "- Demo, the README's command").endswith("start-up floor not measured: **not judged**")


def test_pipeline_against_the_baseline_and_peak_rss_per_size(run):
    lines = verdicts(run, result(run, "1000000", 40.0, 45.0, rss_mb=600.0),
                     result(run, "10000000", 420.0, 400.0, rss_mb=1100.0))
    assert line(lines, "- 1M rows: pipeline ≤ 1.0×") == (
        "- 1M rows: pipeline ≤ 1.0× the baseline's wall time — 40.0 s against 45.0 s = 0.89×: **met**")
    assert line(lines, "- 10M rows: pipeline ≤ 1.0×").endswith("420.0 s against 400.0 s = 1.05×: **not met**")
    assert line(lines, "- 1M rows: peak RSS") == "- 1M rows: peak RSS ≤ 1 GB (1024 MB) — 600 MB: **met**"
    assert line(lines, "- 10M rows: peak RSS").endswith("1100 MB: **not met**")


def test_a_failed_run_meets_nothing(run):
    lines = verdicts(run, result(run, "1000000", 10.0, 45.0, rss_mb=100.0, code=1))
    assert line(lines, "- 1M rows: pipeline ≤ 1.0×").endswith("**not met** (the pipeline failed, exit 1)")
    assert line(lines, "- 1M rows: peak RSS").endswith("**not met** (the pipeline failed, exit 1)")


def test_peak_rss_flat_from_1m_up(run):
    steep = verdicts(run, result(run, "1000000", 40.0, 45.0, rss_mb=600.0),
                     result(run, "10000000", 380.0, 400.0, rss_mb=1000.0))
    assert line(steep, "- Peak RSS flat") == (
        "- Peak RSS flat from 1M to 10M (flat: the larger size's peak ≤ 1.5× the smaller's) — "
        "1000 MB / 600 MB = 1.67×: **not met**")
    flat = verdicts(run, result(run, "1000000", 40.0, 45.0, rss_mb=600.0),
                    result(run, "10000000", 380.0, 400.0, rss_mb=850.0))
    assert line(flat, "- Peak RSS flat").endswith("850 MB / 600 MB = 1.42×: **met**")
    single = verdicts(run, result(run, "1000000", 40.0, 45.0))
    assert line(single, "- Peak RSS flat") == "- Peak RSS flat from 1 M up: not measured (one synthetic size)"


def test_time_linear(run):
    steps_1m = {"staging__vejlederlog": 10.0, "marts": 2.0}
    steps_5m = {"staging__vejlederlog": 70.0, "marts": 10.0}
    lines = verdicts(run, result(run, "1000000", 40.0, 15.0, steps=steps_1m),
                     result(run, "5000000", 260.0, 80.0, steps=steps_5m))
    linear = line(lines, "- Time linear")
    assert "5× the rows took 6.50× the time" in linear and "**not met** — super-linear" in linear
    assert line(lines, "- fastest-growing steps").startswith("- fastest-growing steps: `staging__vejlederlog`")
    ok = verdicts(run, result(run, "1000000", 40.0, 15.0), result(run, "10000000", 390.0, 400.0))
    assert line(ok, "- Time linear").endswith("10× the rows took 9.75× the time (1M 40.0 s/M, 10M 39.0 s/M): **met**")


def test_single_big_file(run):
    big = verdicts(run, result(run, "2300000:onefile", 90.0, 60.0, rss_mb=1200.0, file_mb=198.4))
    assert line(big, "- 2.3M rows, the counsellor log as ONE file") == (
        "- 2.3M rows, the counsellor log as ONE file (198 MB): peak RSS ≤ 1 GB (1024 MB) — 1200 MB: **not met**")
    # Judged on memory only; its time against the baseline is a figure, not a target.
    assert not [x for x in big if x.startswith("- 2.3M-onefile rows: pipeline ≤")]
    ok = verdicts(run, result(run, "2300000:onefile", 90.0, 60.0, rss_mb=900.0, file_mb=198.4))
    assert line(ok, "- 2.3M rows, the counsellor log as ONE file").endswith("900 MB: **met**")
    none = verdicts(run, result(run, "1000000", 40.0, 45.0))
    assert line(none, "- Single big file") == "- Single big file: not measured in this run"


def test_postgresql_against_the_duckdb_pipeline(run):
    duck = result(run, "1000000", 40.0, 45.0)
    slow = verdicts(run, duck, pg=run.PgResult("1000000", run.Measure(90.0, 400.0, 0), 0))
    assert line(slow, "- PostgreSQL at 1M") == (
        "- PostgreSQL at 1M: ≤ 2× the DuckDB pipeline's wall time — 90.0 s against 40.0 s = 2.25×: "
        "**not met**; marts agree with the baseline: yes")
    ok = verdicts(run, duck, pg=run.PgResult("1000000", run.Measure(70.0, 400.0, 0), 3))
    assert line(ok, "- PostgreSQL at 1M").endswith("= 1.75×: **met**; marts agree with the baseline: NO (3 differ)")
    failed = verdicts(run, duck, pg=run.PgResult("1000000", run.Measure(5.0, 100.0, 2), None))
    assert line(failed, "- PostgreSQL at 1M").endswith("**not met** (the pipeline failed, exit 2)")
    unreachable = verdicts(run, duck, pg=run.PgResult("1000000", None, None, "no server at x"))
    assert line(unreachable, "- PostgreSQL at 1M") == "- PostgreSQL at 1M: not measured (no server at x)"
    absent = verdicts(run, duck)
    assert line(absent, "- PostgreSQL") == "- PostgreSQL: not measured in this run"
    small = verdicts(run, result(run, "20000", 4.0, 2.0), pg=run.PgResult("20000", run.Measure(6.0, 1.0, 0), 0))
    assert "(issue 13 sets this at 1M)" in line(small, "- PostgreSQL at 0.02M")


def test_quarterly_refresh_is_an_aim(run):
    full = result(run, "10000000", 400.0, 420.0)

    def refresh(wall, code=0):
        return run.RefreshResult("10000000", run.Measure(390.0, 900.0, 0), run.Measure(wall, 800.0, code), 5, 7.5, 0)

    within = verdicts(run, full, refresh=refresh(100.0))
    assert line(within, "- Quarterly refresh at 10M") == (
        "- Quarterly refresh at 10M (aim, not a target): one quarter of exports (5 files, 7.5 MB) added to a "
        "warehouse holding the rest (its full run 390.0 s), then `nsk materialize` — 100.0 s = 25 % of the "
        "full run at 10M (400.0 s); aim ≤ 25 %: **aim met**; marts agree with the baseline: yes")
    over = verdicts(run, full, refresh=refresh(120.0))
    assert line(over, "- Quarterly refresh at 10M").split(" — ")[1].startswith(
        "120.0 s = 30 % of the full run at 10M (400.0 s); aim ≤ 25 %: **aim not met**")
    failed = verdicts(run, full, refresh=refresh(10.0, code=1))
    assert "**aim not met** (the refresh failed, exit 1)" in line(failed, "- Quarterly refresh at 10M")
    assert line(verdicts(run, full), "- Quarterly refresh") == "- Quarterly refresh: not measured in this run"


def test_ratios_line(run):
    bench = run.Bench([result(run, "demo", 5.0, 1.25), result(run, "1000000", 40.0, 50.0),
                       result(run, "2300000:onefile", 90.0, 60.0)],
                      run.PgResult("1000000", run.Measure(60.0, 1.0, 0), 0),
                      run.RefreshResult("1000000", run.Measure(39.0, 1.0, 0), run.Measure(8.0, 1.0, 0), 5, 1.0, 0))
    assert run.ratios(bench) == ("ratios: demo 4.0x, 1M 0.8x, 2.3M-onefile 1.5x, postgres/duckdb 1M 1.5x, "
                                 "refresh/full 1M 20%")


def test_size_labels(run):
    assert [run.label(s) for s in ("demo", "1000000", "10000000", "20000", "2300000:onefile")] == [
        "demo", "1M", "10M", "0.02M", "2.3M-onefile"]


def test_results_md_is_written_from_the_run_and_keeps_the_profile(run, tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    results.write_text("# old\n\nold figures\n\n## Profile\n\nwhat the profiler found\n", encoding="utf-8")
    monkeypatch.setattr(run, "RESULTS", results)
    bench = run.Bench([result(run, "1000000", 40.0, 50.0, rss_mb=700.0)],
                      run.PgResult("1000000", run.Measure(60.0, 300.0, 0), 0),
                      run.RefreshResult("1000000", run.Measure(39.0, 650.0, 0), run.Measure(8.0, 600.0, 0), 5, 1.0, 0))
    run.write_results(bench, {"cpu": "test"})
    text = results.read_text(encoding="utf-8")
    assert "old figures" not in text and text.rstrip().endswith("## Profile\n\nwhat the profiler found")
    assert "- 1M rows: peak RSS ≤ 1 GB (1024 MB) — 700 MB: **met**" in text
    assert "| PostgreSQL 1M (exit 0) | 60.00 | 300 | DuckDB pipeline 40.00 s (1.50×) | yes |" in text
    assert "`" + run.ratios(bench) + "`" in text


def test_compare_counts_differing_indicator_years_and_goals(run, tmp_path):
    import duckdb

    baseline, warehouse = tmp_path / "baseline.duckdb", tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(baseline)) as b:
        b.sql("CREATE TABLE indicator_yearly AS SELECT * FROM (VALUES ('a', 2024, 1.0), ('a', 2025, NULL), "
              "('b', 2025, 3.0)) t(indicator_id, year, value)")
        b.sql("CREATE TABLE goal_attainment AS SELECT * FROM (VALUES ('g', 2025, 2.0, 'naaet')) "
              "t(goal_id, year, actual, status)")
    with duckdb.connect(str(warehouse)) as p:
        p.sql("CREATE SCHEMA marts")
        # a 2025 NULL = NULL; b 2025 differs; c 2025 only here; the narrative goal is not compared.
        p.sql("CREATE TABLE marts.indicator_yearly AS SELECT * FROM (VALUES ('a', 2024, 1.0), ('a', 2025, NULL), "
              "('b', 2025, 3.5), ('c', 2025, 1.0)) t(indicator_id, year, value)")
        p.sql("CREATE TABLE marts.goal_attainment AS SELECT * FROM (VALUES ('g', 2025, 2.0, 'naaet', 'numeric'), "
              "('n', 2025, NULL, 'naaet', 'narrative')) t(goal_id, year, actual, status, kind)")
    assert run.compare(baseline, f"duckdb:///{warehouse}") == 2
