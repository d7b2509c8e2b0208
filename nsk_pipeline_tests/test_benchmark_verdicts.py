"""benchmarks/run.py's verdicts on its targets, from made-up measurements (no benchmark is run)."""

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


def result(run, size, pipeline_s, baseline_s, rss_mb=500.0, steps=None, **extra):
    rows = 0 if size == "demo" else int(size)
    return run.SizeResult(size, rows, None, run.Measure(pipeline_s, rss_mb, 0, dict(extra)),
                          run.Measure(baseline_s, 200.0, 0), steps or {}, 0)


def line(lines, start):
    found = [x for x in lines if x.lstrip().startswith(start)]
    assert len(found) == 1, lines
    return found[0].lstrip()


def test_demo_ratio_verdict_and_start_up_floor(run):
    slow = run.targets([result(run, "demo", 8.0, 1.25, no_home_s=6.0, floor_s=2.5)])
    assert line(slow, "- Demo: ≤ 3× the baseline").endswith("6.4× (recorded run): **not met**")
    assert "4.8× the baseline" in line(slow, "- Demo, the README's command")
    # The floor is what any run pays before its first step: 2.5 s of a 3.75 s budget.
    assert line(slow, "- start-up floor") == (
        "- start-up floor (Python, importing Dagster and the pipeline, Dagster's in-memory instance; "
        "no step run): 2.50 s = 2.0× the baseline, leaving 1.25 s for the run itself if the demo is "
        "to stay within 3×")
    fast = run.targets([result(run, "demo", 3.5, 1.25, no_home_s=3.0, floor_s=4.0)])
    assert line(fast, "- Demo: ≤ 3× the baseline").endswith("2.8× (recorded run): **met**")
    assert "leaving 0.00 s" in line(fast, "- start-up floor")


def test_big_targets_and_linearity(run):
    steps_1m = {"staging__vejlederlog": 10.0, "marts": 2.0}
    steps_5m = {"staging__vejlederlog": 70.0, "marts": 10.0}
    lines = run.targets([result(run, "1000000", 40.0, 15.0, steps=steps_1m),
                         result(run, "5000000", 260.0, 80.0, rss_mb=2100.0, steps=steps_5m)])
    assert line(lines, "- 5 M rows: ≤ 3×").endswith("3.2×: **not met**")
    assert line(lines, "- 5 M rows: peak RSS").endswith("2100 MB: **not met**")
    linear = line(lines, "- Time linear")
    assert "5× the rows took 6.50× the time" in linear and "**not met** — super-linear" in linear
    assert line(lines, "- fastest-growing steps").startswith("- fastest-growing steps: `staging__vejlederlog`")

    ok = run.targets([result(run, "1000000", 40.0, 15.0), result(run, "5000000", 190.0, 90.0, rss_mb=1500.0)])
    assert line(ok, "- 5 M rows: ≤ 3×").endswith("2.1×: **met**")
    assert line(ok, "- 5 M rows: peak RSS").endswith("1500 MB: **met**")
    assert line(ok, "- Time linear").endswith("**met**")
