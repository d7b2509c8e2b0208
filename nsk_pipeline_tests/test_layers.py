"""The package's layers import one way: raw files → staging → indicators → goals → marts → reports,
with the Dagster wiring of the whole (definitions, schedules, sensors, the CLI) on top, and no import
cycles. Under them all: `core` and the contract's catalogues (the source specs, the indicator and the
goal registries, disclosure control), plain definitions that every layer reads. Read from the code's own imports
(function-level imports too: a lazy import is still a tie)."""

from __future__ import annotations

import ast
from pathlib import Path

import graphlib

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nsk_pipeline"

# The lowest layer first. A module may import from its own layer and the layers below it.
LAYERS = {
    "core": 0, "demo": 0,
    "sources.specs": 0, "indicators.registry": 0, "goals.registry": 0,
    # a rule of the contract that the table descriptions in core state: it reads only the registry
    "indicators.disclosure": 0,
    "sources": 1,
    "indicators": 2,
    "goals": 3,
    "marts": 4,
    "reports": 5,
    "definitions": 6, "schedules": 6, "sensors": 6, "cli": 6,
}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("nsk_pipeline.")}


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (package faces, `__init__.py`, left out)."""
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for target in _imports(path):
            # `from nsk_pipeline.x import y` names a module x.y or a name in x: keep the module.
            while target not in files and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in files and target != name and files[target].name != "__init__.py":
                graph[name].add(target)
    return graph


def _edges(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return [(a, b) for a, targets in graph.items() for b in targets]


def layer(module: str) -> int:
    inner = module.split(".", 1)[1]
    if inner in LAYERS:
        return LAYERS[inner]
    top = inner.split(".")[0]
    if top not in LAYERS:
        pytest.fail(f"{module}: its layer is not known; add nsk_pipeline/{top} to LAYERS in {Path(__file__).name}")
    return LAYERS[top]


def test_no_module_imports_from_a_layer_above_it():
    upward = sorted(f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
                    for a, b in _edges(import_graph()) if layer(b) > layer(a))
    assert upward == []


def test_no_import_cycles():
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as e:
        pytest.fail("import cycle: " + " -> ".join(e.args[1]))


def test_the_graph_is_read_from_the_code():
    # Guards the two tests above against reading nothing: known edges are seen.
    graph = import_graph()
    assert "nsk_pipeline.core.settings" in graph["nsk_pipeline.cli"]
    assert "nsk_pipeline.core.resources" in graph["nsk_pipeline.marts.assets"]
    assert len(_edges(graph)) > 40
