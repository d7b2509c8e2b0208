"""The data dictionary is generated from the code, and the committed copy never rots."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nsk_pipeline.core import tables
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.indicators.registry import INDICATORS
from nsk_pipeline.marts.comments import apply_comments, comment_targets
from nsk_pipeline.marts.report_view import VIEW_COLUMNS
from nsk_pipeline.reports.dictionary import REGENERATE, data_dictionary_markdown, main
from nsk_pipeline.sources.ingest import staged_columns
from nsk_pipeline.sources.specs import SOURCES
from nsk_pipeline_tests.conftest import REPO
from nsk_pipeline_tests.test_report import make_warehouse

COMMITTED = REPO / "docs" / "data-dictionary.md"


@pytest.fixture(scope="module")
def text() -> str:
    return data_dictionary_markdown()


def test_every_mart_and_column_with_its_description(text):
    for name, columns in tables.MARTS.items():
        assert f"### marts.{name}" in text
        for c in columns:
            assert f"| `{c.name}` |" in text
            assert c.description.replace("|", "\\|") in text
    for label, _, description in VIEW_COLUMNS:
        assert f"| `{label}` |" in text and description in text
    for c in [*tables.REJECTED_ROWS, *tables.FILE_LOADS]:
        assert f"| `{c.name}` |" in text


def test_every_staged_source_and_column(text):
    for spec in SOURCES.values():
        assert f"### staging.{spec.name}" in text
        for col in staged_columns(spec):
            assert f"| `{col}` |" in text
    assert "| `cpr` |" not in text  # the CPR number is never stored, so never a column


def test_every_indicator_and_goal(text):
    for ind in INDICATORS.values():
        assert f"| `{ind.id}` | {ind.name} |" in text
        assert ind.definition.replace("|", "\\|") in text
    registry = load_registry()
    for plan in registry.plans.values():
        assert f"### {plan.id}: {plan.name}" in text
    for goal in registry.goals:
        assert f"| {goal.id} | {goal.spor} | {goal.kind} |" in text
        assert goal.text in text


def test_committed_dictionary_is_the_generated_one(text):
    assert COMMITTED.exists(), f"docs/data-dictionary.md is missing: run {REGENERATE}"
    assert COMMITTED.read_text(encoding="utf-8") == text, f"docs/data-dictionary.md is out of date: run {REGENERATE}"
    assert main(["--check", str(COMMITTED)]) == 0


def _comments(conn, dialect: str) -> dict[tuple[str, str], str]:
    if dialect == "duckdb":
        sql = "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = 'marts'"
    else:
        sql = ("SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
               "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
               "WHERE n.nspname = 'marts' AND a.attnum > 0 AND NOT a.attisdropped")
    return {(t, c): d for t, c, d in conn.execute(sa.text(sql))}


def test_comments_land_in_the_warehouse(warehouse_url):
    wh = make_warehouse(warehouse_url)
    try:
        with wh.transaction() as conn:
            ran = apply_comments(conn)
        assert ran >= sum(len(c) for c in tables.MARTS.values()) + len(VIEW_COLUMNS)
        with wh.engine.connect() as conn:
            comments = _comments(conn, wh.dialect)
        for name, columns in tables.MARTS.items():
            for c in columns:
                assert comments[(name, c.name)] == c.description
        assert comments[("goal_attainment_report", "Opfyldelse (%)")].startswith("resultat i procent")
    finally:
        wh.dispose()


def test_the_history_of_publications_and_the_revisions_view(text):
    from nsk_pipeline.marts.revisions import VIEW_COLUMNS as REVISIONS_COLUMNS

    for name, columns in tables.HISTORY.values():
        assert f"### marts.{name}" in text
        for c in columns:
            assert c.description.replace("|", "\\|") in text
    assert "### marts.revisions" in text and "### meta.file_loads_history" in text
    for name, _, description in REVISIONS_COLUMNS:
        assert f"| `{name}` |" in text and description in text
    commented = {(kind, f"{schema}.{name}") for kind, schema, name, description, _ in comment_targets() if description}
    assert {("VIEW", "marts.revisions"), ("TABLE", "marts.goal_attainment_history")} <= commented
