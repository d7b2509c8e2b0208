"""Several asset checks in one step (a Dagster multi-asset check): a step costs more than the
queries in it, so each domain runs its checks together."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import dagster as dg


def selected_results(context: dg.AssetCheckExecutionContext,
                     result_of: Callable[[dg.AssetCheckKey], dg.AssetCheckResult]) -> Iterator[dg.AssetCheckResult]:
    """The result of each check the run selected, addressed to that check, in a stable order."""
    for key in sorted(context.selected_asset_check_keys, key=lambda k: (k.asset_key.path, k.name)):
        result = result_of(key)
        yield dg.AssetCheckResult(asset_key=key.asset_key, check_name=key.name, passed=result.passed,
                                  severity=result.severity, description=result.description, metadata=result.metadata)
