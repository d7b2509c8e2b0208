"""The data dictionary, generated from the code: never written by hand.

Sources: the mart and log tables (`nsk_pipeline.core.tables`, with the contract's column
descriptions), the report view (`nsk_pipeline.reports.view`), the staged sources
(`nsk_pipeline.sources.specs`), the indicator registry and the goal registry the project ships.

    python -m nsk_pipeline.reports.dictionary --write docs/data-dictionary.md
    python -m nsk_pipeline.reports.dictionary --check docs/data-dictionary.md

The same descriptions become `COMMENT ON TABLE/COLUMN` statements (PostgreSQL and DuckDB both
support them) and Dagster column schemas.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nsk_pipeline.core import tables
from nsk_pipeline.core.warehouse import Column
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.indicators.engine import indicator_query
from nsk_pipeline.indicators.registry import INDICATORS
from nsk_pipeline.marts.revisions import VIEW_COLUMNS as REVISIONS_COLUMNS
from nsk_pipeline.marts.revisions import VIEW_DESCRIPTION as REVISIONS_DESCRIPTION
from nsk_pipeline.marts.revisions import VIEW_NAME as REVISIONS_VIEW
from nsk_pipeline.reports.view import SPOR_LABELS, VIEW_COLUMNS, VIEW_NAME
from nsk_pipeline.sources.ingest import staged_columns
from nsk_pipeline.sources.specs import SOURCES, SourceSpec

REGENERATE = "python -m nsk_pipeline.reports.dictionary --write docs/data-dictionary.md"

# Table-level descriptions. The marts' grains are those the Dagster assets carry.
_MART_GRAINS_FALLBACK = {
    "goal_attainment": "One row per goal and evaluation year: status, actual against target, forecast.",
    "indicator_yearly": "One row per indicator and year.",
    "indicator_quarterly": "One row per indicator, year and quarter (year to date).",
    "indicator_breakdown": "One row per indicator, year, dimension and category; counsellor-log cells of 1-4 "
                           "are suppressed.",
    "indicators": "One row per indicator: the indicator registry.",
    "goals": "One row per goal: the goal registry as loaded.",
}
LOG_TABLES = {
    ("quarantine", "rejected_rows"): (tables.REJECTED_ROWS,
                                      "One row per rejected source row: every reason, the row with sensitive "
                                      "values masked. For data engineers, not analysts."),
    ("meta", "file_loads"): (tables.FILE_LOADS,
                             "One row per export file seen by the last run of its source: status, counts, "
                             "export date."),
    ("meta", "file_loads_history"): (tables.FILE_LOADS_HISTORY,
                                     "The file loads each publication's marts were built from: meta.file_loads "
                                     "as it stood, appended by every publication (`nsk changes` names the files "
                                     "loaded between two)."),
}
HISTORY_DESCRIPTIONS = {
    "goal_attainment": "Every publication's marts.goal_attainment: one row per publication, goal and evaluation "
                       "year, appended in the publication's transaction (never replaced).",
    "indicator_yearly": "Every publication's marts.indicator_yearly: one row per publication, indicator and year, "
                        "appended in the publication's transaction (never replaced).",
}
VIEW_DESCRIPTION = ("Goal attainment in the columns a report template needs, with Danish labels: "
                    "marts.goal_attainment joined with marts.goals and marts.indicators.")

_META_DESCRIPTIONS = {
    "export_date": "the export date of the file the row was read from",
    "source_file": "the export file the row was read from",
    "source_row": "the row in the file as a spreadsheet shows it (header = row 1)",
    "er_gaeldende": "true for the version of the record that counts (the latest export wins)",
}
_CPR_DESCRIPTIONS = {
    "borger_pseudonym": "keyed pseudonym of the citizen (HMAC-SHA-256 of the CPR number with NSK_PSEUDONYM_KEY); "
                        "the CPR number itself is never stored",
    "koen": "sex derived from the CPR number at ingest: kvinde or mand",
    "aldersgruppe": "age group at `oprettet`, derived from the CPR number at ingest: under_18, 18-29, 30-39, "
                    "40-49, 50-64, 65+",
}
_KIND_TEXT = {
    "text": "text",
    "name_key": "name (matched ignoring case and spacing)",
    "date": "date",
    "count": "whole number ≥ 0",
    "code": "code",
    "code_list": "list of codes, '|'-separated",
    "year": "year (YYYY)",
}
_AGGREGATIONS = {
    "sum": "a flow: the period value is the sum of the years' values",
    "distinct": "distinct things: each counted once over the whole period",
    "stock": "a state at a date: the value at the period's end (or the as-of date while it is open)",
    "ratio": "pooled: the period's numerator over its denominator, in percent (0-100)",
}


def mart_grains() -> dict[str, str]:
    try:  # the descriptions the Dagster assets carry, when Dagster is importable
        from nsk_pipeline.marts.assets import GRAINS

        return {name: grain for name, (_, grain) in GRAINS.items()}
    except Exception:  # pragma: no cover - a broken Dagster install must not break the dictionary
        return dict(_MART_GRAINS_FALLBACK)


def _type_name(col: Column) -> str:
    t = col.type() if isinstance(col.type, type) else col.type
    return str(t)


def staged_column_descriptions(spec: SourceSpec) -> list[tuple[str, str, str]]:
    """(column, type, description) of a staged source table, from its spec."""
    out = []
    by_name = {c.name: c for c in spec.columns}
    for name in staged_columns(spec):
        if name in _CPR_DESCRIPTIONS:
            out.append((name, "text", _CPR_DESCRIPTIONS[name]))
        elif name in _META_DESCRIPTIONS:
            out.append((name, "boolean" if name == "er_gaeldende" else "date" if name == "export_date"
                        else "text" if name == "source_file" else "integer", _META_DESCRIPTIONS[name]))
        else:
            c = by_name[name]
            parts = [_KIND_TEXT.get(c.kind, c.kind)]
            if c.codes:
                parts.append("one of: " + ", ".join(c.codes))
            if not c.required:
                parts.append("optional" + (f" (blank means {c.default})" if c.default else ""))
            if name in spec.key:
                parts.append("part of the record key")
            if name == spec.date_column:
                parts.append("the row's date: it places the row in a year")
            kind_type = {"date": "date", "count": "integer", "year": "integer"}.get(c.kind, "text")
            out.append((name, kind_type, "; ".join(parts)))
    return out


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _columns_table(rows: list[tuple[str, str, str]]) -> list[str]:
    out = ["| column | type | description |", "|---|---|---|"]
    out += [f"| `{_md(n)}` | {_md(t)} | {_md(d)} |" for n, t, d in rows]
    return out + [""]


def data_dictionary_markdown() -> str:
    """The whole dictionary as Markdown; deterministic, so the committed copy can be compared."""
    out = ["# Data dictionary", "",
           f"Generated from the code by `{REGENERATE}`: do not edit by hand. A test fails when this file "
           "differs from what the code generates.", "",
           "Contents: [marts](#marts), [report view](#report-view), [revisions](#revisions), "
           "[indicators](#indicators), "
           "[goals](#goals), [staging](#staging), [quarantine and meta](#quarantine-and-meta).", "",
           "## Marts", "",
           "What analysts and reports read (schema `marts`). The names, columns and meanings are a contract: "
           "they change only by adding.", ""]
    grains = mart_grains()
    for name, columns in tables.MARTS.items():
        out += [f"### marts.{name}", "", grains.get(name, ""), ""]
        out += _columns_table([(c.name, _type_name(c), c.description) for c in columns])

    out += ["## Report view", "", f"### marts.{VIEW_NAME}", "", VIEW_DESCRIPTION, "",
            "| column | from | description |", "|---|---|---|"]
    out += [f"| `{_md(label)}` | `{_md(expr if len(expr) < 60 else expr[:57] + '…')}` | {_md(desc)} |"
            for label, expr, desc in VIEW_COLUMNS]
    out += ["", "Track labels: " + "; ".join(f"`{k}` → {v}" for k, v in SPOR_LABELS.items()) + ".", ""]

    out += ["## Revisions", "",
            "What each publication of the marts said, to tell why a figure differs from an earlier report "
            "(`nsk changes`).", ""]
    for mart, (name, columns) in tables.HISTORY.items():
        out += [f"### marts.{name}", "", HISTORY_DESCRIPTIONS[mart], ""]
        out += _columns_table([(c.name, _type_name(c), c.description) for c in columns])
    out += [f"### marts.{REVISIONS_VIEW}", "", REVISIONS_DESCRIPTION, ""]
    out += _columns_table(list(REVISIONS_COLUMNS))

    out += ["## Indicators", "",
            "The indicator registry (`nsk_pipeline/indicators/registry.py`, also `marts.indicators`). "
            "Aggregations:", ""]
    out += [f"- `{k}`: {v}" for k, v in _AGGREGATIONS.items()]
    out += ["", "| indicator | name | source | aggregation | unit | polarity | definition |",
            "|---|---|---|---|---|---|---|"]
    out += [f"| `{i.id}` | {_md(i.name)} | {i.source} | {i.aggregation} | {_md(i.unit)} | {i.polarity} | "
            f"{_md(i.definition)} |" for i in INDICATORS.values()]
    out += ["", "### Indicator queries", "",
            "Each indicator is one SQL query, computed by the warehouse (also `marts.indicators.query`). It reads "
            "`counted_<source>`: the source's current, not cancelled staged rows, one per period they fall in "
            "(an actor once per period whose date finds it in the network), and `periods` "
            "(`period_id`, `year`, `first_day`, `last_day`, `as_of`; a row for each calendar year a period spans, "
            "so that rows find their periods by a join on the year), which the pipeline supplies: each year, each "
            "quarter's year to date and each goal's period. To run a query yourself, create `periods` as a "
            "temporary table, e.g. `CREATE TEMPORARY TABLE periods AS SELECT 1 AS period_id, 2025 AS year, "
            "DATE '2025-01-01' AS first_day, DATE '2025-12-31' AS last_day, DATE '2026-03-01' AS as_of`. "
            "`dimension` and `category` are NULL for the whole period; the breakdown runs the same query with "
            "each row in its category. Each query sums `amount` over the indicator's contributions, the records "
            "it takes with what each adds (a ratio: over their `denominator`); `nsk explain` and the views "
            "`explain.counted_records` and `explain.uncounted_records` list those records.", "",
            "The queries below are DuckDB's. PostgreSQL runs the same text but for the normalised school and "
            "class names (`nfc_normalize(x)` is `normalize(x, NFC)` there, and the regular expression writes "
            "the Unicode whitespace characters as `\\xhh`/`\\uhhhh`).", ""]
    for i in INDICATORS.values():
        out += [f"#### `{i.id}`", "", "```sql", indicator_query(i.id, "duckdb"), "```", ""]

    registry = load_registry()
    out += ["## Goals", "",
            "The goal registry the project ships (`nsk_pipeline/goals/goals.yaml`, also `marts.goals`); "
            "files named by `NSK_GOALS_PATH` add to it.", ""]
    for plan in registry.plans.values():
        out += [f"### {plan.id}: {_md(plan.name)} ({plan.first_year}-{plan.last_year})", "",
                "| goal | spor | kind | indicator | target | period | text |", "|---|---|---|---|---|---|---|"]
        for g in (g for g in registry.goals if g.plan == plan.id):
            target = f"{g.comparison} {g.target:g}" if g.target is not None else ""
            indicator = f"`{g.indicator}`" if g.indicator else ""
            out.append(f"| {g.id} | {g.spor} | {g.kind} | {indicator} | {_md(target)} | {g.period} | "
                       f"{_md(g.text)} |")
        out.append("")

    out += ["## Staging", "",
            "Typed, validated rows per source (schema `staging`), one table per source. Every version of a "
            "record read is kept; `er_gaeldende` marks the one that counts. Not for analysts: the marts are "
            "computed from these.", ""]
    for spec in SOURCES.values():
        out += [f"### staging.{spec.name}", "", spec.description, "",
                f"Record key: {', '.join(f'`{k}`' for k in spec.key)}."
                + (f" Sensitive input columns, never stored: {', '.join(f'`{s}`' for s in spec.sensitive)}."
                   if spec.sensitive else ""), ""]
        out += _columns_table(staged_column_descriptions(spec))

    out += ["## Quarantine and meta", ""]
    for (schema, name), (columns, description) in LOG_TABLES.items():
        out += [f"### {schema}.{name}", "", description, ""]
        out += _columns_table([(c.name, _type_name(c), c.description) for c in columns])
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- SQL comments


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def comment_targets() -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    """(kind, schema, name, description, [(column, description)]) for every documented relation."""
    grains = mart_grains()
    out = [("TABLE", "marts", name, grains.get(name, ""), [(c.name, c.description) for c in cols])
           for name, cols in tables.MARTS.items()]
    out.append(("VIEW", "marts", VIEW_NAME, VIEW_DESCRIPTION, [(label, desc) for label, _, desc in VIEW_COLUMNS]))
    out += [("TABLE", "marts", name, HISTORY_DESCRIPTIONS[mart], [(c.name, c.description) for c in cols])
            for mart, (name, cols) in tables.HISTORY.items()]
    out.append(("VIEW", "marts", REVISIONS_VIEW, REVISIONS_DESCRIPTION, [(n, d) for n, _, d in REVISIONS_COLUMNS]))
    out += [("TABLE", schema, name, description, [(c.name, c.description) for c in cols])
            for (schema, name), (cols, description) in LOG_TABLES.items()]
    out += [("TABLE", "staging", spec.name, spec.description, [(n, d) for n, _, d in staged_column_descriptions(spec)])
            for spec in SOURCES.values()]
    return out


def _comment_items(schemas: tuple[str, ...]) -> list[tuple[str, str, str, str | None, str]]:
    """(kind, schema, name, column or None, statement) for the relations in `schemas`."""
    out = []
    for kind, schema, name, description, columns in comment_targets():
        if schema not in schemas:
            continue
        rel = f"{schema}.{name}"
        if description:
            out.append((kind, schema, name, None, f"COMMENT ON {kind} {rel} IS {_literal(description)}"))
        out += [(kind, schema, name, col, f"COMMENT ON COLUMN {rel}.{_ident(col)} IS {_literal(desc)}")
                for col, desc in columns if desc]
    return out


def comment_statements(dialect: str, schemas: tuple[str, ...] = ("marts", "quarantine", "meta")) -> list[str]:
    """`COMMENT ON TABLE/VIEW/COLUMN` for the relations in `schemas`.

    PostgreSQL and DuckDB (1.0 and later) share the syntax; other dialects get an empty list.
    Run them after the relations exist (the view after `create_report_view`); `apply_comments`
    does that, skipping what does not exist. The statements hold ':' and '%' (execute them as
    `sa.text(stmt.replace(":", "\\:"))`, not through a driver's own parameter parsing).
    """
    if dialect not in ("postgresql", "duckdb"):
        return []
    return [stmt for *_, stmt in _comment_items(schemas)]


def apply_comments(conn: Any, schemas: tuple[str, ...] = ("marts", "quarantine", "meta")) -> int:
    """Run the comment statements for the relations (and columns) that exist, in `conn`'s
    transaction; returns how many ran."""
    import sqlalchemy as sa

    if conn.dialect.name not in ("postgresql", "duckdb"):
        return 0
    inspector = sa.inspect(conn)
    columns: dict[tuple[str, str], set[str] | None] = {}
    ran = 0
    for kind, schema, name, col, stmt in _comment_items(schemas):
        if (schema, name) not in columns:
            present = (name in inspector.get_view_names(schema=schema)) if kind == "VIEW" else \
                inspector.has_table(name, schema=schema)
            columns[(schema, name)] = {c["name"] for c in inspector.get_columns(name, schema=schema)} \
                if present else None
        have = columns[(schema, name)]
        if have is None or (col is not None and col not in have):
            continue
        conn.execute(sa.text(stmt.replace(":", "\\:")))  # no bind parameters; sa.text escapes '%' itself
        ran += 1
    return ran


def dagster_column_schema(schema: str, name: str):
    """A `dagster.TableSchema` with the dictionary's descriptions, for `dagster/column_schema`."""
    import dagster as dg

    for kind, s, n, _, columns in comment_targets():
        if (s, n) == (schema, name):
            types = {}
            if schema == "staging":
                types = {c: t for c, t, _ in staged_column_descriptions(SOURCES[name])}
            elif schema == "marts" and name in tables.MARTS:
                types = {c.name: _type_name(c).lower() for c in tables.MARTS[name]}
            return dg.TableSchema(columns=[dg.TableColumn(c, types.get(c, "text"), description=d)
                                           for c, d in columns])
    raise KeyError(f"{schema}.{name} is not in the data dictionary")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nsk_pipeline.reports.dictionary",
                                     description="Write or check the generated data dictionary.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="PATH", help="write the dictionary to PATH")
    group.add_argument("--check", metavar="PATH", help="exit 1 if PATH differs from the generated dictionary")
    args = parser.parse_args(argv)
    text = data_dictionary_markdown()
    if args.write:
        path = Path(args.write)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    elif args.check:
        if Path(args.check).read_text(encoding="utf-8") != text:
            print(f"{args.check} is out of date: run {REGENERATE}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
