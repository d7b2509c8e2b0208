"""The warehouse tables the contract fixes, with their column descriptions.

One place for the names, types and meanings: the DDL, the Dagster column schemas and the data
dictionary are all generated from here.
"""

from __future__ import annotations

import sqlalchemy as sa

from nsk_pipeline.core.warehouse import Column as C
from nsk_pipeline.goals.registry import SPOR, STATUS_TEKST, listed
from nsk_pipeline.indicators.disclosure import PROTECTED_LABEL, SMALL_TEXT

GOAL_ATTAINMENT = [
    C("plan_id", sa.Text, "the plan the goal belongs to (HP2024, IHP2017, …)"),
    C("goal_id", sa.Text, "the goal's id in the goal registry"),
    C("spor", sa.Text, f"track: {listed(SPOR)}"),
    C("goal_text", sa.Text, "the goal as the plan words it (Danish)"),
    C("kind", sa.Text, "numeric (measured by an indicator) or milestone (status entered by hand)"),
    C("indicator_id", sa.Text, "the indicator that measures a numeric goal; NULL for milestones"),
    C("year", sa.Integer, "the evaluation year of this row"),
    C("period_start", sa.Date, "start of the goal's period: the year, or the whole plan for a plan goal"),
    C("period_end", sa.Date, "end of the goal's period"),
    C("comparison", sa.Text, "'>=' (high is good) or '<='"),
    C("target", sa.Float, "the goal's target value"),
    C("actual", sa.Float, "the indicator over the period so far (cumulative from the plan's start for plan goals); "
      "NULL when not measured"),
    C("progress", sa.Float, "actual / target"),
    C("status", sa.Text, listed(STATUS_TEKST)),
    C("status_tekst", sa.Text, "the Danish sentence the report prints for the status"),
    C("data_through", sa.Date, "how far the data reaches for this row: the source's latest export date, "
      "or the row's evaluation date if that comes first"),
    C("forecast", sa.Float, "while the period is open: actual projected linearly to the period's end"),
    C("on_track", sa.Boolean, "whether the forecast meets the target"),
    C("note", sa.Text, "the milestone's remark (bemaerkning)"),
    C("as_of", sa.Date, "the run's as-of date: exports dated after it are ignored"),
    C("computed_at", sa.DateTime, "when this table was computed (UTC)"),
]

_INDICATOR_VALUE = [
    C("value", sa.Float, "the indicator's value; NULL when not measured (the source reports on none of the "
      "period's years) or suppressed"),
    C("numerator", sa.Float, "ratio indicators: the count of matching rows"),
    C("denominator", sa.Float, "ratio indicators: the count of rows the share is taken of"),
    C("unit", sa.Text, "what the value counts"),
    C("data_through", sa.Date, "the source's latest loaded export date, capped at the period's end"),
    C("suppressed", sa.Boolean, "true when the value is withheld by disclosure control"),
]

INDICATOR_YEARLY = [
    C("indicator_id", sa.Text, "the indicator (see marts.indicators)"),
    C("year", sa.Integer, "calendar year of the rows' dates"),
    *_INDICATOR_VALUE,
]

INDICATOR_QUARTERLY = [
    C("indicator_id", sa.Text, "the indicator (see marts.indicators)"),
    C("year", sa.Integer, "calendar year"),
    C("quarter", sa.Integer, "quarter 1-4; the value is year to date through the quarter's end"),
    *_INDICATOR_VALUE,
]

INDICATOR_BREAKDOWN = [
    C("indicator_id", sa.Text, "the indicator (see marts.indicators)"),
    C("year", sa.Integer, "calendar year"),
    C("dimension", sa.Text, "what the rows are broken down by (skoletype, udbyder, sted_type, koen, …)"),
    C("category", sa.Text, "the dimension's value; 'ukendt' where the rows lack it"),
    C("value", sa.Float, "the indicator over the rows of this category; NULL when suppressed"),
    C("suppressed", sa.Boolean, f"true when withheld: a {PROTECTED_LABEL} count of {SMALL_TEXT}, or a second cell "
      "that would reveal one"),
]

