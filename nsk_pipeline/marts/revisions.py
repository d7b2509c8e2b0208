"""Revisions: what each publication of the marts said, and why a figure differs between two.

Every publication appends, in its own transaction, the rows it published to
`marts.goal_attainment_history` and `marts.indicator_yearly_history`, and the file loads its
marts were built from to `meta.file_loads_history`, all under its id (the run id). A failed or
killed publication rolls back with the rest of its transaction, so it appends nothing.

What changed between two publications is computed by the warehouse, in SQL that runs the same on
DuckDB and PostgreSQL (`diff_sql`): the goal-years whose `actual` or `status` and the
indicator-years whose `value` differ, and the rows one of them has and the other not.
`marts.revisions` is that diff for every pair of consecutive publications. The deliveries that
explain a diff are the files loaded for one publication and not for the other (name and sha256
in `meta.file_loads_history`), each with the records in it whose version differs from the
record's earlier version in staging: record keys and column names, never values (the
counsellors' log by registration id: no CPR number, no pseudonym).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa

from nsk_pipeline.core import tables
from nsk_pipeline.core.warehouse import Warehouse, relation_columns

VIEW_NAME = "revisions"
VIEW_DESCRIPTION = ("One row per goal-year or indicator-year and pair of consecutive publications where the "
                    "value or status changed (or the row was first or last published): old and new, with both "
                    "publications' ids, as-of dates and times.")
# (name, type, description) of the view's columns, in order. Change only by adding at the end:
# PostgreSQL's CREATE OR REPLACE VIEW may only append columns.
VIEW_COLUMNS = [
    ("kind", "TEXT", "goal (marts.goal_attainment) or indicator (marts.indicator_yearly)"),
    ("id", "TEXT", "the goal_id or indicator_id"),
    ("year", "INTEGER", "the row's year"),
    ("change", "TEXT", "revised (in both publications, value or status differs), added (only in the newer) or "
                       "removed (only in the older)"),
    ("old_value", "FLOAT", "actual (goals) or value (indicators) in the older publication"),
    ("new_value", "FLOAT", "the same in the newer publication"),
    ("old_status", "TEXT", "the goal's status in the older publication; NULL for indicators"),
    ("new_status", "TEXT", "the goal's status in the newer publication"),
    ("old_publication_id", "TEXT", "the older publication (the run id that published it)"),
    ("old_as_of", "DATE", "its as-of date"),
    ("old_published_at", "DATETIME", "when it was published (UTC)"),
    ("new_publication_id", "TEXT", "the newer publication"),
    ("new_as_of", "DATE", "its as-of date"),
    ("new_published_at", "DATETIME", "when it was published (UTC)"),
]
# The columns a delivered `cpr` becomes in staging: a change there is reported as `cpr`.
_FROM_CPR = ("borger_pseudonym", "koen", "aldersgruppe")


# --------------------------------------------------------------------------- publication


def append_history(conn: sa.Connection, wh: Warehouse, publication_id: str, published_at: datetime,
                   as_of: date) -> None:
    """Append what the marts hold now (in `conn`'s transaction, just published) to the history
    tables, and the file loads they were built from to meta.file_loads_history."""
    for mart, (name, columns) in tables.HISTORY.items():
        wh.ensure_table(conn, "marts", name, columns)
        own = {c.name for c in tables.MARTS[mart]}
        select = ", ".join(f'"{c.name}"' if c.name in own else f":{c.name}" for c in columns)
        target = ", ".join(f'"{c.name}"' for c in columns)
        conn.execute(sa.text(f"INSERT INTO marts.{name} ({target}) SELECT {select} FROM marts.{mart}"),
                     {"publication_id": publication_id, "published_at": published_at, "as_of": as_of})
    wh.ensure_table(conn, "meta", "file_loads_history", tables.FILE_LOADS_HISTORY)
    if relation_columns(conn, "meta", "file_loads") is not None:
        target = ", ".join(f'"{c.name}"' for c in tables.FILE_LOADS_HISTORY)
        select = ", ".join(f'"{c.name}"' for c in tables.FILE_LOADS)
        conn.execute(sa.text(f"INSERT INTO meta.file_loads_history ({target}) "
                             f"SELECT CAST(:publication_id AS VARCHAR), {select} FROM meta.file_loads"),
                     {"publication_id": publication_id})


def diff_sql(pairs: str) -> str:
    """The rows that differ between the publications of each (old_id, new_id) row of `pairs`."""
    ga, iy = tables.HISTORY["goal_attainment"][0], tables.HISTORY["indicator_yearly"][0]
    return f"""WITH publications AS (
    SELECT publication_id, max(as_of) AS as_of, max(published_at) AS published_at
    FROM (SELECT publication_id, as_of, published_at FROM marts.{ga}
          UNION ALL SELECT publication_id, as_of, published_at FROM marts.{iy}) AS p
    GROUP BY publication_id),
pairs AS ({pairs}),
history AS (
    SELECT 'goal' AS kind, goal_id AS id, year, publication_id, actual AS value, status FROM marts.{ga}
    UNION ALL
    SELECT 'indicator', indicator_id, year, publication_id, value, CAST(NULL AS VARCHAR) FROM marts.{iy}),
old_rows AS (SELECT p.old_id, p.new_id, h.kind, h.id, h.year, h.value, h.status
             FROM pairs AS p JOIN history AS h ON h.publication_id = p.old_id),
new_rows AS (SELECT p.old_id, p.new_id, h.kind, h.id, h.year, h.value, h.status
             FROM pairs AS p JOIN history AS h ON h.publication_id = p.new_id),
diff AS (
    SELECT coalesce(o.kind, n.kind) AS kind, coalesce(o.id, n.id) AS id, coalesce(o.year, n.year) AS year,
           CASE WHEN o.id IS NULL THEN 'added' WHEN n.id IS NULL THEN 'removed' ELSE 'revised' END AS change,
           o.value AS old_value, n.value AS new_value, o.status AS old_status, n.status AS new_status,
           coalesce(o.old_id, n.old_id) AS old_id, coalesce(o.new_id, n.new_id) AS new_id
    FROM old_rows AS o FULL JOIN new_rows AS n
      ON n.old_id = o.old_id AND n.new_id = o.new_id AND n.kind = o.kind AND n.id = o.id AND n.year = o.year
    WHERE o.id IS NULL OR n.id IS NULL OR o.value IS DISTINCT FROM n.value OR o.status IS DISTINCT FROM n.status)
SELECT d.kind, d.id, d.year, d.change, d.old_value, d.new_value, d.old_status, d.new_status,
       d.old_id AS old_publication_id, po.as_of AS old_as_of, po.published_at AS old_published_at,
       d.new_id AS new_publication_id, pn.as_of AS new_as_of, pn.published_at AS new_published_at
FROM diff AS d
JOIN publications AS po ON po.publication_id = d.old_id
JOIN publications AS pn ON pn.publication_id = d.new_id"""


CONSECUTIVE = ("SELECT old_id, new_id FROM (SELECT lag(publication_id) OVER (ORDER BY published_at, publication_id) "
               "AS old_id, publication_id AS new_id FROM publications) AS c WHERE old_id IS NOT NULL")
VIEW_SQL = f"CREATE OR REPLACE VIEW marts.{VIEW_NAME} AS\n{diff_sql(CONSECUTIVE)}"


def create_revisions_view(conn: sa.Connection) -> None:
    """Create or replace marts.revisions; call it in the publish transaction, after the history."""
    conn.execute(sa.text(VIEW_SQL))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Publication:
    publication_id: str
    as_of: date | None
    published_at: datetime | None

    def describe(self) -> str:
        when = f"{self.published_at:%Y-%m-%d %H:%M} UTC" if self.published_at else "?"
        return f"{self.publication_id} (as of {self.as_of}, published {when})"

    def as_json(self) -> dict[str, Any]:
        return {"publication_id": self.publication_id, "as_of": _iso(self.as_of),
                "published_at": _iso(self.published_at)}


def _iso(v: Any) -> str | None:
    return None if v is None else v.isoformat()


def _date(v: Any) -> date | None:
    if v is None or v is pd.NaT or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, datetime):
        return v.date()
    return v if isinstance(v, date) else pd.Timestamp(v).date()


def _datetime(v: Any) -> datetime | None:
    if v is None or v is pd.NaT:
        return None
    return v if isinstance(v, datetime) else pd.Timestamp(v).to_pydatetime()


def _value(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and pd.isna(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def has_history(wh: Warehouse) -> bool:
    return all(wh.has_table("marts", name) for name, _ in tables.HISTORY.values())


def publications(wh: Warehouse) -> list[Publication]:
    """Every publication recorded, oldest first."""
    if not has_history(wh):
        return []
    ga = tables.HISTORY["goal_attainment"][0]
    iy = tables.HISTORY["indicator_yearly"][0]
    rows = wh.read_sql(f"SELECT publication_id, max(as_of) AS as_of, max(published_at) AS published_at "
                       f"FROM (SELECT publication_id, as_of, published_at FROM marts.{ga} UNION ALL "
                       f"SELECT publication_id, as_of, published_at FROM marts.{iy}) AS p "
                       f"GROUP BY publication_id ORDER BY max(published_at), publication_id")
    return [Publication(r.publication_id, _date(r.as_of), _datetime(r.published_at)) for r in rows.itertuples()]


def diff(wh: Warehouse, old: str, new: str) -> pd.DataFrame:
    """What differs between publications `old` and `new`, goals first."""
    pairs = "SELECT CAST(:old AS VARCHAR) AS old_id, CAST(:new AS VARCHAR) AS new_id"
    return wh.read_sql(f"{diff_sql(pairs)}\nORDER BY d.kind, d.id, d.year", old=old, new=new)


@dataclass
class Delivery:
    """A file loaded for one publication and not for the other, and the records it corrected."""
    source: str
    file_name: str
    export_date: date | None
    change: str  # new, changed (same name, other content) or removed
    rows_staged: int | None
    corrected: list[dict[str, Any]] = field(default_factory=list)  # key, changed_columns, counts_now

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "file_name": self.file_name, "export_date": _iso(self.export_date),
                "change": self.change, "rows_staged": self.rows_staged, "corrected_records": self.corrected}


def deliveries(wh: Warehouse, old: str, new: str) -> list[Delivery]:
    """The files loaded for `new` and not (with that content) for `old`, and those loaded for
    `old` and gone from `new`; each new file with the records it corrected."""
    if not wh.has_table("meta", "file_loads_history"):
        return []
    files = wh.read_sql("""
        WITH a AS (SELECT source, file_name, export_date, sha256 FROM meta.file_loads_history
                   WHERE publication_id = :old AND status = 'loaded'),
             b AS (SELECT source, file_name, export_date, sha256, rows_staged FROM meta.file_loads_history
                   WHERE publication_id = :new AND status = 'loaded')
        SELECT b.source, b.file_name, b.export_date, b.rows_staged,
               CASE WHEN EXISTS (SELECT 1 FROM a WHERE a.source = b.source AND a.file_name = b.file_name)
                    THEN 'changed' ELSE 'new' END AS change
        FROM b WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.source = b.source AND a.file_name = b.file_name
                                 AND a.sha256 = b.sha256)
        UNION ALL
        SELECT a.source, a.file_name, a.export_date, NULL, 'removed' FROM a
        WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.source = a.source AND b.file_name = a.file_name)
        ORDER BY 1, 3, 2""", old=old, new=new)
    out = [Delivery(r.source, r.file_name, _date(r.export_date), r.change,
                    None if _value(r.rows_staged) is None else int(r.rows_staged)) for r in files.itertuples()]
    for source in sorted({d.source for d in out if d.change != "removed"}):
        mine = {d.file_name: d for d in out if d.source == source and d.change != "removed"}
        for file_name, record in corrected_records(wh, source, list(mine)):
            mine[file_name].corrected.append(record)
    return out


def corrected_records(wh: Warehouse, source: str, files: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """(file, record) for each staged row of `files` whose version differs from its key's
    previous version, from an earlier export: the key, the columns that differ, and whether this
    version counts now. Keys and column names only, never a value."""
    from nsk_pipeline.indicators.engine import key_name
    from nsk_pipeline.sources.sql_typing import typed_names
    from nsk_pipeline.sources.specs import SOURCES

    spec = SOURCES.get(source)
    if spec is None or not files or not wh.has_table("staging", source):
        return []
    names = {c.name for c in spec.columns if c.kind == "name_key"}

    def norm(col: str) -> str:
        kind = spec.column(col).kind if col in spec.column_names else "text"
        if kind == "year":
            return f"CAST(s.{col} AS VARCHAR)"
        return key_name(f"s.{col}", wh.dialect) if col in names or col in spec.key else f"s.{col}"

    key = " || ' | ' || ".join(norm(k) for k in spec.key)
    shown = " || ' | ' || ".join(f"CAST(s.{k} AS VARCHAR)" for k in spec.key)
    columns = typed_names(spec)
    compared = ", ".join(f"{norm(c)} IS DISTINCT FROM lag({norm(c)}) OVER w AS _d{i}" for i, c in enumerate(columns))
    sql = sa.text(f"""
        WITH keyed AS (SELECT s.*, {key} AS _key FROM staging.{source} AS s),
        v AS (
            SELECT s.source_file, s.er_gaeldende, {shown} AS record_key, s.export_date,
                   lag(s.export_date) OVER w AS _previous_export, {compared}
            FROM keyed AS s
            WHERE s._key IN (SELECT _key FROM keyed WHERE source_file IN :files)
            WINDOW w AS (PARTITION BY s._key ORDER BY s.export_date, s.source_file, s.source_row))
        SELECT * FROM v
        WHERE source_file IN :files AND _previous_export < export_date
          AND ({' OR '.join(f'_d{i}' for i in range(len(columns)))})
        ORDER BY source_file, record_key""").bindparams(sa.bindparam("files", expanding=True))
    with wh.engine.connect() as conn:
        rows = conn.execute(sql, {"files": files}).mappings().fetchall()
    out = []
    for r in rows:
        changed = list(dict.fromkeys("cpr" if c in _FROM_CPR else c
                                     for i, c in enumerate(columns) if r[f"_d{i}"]))
        out.append((r["source_file"], {"key": r["record_key"], "changed_columns": changed,
                                       "counts_now": bool(r["er_gaeldende"])}))
    return out


# --------------------------------------------------------------------------- nsk changes


class ChangesError(Exception):
    """The publications asked for do not exist (a bad argument: exit 2)."""


def choose(pubs: list[Publication], since: date | None = None,
           between: tuple[str, str] | None = None) -> tuple[Publication | None, Publication | None, str | None]:
    """(old, new, why there is nothing to compare) for the options of `nsk changes`.

    Default: the latest publication against the one before it. `since`: the latest against the
    last one published before `since` began (00:00 Copenhagen time). `between`: the two ids."""
    if between:
        by_id = {p.publication_id: p for p in pubs}
        missing = [i for i in between if i not in by_id]
        if missing:
            known = ", ".join(p.publication_id for p in pubs[-5:]) or "none"
            raise ChangesError(f"no publication with run id {', '.join(missing)} (latest: {known})")
        return by_id[between[0]], by_id[between[1]], None
    if not pubs:
        return None, None, "no publication of the marts is recorded yet: nothing to compare"
    latest = pubs[-1]
    if since is not None:
        from nsk_pipeline.core.settings import COPENHAGEN

        start = datetime.combine(since, time(0), COPENHAGEN).astimezone(timezone.utc).replace(tzinfo=None)
        before = [p for p in pubs if p.published_at is not None and p.published_at < start]
        if not before:
            return None, latest, f"no publication before {since.isoformat()}: nothing to compare"
        if before[-1] == latest:
            return latest, latest, (f"nothing was published since {since.isoformat()}: the latest publication "
                                    f"is {latest.describe()}")
        return before[-1], latest, None
    if len(pubs) < 2:
        return None, latest, f"only one publication is recorded, {latest.describe()}: nothing to compare"
    return pubs[-2], latest, None


def _fmt(v: Any) -> str:
    v = _value(v)
    if v is None:
        return "–"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def changes_text(old: Publication, new: Publication, rows: pd.DataFrame, files: list[Delivery]) -> str:
    out = [f"nsk: changes from publication {old.describe()}", f"nsk:           to publication {new.describe()}"]
    revised = rows[rows["change"] == "revised"]
    for kind, label in (("goal", "goals"), ("indicator", "indicator-years")):
        mine = revised[revised["kind"] == kind]
        out.append(f"{label[0].upper()}{label[1:]} revised: {len(mine)}")
        for r in mine.itertuples():
            line = f"  {r.id:34} {int(r.year)}  {_fmt(r.old_value)} → {_fmt(r.new_value)}"
            if kind == "goal":
                line += (f"  status {r.old_status} → {r.new_status}" if r.old_status != r.new_status
                         else f"  status {r.new_status}")
            out.append(line)
    for change, label in (("added", "First published"), ("removed", "No longer published")):
        mine = rows[rows["change"] == change]
        if len(mine):
            per_year = mine.groupby(["year", "kind"]).size()
            out.append(f"{label}: " + "; ".join(
                f"{int(y)}: " + ", ".join(f"{per_year[(y, k)]} {k}s" for k in ("goal", "indicator")
                                          if (y, k) in per_year)
                for y in sorted({y for y, _ in per_year.index})))
    out.append(f"Deliveries between them: {len(files)} file{'s' if len(files) != 1 else ''}")
    for d in files:
        line = f"  {d.source}/{d.file_name} (export {d.export_date}, {d.change}"
        line += f", {d.rows_staged} rows staged)" if d.rows_staged is not None else ")"
        if d.change != "removed":
            keys = [f"{c['key']} ({', '.join(c['changed_columns'])})" for c in d.corrected]
            line += f": corrects {len(keys)} record{'s' if len(keys) != 1 else ''}"
            if keys:
                line += ": " + ", ".join(keys[:10]) + (f", … and {len(keys) - 10} more" if len(keys) > 10 else "")
        out.append(line)
    if not len(revised) and not files:
        out.append("nsk: no published figure changed")
    return "\n".join(out)


def changes_json(old: Publication | None, new: Publication | None, rows: pd.DataFrame | None,
                 files: list[Delivery], message: str | None = None) -> str:
    changes = [] if rows is None else [
        {"kind": r["kind"], "id": r["id"], "year": int(r["year"]), "change": r["change"],
         "old_value": _value(r["old_value"]), "new_value": _value(r["new_value"]),
         "old_status": _value(r["old_status"]), "new_status": _value(r["new_status"])}
        for r in rows.to_dict("records")]
    return json.dumps({"from": old.as_json() if old else None, "to": new.as_json() if new else None,
                       "message": message, "changes": changes, "deliveries": [d.as_json() for d in files]},
                      ensure_ascii=False, indent=2)


def changes_cli(args: argparse.Namespace) -> int:
    from nsk_pipeline.core.settings import settings_for_command

    settings = settings_for_command()
    if settings is None:
        return 2
    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            print(f"nsk: --since {args.since!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
            return 2
    wh = Warehouse(settings.warehouse_url)
    try:
        try:
            old, new, message = choose(publications(wh), since, tuple(args.between) if args.between else None)
        except ChangesError as e:
            print(f"nsk: {e}", file=sys.stderr)
            return 2
        if message:
            print(changes_json(old, new, None, [], message) if args.json else f"nsk: {message}")
            return 0
        rows = diff(wh, old.publication_id, new.publication_id)
        files = deliveries(wh, old.publication_id, new.publication_id)
    finally:
        wh.dispose()
    print(changes_json(old, new, rows, files) if args.json else changes_text(old, new, rows, files))
    return 0


def add_changes_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `changes` to the `nsk` command's subparsers."""
    p = subparsers.add_parser(
        "changes", help="what changed between two publications of the marts, and the deliveries that explain it",
        description="Goal-years and indicator-years whose value or status differs between two publications "
                    "(default: the latest against the one before it), and the files loaded for one and not the "
                    "other with the records they corrected. Exit 0 (also when there is nothing to compare), "
                    "2 for an unknown run id or a bad date.")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--since", metavar="DATE",
                       help="compare the latest publication with the last one published before DATE "
                            "(YYYY-MM-DD, 00:00 Copenhagen time)")
    which.add_argument("--between", nargs=2, metavar=("RUN_A", "RUN_B"),
                       help="compare the publications of two runs (ids as in marts.revisions)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=changes_cli)
    return p


# --------------------------------------------------------------------------- the report's section


@dataclass
class ReportChange:
    kind: str  # goal or indicator
    id: str
    label: str
    year: int
    unit: str | None
    old_value: float | None
    new_value: float | None
    old_status: str | None
    new_status: str | None


@dataclass
class ReportChanges:
    """The report's "Ændringer siden sidste opgørelse": the current publication (the one the marts
    hold) against the one before it, which the previous report was written from."""
    current: Publication | None
    previous: Publication | None
    changes: list[ReportChange]
    deliveries: list[Delivery]


@dataclass
class LatestRevision:
    """The latest publication against the one before it: what differs and the deliveries
    between them. Computed once per run (`latest_revision`) for every report it writes: the
    deliveries' corrected records are a window over a source's staged rows."""
    current: Publication | None
    previous: Publication | None
    rows: pd.DataFrame | None = None
    deliveries: list[Delivery] = field(default_factory=list)


def latest_revision(wh: Warehouse) -> LatestRevision:
    pubs = publications(wh)
    if len(pubs) < 2:
        return LatestRevision(pubs[-1] if pubs else None, None)
    previous, current = pubs[-2], pubs[-1]
    return LatestRevision(current, previous, diff(wh, previous.publication_id, current.publication_id),
                          deliveries(wh, previous.publication_id, current.publication_id))


def report_changes(wh: Warehouse, plan_id: str, year: int, latest: LatestRevision | None = None) -> ReportChanges:
    """The revisions of the plan's goal-years and of its indicators' years, from the plan's first
    year through `year`, between the latest publication and the one before it (`latest`, when
    the caller has it already)."""
    latest = latest or latest_revision(wh)
    if latest.previous is None:
        return ReportChanges(latest.current, None, [], [])
    rows = latest.rows
    goals = wh.read_sql("SELECT goal_id, indicator_id, first_year FROM marts.goals WHERE plan_id = :plan",
                        plan=plan_id)
    indicators = wh.read_sql("SELECT indicator_id, name, unit FROM marts.indicators").set_index("indicator_id")
    first = int(goals["first_year"].min()) if len(goals) else year
    measured_by = {r.goal_id: _value(r.indicator_id) for r in goals.itertuples()}

    def unit(indicator_id: Any) -> str | None:
        return _value(indicators["unit"].get(indicator_id)) if indicator_id else None

    changes = []
    for r in rows[(rows["change"] == "revised") & (rows["year"] <= year) & (rows["year"] >= first)].itertuples():
        if r.kind == "goal" and r.id in measured_by:
            changes.append(ReportChange("goal", r.id, r.id, int(r.year), unit(measured_by[r.id]),
                                        _value(r.old_value), _value(r.new_value), r.old_status, r.new_status))
        elif r.kind == "indicator" and r.id in set(measured_by.values()):
            changes.append(ReportChange("indicator", r.id, str(indicators["name"].get(r.id, r.id)), int(r.year),
                                        unit(r.id), _value(r.old_value), _value(r.new_value), None, None))
    return ReportChanges(latest.current, latest.previous, changes, latest.deliveries)
