"""`nsk validate DIR`: what loading a delivery would do, without touching the warehouse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from nsk_pipeline.cli import main
from nsk_pipeline_tests.conftest import DEMO_RAW


def test_the_demo_delivery_validates_with_its_quarantined_rows_by_reason(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NSK_AS_OF", "2026-11-01")
    assert main(["validate", str(DEMO_RAW), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "raw folder" and report["actor_register"].startswith("the delivery")
    files = {f["file"]: f for f in report["files"]}
    assert files["README.txt"]["status"] == "ignored"
    for f in report["files"]:
        assert f["rows_read"] == f["rows_staged"] + f["rows_quarantined"]
    broken = files["vejlederlog_2026-02-03.csv"]
    assert broken["quarantine_reasons"] == {"risikoniveau: code_not_allowed": 1}
    assert [r["reasons"] for r in broken["quarantined_rows"]] == [
        "risikoniveau: 'kritisk' is not one of: hoej, lav, middel"]
    assert sum(f["rows_quarantined"] for f in report["files"]) == 7


def test_a_broken_delivery_fails_with_the_file_and_reason_and_no_warehouse(capsys, tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    shutil.copytree(DEMO_RAW / "rettighedskurser", raw / "rettighedskurser")
    (raw / "rettighedskurser" / "rettighedskurser_2026-10-02.csv").write_text("kursus_id;dato;status\nK;1-1-2026;x\n")
    monkeypatch.setenv("NSK_AS_OF", "2026-11-01")
    warehouse = tmp_path / "never.duckdb"
    monkeypatch.setenv("NSK_WAREHOUSE_URL", f"duckdb:///{warehouse}")
    assert main(["validate", str(raw)]) == 1
    out = capsys.readouterr().out
    assert "rettighedskurser/rettighedskurser_2026-10-02.csv: rejected — missing required column 'sted_type'" in out
    assert "1 would be rejected" in out
    assert not warehouse.exists()
    assert not Path(tmp_path / "dagster_home" / "history").exists()
