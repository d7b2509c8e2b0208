"""`marts.goal_attainment_report`: goal attainment in exactly the columns a report template needs.

One row per goal and evaluation year, joined with the goal registry (the plan's name) and the
indicator registry (the indicator's Danish name and unit), with Danish column labels. The SQL is
plain enough to run unchanged on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from nsk_pipeline.goals.registry import SPOR, STATUS_TEKST, listed

VIEW_SCHEMA = "marts"
VIEW_NAME = "goal_attainment_report"
VIEW_DESCRIPTION = ("Goal attainment in the columns a report template needs, with Danish labels: "
                    "marts.goal_attainment joined with marts.goals and marts.indicators.")

# How the committee's annex names and numbers the tracks (`SPOR`, in their order).
SPOR_LABELS = dict(zip(SPOR, ("1. Børn og unge", "2. Voksne", "3. Civilsamfund", "4. Tværgående"), strict=True))

# (label, SQL expression, description): the view's columns in order. Change only by adding at
# the end: PostgreSQL's CREATE OR REPLACE VIEW keeps existing columns and may only append.
_spor_case = "CASE ga.spor " + " ".join(
    f"WHEN '{code}' THEN '{label}'" for code, label in SPOR_LABELS.items()) + " ELSE ga.spor END"

VIEW_COLUMNS: list[tuple[str, str, str]] = [
    ("Plan-id", "ga.plan_id", "planens id (HP2024, IHP2017, …)"),
    ("Plan", "g.plan_name", "planens navn"),
    ("Spor", _spor_case, f"sporet, som bilaget nummererer det: {', '.join(SPOR_LABELS.values())}"),
    ("Mål-id", "ga.goal_id", "målets id i målregistret"),
    ("Mål", "ga.goal_text", "målet, som planen formulerer det"),
    ("Måltype", "CASE ga.kind WHEN 'numeric' THEN 'Talmål' WHEN 'milestone' THEN 'Milepæl' ELSE ga.kind END",
     "Talmål (måles af en indikator) eller Milepæl (status indberettes manuelt)"),
    ("År", "ga.year", "året, rækken opgør målet for"),
    ("Periode fra", "ga.period_start", "første dag i målets periode (hele planen for et mål for planperioden)"),
    ("Periode til", "ga.period_end", "sidste dag i målets periode"),
    ("Indikator", "i.name", "indikatoren, der måler målet (tom for milepæle)"),
    ("Enhed", "i.unit", "hvad indikatoren tæller"),
    ("Status", "ga.status_tekst", listed(STATUS_TEKST.values(), "eller")),
    ("Statuskode", "ga.status", listed(STATUS_TEKST, "eller")),
    ("Resultat", "ga.actual", "indikatorens værdi for perioden indtil nu (samlet fra planens start for mål for "
                              "planperioden); tom når den ikke er målt"),
    ("Måltal", "ga.target", "målets måltal"),
    ("Sammenligning", "ga.comparison", "'>=' (mindst måltallet) eller '<=' (højst måltallet)"),
    ("Opfyldelse (%)", "ROUND(CAST(100 * ga.progress AS NUMERIC(18, 3)), 1)",
     "resultat i procent af måltallet, med én decimal"),
    ("Data til og med", "ga.data_through", "hvor langt data rækker for rækken"),
    ("Prognose", "ga.forecast", "mens perioden løber: resultatet fremskrevet lineært til periodens slutning"),
    ("På vej mod målet", "CASE WHEN ga.on_track IS NULL THEN NULL WHEN ga.on_track THEN 'Ja' ELSE 'Nej' END",
     "Ja, hvis prognosen når måltallet; Nej, hvis ikke; tom uden prognose"),
    ("Bemærkning", "ga.note", "milepælens bemærkning"),
    ("Opgjort pr.", "ga.as_of", "kørslens opgørelsesdato: eksporter dateret senere er ikke medregnet"),
]


def _quote(label: str) -> str:
    return '"' + label.replace('"', '""') + '"'


def view_sql() -> str:
    select = ",\n    ".join(f"{expr} AS {_quote(label)}" for label, expr, _ in VIEW_COLUMNS)
    return (
        f"CREATE OR REPLACE VIEW {VIEW_SCHEMA}.{VIEW_NAME} AS\n"
        f"SELECT\n    {select}\n"
        f"FROM marts.goal_attainment AS ga\n"
        f"LEFT JOIN marts.goals AS g ON g.goal_id = ga.goal_id\n"
        f"LEFT JOIN marts.indicators AS i ON i.indicator_id = ga.indicator_id"
    )


VIEW_SQL = view_sql()


def create_report_view(conn: sa.Connection) -> None:
    """Create or replace the view; call it in the publish transaction, after the marts exist."""
    conn.execute(sa.text(VIEW_SQL))
