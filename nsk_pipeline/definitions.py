"""The Dagster code location: every asset, check and resource, run in process."""

from __future__ import annotations

import dagster as dg

from nsk_pipeline.core.deadruns import sweep_on_load
from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.core.settings import Settings
from nsk_pipeline.marts.assets import marts
from nsk_pipeline.marts.checks import mart_checks
from nsk_pipeline.marts.gx_checks import gx_checks
from nsk_pipeline.schedules import apply_source_freshness, jobs, schedules
from nsk_pipeline.sensors import sensors
from nsk_pipeline.reports.assets import status_reports
from nsk_pipeline.sources.assets import staging_assets

OWNERS = ["team:data-engineering"]  # who answers for every asset: set here, once, not per domain


def _house_policies(assets: list) -> list:
    """What every asset of the house carries, applied centrally: its owners, and the staging
    assets' freshness policy."""
    owned = dg.map_asset_specs(lambda spec: spec.replace_attributes(owners=OWNERS), assets)
    return apply_source_freshness(owned)


ASSETS = _house_policies([*staging_assets, marts, status_reports])
# The sources' checks run in the staging step itself (sources/assets.py): a step costs more than they do.
CHECKS = [*mart_checks]
# Great Expectations costs ~7 s to import: its suites run in the quarterly job and the UI, and
# with `nsk materialize --expectations`, not in every command-line run.
EXPECTATION_CHECKS = gx_checks


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()
    # In process: a step here takes well under a second, a new process per step about three.
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=[*CHECKS, *EXPECTATION_CHECKS],
        schedules=schedules,
        sensors=sensors,
        jobs=jobs,
        resources={"nsk": NskResource.from_settings(settings)},
        executor=dg.in_process_executor,
    )


defs = build_definitions()
sweep_on_load()  # a run whose process died shows as failed in the UI, not as running for ever
