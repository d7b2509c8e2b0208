"""The Dagster code location loads, with every asset, check and group the UI should show."""

from __future__ import annotations

import json
import os
from pathlib import Path

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


SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_specs.json"


def asset_specs_snapshot() -> dict:
    """Every asset of the code location as the UI and the lineage show it: key, group, kinds, deps,
    owners, the description's first line and its checks (name, blocking, description's first line)."""
    from nsk_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()

    def first_line(text: str | None) -> str:
        return (text or "").strip().splitlines()[0] if (text or "").strip() else ""

    out = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        checks = {}
        for check_key in sorted(node.check_keys, key=lambda k: k.name):
            spec = graph.get_check_spec(check_key)
            checks[check_key.name] = {"blocking": spec.blocking, "description": first_line(spec.description)}
        out[key.to_user_string()] = {
            "group": node.group_name, "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "owners": list(node.owners), "description": first_line(node.description), "checks": checks,
        }
    return out


def test_asset_specs_match_the_snapshot():
    """The asset specs against the committed snapshot: a change to keys, groups, kinds, deps,
    owners, descriptions or checks shows up in review as a diff of the JSON file.

    After an intended change, regenerate it and commit the diff:

        UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q nsk_pipeline_tests/test_definitions.py -k snapshot
    """
    current = asset_specs_snapshot()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert SNAPSHOT.is_file(), f"no snapshot: {SNAPSHOT}; regenerate it (see this test's docstring)"
    assert current == json.loads(SNAPSHOT.read_text(encoding="utf-8")), (
        "the asset specs changed; if intended, regenerate the snapshot (see this test's docstring)")
