"""What each column of a staged source table holds, in words: read from the source's spec and the
columns ingest writes. The data dictionary, the column comments and the staging assets' Dagster
column schemas all show these."""

from __future__ import annotations

from nsk_pipeline.sources.ingest import staged_columns
from nsk_pipeline.sources.specs import SourceSpec
from nsk_pipeline.sources.sql_typing import AGE_BANDS, SEXES

META_DESCRIPTIONS = {
    "export_date": "the export date of the file the row was read from",
    "source_file": "the export file the row was read from",
    "source_row": "the row in the file as a spreadsheet shows it (header = row 1)",
    "er_gaeldende": "true for the version of the record that counts (the latest export wins)",
}
CPR_DESCRIPTIONS = {
    "borger_pseudonym": "keyed pseudonym of the citizen (HMAC-SHA-256 of the CPR number with NSK_PSEUDONYM_KEY); "
                        "the CPR number itself is never stored",
    "koen": f"sex derived from the CPR number at ingest: {' or '.join(SEXES)}",
    "aldersgruppe": f"age group at `oprettet`, derived from the CPR number at ingest: {', '.join(AGE_BANDS)}",
}
KIND_TEXT = {
    "text": "text",
    "name_key": "name (matched ignoring case and spacing)",
    "date": "date",
    "count": "whole number ≥ 0",
    "code": "code",
    "code_list": "list of codes, '|'-separated",
    "year": "year (YYYY)",
}


def staged_column_descriptions(spec: SourceSpec) -> list[tuple[str, str, str]]:
    """(column, type, description) of a staged source table, from its spec."""
    out = []
    by_name = {c.name: c for c in spec.columns}
    for name in staged_columns(spec):
        if name in CPR_DESCRIPTIONS:
            out.append((name, "text", CPR_DESCRIPTIONS[name]))
        elif name in META_DESCRIPTIONS:
            out.append((name, "boolean" if name == "er_gaeldende" else "date" if name == "export_date"
                        else "text" if name == "source_file" else "integer", META_DESCRIPTIONS[name]))
        else:
            c = by_name[name]
            parts = [KIND_TEXT.get(c.kind, c.kind)]
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
