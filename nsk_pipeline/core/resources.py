"""The Dagster resource that carries the settings and the warehouse.

The pseudonym key is deliberately not a config field: resource config is shown in the UI and
stored with the run, and the key must never be.
"""


from dataclasses import replace
from datetime import date
from functools import cached_property
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from nsk_pipeline.core.deadruns import record_run_process
from nsk_pipeline.core.runlock import RunLock
from nsk_pipeline.core.settings import Settings
from nsk_pipeline.core.warehouse import Warehouse


class NskResource(dg.ConfigurableResource):
    _lock: RunLock | None = PrivateAttr(default=None)
    raw_dir: str
    warehouse_url: str
    as_of: str
    goals_path: str | None = None
    reports_dir: str = ""
    report_docx_template: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "NskResource":
        return cls(raw_dir=str(settings.raw_dir), warehouse_url=settings.warehouse_url,
                   as_of=settings.as_of.isoformat(),
                   goals_path=str(settings.goals_path) if settings.goals_path else None,
                   reports_dir=str(settings.reports_dir),
                   report_docx_template=str(settings.report_docx_template) if settings.report_docx_template else None)

    @property
    def as_of_date(self) -> date:
        return date.fromisoformat(self.as_of)

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @cached_property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.warehouse_url)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Runs launched from the UI or the schedule get the same checks as `nsk materialize`, before
        # any step: a mistyped raw folder must not stage nothing over the previous data.
        settings = replace(Settings.from_env(), raw_dir=self.raw_path, warehouse_url=self.warehouse_url)
        settings.check()
        # Which process runs this run: if it dies, the next start marks the run failed.
        record_run_process(context.instance, context.run_id)
        # Held from the run's first step to its last: a second run waits, then fails clearly.
        self._lock = RunLock(self.warehouse, wait_seconds=settings.lock_wait_seconds)
        self._lock.acquire()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.release()
        self.warehouse.dispose()

    def pseudonym_key(self) -> bytes:
        return Settings.from_env().require_pseudonym_key()
