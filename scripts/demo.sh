#!/usr/bin/env bash
# Set up, then materialise every asset on the shipped demo data into data/marts/nsk.duckdb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The demo's pseudonym key: a random key made once on this machine, kept out of git.
# Production passes its own key in NSK_PSEUDONYM_KEY (see README, "The pseudonym key").
if [ -z "${NSK_PSEUDONYM_KEY:-}" ] && [ -z "${NSK_PSEUDONYM_KEY_FILE:-}" ]; then
  mkdir -p .secrets
  [ -s .secrets/demo-pseudonym.key ] || .venv/bin/python -c "import secrets; print(secrets.token_hex(32))" > .secrets/demo-pseudonym.key
  chmod 600 .secrets/demo-pseudonym.key
  export NSK_PSEUDONYM_KEY_FILE=.secrets/demo-pseudonym.key
fi
exec .venv/bin/nsk materialize "$@"
