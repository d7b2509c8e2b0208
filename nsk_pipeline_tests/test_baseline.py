"""The plain DuckDB baseline (benchmarks/baseline.py) agrees with the pipeline's marts on the demo,
and the synthetic-data generator (benchmarks/scale.py) writes exports the pipeline loads.

The baseline is a second, independent implementation of the contracts: where the two disagree,
one of them misreads a rule.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import duckdb
import pytest

from nsk_pipeline import cli
from nsk_pipeline_tests.conftest import DEMO_RAW, REPO

BASELINE = REPO / "benchmarks" / "baseline.py"
SCALE = REPO / "benchmarks" / "scale.py"


def _warehouse_path() -> str:
    url = os.environ["NSK_WAREHOUSE_URL"]
    assert url.startswith("duckdb:///")
    return url[len("duckdb:///"):]


def _baseline(raw, as_of: str, out) -> duckdb.DuckDBPyConnection:
    subprocess.run([sys.executable, str(BASELINE), str(raw), "--as-of", as_of, "--out", str(out)], check=True,
                   cwd=REPO, capture_output=True)
    return duckdb.connect(str(out), read_only=True)


def _same(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, abs_tol=1e-9))


@pytest.mark.slow
@pytest.mark.parametrize("as_of", ["2025-03-01", "2026-03-01"])
def test_baseline_agrees_with_the_marts_on_the_demo(as_of, tmp_path, monkeypatch):
    monkeypatch.setenv("NSK_RAW_DIR", str(DEMO_RAW))
    monkeypatch.setenv("NSK_AS_OF", as_of)
    assert cli.main(["materialize", "--log-level", "WARNING"]) == 0

    base = _baseline(DEMO_RAW, as_of, tmp_path / "baseline.duckdb")
    marts = duckdb.connect(_warehouse_path(), read_only=True)
    try:
        theirs = {(i, y): v for i, y, v in marts.sql(
            "SELECT indicator_id, year, value FROM marts.indicator_yearly").fetchall()}
        ours = {(i, y): v for i, y, v in base.sql("SELECT indicator_id, year, value FROM indicator_yearly").fetchall()}
        assert set(ours) == set(theirs)
        assert len({i for i, _ in theirs}) == 19
        differ = {k: (ours[k], theirs[k]) for k in theirs if not _same(ours[k], theirs[k])}
        assert not differ, f"indicator_yearly (baseline, pipeline): {differ}"

        theirs_g = {(g, y): (a, s) for g, y, a, s in marts.sql(
            "SELECT goal_id, year, actual, status FROM marts.goal_attainment WHERE kind = 'numeric'").fetchall()}
        ours_g = {(g, y): (a, s) for g, y, a, s in base.sql(
            "SELECT goal_id, year, actual, status FROM goal_attainment").fetchall()}
        assert set(ours_g) == set(theirs_g)
        differ = {k: (ours_g[k], theirs_g[k]) for k in theirs_g
                  if ours_g[k][1] != theirs_g[k][1] or not _same(ours_g[k][0], theirs_g[k][0])}
        assert not differ, f"goal_attainment (baseline, pipeline): {differ}"
        # The figures the demo is built to reproduce, as a guard that both are not wrong together.
        if as_of == "2025-03-01":
            assert ours[("elever_nsk", 2024)] == 2425
            assert ours[("henvendelser", 2024)] == 413
            assert ours[("borgersager", 2024)] == 121
            assert ours[("henvendelser", 2017)] is None  # the log began in 2021: not measured, not 0
    finally:
        base.close()
        marts.close()


def test_scale_generator_writes_the_demo_shape(tmp_path):
    raw = tmp_path / "raw"
    subprocess.run([sys.executable, str(SCALE), "--scale", "20000", "--out", str(raw)], check=True, cwd=REPO,
                   capture_output=True)
    for source in ("skoleforloeb", "vejlederlog", "rettighedskurser", "omraade_aktiviteter", "omraade_aktoerer",
                   "milepaele"):
        assert any((raw / source).glob(f"{source}_*.csv")), source
    raw_bytes = b"".join(p.read_bytes()[:200] for p in (raw / "vejlederlog").glob("*.csv"))
    assert b"\xef\xbb\xbf" in raw_bytes  # a BOM file
    assert b"\r\n" in raw_bytes and b";" in raw_bytes and b"," in raw_bytes
    rows = sum(max(0, p.read_bytes().count(b"\n") - 1) for p in (raw / "vejlederlog").glob("*.csv"))
    assert 19_000 <= rows <= 21_000


@pytest.mark.slow
def test_pipeline_loads_the_synthetic_data(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    subprocess.run([sys.executable, str(SCALE), "--scale", "20000", "--out", str(raw)], check=True, cwd=REPO,
                   capture_output=True)
    monkeypatch.setenv("NSK_RAW_DIR", str(raw))
    monkeypatch.setenv("NSK_AS_OF", "2026-12-31")
    assert cli.main(["materialize", "--log-level", "WARNING"]) == 0
    con = duckdb.connect(_warehouse_path(), read_only=True)
    try:
        loads = con.sql("""SELECT source, file_name, status, rows_read, rows_staged, rows_quarantined
                           FROM meta.file_loads""").fetchall()
        loaded = [r for r in loads if r[2] == "loaded"]
        assert not [r for r in loads if r[2] == "rejected"]
        assert all(read == staged + quarantined for _, _, _, read, staged, quarantined in loaded)
        read = {s: sum(r[3] for r in loaded if r[0] == s) for s in {r[0] for r in loaded}}
        assert 19_000 <= read["vejlederlog"] <= 21_000
        # The traps are quarantined, and only a few rows are.
        quarantined = dict(con.sql("SELECT source, count(*) FROM quarantine.rejected_rows GROUP BY 1").fetchall())
        for source in ("skoleforloeb", "vejlederlog", "rettighedskurser", "omraade_aktiviteter"):
            assert 0 < quarantined.get(source, 0) < read[source] * 0.05, source
    finally:
        con.close()
    # And the baseline agrees with the marts on it too.
    base = _baseline(raw, "2026-12-31", tmp_path / "baseline.duckdb")
    marts = duckdb.connect(_warehouse_path(), read_only=True)
    try:
        theirs = dict(((i, y), v) for i, y, v in marts.sql(
            "SELECT indicator_id, year, value FROM marts.indicator_yearly").fetchall())
        ours = dict(((i, y), v) for i, y, v in base.sql("SELECT indicator_id, year, value FROM indicator_yearly").fetchall())
        assert {k: (ours.get(k), v) for k, v in theirs.items() if not _same(ours.get(k), v)} == {}
    finally:
        base.close()
        marts.close()
