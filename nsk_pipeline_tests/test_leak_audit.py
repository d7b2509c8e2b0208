"""The leak audit: after a full run, no CPR number is anywhere the run wrote.

Scanned: every table of every schema of the warehouse, every file of the Dagster instance
(run and event-log storage, compute logs), the run's own output at DEBUG level, and every file
the run wrote (reports; Data Docs when built). The demo's CPR numbers are searched in both
contract forms, DDMMYY-SSSS and DDMMYYSSSS; CPR numbers planted in every column of every source
(`plant_everywhere`) in every spelling a person writes (`spellings`).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from nsk_pipeline.sources.readers import is_data_file
from nsk_pipeline_tests.raw_files import read_table
from nsk_pipeline.sources.specs import SOURCES
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


def spellings(cpr10: str) -> list[str]:
    """How people write a CPR number: with '-', ' ' or nothing before the last four digits, the
    date with dots, and (the day below 10) without its leading zero."""
    dd, mm, yy, ssss = cpr10[:2], cpr10[2:4], cpr10[4:6], cpr10[6:]
    out = [f"{dd}{mm}{yy}-{ssss}", f"{dd}{mm}{yy}{ssss}", f"{dd}{mm}{yy} {ssss}",
           f"{dd}.{mm}.{yy}-{ssss}", f"{dd}.{mm}.{yy} {ssss}", f"{dd}.{mm}.{yy}{ssss}"]
    if dd.startswith("0"):
        d = dd[1]
        out += [f"{d}{mm}{yy}{ssss}", f"{d}{mm}{yy}-{ssss}", f"{d}{mm}{yy} {ssss}", f"{d}.{mm}.{yy}-{ssss}"]
        if mm.startswith("0"):
            out.append(f"{d}.{mm[1]}.{yy}-{ssss}")
    return out


def planted_numbers():
    """Valid CPR numbers (1900s by the century rule, day and month below 10: every spelling
    applies) that the demo does not deliver."""
    for i in itertools.count():
        day, month, yy = 1 + i % 9, 1 + (i // 9) % 9, 40 + (i // 81) % 50
        yield f"{day:02d}{month:02d}{yy:02d}{i % 4}{(i * 37) % 1000:03d}"


# Values that type in each column of a staged row; every other column is free text.
GOOD = {
    "skoleforloeb": {"dato": "15-10-2026", "skoletype": "folkeskole", "aktivitet": "elevundervisning",
                     "tema": "nsk", "antal_elever": "20", "pilot": "nej", "status": "gennemfoert"},
    "vejlederlog": {"oprettet": "15-10-2026", "type": "borgersag", "risikoniveau": "middel", "temaer": "vold",
                    "status": "aktiv"},
    "rettighedskurser": {"dato": "15-10-2026", "sted_type": "jobcenter", "deltagere": "12", "status": "gennemfoert"},
    "omraade_aktiviteter": {"dato": "15-10-2026", "type": "borgeraktivitet", "maalgruppe": "blandet",
                            "deltagere": "9", "aktoerer": "A01", "status": "gennemfoert"},
    "omraade_aktoerer": {"sektor": "andet", "tilsluttet": "15-10-2026"},
    "milepaele": {"aar": "2024", "opfyldt": "ja"},
}
MILESTONES = ("HP2024-V4", "HP2024-V5", "HP2024-C1", "HP2024-C3")


def plant_everywhere(raw: Path) -> list[str]:
    """A new export for each source whose free text holds CPR numbers in every spelling (in staged
    rows, one a milestone's note that the marts and the reports show), a row with a CPR number in
    every column (quarantined: its reasons quote codes, its row_data every value), a CPR number in
    the cpr column in the contract's forms, an extra column named with one, and a file name with
    one. The planted numbers (ten digits)."""
    numbers, planted = planted_numbers(), []

    def text(label: str) -> str:
        cells = []
        for k in range(11):
            planted.append(next(numbers))
            cells.append(spellings(planted[-1])[k])
        return f"LEAK {label}: " + ", ".join(cells)

    for n_source, (name, spec) in enumerate(SOURCES.items()):
        planted.append(next(numbers))
        header = spec.column_names + [f"ekstra {spellings(planted[-1])[n_source]}"]
        rows = []
        for r in range(4 if name == "milepaele" else 3):
            row = []
            for col in spec.columns:
                if col.kind == "cpr":
                    planted.append(next(numbers))
                    row.append([planted[-1], spellings(planted[-1])[0], spellings(planted[-1])[6]][r % 3])
                elif name == "milepaele" and col.name == "maal_id":
                    row.append(MILESTONES[r])
                elif col.name in GOOD[name]:
                    row.append(GOOD[name][col.name])
                elif col.kind in ("text", "name_key"):
                    row.append(text(f"{name}.{col.name} row {r}"))
                else:
                    row.append("")
            rows.append(row + [text("extra")])
        bad = []
        for k, col in enumerate(spec.columns):
            planted.append(next(numbers))
            whole = spellings(planted[-1])[k % 11]
            bad.append(text(f"{name}.{col.name} bad") if col.kind in ("text", "name_key") else whole)
        rows.append(bad + [text("extra")])
        named = f"{name}_LEAK {spellings(planted[-1])[2]}_2026-10-30.csv" if name == "rettighedskurser" else \
            f"{name}_2026-10-30.csv"
        (raw / name / named).write_text("\n".join(";".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return planted


_WRITTEN = re.compile(r"(?=(?<![0-9])([0-9]{1,2}\.[0-9]{1,2}\.[0-9]{2}[- ]?[0-9]{4}|[0-9]{5,6}[- ]?[0-9]{4})(?![0-9]))")


def written_numbers(text: str) -> set[str]:
    """Every CPR-shaped token of `text` (overlapping ones too), as written."""
    return {m.group(1) for m in _WRITTEN.finditer(text)}


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
                if path.suffix == ".docx":  # a zip: its XML is compressed, so search it unpacked
                    with zipfile.ZipFile(path) as z:
                        data += [z.read(name) for name in z.namelist()]
                count += 1
    return b"\n".join(data), count


def test_no_cpr_number_anywhere_after_a_full_run(tmp_path, warehouse_url, reliability, monkeypatch, capsys, caplog):
    raw = tmp_path / "raw"
    shutil.copytree(DEMO_RAW, raw)
    numbers = sorted(known_cprs(raw))
    assert len(numbers) > 500  # the demo's counsellor log is full of them
    stray_delivery(raw, numbers)
    planted = plant_everywhere(raw)
    assert not set(planted) & set(numbers)
    home, reports = Path(os.environ["DAGSTER_HOME"]), tmp_path / "reports"
    env = {**os.environ, "NSK_RAW_DIR": str(raw), "NSK_WAREHOUSE_URL": warehouse_url, "NSK_AS_OF": "2026-11-01",
           "NSK_REPORTS_DIR": str(reports)}
    run = subprocess.run([sys.executable, "-m", "nsk_pipeline.cli", "materialize", "--log-level", "DEBUG"],
                         env=env, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    # The stray delivery arrived: its rows were read, staged or quarantined.
    written = warehouse_text(warehouse_url)
    assert "LEAK-1" in written and "LEAK-3" in written
    # The history of publications and marts.revisions are tables and a view like the others.
    for relation in ("marts.goal_attainment_history", "marts.indicator_yearly_history", "marts.revisions",
                     "meta.file_loads_history"):
        assert relation in written
    from nsk_pipeline.cli import main

    monkeypatch.setenv("NSK_WAREHOUSE_URL", warehouse_url)
    capsys.readouterr()
    assert main(["changes", "--json"]) == 0 and main(["changes"]) == 0
    changes = capsys.readouterr().out
    on_disk, n_files = files_text(home, reports)
    # The event log was written where we look: it names the stray file in a logged message.
    assert n_files > 3 and b"vejlederlog_2026-03-10.csv: extra columns ignored" in on_disk
    # The planted text arrived everywhere: in staging and the quarantine of every source, the
    # milestone's note in the marts, the analyst's view and the reports, the extra column names
    # in the logs.
    # Disposed at once: a pooled read-write DuckDB connection left to the garbage collector would
    # stop `nsk explain` below from opening the file read-only in this process.
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        for name, spec in SOURCES.items():
            first_text = next(c.name for c in spec.columns if c.kind == "text" and c.name not in GOOD[name]
                              and (name, c.name) != ("milepaele", "maal_id"))
            assert conn.execute(sa.text(f"SELECT count(*) FROM staging.{name} "
                                        f"WHERE {first_text} LIKE 'LEAK%'")).scalar() > 0, name
        notes = [r[0] for r in conn.execute(sa.text("SELECT note FROM marts.goal_attainment WHERE note LIKE 'LEAK%' "
                                                    "UNION ALL SELECT \"Bemærkning\" FROM marts.goal_attainment_report "
                                                    "WHERE \"Bemærkning\" LIKE 'LEAK%'"))]
        quarantined = {r[0] for r in conn.execute(sa.text(
            "SELECT source FROM quarantine.rejected_rows WHERE row_data LIKE '%LEAK%'"))}
    engine.dispose()
    assert len(notes) == 2 * len(MILESTONES) and quarantined == set(SOURCES)
    assert "LEAK milepaele.bemaerkning" in on_disk.decode("utf-8", errors="replace")
    word = b"".join(zipfile.ZipFile(p).read("word/document.xml") for p in reports.glob("*.docx"))
    assert b"LEAK milepaele.bemaerkning" in word  # the Word reports are searched, unpacked
    assert b"extra columns ignored: ekstra" in on_disk and b"rettighedskurser_LEAK" in on_disk
    haystacks = {"warehouse": written, "run output": run.stdout + run.stderr, "nsk changes": changes,
                 "dagster instance and reports": on_disk.decode("utf-8", errors="replace")}
    leaks = [(where, f"…{n[-4:]}") for n in numbers for form in forms(n) for where, text in haystacks.items()
             if form in text]
    reliability.record("leak_audit", f"{len(numbers)} CPR numbers, {n_files} files, all tables",
                       survived=not leaks)
    assert not leaks, f"CPR numbers found: {leaks[:5]}"
    written_forms = {form: n for n in planted for form in spellings(n)}
    planted_leaks = sorted({(where, token) for where, text in haystacks.items()
                            for token in written_numbers(text) if token in written_forms})
    reliability.record("leak_audit_planted", f"{len(planted)} CPR numbers planted in every column of every source",
                       survived=not planted_leaks)
    assert not planted_leaks, f"planted CPR numbers found: {planted_leaks[:8]} of {len(planted_leaks)}"
    assert TEST_KEY not in written and TEST_KEY.encode() not in on_disk
    # Pseudonyms stay in the warehouse: metadata previews and logs show none.
    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        pseudonyms = [r[0] for r in conn.execute(sa.text(
            "SELECT DISTINCT borger_pseudonym FROM staging.vejlederlog WHERE borger_pseudonym IS NOT NULL"))]
    engine.dispose()
    assert len(pseudonyms) > 100
    assert not [p for p in pseudonyms if p.encode() in on_disk or p in run.stdout + run.stderr + changes]

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
