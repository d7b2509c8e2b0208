#!/usr/bin/env bash
# Set up, then run the whole test suite (PostgreSQL tests need the server at 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
