"""The warehouse's own documentation: `COMMENT ON` every mart, view, log table and staged source
(and each of their columns), and the Dagster column schemas, from the descriptions the code holds
(`core/tables.py`, the views' modules, `sources/columns.py`). The data dictionary shows the same."""

from __future__ import annotations

from typing import Any

from nsk_pipeline.core import tables
from nsk_pipeline.marts.report_view import VIEW_COLUMNS, VIEW_DESCRIPTION, VIEW_NAME
from nsk_pipeline.marts.revisions import VIEW_COLUMNS as REVISIONS_COLUMNS
from nsk_pipeline.marts.revisions import VIEW_DESCRIPTION as REVISIONS_DESCRIPTION
from nsk_pipeline.marts.revisions import VIEW_NAME as REVISIONS_VIEW
from nsk_pipeline.sources.columns import staged_column_descriptions
from nsk_pipeline.sources.specs import SOURCES


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def comment_targets() -> list[tuple[str, str, str, str, list[tuple[str, str]]]]:
    """(kind, schema, name, description, [(column, description)]) for every documented relation."""
    out = [("TABLE", "marts", name, tables.GRAINS[("marts", name)], [(c.name, c.description) for c in cols])
           for name, cols in tables.MARTS.items()]
    out.append(("VIEW", "marts", VIEW_NAME, VIEW_DESCRIPTION, [(label, desc) for label, _, desc in VIEW_COLUMNS]))
    out += [("TABLE", "marts", name, tables.GRAINS[("marts", name)], [(c.name, c.description) for c in cols])
            for name, cols in tables.HISTORY.values()]
    out.append(("VIEW", "marts", REVISIONS_VIEW, REVISIONS_DESCRIPTION, [(n, d) for n, _, d in REVISIONS_COLUMNS]))
    out += [("TABLE", schema, name, tables.GRAINS[(schema, name)], [(c.name, c.description) for c in cols])
            for (schema, name), cols in tables.LOG_TABLES.items()]
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


def apply_comments(conn: Any, schemas: tuple[str, ...] = ("marts", "quarantine", "meta")) -> int:
    """Run the comment statements for the relations (and columns) that exist, in `conn`'s
    transaction; returns how many ran."""
    import sqlalchemy as sa

    if conn.dialect.name not in ("postgresql", "duckdb"):
        return 0
    from nsk_pipeline.core.warehouse import relation_columns

    columns: dict[tuple[str, str], set[str] | None] = {}
    ran = 0
    for kind, schema, name, col, stmt in _comment_items(schemas):
        if (schema, name) not in columns:
            found = relation_columns(conn, schema, name)
            columns[(schema, name)] = set(found) if found is not None else None
        have = columns[(schema, name)]
        if have is None or (col is not None and col not in have):
            continue
        conn.execute(sa.text(stmt.replace(":", "\\:")))  # no bind parameters; sa.text escapes '%' itself
        ran += 1
    return ran
