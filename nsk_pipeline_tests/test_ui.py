"""The Dagster UI as a person sees it: started with `dg dev` on localhost, the asset graph shows every asset.

Checked twice: through the webserver's GraphQL API (every asset, in its group) and in headless
Chromium (the lineage page renders the assets; a screenshot is kept).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nsk_pipeline_tests.conftest import REPO

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium")
EXPECTED = {"staging/skoleforloeb": "sources", "staging/vejlederlog": "sources", "marts/indicator_yearly": "indicators",
            "marts/goal_attainment": "goals", "reports/status": "reports"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webserver(tmp_path):
    port = free_port()
    home = Path(os.environ["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # The README's command: `dg dev` (webserver and daemon, the project's code location from pyproject.toml).
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dg"), "dev", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("dagster-webserver exited")
                time.sleep(1)
        else:
            pytest.fail("dagster-webserver did not start within 180 s")
        yield url
    finally:
        # dg dev runs dagster dev, which runs the webserver and the daemon: stop the whole group.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_ui_lists_every_asset_in_its_group(webserver, tmp_path):
    # One code location, under the name pyproject.toml gives it (runs stay together in one DAGSTER_HOME).
    query = json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                                 "locationOrLoadError { __typename } } } } }"}).encode()
    req = urllib.request.Request(f"{webserver}/graphql", data=query, headers={"Content-Type": "application/json"})
    entries = json.load(urllib.request.urlopen(req, timeout=30))["data"]["workspaceOrError"]["locationEntries"]
    assert [(e["name"], e["loadStatus"], e["locationOrLoadError"]["__typename"]) for e in entries] == \
        [("nsk_pipeline", "LOADED", "RepositoryLocation")]

    query = json.dumps({"query": "{ assetNodes { assetKey { path } groupName } }"}).encode()
    req = urllib.request.Request(f"{webserver}/graphql", data=query, headers={"Content-Type": "application/json"})
    nodes = json.load(urllib.request.urlopen(req, timeout=30))["data"]["assetNodes"]
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    assert len(groups) == 13
    for key, group in EXPECTED.items():
        assert groups[key] == group

    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/test.sh installs it)")
        pytest.skip("no chromium on this machine")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--virtual-time-budget=20000", "--window-size=1400,900"]
    def rendered(path: str, profile: str) -> str:
        return subprocess.run([CHROMIUM, *flags, f"--user-data-dir={tmp_path / profile}", "--dump-dom",
                               f"{webserver}{path}"], capture_output=True, text=True, timeout=120).stdout

    # The asset graph (lineage) shows the domains as groups; the catalog lists the assets.
    graph = rendered("/asset-groups", "c1")
    for group in ("sources", "indicators", "goals", "reports"):
        assert group in graph, f"group {group} not rendered in the asset graph"
    catalog = rendered("/assets", "c3")
    for name in ("goal_attainment", "indicator_yearly", "vejlederlog"):
        assert name in catalog, f"{name} not rendered in the catalog"
    page = f"{webserver}/asset-groups"
    shots = Path(os.environ.get("NSK_UI_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "dagster-asset-graph.png"
    subprocess.run([CHROMIUM, *flags, f"--user-data-dir={tmp_path / 'c2'}", f"--screenshot={shot}", page],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000


def test_dg_checks_and_lists_the_definitions():
    """`dg check defs` and `dg list defs`, as the README gives them, see the same assets as the code location."""
    from nsk_pipeline.definitions import defs

    dg_cli = str(Path(sys.executable).parent / "dg")
    check = subprocess.run([dg_cli, "check", "defs"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All definitions loaded successfully" in check.stdout + check.stderr
    listed = subprocess.run([dg_cli, "list", "defs", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    listing = json.loads(listed.stdout)
    keys = {a["asset_key"] for a in listing["assets"]}
    assert keys == {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {s["name"] for s in listing.get("schedules", [])} == {s.name for s in defs.schedules}
