"""The Dagster resource that carries the settings and the warehouse.

The pseudonym key is deliberately not a config field: resource config is shown in the UI and
stored with the run, and the key must never be.
"""


from datetime import date
from functools import cached_property
from pathlib import Path

import dagster as dg

from nsk_pipeline.core.settings import Settings
from nsk_pipeline.core.warehouse import Warehouse


class NskResource(dg.ConfigurableResource):
    raw_dir: str
    warehouse_url: str
    as_of: str
    goals_path: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "NskResource":
        return cls(raw_dir=str(settings.raw_dir), warehouse_url=settings.warehouse_url,
                   as_of=settings.as_of.isoformat(),
                   goals_path=str(settings.goals_path) if settings.goals_path else None)

    @property
    def as_of_date(self) -> date:
        return date.fromisoformat(self.as_of)

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @cached_property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.warehouse_url)

    def pseudonym_key(self) -> bytes:
        return Settings.from_env().require_pseudonym_key()
