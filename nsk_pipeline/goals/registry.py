"""The goal registry: plans and goals read from YAML, validated against the indicator registry.

Goals are data, not code: the project ships `goals.yaml` next to this module, and a new plan
is added by writing another file (named by NSK_GOALS_PATH, which the caller passes as `extra`).
Every problem is a GoalRegistryError that names the file and the goal, because the person who
has to fix it is editing that file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pandas as pd
import yaml

from nsk_pipeline.indicators.registry import INDICATORS

SHIPPED_GOALS = Path(__file__).with_name("goals.yaml")

SPOR = ("boern_unge", "voksne", "civilsamfund", "tvaergaaende")
KINDS = ("numeric", "milestone")
COMPARISONS = (">=", "<=")
# The statuses a goal can have and the Danish sentence `status_tekst` prints for each (when each
# applies is the status rule, in goals/attainment.py).
STATUS_TEKST = {
    "naaet": "Målet er nået",
    "ikke_naaet": "Målet er ikke nået",
    "i_gang": "I gang",
    "ikke_opgjort": "Ikke opgjort",
}


def listed(items, last_word: str = "or") -> str:
    """`a, b, c or d`: a list of codes as a description says it."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last_word} {items[-1]}"

_TOP_KEYS = {"plans", "goals"}
_PLAN_KEYS = {"id", "name", "first_year", "last_year"}
_GOAL_REQUIRED = ("id", "plan", "spor", "text", "kind", "period")
_NUMERIC_KEYS = ("indicator", "comparison", "target")
_GOAL_KEYS = set(_GOAL_REQUIRED) | set(_NUMERIC_KEYS)

Period = Union[str, int]  # "annual", "plan" or a single year


class GoalRegistryError(Exception):
    """A goal file that cannot be loaded; the message names the file and the goal."""


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    first_year: int
    last_year: int


@dataclass(frozen=True)
class Goal:
    id: str
    plan: str
    spor: str
    text: str
    kind: str  # numeric | milestone
    indicator: str | None
    comparison: str | None
    target: float | None
    period: Period
    source_file: str


