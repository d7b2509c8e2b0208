"""One home per rule: a rule of the contracts that is stated as a literal (a bound, a code list,
a sentence) is written in one module; every other module — checks, column descriptions, the
data dictionary, the report — takes it from there. Read from the package's source text: the
literal written anywhere else fails the test, naming the file and the line.

The demo-data generator is left out: it writes example deliveries, not rules. The README's
"Where is the rule for …?" table names the same homes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nsk_pipeline"
NOT_RULES = ("demo/",)

# rule → (its home, the pattern of the rule written out, files allowed to hold it for now and why)
RULES: dict[str, tuple[str, str, dict[str, str]]] = {
    # "Counts … are suppressed when between 1 and 4" (goals-and-marts.md, privacy rules)
    "suppression bounds": ("indicators/disclosure.py",
                           r"(?<!quarter )\b1-4\b|\b1 and 4\b|= 1, 4\b|between\(\s*1\s*,\s*4\s*\)|range\(\s*1\s*,\s*5\s*\)",
                           {}),
    # rows whose status is aflyst or annulleret are never counted (source-exports.md, status)
    "cancelled statuses": ("sources/specs.py", r"[\"'](aflyst|annulleret)[\"']", {}),
    # koen from the CPR number's last digit, aldersgruppe from the age at oprettet
    "sexes": ("sources/sql_typing.py", r"\bkvinde\b.{0,12}\bmand\b", {}),
    "age bands": ("sources/sql_typing.py", r"[\"'](under_18|18-29|30-39|40-49|50-64|65\+)[\"']", {}),
    # status_tekst, the sentence the report prints for each status
    "status sentences": ("goals/registry.py", r"Målet er (ikke )?nået|I gang|Ikke opgjort", {}),
    # how old a source's latest export may be: the freshness check and the report's "Forældet"
    "delivery window": ("sources/specs.py", r"_DAYS\s*=\s*\d+", {}),
    # the tracks of a plan
    "tracks": ("goals/registry.py", r"[\"']tvaergaaende[\"']", {}),
}


def _files() -> list[Path]:
    return sorted(p for pattern in ("*.py", "*.j2") for p in PACKAGE.rglob(pattern)
                  if not str(p.relative_to(PACKAGE)).startswith(NOT_RULES))


def written(pattern: str, allowed: set[str]) -> list[str]:
    """`file:line: text` wherever `pattern` is written outside the files `allowed`."""
    found = []
    for path in _files():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in allowed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(pattern, line):
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("rule", list(RULES))
def test_a_rule_is_written_in_its_home_only(rule):
    home, pattern, allowed = RULES[rule]
    assert written(pattern, {home, *allowed}) == [], f"{rule}: write it in {home} only and derive the rest from it"


@pytest.mark.parametrize("rule", list(RULES))
def test_the_home_does_hold_the_rule(rule):
    # Guards the test above against a pattern that matches nothing (and an allowance no longer needed).
    home, pattern, allowed = RULES[rule]
    assert re.search(pattern, (PACKAGE / home).read_text(encoding="utf-8")), f"{rule}: not found in {home}"
    for path in allowed:
        assert re.search(pattern, (PACKAGE / path).read_text(encoding="utf-8")), f"{path} no longer needs allowing"


def test_derived_texts_say_what_the_home_says():
    from nsk_pipeline.core import tables
    from nsk_pipeline.goals.registry import STATUS_TEKST
    from nsk_pipeline.indicators import disclosure
    from nsk_pipeline.marts.checks import _CHECKS
    from nsk_pipeline.marts.report_view import VIEW_COLUMNS
    from nsk_pipeline.sources.columns import CPR_DESCRIPTIONS
    from nsk_pipeline.sources.sql_typing import AGE_BANDS, SEXES

    suppressed = next(c for c in tables.INDICATOR_BREAKDOWN if c.name == "suppressed").description
    check = next(d for key, (_, d) in _CHECKS.items() if key.name == "disclosure_control")
    grain = tables.GRAINS[("marts", "indicator_breakdown")]
    bounds = f"{disclosure.SMALLEST}-{disclosure.LARGEST}"
    assert all(bounds in text and disclosure.PROTECTED_LABEL in text for text in (suppressed, check, grain))
    status = dict((label, desc) for label, _, desc in VIEW_COLUMNS)["Status"]
    assert all(t in status for t in STATUS_TEKST.values())
    assert all(s in CPR_DESCRIPTIONS["koen"] for s in SEXES) and all(a in CPR_DESCRIPTIONS["aldersgruppe"]
                                                                    for a in AGE_BANDS)
