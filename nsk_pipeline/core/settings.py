"""One settings object, read from `NSK_*` environment variables.

Every entry point (the CLI, `dagster dev`, the tests) builds its environment from here, so a
run is fully described by these variables.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RAW_DIR = REPO_ROOT / "data" / "raw"
DEFAULT_WAREHOUSE_URL = f"duckdb:///{REPO_ROOT / 'data' / 'marts' / 'nsk.duckdb'}"
DEFAULT_REPORTS_DIR = REPO_ROOT / "data" / "marts" / "reports"
MIN_KEY_BYTES = 16
DEFAULT_LOCK_WAIT_SECONDS = 60.0
# What DuckDB's memory_limit accepts: a number and a unit, or a share of RAM.
_MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B|%)", re.IGNORECASE)
DEFAULT_SENSOR_QUIET_SECONDS = 180.0


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable, never its value."""


def _today_copenhagen() -> date:
    return datetime.now(COPENHAGEN).date()


@dataclass(frozen=True)
class Settings:
    raw_dir: Path = DEFAULT_RAW_DIR
    warehouse_url: str = DEFAULT_WAREHOUSE_URL
    as_of: date = field(default_factory=_today_copenhagen)
    goals_path: Path | None = None
    pseudonym_key: bytes | None = field(default=None, repr=False)
    reports_dir: Path = DEFAULT_REPORTS_DIR
    report_docx_template: Path | None = None  # the municipality's own Word template for the report
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS
    sensor_quiet_seconds: float = DEFAULT_SENSOR_QUIET_SECONDS  # the delivery sensor waits this long after a change

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        raw = env.get("NSK_RAW_DIR")
        as_of_text = env.get("NSK_AS_OF", "").strip()
        if as_of_text:
            try:
                as_of = date.fromisoformat(as_of_text)
            except ValueError:
                raise SettingsError(f"NSK_AS_OF must be a date YYYY-MM-DD, got {as_of_text!r}") from None
        else:
            as_of = _today_copenhagen()
        goals = env.get("NSK_GOALS_PATH", "").strip()
        memory = env.get("NSK_DUCKDB_MEMORY_LIMIT", "").strip()
        if memory and not _MEMORY_LIMIT.fullmatch(memory):
            raise SettingsError(f"NSK_DUCKDB_MEMORY_LIMIT must be a size such as 512MB or 2GiB, got {memory!r}")
        return cls(
            raw_dir=Path(raw) if raw else DEFAULT_RAW_DIR,
            warehouse_url=env.get("NSK_WAREHOUSE_URL", "").strip() or DEFAULT_WAREHOUSE_URL,
            as_of=as_of,
            goals_path=Path(goals) if goals else None,
            pseudonym_key=_read_key(env),
            reports_dir=Path(env["NSK_REPORTS_DIR"]) if env.get("NSK_REPORTS_DIR", "").strip() else DEFAULT_REPORTS_DIR,
            report_docx_template=Path(t) if (t := env.get("NSK_REPORT_DOCX_TEMPLATE", "").strip()) else None,
            lock_wait_seconds=_seconds(env, "NSK_LOCK_WAIT_SECONDS", DEFAULT_LOCK_WAIT_SECONDS),
            sensor_quiet_seconds=_seconds(env, "NSK_SENSOR_QUIET_SECONDS", DEFAULT_SENSOR_QUIET_SECONDS),
        )

    def check(self) -> None:
        """Everything a run needs from its environment, checked before anything is touched: a
        typo in a folder or URL must stop the run, not stage nothing over the previous data."""
        from nsk_pipeline.sources.specs import SOURCES

        raw = self.raw_dir
        if not raw.exists():
            raise SettingsError(f"NSK_RAW_DIR: the folder {raw} does not exist")
        if not raw.is_dir():
            raise SettingsError(f"NSK_RAW_DIR: {raw} is not a folder")
        if not any((raw / name).is_dir() for name in SOURCES):
            raise SettingsError(f"NSK_RAW_DIR: {raw} holds none of the source folders ({', '.join(SOURCES)})")
        if self.report_docx_template is not None and not self.report_docx_template.is_file():
            raise SettingsError(f"NSK_REPORT_DOCX_TEMPLATE: the Word template {self.report_docx_template} does not exist")
        check_warehouse_url(self.warehouse_url)

    def require_pseudonym_key(self) -> bytes:
        # Never a silent default: a default key would make every pseudonym reversible by
        # anyone who reads this code.
        if not self.pseudonym_key:
            raise SettingsError(
                "NSK_PSEUDONYM_KEY is not set: the counsellors' log cannot be pseudonymised. "
                "Set NSK_PSEUDONYM_KEY (at least 16 characters) or NSK_PSEUDONYM_KEY_FILE; "
                "see README.md, 'The pseudonym key'."
            )
        return self.pseudonym_key


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise SettingsError(f"{name} must be a number of seconds, 0 or more, got {text!r}")
    return value


