"""The data dictionary, generated from the code: never written by hand.

Sources: the mart and log tables (`nsk_pipeline.core.tables`, with the contract's column
descriptions), the report view (`nsk_pipeline.marts.report_view`), the staged sources
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
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.indicators.engine import indicator_query
from nsk_pipeline.indicators.registry import INDICATORS
from nsk_pipeline.marts.revisions import VIEW_COLUMNS as REVISIONS_COLUMNS
from nsk_pipeline.marts.revisions import VIEW_DESCRIPTION as REVISIONS_DESCRIPTION
from nsk_pipeline.marts.revisions import VIEW_NAME as REVISIONS_VIEW
from nsk_pipeline.marts.report_view import SPOR_LABELS, VIEW_COLUMNS, VIEW_DESCRIPTION, VIEW_NAME
from nsk_pipeline.sources.columns import staged_column_descriptions
from nsk_pipeline.sources.specs import SOURCES

REGENERATE = "python -m nsk_pipeline.reports.dictionary --write docs/data-dictionary.md"

_AGGREGATIONS = {
    "sum": "a flow: the period value is the sum of the years' values",
    "distinct": "distinct things: each counted once over the whole period",
    "stock": "a state at a date: the value at the period's end (or the as-of date while it is open)",
    "ratio": "pooled: the period's numerator over its denominator, in percent (0-100)",
}


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
    for name, columns in tables.MARTS.items():
        out += [f"### marts.{name}", "", tables.GRAINS[("marts", name)], ""]
        out += _columns_table([(c.name, tables.type_name(c), c.description) for c in columns])

    out += ["## Report view", "", f"### marts.{VIEW_NAME}", "", VIEW_DESCRIPTION, "",
            "| column | from | description |", "|---|---|---|"]
    out += [f"| `{_md(label)}` | `{_md(expr if len(expr) < 60 else expr[:57] + '…')}` | {_md(desc)} |"
            for label, expr, desc in VIEW_COLUMNS]
    out += ["", "Track labels: " + "; ".join(f"`{k}` → {v}" for k, v in SPOR_LABELS.items()) + ".", ""]

    out += ["## Revisions", "",
            "What each publication of the marts said, to tell why a figure differs from an earlier report "
            "(`nsk changes`).", ""]
    for mart, (name, columns) in tables.HISTORY.items():
        out += [f"### marts.{name}", "", tables.GRAINS[("marts", name)], ""]
        out += _columns_table([(c.name, tables.type_name(c), c.description) for c in columns])
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
    for (schema, name), columns in tables.LOG_TABLES.items():
        out += [f"### {schema}.{name}", "", tables.GRAINS[(schema, name)], ""]
        out += _columns_table([(c.name, tables.type_name(c), c.description) for c in columns])
    return "\n".join(out).rstrip() + "\n"


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
