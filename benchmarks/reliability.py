"""The reliability summary: runs the reliability tests and prints what they tried and survived.

    .venv/bin/python benchmarks/reliability.py

Every figure comes from records the tests write while they run (NSK_RELIABILITY_LOG), never
from text typed in here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# test_commands.py may not exist yet in every checkout: only the files that are there run.
TESTS = [t for t in ["nsk_pipeline_tests/test_reliability.py", "nsk_pipeline_tests/test_leak_audit.py",
                     "nsk_pipeline_tests/test_operator_mistakes.py", "nsk_pipeline_tests/test_commands.py"]
         if (REPO / t).exists()]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "reliability.jsonl"
        env = {**os.environ, "NSK_RELIABILITY_LOG": str(log)}
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
                               cwd=REPO, env=env)
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    bad = [r for r in records if r["kind"] == "bad_input"]
    faults = [r for r in records if r["kind"] == "fault"]
    audits = [r for r in records if r["kind"] == "leak_audit"]
    mistakes = [r for r in records if r["kind"] == "operator_mistake"]
    bad_count = sum(r.get("count", 1) for r in bad)
    kinds = Counter("kill" if "kill" in r["name"].lower() else "database error" if "error" in r["name"]
                    else "concurrent run" if "concurrent" in r["name"] else "repeat run" for r in faults)
    print(f"\nreliability summary — {datetime.now().isoformat(timespec='minutes')}, from {len(records)} test records")
    print(f"  bad inputs tried     {bad_count:>6}  (handled: {sum(r.get('count', 1) for r in bad if r['survived'])})")
    print(f"  faults injected      {len(faults):>6}  ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    print(f"  runs survived        {sum(r['survived'] for r in faults):>6}  of {len(faults)}")
    print(f"  rows lost            {sum(r['rows_lost'] for r in records):>6}")
    print(f"  leak audits passed   {sum(r['survived'] for r in audits):>6}  of {len(audits)}"
          + (f"  ({audits[0]['name']})" if audits else ""))
    print(f"  operator mistakes tried {len(mistakes)} (exit code and message right: "
          f"{sum(r['survived'] for r in mistakes)})")
    print(f"  tests: {'passed' if tests.returncode == 0 else 'FAILED (exit %d)' % tests.returncode}")
    if not records:
        print("reliability: the tests wrote no records — the summary would be empty, so it fails")
        return 1
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
