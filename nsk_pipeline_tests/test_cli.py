"""`nsk materialize` in a fresh process: a malformed setting is one line and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NSK = str(Path(sys.executable).with_name("nsk"))


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("NSK_PSEUDONYM_KEY_FILE", "/nonexistent/nsk.key", "NSK_PSEUDONYM_KEY_FILE cannot be read"),
    ("NSK_AS_OF", "01-03-2026", "NSK_AS_OF must be a date"),
])
def test_materialize_reports_a_malformed_setting_in_one_line(variable, value, message, duckdb_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NSK_PSEUDONYM_KEY", "NSK_PSEUDONYM_KEY_FILE")}
    env.update({"NSK_WAREHOUSE_URL": duckdb_url, "NSK_PSEUDONYM_KEY": "k" * 32, variable: value})
    if variable == "NSK_PSEUDONYM_KEY_FILE":
        del env["NSK_PSEUDONYM_KEY"]
    out = subprocess.run([NSK, "materialize"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    assert message in out.stderr
    assert "Traceback" not in out.stderr
