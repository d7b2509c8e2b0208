"""Why a row is quarantined, or a file not loaded: every reason is a code, with its column and
parameters; its Danish and English texts live here and nowhere else.

`quarantine.rejected_rows.reason_codes` holds a row's reasons as JSON text, a list of
``{"code", "column", "params"}`` (the notes on which version of its key still counts are
entries too, of kind "note"). The `reasons` column is that list's English text (`english`),
the report shows the Danish (`danish`); nothing reads a sentence back.

A file that is not loaded has one reason (kind "file"): `meta.file_loads.reason_code` holds its
code and `reason_params` its parameters (JSON text); `reason` is the English text (`file_text`).

A template's ``{name}`` is a parameter; a part in ``[...]`` is shown only when its parameters
are all given (pandera's re-check of staged rows, for instance, knows no export date). A Danish
text never names a row's value (``value``/``values``): the report groups by it.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    english: str
    danish: str
    kind: str = "rule"  # "rule": why the row is rejected; "note": which version counts instead; "file": a file's


REASONS: dict[str, Reason] = {
    # typing of the export's text (sql_typing) and pandera's nullable/isin/ge/le/str_length
    "required_missing": Reason("missing value", "mangler værdi"),
    "not_a_date": Reason("not a date (expected DD-MM-YYYY, DD.MM.YYYY or YYYY-MM-DD)", "ikke en dato"),
    "not_a_real_date": Reason("not a real date", "ikke en gyldig dato"),
    "date_after_export": Reason("after the file's export date[ {export_date}]", "efter filens eksportdato"),
    "not_a_number": Reason("not a number", "ikke et tal"),
    "not_a_whole_number": Reason("not a whole number", "ikke et helt tal"),
    "negative_count": Reason("negative count", "negativt antal"),
    "number_too_large": Reason("number too large", "for stort tal"),
    "ambiguous_number": Reason("ambiguous number (',' followed by three digits could be a thousands separator)",
                               "tvetydigt tal (komma efterfulgt af tre cifre)"),
    "not_a_year": Reason("not a year (expected YYYY)[, got {value}]", "ikke et årstal"),
    "code_not_allowed": Reason("[{value} is ]not one of[: {allowed}]", "ikke en tilladt kode"),
    "codes_not_allowed": Reason("{values} are not among: {allowed}", "ikke en tilladt kode"),
    "not_a_cpr": Reason("not a CPR number (expected DDMMYY-SSSS)", "ikke et CPR-nummer"),
    "cpr_date_not_real": Reason("not a valid CPR number: the date part is not a real date", "ugyldigt CPR-nummer"),
    "born_after_oprettet": Reason("birth date after oprettet", "fødselsdato efter oprettelsesdatoen"),
    "below_minimum": Reason("below the allowed minimum[ {minimum}]", "under den tilladte mindsteværdi"),
    "above_maximum": Reason("above the allowed maximum[ {maximum}]", "over den tilladte højeste værdi"),
    "wrong_length": Reason("length not between {min_length} and {max_length}", "forkert længde"),
    # the sources' own row rules (schemas)
    "borgersag_needs_cpr": Reason("a borgersag needs a valid CPR number", "en borgersag kræver et gyldigt CPR-nummer"),
    "borgersag_needs_risk": Reason("a borgersag needs a risk level", "en borgersag kræver et risikoniveau"),
    "before_other": Reason("before {other}", "før {other}"),
    "actor_not_in_register": Reason("names an actor id that is not in the omraade_aktoerer register",
                                    "henviser til en aktør, der ikke er i aktørregistret"),
    "milestone_goal_unknown": Reason("not a milestone goal in the goal registry", "ikke en milepæl i målregistret"),
    # versions (ingest)
    "duplicate_key_same_export": Reason(
        "conflict: key {key} has different values in versions with the same export date {export_date} ({versions})",
        "forskellige værdier i versioner med samme eksportdato"),
    "still_counts": Reason("the version still counting is {file} row {row} (export date {export_date})",
                           "den version, der stadig tæller, er {file} række {row} (eksportdato {export_date})",
                           kind="note"),
    "no_version_counts": Reason("no valid version of this key counts", "ingen gyldig version af nøglen tæller",
                                kind="note"),
    # a whole file (meta.file_loads): not read (readers, ingest) or rejected. `{symlink}` is a flag,
    # given (as "") when the entry is a symbolic link.
    "not_an_export": Reason("not a .csv or .xlsx export", "ikke en .csv- eller .xlsx-eksport", kind="file"),
    "broken_link": Reason("broken symbolic link: its target {target} does not exist",
                          "brudt symbolsk link: målet {target} findes ikke", kind="file"),
    "removed_while_read": Reason("removed while the folder was read", "fjernet, mens mappen blev læst", kind="file"),
    "cannot_be_read": Reason("cannot be read: {error}[{symlink} (a symbolic link)]", "kan ikke læses: {error}",
                             kind="file"),
    "sub_folder": Reason("a sub-folder[{symlink} (a symbolic link)]: only files directly in the source's folder "
                         "are read", "en undermappe: kun filer direkte i kildens mappe læses", kind="file"),
    "not_a_regular_file": Reason("not a regular file[{symlink} (a symbolic link)] (a pipe, socket or device)",
                                 "ikke en almindelig fil (et rør, en sokkel eller en enhed)", kind="file"),
    "after_as_of": Reason("export date after the as-of date {as_of}", "eksportdato efter opgørelsesdatoen {as_of}",
                          kind="file"),
    "duplicate_file": Reason("same content and export date as {file}", "samme indhold og eksportdato som {file}",
                             kind="file"),
    "no_export_date": Reason("no export date in the file name (expected <name>_YYYY-MM-DD.csv)",
                             "ingen eksportdato i filnavnet (forventet <navn>_ÅÅÅÅ-MM-DD.csv)", kind="file"),
    "unsupported_file_type": Reason("unsupported file type (expected .csv or .xlsx)",
                                    "filtypen understøttes ikke (forventet .csv eller .xlsx)", kind="file"),
    "empty_file": Reason("empty file (0 bytes)", "tom fil (0 bytes)", kind="file"),
    "not_text": Reason("not a text CSV file (it holds NUL bytes or control characters: binary or UTF-16)",
                       "ikke en CSV-tekstfil (den indeholder NUL-bytes eller kontroltegn: binær eller UTF-16)",
                       kind="file"),
    "bad_encoding": Reason("the file's bytes are neither UTF-8 nor Windows-1252 text",
                           "filens bytes er hverken UTF-8- eller Windows-1252-tekst", kind="file"),
    "not_parsed": Reason("the file could not be parsed as CSV", "filen kunne ikke læses som CSV", kind="file"),
    "quote_never_closed": Reason('a quoted value is never closed (unbalanced " quotes)',
                                 "en værdi i anførselstegn afsluttes aldrig (et ulige antal \")", kind="file"),
    "no_header": Reason("no header row (the file has no content)", "ingen overskriftsrække (filen har intet indhold)",
                        kind="file"),
    "not_xlsx": Reason("not a readable .xlsx workbook", "ikke en læsbar .xlsx-projektmappe", kind="file"),
    "duplicate_column": Reason("duplicate column name [{name}][column {position}] in the header",
                               "samme kolonnenavn to gange i overskriften[: {name}][: kolonne {position}]",
                               kind="file"),
    "file_not_opened": Reason("the file could not be opened ({error})", "filen kunne ikke åbnes ({error})",
                              kind="file"),
    "file_not_read": Reason("the file could not be read (unexpected {error})",
                            "filen kunne ikke læses (uventet {error})", kind="file"),
    "missing_required_column": Reason("missing required column {column}", "mangler den krævede kolonne {column}",
                                      kind="file"),
    "missing_required_columns": Reason("missing required columns {columns}", "mangler de krævede kolonner {columns}",
                                       kind="file"),
}

# pandera's built-in checks (pa.Field(nullable=..., isin=..., ge=...)) by the name pandera gives them
PANDERA_CHECKS = {"not_nullable": "required_missing", "isin": "code_not_allowed",
                  "greater_than_or_equal_to": "below_minimum", "less_than_or_equal_to": "above_maximum",
                  "str_length": "wrong_length"}

# the column a reason without one (a key's versions) is shown under in the report
KEY_COLUMN_DA = "(nøgle)"


def entry(code: str, column: str | None = None, **params: object) -> dict:
    """One reason as stored; an unknown code is a programming error, never a free text."""
    if code not in REASONS:
        raise KeyError(f"unknown quarantine reason code {code!r}: add it to nsk_pipeline/sources/reasons.py")
    return {"code": code, "column": column, "params": {k: str(v) for k, v in params.items() if v is not None}}


def fill(template: str, params: dict) -> str:
    """`template` with `params`; a ``[...]`` part is left out when one of its parameters is missing."""
    out, rest = [], template
    while "[" in rest:
        before, _, after = rest.partition("[")
        optional, _, rest = after.partition("]")
        out.append(before.format_map(params))
        if template_params(optional) <= params.keys():
            out.append(optional.format_map(params))
    out.append(rest.format_map(params))
    return "".join(out)


def template_params(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template.replace("[", "").replace("]", "")) if name}


def text(reason: dict, language: str = "en") -> str:
    """One reason's text: "column: rule" (English as `reasons` holds it, or Danish)."""
    spec = REASONS[reason["code"]]
    rule = fill(spec.english if language == "en" else spec.danish, reason.get("params") or {})
    return f"{reason['column']}: {rule}" if reason.get("column") else rule