INDICATORS = [
    C("indicator_id", sa.Text, "the indicator's id"),
    C("name", sa.Text, "Danish name"),
    C("definition", sa.Text, "how it is computed (Danish)"),
    C("unit", sa.Text, "what it counts"),
    C("source", sa.Text, "the source it is computed from"),
    C("aggregation", sa.Text, "sum, distinct, stock or ratio: how it combines over a longer period"),
    C("polarity", sa.Text, "hoej_er_godt (high is good) or lav_er_godt"),
    C("query", sa.Text, "the SQL that computes it, as run on this warehouse: one row per period (and breakdown "
      "cell) over the source's counted rows; it reads `periods` (period_id, year, first_day, last_day, as_of: a row for each year a period spans)"),
]

GOALS = [
    C("goal_id", sa.Text, "the goal's id"),
    C("plan_id", sa.Text, "the plan"),
    C("plan_name", sa.Text, "the plan's name"),
    C("spor", sa.Text, "track"),
    C("goal_text", sa.Text, "the goal as the plan words it (Danish)"),
    C("kind", sa.Text, "numeric or milestone"),
    C("indicator_id", sa.Text, "the indicator of a numeric goal"),
    C("comparison", sa.Text, "'>=' or '<='"),
    C("target", sa.Float, "target value"),
    C("period", sa.Text, "annual, plan, or a single year"),
    C("first_year", sa.Integer, "the plan's first year"),
    C("last_year", sa.Integer, "the plan's last year"),
    C("source_file", sa.Text, "the registry file the goal was loaded from"),
]

REJECTED_ROWS = [
    C("source", sa.Text, "the source folder"),
    C("file_name", sa.Text, "the export file"),
    C("export_date", sa.Date, "the file's export date"),
    C("row_number", sa.BigInteger, "the row in the file as a spreadsheet shows it (header = row 1)"),
    C("record_key", sa.Text, "the row's key, normalised, where it has one"),
    C("reasons", sa.Text, "every reason the row was rejected, '; '-separated, and which version of its key "
      "counts instead: the English text of reason_codes"),
    C("reason_codes", sa.Text, "the same as JSON text: a list of {code, column, params}, the codes and their "
      "Danish and English texts in nsk_pipeline/sources/reasons.py (notes still_counts, no_version_counts)"),
    C("row_data", sa.Text, "the row as read (JSON), with sensitive values masked"),
    C("run_id", sa.Text, "the Dagster run that quarantined it"),
]

FILE_LOADS = [
    C("source", sa.Text, "the source folder"),
    C("file_name", sa.Text, "the file"),
    C("export_date", sa.Date, "the export date from the file name"),
    C("sha256", sa.Text, "the file's SHA-256"),
    C("status", sa.Text, "loaded, rejected, ignored, skipped (a sub-folder, broken link, pipe or unreadable "
      "file: nothing read), after_as_of or duplicate"),
    C("reason", sa.Text, "why a file was not loaded (rejected, ignored, skipped, after_as_of, duplicate): the "
      "English text of reason_code with reason_params"),
    C("reason_code", sa.Text, "the same as a code (missing_required_column, no_export_date, sub_folder, after_as_of, "
      "duplicate_file, …), its Danish and English texts in nsk_pipeline/sources/reasons.py; NULL for a loaded file"),
    C("reason_params", sa.Text, "the code's parameters as JSON text (e.g. {\"column\": \"'sted_type'\"}); names "
      "and paths in them with CPR numbers masked"),
    C("encoding", sa.Text, "detected encoding (utf-8, utf-8-sig, cp1252, xlsx)"),
    C("separator", sa.Text, "detected CSV separator"),
    C("rows_read", sa.BigInteger, "data rows read"),
    C("rows_staged", sa.BigInteger, "rows staged"),
    C("rows_quarantined", sa.BigInteger, "rows quarantined; rows_read = rows_staged + rows_quarantined"),
    C("extra_columns", sa.Text, "columns in the file that the contract does not know (ignored)"),
    C("as_of", sa.Date, "the run's as-of date"),
    C("loaded_at", sa.DateTime, "when it was loaded (UTC)"),
    C("run_id", sa.Text, "the Dagster run"),
]

