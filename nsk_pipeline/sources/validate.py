"""`nsk validate DIR`: what loading a delivery would do, without touching the warehouse."""

from __future__ import annotations

import json
import secrets
from datetime import date
from pathlib import Path


from nsk_pipeline.sources.ingest import ingest_source, reason_list
from nsk_pipeline.sources.schemas import split_ids
from nsk_pipeline.sources.specs import SOURCES


def validate_delivery(raw_dir: Path, as_of: date, goals_path: Path | None = None) -> list[dict]:
    """Per file: status, rows that would be staged, rows quarantined by reason, or why it is rejected."""
    from nsk_pipeline.goals.registry import load_registry

    # A throwaway key: validation checks CPR numbers but never shows a pseudonym.
    key = secrets.token_bytes(32)
    milestone_goals = [g.id for g in load_registry(goals_path).goals if g.kind == "milestone"]
    report: list[dict] = []
    actors: list[str] = []
    for name in ("omraade_aktoerer", *[s for s in SOURCES if s != "omraade_aktoerer"]):
        result = ingest_source(SOURCES[name], raw_dir / name, as_of, key,
                               known_actors=actors if name == "omraade_aktiviteter" else None,
                               milestone_goals=milestone_goals)
        if name == "omraade_aktoerer":
            actors = [a for v in result.staged["aktoer_id"] for a in split_ids(v)]
        for load in result.file_loads.itertuples():
            rows = result.quarantine[result.quarantine["file_name"] == load.file_name]
            by_reason: dict[str, int] = {}
            for reasons in rows["reasons"]:
                for label in reason_list(reasons):
                    by_reason[label] = by_reason.get(label, 0) + 1
            report.append({
                "source": name, "file": load.file_name, "status": load.status,
                "export_date": load.export_date.isoformat() if isinstance(load.export_date, date) else None,
                "reason": load.reason, "rows_read": int(load.rows_read), "rows_staged": int(load.rows_staged),
                "rows_quarantined": int(load.rows_quarantined), "quarantine_reasons": by_reason,
                "quarantined_rows": [{"row": int(r.row_number), "reasons": r.reasons} for r in rows.itertuples()],
                "extra_columns": load.extra_columns if isinstance(load.extra_columns, str) else None,
            })
    return report


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


def validate_cli(directory: str, as_json: bool, as_of: date, goals_path: Path | None) -> int:
    path = Path(directory)
    if not path.is_dir():
        print(f"nsk validate: {directory} is not a directory", flush=True)
        return 2
    report = validate_delivery(path, as_of, goals_path)
    if as_json:
        print(json.dumps({"as_of": as_of.isoformat(), "files": report}, ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return 1 if any(f["status"] == "rejected" for f in report) else 0


__all__ = ["validate_delivery", "format_report", "validate_cli"]