@dataclass
class Registry:
    plans: dict[str, Plan] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)

    def to_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(plans_df, goals_df): the registry as loaded, for `marts.goals`."""
        plans_df = pd.DataFrame(
            [(p.id, p.name, p.first_year, p.last_year) for p in self.plans.values()],
            columns=["plan_id", "plan_name", "first_year", "last_year"],
        )
        rows = []
        for g in self.goals:
            p = self.plans[g.plan]
            rows.append({
                "goal_id": g.id, "plan_id": p.id, "plan_name": p.name, "spor": g.spor,
                "goal_text": g.text, "kind": g.kind, "indicator_id": g.indicator,
                "comparison": g.comparison, "target": g.target,
                # one SQL type for the column: "annual", "plan" or "2024"
                "period": str(g.period),
                "first_year": p.first_year, "last_year": p.last_year, "source_file": g.source_file,
            })
        goals_df = pd.DataFrame(rows, columns=[
            "goal_id", "plan_id", "plan_name", "spor", "goal_text", "kind", "indicator_id",
            "comparison", "target", "period", "first_year", "last_year", "source_file",
        ])
        goals_df["target"] = goals_df["target"].astype("float64")
        return plans_df, goals_df


def load_registry(extra: str | Path | None = None) -> Registry:
    """The shipped goals.yaml plus `extra` (a file, or a folder of *.yaml/*.yml in sorted order)."""
    files = [SHIPPED_GOALS] + _extra_files(extra)
    docs = [(f, _read(f)) for f in files]

    # Plans first, from every file, so a goal may belong to a plan defined in another file.
    registry = Registry()
    plan_files: dict[str, Path] = {}
    for path, doc in docs:
        for raw in doc.get("plans") or []:
            plan = _parse_plan(path, raw)
            if plan.id in registry.plans:
                raise GoalRegistryError(
                    f"{path}: plan {plan.id}: repeated plan id (already defined in {plan_files[plan.id]})")
            registry.plans[plan.id] = plan
            plan_files[plan.id] = path

    goal_files: dict[str, Path] = {}
    for path, doc in docs:
        for raw in doc.get("goals") or []:
            goal = _parse_goal(path, raw, registry.plans)
            if goal.id in goal_files:
                raise GoalRegistryError(
                    f"{path}: goal {goal.id}: repeated goal id (already defined in {goal_files[goal.id]})")
            goal_files[goal.id] = path
            registry.goals.append(goal)
    return registry


def _extra_files(extra: str | Path | None) -> list[Path]:
    if extra is None or str(extra).strip() == "":
        return []
    path = Path(extra)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not path.is_file():
        raise GoalRegistryError(f"{path}: goal file or folder does not exist")
    return [path]


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GoalRegistryError(f"{path}: invalid YAML: {exc}") from exc
    if doc is None:  # an empty file adds nothing
        return {}
    if not isinstance(doc, dict):
        raise GoalRegistryError(f"{path}: expected a mapping with 'plans' and/or 'goals' at the top")
    unknown = sorted(set(map(str, doc)) - _TOP_KEYS)
    if unknown:
        raise GoalRegistryError(f"{path}: unknown top-level key(s) {', '.join(map(repr, unknown))}")
    for key in _TOP_KEYS:
        if doc.get(key) is not None and not isinstance(doc[key], list):
            raise GoalRegistryError(f"{path}: '{key}' must be a list")
    return doc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # YAML `yes` is a bool


def _parse_plan(path: Path, raw: Any) -> Plan:
    if not isinstance(raw, dict):
        raise GoalRegistryError(f"{path}: plan entry is not a mapping: {raw!r}")
    where = f"{path}: plan {raw.get('id', '?')}"
    unknown = sorted(set(map(str, raw)) - _PLAN_KEYS)
    if unknown:
        raise GoalRegistryError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    for key in ("id", "name", "first_year", "last_year"):
        if raw.get(key) in (None, ""):
            raise GoalRegistryError(f"{where}: missing required field '{key}'")
    for key in ("first_year", "last_year"):
        if not _is_int(raw[key]):
            raise GoalRegistryError(f"{where}: {key} must be a year, got {raw[key]!r}")
    if raw["first_year"] > raw["last_year"]:
        raise GoalRegistryError(
            f"{where}: first_year {raw['first_year']} is after last_year {raw['last_year']}")
    return Plan(str(raw["id"]), str(raw["name"]), raw["first_year"], raw["last_year"])


def _parse_goal(path: Path, raw: Any, plans: dict[str, Plan]) -> Goal:
    if not isinstance(raw, dict):
        raise GoalRegistryError(f"{path}: goal entry is not a mapping: {raw!r}")
    where = f"{path}: goal {raw.get('id', '?')}"

    def fail(message: str) -> GoalRegistryError:
        return GoalRegistryError(f"{where}: {message}")

    unknown = sorted(set(map(str, raw)) - _GOAL_KEYS)
    if unknown:  # a misspelt `target` must not silently become a goal without one
        raise fail(f"unknown field(s) {', '.join(map(repr, unknown))}")
    for key in _GOAL_REQUIRED:
        if raw.get(key) in (None, ""):
            raise fail(f"missing required field '{key}'")
    if raw["spor"] not in SPOR:
        raise fail(f"unknown spor {raw['spor']!r} (expected one of {', '.join(SPOR)})")
    if raw["kind"] not in KINDS:
        raise fail(f"unknown kind {raw['kind']!r} (expected numeric or milestone)")
    if not isinstance(raw["plan"], str) or raw["plan"] not in plans:
        raise fail(f"unknown plan {raw['plan']!r}")
    plan = plans[raw["plan"]]

    indicator, comparison, target = (raw.get(k) for k in _NUMERIC_KEYS)
    if raw["kind"] == "numeric":
        for key in _NUMERIC_KEYS:
            if raw.get(key) in (None, ""):
                raise fail(f"numeric goal without '{key}'")
        if not isinstance(indicator, str) or indicator not in INDICATORS:
            raise fail(f"unknown indicator {indicator!r}")
        if comparison not in COMPARISONS:
            raise fail(f"comparison must be '>=' or '<=', got {comparison!r}")
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not target > 0:
            raise fail(f"target must be a positive number, got {target!r}")
        target = float(target)
    else:
        present = [k for k in _NUMERIC_KEYS if raw.get(k) is not None]
        if present:
            raise fail(f"milestone goal must not have {', '.join(present)}")

    return Goal(
        id=str(raw["id"]), plan=plan.id, spor=raw["spor"], text=str(raw["text"]).strip(),
        kind=raw["kind"], indicator=indicator, comparison=comparison, target=target,
        period=_parse_period(raw["period"], plan, fail), source_file=path.name,
    )


def _parse_period(value: Any, plan: Plan, fail) -> Period:
    if value in ("annual", "plan"):
        return value
    # a year may come as 2024 or, quoted, as "2024"
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not _is_int(value):
        raise fail(f"unknown period {value!r} (expected annual, plan or a year)")
    if not plan.first_year <= value <= plan.last_year:
        raise fail(f"period {value} is outside plan {plan.id} ({plan.first_year}-{plan.last_year})")
    return value