# What each publication appends, in its transaction: the rows it published, under its id. Not
# in MARTS: those are replaced by every publication, these only ever grow.
_PUBLICATION = [
    C("publication_id", sa.Text, "the publication: the id of the Dagster run that published the marts"),
    C("published_at", sa.DateTime, "when the publication wrote the marts (UTC)"),
]

GOAL_ATTAINMENT_HISTORY = [*_PUBLICATION, *GOAL_ATTAINMENT]

INDICATOR_YEARLY_HISTORY = [
    *_PUBLICATION,
    C("as_of", sa.Date, "the publication's as-of date: exports dated after it were ignored"),
    *INDICATOR_YEARLY,
]

# mart → (its history table, the history's columns)
HISTORY = {
    "goal_attainment": ("goal_attainment_history", GOAL_ATTAINMENT_HISTORY),
    "indicator_yearly": ("indicator_yearly_history", INDICATOR_YEARLY_HISTORY),
}

FILE_LOADS_HISTORY = [
    C("publication_id", sa.Text, "the publication whose marts were built from these file loads"),
    *FILE_LOADS,
]

MARTS = {
    "goal_attainment": GOAL_ATTAINMENT,
    "indicator_yearly": INDICATOR_YEARLY,
    "indicator_quarterly": INDICATOR_QUARTERLY,
    "indicator_breakdown": INDICATOR_BREAKDOWN,
    "indicators": INDICATORS,
    "goals": GOALS,
}


# What one row of each table is (its grain), and what the log tables are for: the Dagster assets,
# the column comments and the data dictionary all take them from here.
GRAINS = {
    ("marts", "indicator_yearly"): "One row per indicator and year.",
    ("marts", "indicator_quarterly"): "One row per indicator, year and quarter (year to date).",
    ("marts", "indicator_breakdown"): f"One row per indicator, year, dimension and category; {PROTECTED_LABEL} "
                                      f"cells of {SMALL_TEXT} are suppressed.",
    ("marts", "indicators"): "One row per indicator: the indicator registry.",
    ("marts", "goals"): "One row per goal: the goal registry as loaded.",
    ("marts", "goal_attainment"): "One row per goal and evaluation year: status, actual against target, forecast.",
    ("marts", "goal_attainment_history"): "Every publication's marts.goal_attainment: one row per publication, goal "
                                          "and evaluation year, appended in the publication's transaction (never "
                                          "replaced).",
    ("marts", "indicator_yearly_history"): "Every publication's marts.indicator_yearly: one row per publication, "
                                           "indicator and year, appended in the publication's transaction (never "
                                           "replaced).",
    ("quarantine", "rejected_rows"): "One row per rejected source row: every reason, the row with sensitive values "
                                     "masked. For data engineers, not analysts.",
    ("meta", "file_loads"): "One row per export file seen by the last run of its source: status, counts, export date.",
    ("meta", "file_loads_history"): "The file loads each publication's marts were built from: meta.file_loads as it "
                                    "stood, appended by every publication (`nsk changes` names the files loaded "
                                    "between two).",
}
LOG_TABLES = {("quarantine", "rejected_rows"): REJECTED_ROWS, ("meta", "file_loads"): FILE_LOADS,
              ("meta", "file_loads_history"): FILE_LOADS_HISTORY}


def type_name(col: C) -> str:
    """A column's SQL type as the dictionary and Dagster's column schemas show it."""
    return str(col.type() if isinstance(col.type, type) else col.type)
