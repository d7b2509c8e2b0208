"""`nsk validate DIR`: what loading a delivery would do, without touching the warehouse.

DIR is a raw folder (one sub-folder per source, like data/raw) or one source's own folder (named
after the source, like data/raw/vejlederlog). The activities' rule "actor in register" is judged
against what the real load would know: the register exports in DIR and the register already
staged in the warehouse (read only, never created); with neither, the rule is not checked.
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from nsk_pipeline.sources.ingest import ingest_source, reason_counts, register_actors, source_entries
from nsk_pipeline.sources.readers import is_data_file
from nsk_pipeline.sources.specs import SOURCES

REGISTER = "omraade_aktoerer"


@dataclass
class Delivery:
    layout: str  # "raw folder" or "source folder <name>"
    folders: dict[str, Path]  # source → its folder, in the order they are validated

    def describe(self, path: Path) -> str:
        if self.layout != "raw folder":
            return f"{path}: the folder of one source, {next(iter(self.folders))}"
        found = [name for name, folder in self.folders.items() if folder.is_dir()]
        return f"{path}: a raw folder, one sub-folder per source (found: {', '.join(found)})"


def delivery_of(path: Path) -> Delivery:
    """A folder named after a source is that source's folder; any other is a raw folder."""
    name = path.resolve().name
    if name in SOURCES:
        return Delivery(f"source folder {name}", {name: path})
    order = [REGISTER, *[s for s in SOURCES if s != REGISTER]]  # the register first: the activities need it
    return Delivery("raw folder", {name: path / name for name in order})


def holds_an_export(delivery: Delivery) -> bool:
    return any(why is None and is_data_file(p) for folder in delivery.folders.values()
               for p, why in source_entries(folder))


def warehouse_actors(warehouse_url: str | None, as_of: date) -> tuple[list[str] | None, str]:
    """The register's actors as the warehouse staged them (every valid version, as the real load
    reads them from the exports), and where they came from; None when there is no register."""
    from nsk_pipeline.core.warehouse import Warehouse, WarehouseUnavailable

    if not warehouse_url:
        return None, "no warehouse configured"
    try:
        wh = Warehouse.open_existing(warehouse_url)
    except WarehouseUnavailable as e:  # not there, or (DuckDB) held by a run
        return None, str(e)
    try:
        if not wh.has_table("staging", REGISTER):
            return None, f"the warehouse has no staging.{REGISTER}"
        rows = wh.read_sql(f"SELECT DISTINCT aktoer_id FROM staging.{REGISTER} WHERE export_date <= :as_of",
                           as_of=as_of)
        return [str(a) for a in rows["aktoer_id"].dropna()], f"staging.{REGISTER}"
    finally:
        wh.dispose()


def validate_delivery(raw_dir: Path, as_of: date, goals_path: Path | None = None,
                      warehouse_url: str | None = None) -> dict:
    """Per file: status, rows that would be staged, rows quarantined by reason, or why it is
    rejected; with the layout taken and where the actor register came from."""
    from nsk_pipeline.goals.registry import load_registry

    delivery = delivery_of(raw_dir)
    # A throwaway key: validation checks CPR numbers but never shows a pseudonym.
    key = secrets.token_bytes(32)
    milestone_goals = [g.id for g in load_registry(goals_path).goals if g.kind == "milestone"]
    files: list[dict] = []
    delivered = register = None
    for name, folder in delivery.folders.items():
        known_actors = None
        if name == "omraade_aktiviteter" and source_entries(folder):
            known_actors, register = _register(delivered, as_of, warehouse_url)
        with ingest_source(SOURCES[name], folder, as_of, key, known_actors=known_actors,
                           milestone_goals=milestone_goals) as result:
            if name == REGISTER and (result.file_loads["status"] == "loaded").any():
                delivered = register_actors(result)
            files += _file_reports(name, result)
    return {"layout": delivery.layout, "actor_register": register, "files": files}


