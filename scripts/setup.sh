#!/usr/bin/env bash
# Create .venv at the repository root with the locked dependencies (needs only python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
fi
# --frozen: install exactly uv.lock; --inexact keeps uv itself in the venv. --compile-bytecode:
# every `nsk` start would otherwise compile Dagster's, pandas' and SQLAlchemy's sources again
# where bytecode is not written at import (PYTHONDONTWRITEBYTECODE, read-only installs): about
# 1.5 s of the demo run. Only what uv installs is compiled, so a second sync costs nothing.
.venv/bin/uv sync --frozen --inexact --compile-bytecode --python .venv/bin/python --quiet
# The project's own modules too (gitignored; a stale file is ignored by Python, never wrong).
.venv/bin/python -m compileall -q nsk_pipeline
