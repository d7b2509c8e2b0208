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
# --frozen: install exactly uv.lock; --inexact keeps uv itself in the venv.
.venv/bin/uv sync --frozen --inexact --python .venv/bin/python --quiet
