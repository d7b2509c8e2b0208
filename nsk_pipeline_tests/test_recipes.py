"""The recipes of docs/architecture.md ("How to add …"), followed step by step: each test does
exactly the steps its recipe names, and nothing else, and then checks that the new thing works.
A recipe that misses a step fails its test."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl

from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.goals.attainment import goal_attainment
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.indicators.registry import INDICATORS, Indicator
from nsk_pipeline.reports.render import environment
from nsk_pipeline.sources import schemas, specs
from nsk_pipeline.sources.assets import build_staging_asset, staging_key
from nsk_pipeline.sources.specs import ColumnSpec, SourceSpec
from nsk_pipeline_tests import test_indicators
from nsk_pipeline_tests.test_indicators import school
from nsk_pipeline_tests.test_report import MILESTONES, FakeEngine

wh, engine = test_indicators.wh, test_indicators.engine  # the indicator tests' fixtures: both warehouses

AS_OF = date(2026, 3, 1)


def test_recipe_add_a_source(tmp_path: Path, duckdb_url, monkeypatch):
    # 1. sources/specs.py: the source's SourceSpec (columns, kinds, code lists, key, date column,
    #    Danish label), added to SOURCES
    spec = SourceSpec("hotline", (ColumnSpec("opkald_id"), ColumnSpec("dato", "date"),
                                  ColumnSpec("kanal", "code", codes=("telefon", "chat"))),
                      key=("opkald_id",), date_column="dato", description="Calls to the hotline.",
                      label="Hotlinen")
    monkeypatch.setitem(specs.SOURCES, spec.name, spec)

    # 2. sources/schemas.py: its pandera model (the row rules), added to MODELS
    class HotlineRow(schemas._Row):
        opkald_id: pl.Utf8 = pa.Field(nullable=False)
        dato: pl.Date = pa.Field(nullable=False)
        kanal: pl.Utf8 = pa.Field(nullable=False, isin=specs.SOURCES["hotline"].column("kanal").codes)

    monkeypatch.setitem(schemas.MODELS, spec.name, HotlineRow)

    # 3. its exports in <NSK_RAW_DIR>/hotline/hotline_<export date>.csv
    folder = tmp_path / "raw" / "hotline"
    folder.mkdir(parents=True)
    (folder / "hotline_2026-01-15.csv").write_text(
        "opkald_id;dato;kanal\nH1;03-01-2026;telefon\nH2;2026-01-10;Chat\nH3;2026-01-11;brev\n", encoding="utf-8")

    # what the pipeline then does with it: an asset of the staging step (built from every SOURCES
    # entry), which, materialised, stages the typed and validated rows and quarantines the others
    asset = build_staging_asset()
    assert staging_key("hotline") in asset.keys
    nsk = NskResource(raw_dir=str(tmp_path / "raw"), warehouse_url=duckdb_url, as_of=AS_OF.isoformat())
    assert dg.materialize([asset], resources={"nsk": nsk}, selection=[staging_key("hotline")]).success
    wh = nsk.warehouse
    staged = wh.read_sql("SELECT opkald_id, dato, kanal FROM staging.hotline ORDER BY opkald_id")
    assert staged.values.tolist() == [["H1", date(2026, 1, 3), "telefon"], ["H2", date(2026, 1, 10), "chat"]]
    rejected = wh.read_sql("SELECT record_key, reason_codes FROM quarantine.rejected_rows WHERE source = 'hotline'")
    assert rejected["record_key"].tolist() == ["h3"] and "code_not_allowed" in rejected["reason_codes"][0]
    # and the report names it by its label
    assert str(environment("markdown").globals["say"].source("hotline")) == "Hotlinen"
    wh.dispose()


def test_recipe_add_an_indicator(monkeypatch, engine):
    # 1. indicators/registry.py: an Indicator (id, Danish name, definition, unit, source,
    #    aggregation, and its contributions: SQL over counted_<source>, each row with `amount`)
    indicator = Indicator(
        "foraeldremoeder", "Forældremøder holdt", "Forløb med forældre, et pr. forløb.", "møder", "skoleforloeb",
        "sum", "SELECT period_id, dimension, category, 1 AS amount, CAST(NULL AS VARCHAR) AS counted_unit\n"
               "FROM counted_skoleforloeb WHERE antal_foraeldre > 0")
    monkeypatch.setitem(INDICATORS, indicator.id, indicator)

    # what the pipeline then does with it: the engine computes it per period, "no data" stays NULL
    staged = engine(skoleforloeb=[school(forloeb_id="F1", antal_foraeldre=12),
                                  school(forloeb_id="F2", antal_foraeldre=0),
                                  school(forloeb_id="F3", dato="2025-02-01", antal_foraeldre=3)])
    assert staged.value("foraeldremoeder", date(2024, 1, 1), date(2024, 12, 31)).value == 1
    assert staged.value("foraeldremoeder", date(2024, 1, 1), date(2025, 12, 31)).value == 2
    yearly = staged.yearly([2023, 2024, 2025]).set_index(["indicator_id", "year"])["value"]
    assert yearly[("foraeldremoeder", 2024)] == 1 and yearly[("foraeldremoeder", 2025)] == 1
    assert yearly.isna()[("foraeldremoeder", 2023)]  # the source reports on 2024-25 only


GOAL = """\
goals:
  - id: HP2024-B9
    plan: HP2024
    spor: boern_unge
    text: "Mindst 1.000 elever om året."
    kind: numeric
    indicator: elever_nsk
    comparison: ">="
    target: 1000
    period: annual
"""

PLAN = """\
plans:
  - id: HP2027
    name: "Handleplan 2027-29"
    first_year: 2025
    last_year: 2027
goals:
  - id: HP2027-1
    plan: HP2027
    spor: voksne
    text: "Højst 400 henvendelser i planperioden."
    kind: numeric
    indicator: henvendelser
    comparison: "<="
    target: 400
    period: plan
"""


def _attainment(goals_path: Path):
    registry = load_registry(goals_path)  # what a run does with NSK_GOALS_PATH
    return goal_attainment(registry, FakeEngine(date(2026, 4, 15)), MILESTONES, date(2026, 4, 15),
                           date(2026, 4, 15)).set_index(["goal_id", "year"])


def test_recipe_add_a_goal(tmp_path: Path):
    # 1. a goal entry (id, plan, spor, text, kind, indicator, comparison, target, period) in a YAML
    #    file of NSK_GOALS_PATH (or in goals/goals.yaml)
    (tmp_path / "goals.d").mkdir()
    (tmp_path / "goals.d" / "b9.yaml").write_text(GOAL, encoding="utf-8")

    ga = _attainment(tmp_path / "goals.d")
    assert [ga.loc[("HP2024-B9", y), "status"] for y in (2024, 2025, 2026)] == ["naaet", "naaet", "i_gang"]
    assert ga.loc[("HP2024-B9", 2024), "actual"] == 2425


def test_recipe_add_a_plan(tmp_path: Path):
    # 1. a plans entry (id, name, first_year, last_year) and 2. its goals, in a YAML file of NSK_GOALS_PATH
    (tmp_path / "hp2027.yaml").write_text(PLAN, encoding="utf-8")

    ga = _attainment(tmp_path / "hp2027.yaml")
    rows = ga.loc["HP2027-1"]
    assert list(rows.index) == [2025, 2026]  # every plan year up to the as-of year
    assert rows.loc[2025, "actual"] == 357 and rows.loc[2026, "actual"] == 357 + 90  # cumulative: a plan goal
    assert rows.loc[2025, "status"] == "i_gang" and rows.loc[2025, "period_end"] == date(2027, 12, 31)
