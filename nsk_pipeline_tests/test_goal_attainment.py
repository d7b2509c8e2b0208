"""`goal_attainment`: every rule of "How a goal is judged", against a fake indicator engine."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from nsk_pipeline.goals.attainment import COLUMNS, goal_attainment, linear_forecast
from nsk_pipeline.goals.registry import Goal, Plan, Registry, load_registry
from nsk_pipeline.indicators.periods import PeriodValue

COMPUTED_AT = datetime(2026, 5, 15, 6, 30)
HP = Plan("HP2024", "Handleplan 2024-26", 2024, 2026)
IHP = Plan("IHP2017", "Integrationshandleplan 2017-18", 2017, 2018)
D = date


class FakeEngine:
    """Values by exact (indicator, start, end); anything else is not measured."""

    def __init__(self, values=None, data_through=None, as_of=D(2026, 5, 15)):
        self.values = values or {}
        self.through = data_through or {}
        self.as_of = as_of
        self.calls = []

    def value(self, indicator_id, start, end):
        self.calls.append((indicator_id, start, end))
        return self.values.get((indicator_id, start, end), PeriodValue(None))

    def data_through(self, indicator_id):
        return self.through.get(indicator_id)


def goal(id="G-1", plan="HP2024", kind="numeric", indicator="henvendelser", comparison=">=",
         target=250.0, period="annual", spor="voksne"):
    if kind == "milestone":
        indicator = comparison = target = None
    return Goal(id, plan, spor, f"Mål {id}.", kind, indicator, comparison, target, period, "test.yaml")


def registry(*goals):
    return Registry(plans={"HP2024": HP, "IHP2017": IHP}, goals=list(goals))


def year(y):
    return D(y, 1, 1), D(y, 12, 31)


NO_MILESTONES = pd.DataFrame(columns=["maal_id", "aar", "opfyldt", "bemaerkning"])


def run(goals, values=None, through=None, as_of=D(2026, 5, 15), milestones=NO_MILESTONES):
    if isinstance(goals, Goal):
        goals = [goals]
    engine = FakeEngine(values, through, as_of)
    df = goal_attainment(registry(*goals), engine, milestones, as_of, COMPUTED_AT)
    return df, engine


def row(df, year, goal_id=None):
    sel = df[df["year"] == year]
    if goal_id is not None:
        sel = sel[sel["goal_id"] == goal_id]
    assert len(sel) == 1
    return sel.iloc[0]


def isnull(value):
    return value is None or pd.isna(value)


# --- shape ----------------------------------------------------------------------------------

def test_columns_are_the_contracts_in_order():
    df, _ = run(goal())
    assert list(df.columns) == COLUMNS == [
        "plan_id", "goal_id", "spor", "goal_text", "kind", "indicator_id", "year",
        "period_start", "period_end", "comparison", "target", "actual", "progress", "status",
        "status_tekst", "data_through", "forecast", "on_track", "note", "as_of", "computed_at"]


def test_empty_registry_gives_empty_frame_with_columns():
    df, _ = run([])
    assert list(df.columns) == COLUMNS and len(df) == 0


def test_as_of_and_computed_at_on_every_row_and_dates_are_dates():
    df, _ = run(goal(), {("henvendelser", *year(2024)): PeriodValue(300)}, {"henvendelser": D(2026, 4, 7)})
    assert all(v == D(2026, 5, 15) and type(v) is date for v in df["as_of"])
    assert all(pd.Timestamp(v) == pd.Timestamp(COMPUTED_AT) for v in df["computed_at"])
    r = row(df, 2024)
    for col in ("period_start", "period_end", "data_through"):
        assert type(r[col]) is date
    assert (r["plan_id"], r["goal_id"], r["spor"], r["goal_text"], r["kind"], r["indicator_id"],
            r["comparison"], r["target"]) == ("HP2024", "G-1", "voksne", "Mål G-1.", "numeric",
                                              "henvendelser", ">=", 250.0)


def test_sorted_by_plan_goal_year():
    goals = [goal("HP-B", period="annual"), goal("IHP-A", plan="IHP2017", period="plan"),
             goal("HP-A", period=2025)]
    df, _ = run(goals)
    assert list(zip(df["plan_id"], df["goal_id"], df["year"])) == [
        ("HP2024", "HP-A", 2025), ("HP2024", "HP-B", 2024), ("HP2024", "HP-B", 2025),
        ("HP2024", "HP-B", 2026), ("IHP2017", "IHP-A", 2017), ("IHP2017", "IHP-A", 2018)]


def test_shipped_registry_row_count():
    df = goal_attainment(load_registry(), FakeEngine(), NO_MILESTONES, D(2026, 5, 15), COMPUTED_AT)
    # HP2024: 6 annual goals x 3 years, 1 plan goal x 3, 5 single-year goals; IHP2017: 6 x 2
    assert len(df) == 6 * 3 + 3 + 5 + 12
    assert set(df["status"]) == {"ikke_opgjort"}  # nothing measured, no milestone rows
    assert set(df["status_tekst"]) == {"Ikke opgjort"}


# --- rows: years ------------------------------------------------------------------------------

def test_no_rows_for_years_after_as_of():
    df, _ = run([goal("A"), goal("B", period=2026), goal("C", period="plan")], as_of=D(2025, 3, 1))
    assert list(zip(df["goal_id"], df["year"])) == [("A", 2024), ("A", 2025), ("C", 2024), ("C", 2025)]


def test_single_year_goal_has_one_row():
    df, _ = run(goal(period=2025, indicator="pilotskoler_sammenhaengende", target=2))
    assert list(df["year"]) == [2025]
    assert (df["period_start"][0], df["period_end"][0]) == year(2025)


# --- numeric goals: status --------------------------------------------------------------------

def test_annual_goal_over_reached_and_missed():
    df, _ = run(goal(), {("henvendelser", *year(2024)): PeriodValue(413),
                         ("henvendelser", *year(2025)): PeriodValue(200)})
    r24, r25 = row(df, 2024), row(df, 2025)
    assert (r24["status"], r24["status_tekst"], r24["actual"]) == ("naaet", "Målet er nået", 413)
    assert (r25["status"], r25["status_tekst"]) == ("ikke_naaet", "Målet er ikke nået")
    assert (r24["period_start"], r24["period_end"]) == year(2024)


def test_annual_goal_open_not_yet_reached_is_i_gang():
    df, _ = run(goal(), {("henvendelser", *year(2026)): PeriodValue(120)}, as_of=D(2026, 5, 15))
    r = row(df, 2026)
    assert (r["status"], r["status_tekst"], r["actual"]) == ("i_gang", "I gang", 120)


def test_exact_target_meets_it():
    df, _ = run(goal(), {("henvendelser", *year(2024)): PeriodValue(250)})
    assert row(df, 2024)["status"] == "naaet"


@pytest.mark.parametrize("indicator", ["henvendelser", "friskoler_naaet"])  # sum, distinct
def test_growing_indicator_reached_while_open_is_naaet(indicator):
    df, _ = run(goal(indicator=indicator, target=5),
                {(indicator, *year(2026)): PeriodValue(6)}, as_of=D(2026, 3, 1))
    assert row(df, 2026)["status"] == "naaet"


@pytest.mark.parametrize("indicator", ["aktoerer_i_netvaerk", "andel_borgersager_vold"])  # stock, ratio
def test_stock_or_ratio_reached_while_open_is_i_gang(indicator):
    values = {(indicator, *year(2025)): PeriodValue(60.0, 6, 10),
              (indicator, *year(2026)): PeriodValue(60.0, 6, 10)}
    df, _ = run(goal(indicator=indicator, target=50), values, as_of=D(2026, 3, 1))
    assert row(df, 2026)["status"] == "i_gang"  # can still fall below before the year ends
    assert row(df, 2025)["status"] == "naaet"  # once over, it is judged as it stands
    assert row(df, 2026)["actual"] == 60.0  # a ratio's actual is its percentage


def test_ratio_actual_is_the_percentage_and_can_miss():
    df, _ = run(goal(indicator="andel_borgersager_arbejdsmarked", target=50),
                {("andel_borgersager_arbejdsmarked", *year(2025)): PeriodValue(40.0, 46, 115)})
    r = row(df, 2025)
    assert (r["actual"], r["status"], r["progress"]) == (40.0, "ikke_naaet", 0.8)


def test_lower_is_better_goal():
    g = goal(indicator="borgersager_hoej_risiko", comparison="<=", target=20)
    values = {("borgersager_hoej_risiko", *year(2024)): PeriodValue(18),
              ("borgersager_hoej_risiko", *year(2025)): PeriodValue(25),
              ("borgersager_hoej_risiko", *year(2026)): PeriodValue(5)}
    df, _ = run(g, values, as_of=D(2026, 5, 15))
    assert row(df, 2024)["status"] == "naaet"
    assert row(df, 2025)["status"] == "ikke_naaet"
    assert row(df, 2026)["status"] == "i_gang"  # under the ceiling so far, but the year is open


def test_lower_is_better_on_track_uses_the_comparison():
    g = goal(indicator="borgersager_hoej_risiko", comparison="<=", target=20)
    df, _ = run(g, {("borgersager_hoej_risiko", *year(2026)): PeriodValue(10)},
                {"borgersager_hoej_risiko": D(2026, 4, 7)}, as_of=D(2026, 5, 15))
    r = row(df, 2026)
    assert r["forecast"] == pytest.approx(10 * 365 / 97)  # 97 days 2026-01-01..04-07
    assert not r["on_track"]  # projected above the ceiling


def test_not_measured_is_ikke_opgjort_with_nulls():
    df, _ = run(goal(), {}, {"henvendelser": D(2026, 4, 7)})
    for _, r in df.iterrows():
        assert (r["status"], r["status_tekst"]) == ("ikke_opgjort", "Ikke opgjort")
        for col in ("actual", "progress", "data_through", "forecast", "on_track"):
            assert isnull(r[col]), col
        assert r["target"] == 250.0  # the goal itself is still shown


def test_zero_is_measured_not_missing():
    df, _ = run(goal(), {("henvendelser", *year(2024)): PeriodValue(0)})
    r = row(df, 2024)
    assert (r["actual"], r["progress"], r["status"]) == (0, 0, "ikke_naaet")


def test_progress_is_actual_over_target():
    df, _ = run(goal(target=17, indicator="rettighedskurser"),
                {("rettighedskurser", *year(2024)): PeriodValue(8)})
    assert row(df, 2024)["progress"] == pytest.approx(8 / 17)


# --- plan goals -------------------------------------------------------------------------------

def test_plan_goal_is_cumulative_from_the_plan_start():
    g = goal(indicator="kompetenceudviklingsforloeb", target=1, period="plan", spor="civilsamfund")
    values = {("kompetenceudviklingsforloeb", D(2024, 1, 1), D(2024, 12, 31)): PeriodValue(0),
              ("kompetenceudviklingsforloeb", D(2024, 1, 1), D(2025, 12, 31)): PeriodValue(1),
              ("kompetenceudviklingsforloeb", D(2024, 1, 1), D(2026, 12, 31)): PeriodValue(1)}
    df, engine = run(g, values, as_of=D(2026, 5, 15))
    assert engine.calls == [("kompetenceudviklingsforloeb", D(2024, 1, 1), D(y, 12, 31)) for y in (2024, 2025, 2026)]
    for y in (2024, 2025, 2026):
        assert (row(df, y)["period_start"], row(df, y)["period_end"]) == (D(2024, 1, 1), D(2026, 12, 31))
    assert row(df, 2024)["status"] == "i_gang"
    assert row(df, 2025)["status"] == "naaet"  # reached in year two of three: stays reached
    assert row(df, 2026)["status"] == "naaet"


def test_annual_goal_asks_for_the_year_only():
    _, engine = run(goal(), as_of=D(2025, 6, 1))
    assert engine.calls == [("henvendelser", *year(2024)), ("henvendelser", *year(2025))]


def test_2017_row_of_old_plan_run_late_is_judged_at_end_of_2017():
    g = goal("IHP2017-1", plan="IHP2017", indicator="elever_nsk", target=2000, period="plan")
    values = {("elever_nsk", D(2017, 1, 1), D(2017, 12, 31)): PeriodValue(980),
              ("elever_nsk", D(2017, 1, 1), D(2018, 12, 31)): PeriodValue(1900)}
    df, _ = run(g, values, {"elever_nsk": D(2019, 1, 20)}, as_of=D(2026, 5, 15))
    r17, r18 = row(df, 2017), row(df, 2018)
    assert (r17["status"], r17["data_through"]) == ("i_gang", D(2017, 12, 31))  # not ikke_naaet
    assert r17["forecast"] == pytest.approx(980 * 730 / 365)  # the plan was open then
    assert r17["on_track"] == False  # noqa: E712  (pandas' NA-aware bool)
    assert (r18["status"], r18["data_through"]) == ("ikke_naaet", D(2018, 12, 31))
    assert isnull(r18["forecast"]) and isnull(r18["on_track"])  # the period is over


def test_2017_row_of_old_plan_already_reached_is_naaet():
    g = goal("IHP2017-2", plan="IHP2017", indicator="friskoler_naaet", target=5, period="plan")
    values = {("friskoler_naaet", D(2017, 1, 1), D(2017, 12, 31)): PeriodValue(5),
              ("friskoler_naaet", D(2017, 1, 1), D(2018, 12, 31)): PeriodValue(6)}
    df, _ = run(g, values, as_of=D(2026, 5, 15))
    assert list(df["status"]) == ["naaet", "naaet"]


# --- data_through -----------------------------------------------------------------------------

def test_data_through_capped_at_the_evaluation_date():
    values = {("henvendelser", *year(y)): PeriodValue(100) for y in (2024, 2025, 2026)}
    df, _ = run(goal(), values, {"henvendelser": D(2026, 4, 7)}, as_of=D(2026, 5, 15))
    assert row(df, 2024)["data_through"] == D(2024, 12, 31)
    assert row(df, 2025)["data_through"] == D(2025, 12, 31)  # run in 2026 after the final export
    assert row(df, 2026)["data_through"] == D(2026, 4, 7)  # the last export comes first


def test_data_through_capped_at_as_of():
    # an engine reporting an export after as_of must not push data_through past the as-of date
    df, _ = run(goal(), {("henvendelser", *year(2026)): PeriodValue(100)},
                {"henvendelser": D(2026, 6, 1)}, as_of=D(2026, 5, 15))
    assert row(df, 2026)["data_through"] == D(2026, 5, 15)


def test_data_through_null_when_source_has_no_export():
    df, _ = run(goal(), {("henvendelser", *year(2024)): PeriodValue(300)}, {})
    r = row(df, 2024)
    assert r["status"] == "naaet" and isnull(r["data_through"])


# --- forecast ---------------------------------------------------------------------------------

def test_forecast_arithmetic_concrete_example():
    g = goal("IHP2017-1", plan="IHP2017", indicator="elever_nsk", target=2000, period="plan")
    values = {("elever_nsk", D(2017, 1, 1), D(2018, 12, 31)): PeriodValue(980)}
    df, _ = run(g, values, {"elever_nsk": D(2018, 8, 15)}, as_of=D(2018, 9, 1))
    r = row(df, 2018)
    # period 2017-01-01..2018-12-31 = 730 days; covered 2017-01-01..2018-08-15 = 592 days
    assert (D(2018, 8, 15) - D(2017, 1, 1)).days + 1 == 592
    assert r["data_through"] == D(2018, 8, 15)
    assert r["forecast"] == pytest.approx(980 * 730 / 592)
    assert r["on_track"] == False  # noqa: E712  1208 < 2000
    assert r["status"] == "i_gang"


def test_forecast_on_track_true():
    df, _ = run(goal(), {("henvendelser", *year(2026)): PeriodValue(120)},
                {"henvendelser": D(2026, 4, 7)}, as_of=D(2026, 5, 15))
    r = row(df, 2026)
    assert r["forecast"] == pytest.approx(120 * 365 / 97)  # ~451.5 >= 250
    assert r["on_track"] == True  # noqa: E712


def test_forecast_one_fifth_boundary():
    # 2025 has 365 days: a fifth is 73 days, through 2025-03-14
    assert (D(2025, 3, 14) - D(2025, 1, 1)).days + 1 == 73
    values = {("henvendelser", *year(2025)): PeriodValue(50)}
    at, _ = run(goal(), values, {"henvendelser": D(2025, 3, 14)}, as_of=D(2025, 3, 20))
    before, _ = run(goal(), values, {"henvendelser": D(2025, 3, 13)}, as_of=D(2025, 3, 20))
    assert row(at, 2025)["forecast"] == pytest.approx(50 * 365 / 73)
    assert row(at, 2025)["on_track"] == True  # noqa: E712  250 >= 250
    assert isnull(row(before, 2025)["forecast"]) and isnull(row(before, 2025)["on_track"])


def test_linear_forecast_boundary_on_a_two_year_period():
    start, end = D(2017, 1, 1), D(2018, 12, 31)  # 730 days: a fifth is 146
    assert linear_forecast(10, start, end, D(2017, 5, 26)) == pytest.approx(10 * 730 / 146)
    assert linear_forecast(10, start, end, D(2017, 5, 25)) is None


def test_forecast_null_when_data_through_before_period_start():
    df, _ = run(goal(), {("henvendelser", *year(2026)): PeriodValue(0)},
                {"henvendelser": D(2025, 12, 20)}, as_of=D(2026, 2, 1))
    r = row(df, 2026)
    assert r["data_through"] == D(2025, 12, 20)
    assert isnull(r["forecast"]) and isnull(r["on_track"])


@pytest.mark.parametrize("indicator", ["friskoler_naaet", "aktoerer_i_netvaerk", "andel_borgersager_vold"])
def test_forecast_null_unless_sum(indicator):
    df, _ = run(goal(indicator=indicator, target=500), {(indicator, *year(2026)): PeriodValue(3)},
                {indicator: D(2026, 4, 7)}, as_of=D(2026, 5, 15))
    r = row(df, 2026)
    assert r["status"] == "i_gang"
    assert isnull(r["forecast"]) and isnull(r["on_track"])


def test_forecast_null_after_the_period():
    df, _ = run(goal(), {("henvendelser", *year(2025)): PeriodValue(300)},
                {"henvendelser": D(2026, 4, 7)}, as_of=D(2026, 5, 15))
    assert isnull(row(df, 2025)["forecast"]) and isnull(row(df, 2025)["on_track"])


def test_forecast_computed_for_a_goal_already_reached_while_open():
    df, _ = run(goal(), {("henvendelser", *year(2026)): PeriodValue(300)},
                {"henvendelser": D(2026, 6, 30)}, as_of=D(2026, 7, 1))
    r = row(df, 2026)
    assert r["status"] == "naaet"
    assert r["forecast"] == pytest.approx(300 * 365 / 181)


# --- milestones -------------------------------------------------------------------------------

def ms(*rows):
    return pd.DataFrame(rows, columns=["maal_id", "aar", "opfyldt", "bemaerkning"])


def test_milestone_ja_is_naaet_with_note_and_nulls():
    g = goal("HP2024-V5", kind="milestone", period=2024)
    df, engine = run(g, milestones=ms(("HP2024-V5", 2024, "ja", "Publiceret.")))
    r = row(df, 2024)
    assert (r["status"], r["status_tekst"], r["note"]) == ("naaet", "Målet er nået", "Publiceret.")
    for col in ("indicator_id", "comparison", "target", "actual", "progress", "data_through",
                "forecast", "on_track"):
        assert isnull(r[col]), col
    assert engine.calls == []  # a milestone never asks the indicator engine


def test_milestone_delvist_open_then_over():
    g = goal("HP2024-C1", kind="milestone", period=2024)
    m = ms(("HP2024-C1", 2024, "delvist", "Ét møde afholdt."))
    open_df, _ = run(g, as_of=D(2024, 9, 1), milestones=m)
    over_df, _ = run(g, as_of=D(2025, 2, 1), milestones=m)
    assert row(open_df, 2024)["status"] == "i_gang"
    assert (row(over_df, 2024)["status"], row(over_df, 2024)["note"]) == ("ikke_naaet", "Ét møde afholdt.")


def test_milestone_nej_over_is_ikke_naaet():
    g = goal("HP2024-V4", kind="milestone", period=2024)
    df, _ = run(g, milestones=ms(("HP2024-V4", 2024, "nej", None)))
    r = row(df, 2024)
    assert (r["status"], r["status_tekst"]) == ("ikke_naaet", "Målet er ikke nået")
    assert isnull(r["note"])


def test_milestone_uses_latest_aar_on_or_before_the_year():
    g = goal("IHP2017-6", plan="IHP2017", kind="milestone", period="plan", spor="tvaergaaende")
    m = ms(("IHP2017-6", 2017, "delvist", "4 møder afholdt."),
           ("IHP2017-6", 2019, "ja", "Senere."),  # after the plan: not used for 2018
           ("ANDET", 2018, "ja", "Et andet mål."))
    df, _ = run(g, milestones=m)
    r17, r18 = row(df, 2017), row(df, 2018)
    assert (r17["status"], r17["note"]) == ("i_gang", "4 møder afholdt.")  # plan still open at end of 2017
    assert (r18["status"], r18["note"]) == ("ikke_naaet", "4 møder afholdt.")  # the 2017 row, plan over


def test_milestone_later_row_wins():
    g = goal("IHP2017-5", plan="IHP2017", kind="milestone", period="plan", spor="tvaergaaende")
    m = ms(("IHP2017-5", 2018, "ja", "80 pct. efteruddannet."), ("IHP2017-5", 2017, "nej", "Planlagt."))
    df, _ = run(g, milestones=m)
    assert (row(df, 2017)["status"], row(df, 2017)["note"]) == ("i_gang", "Planlagt.")
    assert (row(df, 2018)["status"], row(df, 2018)["note"]) == ("naaet", "80 pct. efteruddannet.")


def test_milestone_without_status_row_is_ikke_opgjort():
    g = goal("IHP2017-5", plan="IHP2017", kind="milestone", period="plan", spor="tvaergaaende")
    df, _ = run(g, milestones=ms(("IHP2017-5", 2019, "ja", "For sent.")))
    assert list(df["status"]) == ["ikke_opgjort", "ikke_opgjort"]
    assert df["note"].isna().all()


def test_milestones_may_be_an_empty_frame_without_columns():
    g = goal("HP2024-C3", kind="milestone", period=2024)
    df = goal_attainment(registry(g), FakeEngine(), pd.DataFrame(), D(2026, 5, 15), COMPUTED_AT)
    assert list(df["status"]) == ["ikke_opgjort"]


# --- properties -------------------------------------------------------------------------------

@given(actual=st.integers(0, 10_000), target=st.integers(1, 5_000), comparison=st.sampled_from([">=", "<="]))
def test_over_period_status_is_whether_the_target_is_met(actual, target, comparison):
    g = goal(comparison=comparison, target=float(target))
    df, _ = run(g, {("henvendelser", *year(2024)): PeriodValue(actual)}, as_of=D(2025, 1, 1))
    r = row(df, 2024)
    met = actual >= target if comparison == ">=" else actual <= target
    assert r["status"] == ("naaet" if met else "ikke_naaet")
    assert r["progress"] == pytest.approx(actual / target)
