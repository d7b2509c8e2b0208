#!/usr/bin/env bash
# Set up, then run the whole test suite (PostgreSQL tests need the server at 127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The report test opens the report in headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the report test …"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The Word report test converts the .docx with LibreOffice and looks at the PDF with poppler
# (about 110 s to install both here).
if ! command -v soffice >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's libreoffice-writer-nogui and poppler-utils for the Word report test …"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-writer-nogui \
    poppler-utils >/dev/null
fi
# Two workers (one per core here; `-n auto`), each file on one worker (`--dist loadfile`): the suite is
# bound by one Python process at a time, and a file's module fixtures (demo runs) are then built once.
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