def _register(delivered: list[str] | None, as_of: date, warehouse_url: str | None) -> tuple[list[str] | None, str]:
    """The actors the activities are judged by, and a line saying where they came from: what the
    delivery's register exports stage and what the warehouse holds, together (a real load reads
    every export of the register, the new ones and those loaded before)."""
    loaded, where = warehouse_actors(warehouse_url, as_of)
    if delivered is None and loaded is None:
        return None, f"unknown (no {REGISTER} export in the delivery, {where}): rule 'actor in register' not checked"
    if delivered is None:
        return loaded, f"the warehouse ({where}, {len(set(loaded))} actors)"
    actors = sorted({*delivered, *(loaded or [])})
    also = f" and the warehouse ({where})" if loaded is not None else ""
    return actors, f"the delivery ({REGISTER}){also}, {len(actors)} actors"


def _file_reports(name: str, result) -> list[dict]:
    files = []
    for load in result.file_loads.itertuples():
        rows = result.quarantine[result.quarantine["file_name"] == load.file_name]
        by_reason = reason_counts(rows["reason_codes"])
        files.append({
            "source": name, "file": load.file_name, "status": load.status,
            "export_date": load.export_date.isoformat() if isinstance(load.export_date, date) else None,
            "reason": load.reason, "reason_code": load.reason_code, "rows_read": int(load.rows_read), "rows_staged": int(load.rows_staged),
            "rows_quarantined": int(load.rows_quarantined), "quarantine_reasons": by_reason,
            "quarantined_rows": [{"row": int(r.row_number), "reasons": r.reasons} for r in rows.itertuples()],
            "extra_columns": load.extra_columns if isinstance(load.extra_columns, str) else None,
        })
    return files


def format_report(report: list[dict]) -> str:
    lines = []
    for f in report:
        head = f"{f['source']}/{f['file']}: {f['status']}"
        if f["status"] == "loaded":
            head += f" — {f['rows_read']} rows read, {f['rows_staged']} would be staged, " \
                    f"{f['rows_quarantined']} quarantined"
        elif f["reason"]:
            head += f" — {f['reason']}"
        lines.append(head)
        if f["extra_columns"]:
            lines.append(f"    extra columns ignored: {f['extra_columns']}")
        for reason, n in sorted(f["quarantine_reasons"].items()):
            lines.append(f"    {n:>5} × {reason}")
    rejected = sum(1 for f in report if f["status"] == "rejected")
    total_q = sum(f["rows_quarantined"] for f in report)
    lines.append(f"{len(report)} files, {rejected} would be rejected, {total_q} rows would be quarantined")
    return "\n".join(lines)


def validate_cli(directory: str, as_json: bool, as_of: date, goals_path: Path | None,
                 warehouse_url: str | None = None) -> int:
    """Exit 0: every file would load; 1: a file would be rejected; 2: DIR is not a folder or
    holds no export at all (the wrong folder, most likely)."""
    path = Path(directory)
    if not path.is_dir():
        print(f"nsk validate: {directory} is not a directory", file=sys.stderr, flush=True)
        return 2
    delivery = delivery_of(path)
    if not holds_an_export(delivery):
        print(f"nsk validate: no export in {path}: expected one sub-folder per source "
              f"({', '.join(SOURCES)}) or one source's own folder, holding .csv or .xlsx exports",
              file=sys.stderr, flush=True)
        return 2
    report = validate_delivery(path, as_of, goals_path, warehouse_url)
    if as_json:
        print(json.dumps({"as_of": as_of.isoformat(), **report}, ensure_ascii=False, indent=2))
    else:
        print(delivery.describe(path))
        if report["actor_register"]:
            print(f"actor register: {report['actor_register']}")
        print(format_report(report["files"]))
    return 1 if any(f["status"] == "rejected" for f in report["files"]) else 0


__all__ = ["validate_delivery", "format_report", "validate_cli", "delivery_of"]