def parse(reason_codes: str | None) -> list[dict]:
    """The stored JSON list (NULL or empty: none)."""
    if reason_codes is None or reason_codes != reason_codes or not str(reason_codes).strip():
        return []
    return json.loads(reason_codes)


def english(reason_codes: str | None) -> str:
    """The `reasons` column: every entry's English text, '; '-separated."""
    return "; ".join(text(r) for r in parse(reason_codes))


def rules(reason_codes: str | None) -> list[dict]:
    """A row's reasons without the notes on which version counts."""
    return [r for r in parse(reason_codes) if REASONS[r["code"]].kind == "rule"]


def file_reason(code: str, **params: object) -> dict:
    """A file's reason as stored: a code of kind "file" and its parameters."""
    if REASONS.get(code, Reason("", "", "")).kind != "file":
        raise KeyError(f"unknown file reason code {code!r}: add it to nsk_pipeline/sources/reasons.py")
    return {"code": code, "column": None, "params": {k: str(v) for k, v in params.items() if v is not None}}


def file_text(code: str | None, params: str | None, language: str = "en") -> str | None:
    """A file's reason text from `meta.file_loads.reason_code` and `reason_params` (NULL: none)."""
    if code is None or code != code:
        return None
    return text({"code": code, "params": json.loads(params) if isinstance(params, str) else {}}, language)


def label(reason: dict) -> str:
    """How `nsk validate` and the asset's metadata count a reason: column and code, never a value."""
    return f"{reason['column']}: {reason['code']}" if reason.get("column") else reason["code"]
