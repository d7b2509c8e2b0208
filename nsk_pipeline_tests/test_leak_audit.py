"""The leak audit: after a full run, no CPR number is anywhere the run wrote.

Scanned: every table of every schema of the warehouse, every file of the Dagster instance
(run and event-log storage, compute logs), the run's own output at DEBUG level, and every file
the run wrote (reports; Data Docs when built). Both written forms are searched, DDMMYY-SSSS and
DDMMYYSSSS.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from nsk_pipeline.sources.readers import is_data_file, read_table
from nsk_pipeline_tests.conftest import DEMO_RAW, REPO, TEST_KEY

pytestmark = pytest.mark.slow


_CPR = re.compile(r"([0-9]{5,6})-?([0-9]{4})")


def known_cprs(raw: Path) -> set[str]:
    """The ten digits of every CPR-shaped value delivered (the contract's shapes, the dropped
    zero put back)."""
    numbers = set()
    for path in sorted((raw / "vejlederlog").iterdir()):
        if is_data_file(path):
            for value in read_table(path).frame["cpr"].dropna():
                m = _CPR.fullmatch(re.sub(r"\.0+$", "", str(value).strip()))
                if m:
                    numbers.add((m.group(1) + m.group(2)).rjust(10, "0"))
    return numbers


def forms(cpr10: str) -> tuple[str, str]:
    return cpr10, f"{cpr10[:6]}-{cpr10[6:]}"


def stray_delivery(raw: Path, numbers: list[str]) -> None:
    """CPR numbers where they do not belong: free text, a code column, an extra column's name,
    an invalid row (quarantined with its data), an inquiry."""
    a, b, c = numbers[:3]
    lines = [f"registrering_id;oprettet;type;cpr;risikoniveau;temaer;henvist_til;status;vejleder;ekstra {a}",
             f"LEAK-1;03-03-2026;borgersag;{forms(a)[1]};hoej;vold;se sag {b} og {forms(c)[1]};aktiv;AB;x",
             f"LEAK-2;04-03-2026;{b};;;;;aktiv;AB;x",
             f"LEAK-3;05-03-2026;borgersag;{c};kritisk;;;aktiv;AB;x",
             f"LEAK-4;06-03-2026;henvendelse;{forms(b)[1]};;;;aktiv;AB;x"]
    (raw / "vejlederlog" / "vejlederlog_2026-03-10.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def warehouse_text(url: str) -> str:
    engine = sa.create_engine(url)
    chunks = []
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('information_schema', 'pg_catalog')")).fetchall()
        assert tables
        for schema, table in tables:
            for row in conn.execute(sa.text(f'SELECT * FROM "{schema}"."{table}"')):
                chunks.append("|".join(str(v) for v in row))
            chunks.append(f"{schema}.{table}")
    engine.dispose()
    return "\n".join(chunks)


def files_text(*folders: Path) -> tuple[bytes, int]:
    data, count = [], 0
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                data.append(path.read_bytes())
                count += 1
    return b"\n".join(data), count


def test_no_cpr_number_anywhere_after_a_full_run(tmp_path, warehouse_url, reliability, monkeypatch, capsys, caplog):
    raw = tmp_path / "raw"
    shutil.copytree(DEMO_RAW, raw)
    numbers = sorted(known_cprs(raw))
    assert len(numbers) > 500  # the demo's counsellor log is full of them
    stray_delivery(raw, numbers)
    home, reports = Path(os.environ["DAGSTER_HOME"]), tmp_path / "reports"
    env = {**os.environ, "NSK_RAW_DIR": str(raw), "NSK_WAREHOUSE_URL": warehouse_url, "NSK_AS_OF": "2026-11-01",
           "NSK_REPORTS_DIR": str(reports)}
    run = subprocess.run([sys.executable, "-m", "nsk_pipeline.cli", "materialize", "--log-level", "DEBUG"],
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    # The stray delivery arrived: its rows were read, staged or quarantined.
    written = warehouse_text(warehouse_url)
    assert "LEAK-1" in written and "LEAK-3" in written
    on_disk, n_files = files_text(home, reports)
    # The event log was written where we look: it names the stray file in a logged message.
    assert n_files > 3 and b"vejlederlog_2026-03-10.csv: extra columns ignored" in on_disk
    haystacks = {"warehouse": written, "run output": run.stdout + run.stderr,
                 "dagster instance and reports": on_disk.decode("utf-8", errors="replace")}
    leaks = [(where, f"…{n[-4:]}") for n in numbers for form in forms(n) for where, text in haystacks.items()
             if form in text]
    reliability.record("leak_audit", f"{len(numbers)} CPR numbers, {n_files} files, all tables",
                       survived=not leaks)
    assert not leaks, f"CPR numbers found: {leaks[:5]}"
    assert TEST_KEY not in written and TEST_KEY.encode() not in on_disk
    # Pseudonyms stay in the warehouse: metadata previews and logs show none.
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        pseudonyms = [r[0] for r in conn.execute(sa.text(
            "SELECT DISTINCT borger_pseudonym FROM staging.vejlederlog WHERE borger_pseudonym IS NOT NULL"))]
    engine.dispose()
    assert len(pseudonyms) > 100
    assert not [p for p in pseudonyms if p.encode() in on_disk or p in run.stdout + run.stderr]

    # `nsk explain` over the counsellors' log (quarantined rows and their reasons included), and the
    # delivery sensor's log and run request for a file whose name holds a CPR number.
    said = explain_and_sensor_output(raw, env, numbers[0], monkeypatch, capsys, caplog)
    assert "leak-3" in said.lower() and "new or replaced exports (1): vejlederlog/vejlederlog_***" in said
    assert not [n for n in numbers for form in forms(n) if form in said]
    assert not [p for p in pseudonyms if p in said]


def explain_and_sensor_output(raw: Path, env: dict[str, str], cpr: str, monkeypatch, capsys, caplog) -> str:
    import logging

    import dagster as dg

    from nsk_pipeline.cli import main
    from nsk_pipeline.sensors import raw_delivery_sensor

    for name in ("NSK_RAW_DIR", "NSK_WAREHOUSE_URL", "NSK_AS_OF"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("NSK_SENSOR_QUIET_SECONDS", "0")
    capsys.readouterr()
    for indicator in ("henvendelser", "borgersager", "borgersager_hoej_risiko", "borgere_med_sag",
                      "andel_borgersager_vold"):
        assert main(["explain", "--indicator", indicator, "--year", "2026", "--all"]) == 0
        assert main(["explain", "--indicator", indicator, "--year", "2026", "--json"]) == 0
    (raw / "vejlederlog" / f"vejlederlog_{forms(cpr)[1]}_2026-03-11.csv").write_text(
        "registrering_id;oprettet;type;cpr;status\n", encoding="utf-8")
    with caplog.at_level(logging.DEBUG):
        request = raw_delivery_sensor(dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral()))
    assert isinstance(request, dg.RunRequest), request
    printed = capsys.readouterr()
    return "\n".join([printed.out, printed.err, caplog.text, str(request.tags), str(request.run_key)])