def _read_key(env: dict[str, str]) -> bytes | None:
    key = env.get("NSK_PSEUDONYM_KEY", "")
    key_file = env.get("NSK_PSEUDONYM_KEY_FILE", "").strip()
    if not key and key_file:
        try:
            key = Path(key_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SettingsError(f"NSK_PSEUDONYM_KEY_FILE cannot be read: {e.strerror}") from None
    if not key:
        return None
    if len(key.encode()) < MIN_KEY_BYTES:
        raise SettingsError(f"NSK_PSEUDONYM_KEY must be at least {MIN_KEY_BYTES} characters long")
    return key.encode()


def settings_for_command() -> Settings | None:
    """The settings for a command-line entry point; None, with the reason printed, when they are
    malformed (the commands then exit 2)."""
    import sys

    try:
        return Settings.from_env()
    except SettingsError as e:
        print(f"nsk: {e}", file=sys.stderr)
        return None


SUPPORTED_URLS = "duckdb:///<path to a file> or postgresql+psycopg://user@host/database"


def check_warehouse_url(url: str) -> None:
    """The warehouse a run would write: a supported kind, a folder that can be written (DuckDB),
    a database that exists (PostgreSQL). Raises SettingsError naming NSK_WAREHOUSE_URL, never
    the password in it."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise SettingsError(f"NSK_WAREHOUSE_URL is not a database URL: use {SUPPORTED_URLS}") from None
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        if not parsed.database or parsed.database == ":memory:":
            return
        path = Path(parsed.database)
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if path.exists() and not path.is_file():
                raise SettingsError(f"NSK_WAREHOUSE_URL: {path} is not a DuckDB file")
            # Root writes through any file mode, so only a real write tells (a read-only mount).
            with tempfile.TemporaryFile(dir=folder):
                pass
            if path.exists() and not os.access(path, os.W_OK):
                raise SettingsError(f"NSK_WAREHOUSE_URL: the file {path} cannot be written")
        except OSError as e:
            raise SettingsError(f"NSK_WAREHOUSE_URL: the folder {folder} cannot be written "
                                f"({e.strerror or e})") from None
        return
    if backend != "postgresql":
        raise SettingsError(f"NSK_WAREHOUSE_URL: a {backend} database is not supported; use {SUPPORTED_URLS}")
    shown = parsed.render_as_string(hide_password=True)
    try:
        engine = sa.create_engine(parsed, connect_args={"connect_timeout": 10})
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError):
        raise SettingsError(f"NSK_WAREHOUSE_URL: the driver of {parsed.drivername} is not installed; "
                            f"use {SUPPORTED_URLS}") from None
    try:
        with engine.connect():
            pass
    except sa.exc.DBAPIError as e:
        raise SettingsError(f"NSK_WAREHOUSE_URL: cannot use {shown}: {_server_reason(e)}") from None
    finally:
        engine.dispose()


def _server_reason(error: sa.exc.DBAPIError) -> str:
    """The server's own words (e.g. 'database "x" does not exist'), on one line."""
    text = str(error.orig).strip()
    if "FATAL:" in text:
        text = text.rsplit("FATAL:", 1)[1]
    return " ".join(text.split())
