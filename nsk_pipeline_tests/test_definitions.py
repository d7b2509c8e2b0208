"""The Dagster code location loads, with every asset, check and group the UI should show."""

from __future__ import annotations

import dagster as dg


def test_definitions_load_with_assets_grouped_by_domain():
    from nsk_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    sources = {"skoleforloeb", "vejlederlog", "rettighedskurser", "omraade_aktiviteter", "omraade_aktoerer", "milepaele"}
    assert {f"staging/{s}" for s in sources} <= keys
    marts = {"goal_attainment", "indicator_yearly", "indicator_quarterly", "indicator_breakdown", "indicators", "goals"}
    assert {f"marts/{m}" for m in marts} <= keys
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["staging/vejlederlog"] == "sources"
    assert groups["marts/indicator_yearly"] == "indicators"
    assert groups["marts/goal_attainment"] == "goals"
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("staging/vejlederlog", "rows_reconcile") in checks
    assert ("staging/skoleforloeb", "pandera_rules") in checks
    assert ("marts/goal_attainment", "contract_invariants") in checks


def test_every_mart_states_its_grain():
    from nsk_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.path[0] == "marts":
            assert graph.get(key).description.startswith("One row per"), key


def test_runs_in_process():
    from nsk_pipeline.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def is dg.in_process_executor
