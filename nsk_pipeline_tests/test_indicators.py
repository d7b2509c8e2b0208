"""The indicator rules of goals-and-marts.md, on small hand-made tables."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from nsk_pipeline.indicators.engine import (
    PandasIndicatorEngine,
    SourceFacts,
    indicator_quarterly,
    indicator_yearly,
    report_years,
    source_facts,
)


def school(**kw) -> dict:
    row = dict(forloeb_id="F", dato="2024-03-01", skole="A Skole", skoletype="folkeskole", klasse="5.a",
               udbyder="BV", aktivitet="elevundervisning", tema="nsk", antal_elever=20, antal_fagpersoner=0,
               antal_foraeldre=0, pilot="nej", status="gennemfoert")
    row.update(kw)
    return row


def frame(rows: list[dict], date_cols=("dato",)) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for c in date_cols:
        if c in df:
            df[c] = pd.to_datetime(df[c])
    return df


def engine(as_of=date(2026, 3, 1), years=(2024, 2025), latest=date(2026, 1, 15), **sources) -> PandasIndicatorEngine:
    empty = {"skoleforloeb": frame([school()]).iloc[0:0], "vejlederlog": pd.DataFrame(
        columns=["type", "risikoniveau", "temaer", "borger_pseudonym", "oprettet", "status"]),
        "rettighedskurser": pd.DataFrame(columns=["dato", "sted_type", "deltagere", "status"]),
        "omraade_aktiviteter": pd.DataFrame(columns=["dato", "omraade", "type", "deltagere", "aktoerer", "maalgruppe",
                                                    "status"]),
        "omraade_aktoerer": pd.DataFrame(columns=["aktoer_id", "tilsluttet", "udtraadt", "sektor"])}
    current = {**empty, **sources}
    facts = {s: SourceFacts(frozenset(years), latest) for s in current}
    return PandasIndicatorEngine(current, facts, as_of)


Y2024 = (date(2024, 1, 1), date(2024, 12, 31))


def test_class_counts_once_per_year_at_its_largest_size():
    rows = [school(forloeb_id="1", antal_elever=20), school(forloeb_id="2", antal_elever=24, dato="2024-05-01"),
            school(forloeb_id="3", skole="a  skole", klasse="5.A", antal_elever=22),  # same class, other spelling
            school(forloeb_id="4", klasse="6.b", antal_elever=18)]
    assert engine(skoleforloeb=frame(rows)).value("elever_nsk", *Y2024).value == 24 + 18


def test_pupil_session_without_class_counts_as_its_own_class():
    rows = [school(forloeb_id="1", klasse=None, antal_elever=10), school(forloeb_id="2", klasse=None, antal_elever=12)]
    assert engine(skoleforloeb=frame(rows)).value("elever_nsk", *Y2024).value == 22


def test_a_class_counts_once_in_each_year():
    rows = [school(forloeb_id="1", antal_elever=20), school(forloeb_id="2", dato="2025-02-01", antal_elever=21)]
    e = engine(skoleforloeb=frame(rows))
    assert e.value("elever_nsk", date(2024, 1, 1), date(2025, 12, 31)).value == 41  # sum: a flow over years


def test_rights_workshops_are_apart_from_nsk_teaching():
    rows = [school(forloeb_id="1", tema="rettigheder", antal_elever=30), school(forloeb_id="2", antal_elever=20)]
    e = engine(skoleforloeb=frame(rows))
    assert e.value("elever_nsk", *Y2024).value == 20
    assert e.value("elever_rettigheder", *Y2024).value == 30


def test_cancelled_rows_never_count():
    rows = [school(forloeb_id="1", antal_elever=20, status="aflyst"), school(forloeb_id="2", klasse="7.c", antal_elever=5)]
    assert engine(skoleforloeb=frame(rows)).value("elever_nsk", *Y2024).value == 5


def test_pilot_school_is_recomputed_over_the_whole_period():
    rows = [school(forloeb_id="1", pilot="ja", aktivitet="elevundervisning"),
            school(forloeb_id="2", pilot="ja", aktivitet="fagpersonsoplaeg", dato="2025-03-01"),
            school(forloeb_id="3", pilot="ja", aktivitet="foraeldredialog", dato="2025-04-01")]
    e = engine(skoleforloeb=frame(rows))
    assert e.value("pilotskoler_sammenhaengende", *Y2024).value == 0
    assert e.value("pilotskoler_sammenhaengende", date(2025, 1, 1), date(2025, 12, 31)).value == 0
    assert e.value("pilotskoler_sammenhaengende", date(2024, 1, 1), date(2025, 12, 31)).value == 1


def test_distinct_counts_a_free_school_once_over_the_period():
    rows = [school(forloeb_id="1", skoletype="friskole", skole="Fri"), school(forloeb_id="2", skoletype="friskole",
                                                                             skole="fri", dato="2025-01-05")]
    e = engine(skoleforloeb=frame(rows))
    assert e.value("friskoler_naaet", date(2024, 1, 1), date(2025, 12, 31)).value == 1
    assert e.value("friskoler_naaet", *Y2024).value == 1


def test_no_data_is_not_zero():
    rows = [school(forloeb_id="1", aktivitet="fagpersonsoplaeg", antal_fagpersoner=0)]
    e = engine(skoleforloeb=frame(rows), years=(2024,))
    assert e.value("fagpersoner_opkvalificeret", *Y2024).value == 0  # reports, nothing matches
    assert e.value("fagpersoner_opkvalificeret", date(2023, 1, 1), date(2023, 12, 31)).value is None


def test_a_gap_between_deliveries_is_a_gap_not_zeros():
    e = engine(skoleforloeb=frame([school()]), years=(2022, 2024))
    yearly = indicator_yearly(e, [2022, 2023, 2024])
    values = yearly[yearly["indicator_id"] == "elever_nsk"].set_index("year")["value"]
    assert values[2022] == 0 and pd.isna(values[2023]) and values[2024] == 20


def test_stock_is_taken_at_the_period_end_or_the_as_of_date():
    actors = frame([dict(aktoer_id="a", tilsluttet="2024-02-01", udtraadt=None, sektor="skole"),
                    dict(aktoer_id="b", tilsluttet="2024-06-01", udtraadt="2025-03-01", sektor="andet"),
                    dict(aktoer_id="c", tilsluttet="2025-09-01", udtraadt=None, sektor="andet")],
                   date_cols=("tilsluttet", "udtraadt"))
    e = engine(as_of=date(2025, 6, 30), omraade_aktoerer=actors)
    assert e.value("aktoerer_i_netvaerk", *Y2024).value == 2
    # 2025 is open: the stock at the as-of date, when b has left and c has not yet joined.
    assert e.value("aktoerer_i_netvaerk", date(2025, 1, 1), date(2025, 12, 31)).value == 1
    assert e.value("aktoerer_i_netvaerk", date(2024, 1, 1), date(2024, 5, 31)).value == 1


def test_leaving_on_the_date_itself_is_out():
    actors = frame([dict(aktoer_id="a", tilsluttet="2024-02-01", udtraadt="2024-12-31", sektor="skole")],
                   date_cols=("tilsluttet", "udtraadt"))
    assert engine(omraade_aktoerer=actors).value("aktoerer_i_netvaerk", *Y2024).value == 0


def log_rows(n_cases: int, n_labour: int, year=2024) -> pd.DataFrame:
    rows = [dict(type="borgersag", risikoniveau="lav", temaer="arbejdsmarked|vold" if i < n_labour else "andet",
                 borger_pseudonym=f"p{i % 3}", oprettet=f"{year}-03-01", status="aktiv") for i in range(n_cases)]
    columns = ["type", "risikoniveau", "temaer", "borger_pseudonym", "koen", "aldersgruppe", "oprettet", "status"]
    return frame(rows, date_cols=("oprettet",)).reindex(columns=columns)


def test_ratio_is_pooled_over_the_period_not_a_mean_of_years():
    log = pd.concat([log_rows(10, 1, 2024), log_rows(30, 27, 2025)], ignore_index=True)
    v = engine(vejlederlog=log).value("andel_borgersager_arbejdsmarked", date(2024, 1, 1), date(2025, 12, 31))
    assert (v.numerator, v.denominator) == (28, 40) and v.value == pytest.approx(70.0)  # mean of years would be 50


def test_ratio_without_denominator_is_null_but_keeps_its_parts():
    v = engine(vejlederlog=log_rows(0, 0)).value("andel_borgersager_vold", *Y2024)
    assert v.value is None and v.denominator == 0


def test_distinct_citizens_by_pseudonym():
    assert engine(vejlederlog=log_rows(7, 0)).value("borgere_med_sag", *Y2024).value == 3


def test_quarters_are_year_to_date_and_a_class_counts_once():
    rows = [school(forloeb_id="1", dato="2024-02-01", antal_elever=20),
            school(forloeb_id="2", dato="2024-05-01", antal_elever=25),
            school(forloeb_id="3", dato="2024-11-01", klasse="9.x", antal_elever=10)]
    q = indicator_quarterly(engine(skoleforloeb=frame(rows)), [2024])
    values = q[q["indicator_id"] == "elever_nsk"].set_index("quarter")["value"].to_dict()
    assert values == {1: 20, 2: 25, 3: 25, 4: 35}


def test_quarters_that_have_not_begun_are_left_out():
    q = indicator_quarterly(engine(skoleforloeb=frame([school()]), as_of=date(2024, 5, 2), years=(2024,)), [2024])
    assert sorted(q["quarter"].unique()) == [1, 2]


def test_source_reports_on_export_years_and_current_row_years():
    loads = pd.DataFrame([dict(source="skoleforloeb", status="loaded", export_date=date(2025, 1, 10)),
                          dict(source="skoleforloeb", status="rejected", export_date=date(2023, 4, 1))])
    facts = source_facts("skoleforloeb", loads, frame([school(dato="2024-11-01")]))
    assert facts.report_years == {2024, 2025} and facts.latest_export == date(2025, 1, 10)


def test_actor_register_reports_from_first_join_through_latest_export():
    loads = pd.DataFrame([dict(source="omraade_aktoerer", status="loaded", export_date=date(2026, 2, 1))])
    actors = frame([dict(aktoer_id="a", tilsluttet="2023-05-01", udtraadt=None)], date_cols=("tilsluttet", "udtraadt"))
    assert source_facts("omraade_aktoerer", loads, actors).report_years == {2023, 2024, 2025, 2026}


def test_years_run_from_the_first_reported_year_through_the_as_of_year():
    facts = {"a": SourceFacts(frozenset({2021, 2024}), None), "b": SourceFacts(frozenset({2019}), None)}
    assert report_years(facts, date(2025, 3, 1)) == list(range(2019, 2026))


def test_data_through_is_capped_at_the_year_end():
    e = engine(skoleforloeb=frame([school()]), latest=date(2025, 1, 20))
    yearly = indicator_yearly(e, [2024, 2025]).set_index(["indicator_id", "year"])
    assert yearly.loc[("elever_nsk", 2024), "data_through"] == date(2024, 12, 31)
    assert yearly.loc[("elever_nsk", 2025), "data_through"] == date(2025, 1, 20)


def test_breakdown_of_a_reported_year_without_rows_is_zeros():
    from nsk_pipeline.indicators.engine import indicator_breakdown

    e = engine(vejlederlog=log_rows(6, 2, year=2024), years=(2024, 2025))
    bd = indicator_breakdown(e, [2024, 2025])
    cases_2025 = bd[(bd["indicator_id"] == "borgere_med_sag") & (bd["year"] == 2025)]
    assert len(cases_2025) and (cases_2025["value"] == 0).all()
    koen = bd[(bd["indicator_id"] == "borgersager") & (bd["year"] == 2024) & (bd["dimension"] == "risikoniveau")]
    assert koen.set_index("category")["value"].to_dict() == {"lav": 6, "middel": 0, "hoej": 0}


# --- the marts group by period and category: they must agree with `value` over each period -----

def mixed_engine(as_of=date(2025, 8, 15)) -> PandasIndicatorEngine:
    schools = frame([
        school(forloeb_id="1", dato="2024-02-01", pilot="ja", antal_elever=20),
        school(forloeb_id="2", dato="2024-05-01", pilot="ja", aktivitet="fagpersonsoplaeg", klasse=None,
               antal_elever=None, antal_fagpersoner=7),
        school(forloeb_id="3", dato="2024-11-01", pilot="ja", aktivitet="foraeldredialog", klasse=None,
               antal_elever=None, antal_foraeldre=30),
        school(forloeb_id="4", dato="2024-08-01", skole="A  SKOLE", antal_elever=26, udbyder=" Mino "),
        school(forloeb_id="5", dato="2024-03-03", skole="Fri", skoletype="friskole", antal_elever=None),
        school(forloeb_id="6", dato="2025-01-10", skole="fri", skoletype="friskole", tema="rettigheder",
               antal_elever=12, udbyder="Mino"),
        school(forloeb_id="7", dato="2025-06-30", klasse=None, antal_elever=9, status="aflyst"),
    ])
    log = frame([dict(type=t, risikoniveau=r, temaer=th, borger_pseudonym=p, koen=k, aldersgruppe="18-29",
                      oprettet=d, status="aktiv")
                 for t, r, th, p, k, d in [
                     ("borgersag", "hoej", "arbejdsmarked|vold", "p1", "kvinde", "2024-01-05"),
                     ("borgersag", "lav", "vold", "p1", "mand", "2024-04-05"),
                     ("borgersag", None, None, "p2", None, "2024-07-05"),
                     ("borgersag", "middel", "voldelig|andet", None, "kvinde", "2025-02-05"),
                     ("henvendelse", None, "bolig", None, None, "2025-05-05"),
                     ("borgersag", "hoej", "arbejdsmarked", "p3", "mand", "2025-12-30")]],
                date_cols=("oprettet",))
    courses = frame([dict(dato="2024-06-01", sted_type="jobcenter", deltagere=12, status="gennemfoert"),
                     dict(dato="2025-03-01", sted_type="civilsamfund", deltagere=None, status="gennemfoert")])
    activities = frame([dict(dato="2024-02-01", omraade="Nord ", type="borgeraktivitet", deltagere=40,
                             aktoerer="A1|a2", maalgruppe="blandet", status="gennemfoert"),
                        dict(dato="2024-09-01", omraade="Nord", type="netvaerksmoede", deltagere=None,
                             aktoerer="a1, A3", maalgruppe=None, status="gennemfoert"),
                        dict(dato="2025-04-01", omraade="Syd", type="kompetenceudvikling", deltagere=5,
                             aktoerer=None, maalgruppe="fagpersoner", status="gennemfoert")])
    actors = frame([dict(aktoer_id="a", tilsluttet="2024-02-01", udtraadt=None, sektor="skole"),
                    dict(aktoer_id="b", tilsluttet="2024-06-01", udtraadt="2025-03-01", sektor=None),
                    dict(aktoer_id="c", tilsluttet="2025-09-01", udtraadt=None, sektor="andet")],
                   date_cols=("tilsluttet", "udtraadt"))
    return engine(as_of=as_of, years=(2024, 2025), skoleforloeb=schools, vejlederlog=log,
                  rettighedskurser=courses, omraade_aktiviteter=activities, omraade_aktoerer=actors)


def _parts(v) -> tuple:
    return tuple("null" if x is None or pd.isna(x) else float(x) for x in (v.value, v.numerator, v.denominator))


def test_yearly_and_quarterly_marts_equal_the_value_of_each_period():
    e = mixed_engine()
    yearly = indicator_yearly(e, [2023, 2024, 2025])
    for r in yearly.itertuples():
        assert _parts(r) == _parts(e.value(r.indicator_id, date(r.year, 1, 1), date(r.year, 12, 31))), r
    quarterly = indicator_quarterly(e, [2024, 2025])
    assert set(quarterly[quarterly["year"] == 2025]["quarter"]) == {1, 2, 3}
    for r in quarterly.itertuples():
        end = (pd.Timestamp(date(r.year, 3 * r.quarter, 1)) + pd.offsets.MonthEnd(0)).date()
        assert _parts(r) == _parts(e.value(r.indicator_id, date(r.year, 1, 1), end)), r


def test_year_to_date_recomputes_distinct_counts_and_classes():
    q = indicator_quarterly(mixed_engine(), [2024]).set_index(["indicator_id", "quarter"])["value"]
    # The pilot school completes its three activities in Q4; a class counts at its largest so far.
    assert [q[("pilotskoler_sammenhaengende", i)] for i in (1, 2, 3, 4)] == [0, 0, 0, 1]
    assert [q[("elever_nsk", i)] for i in (1, 2, 3, 4)] == [20, 20, 26, 26]
    assert [q[("borgere_med_sag", i)] for i in (1, 2, 3, 4)] == [1, 1, 2, 2]
    assert [q[("aktive_aktoerer", i)] for i in (1, 2, 3, 4)] == [2, 2, 3, 3]


def test_theme_codes_match_whole_codes_only():
    e = mixed_engine()
    v = e.value("andel_borgersager_vold", date(2025, 1, 1), date(2025, 12, 31))
    assert (v.numerator, v.denominator) == (0, 2)  # "voldelig" is not "vold"
    v = e.value("andel_borgersager_arbejdsmarked", date(2024, 1, 1), date(2025, 12, 31))
    assert (v.numerator, v.denominator) == (2, 5)


def _cells(bd: pd.DataFrame, indicator: str, year: int, dimension: str) -> dict:
    rows = bd[(bd["indicator_id"] == indicator) & (bd["year"] == year) & (bd["dimension"] == dimension)]
    return dict(zip(rows["category"], rows["value"]))


def test_breakdown_cells():
    from nsk_pipeline.indicators.engine import indicator_breakdown

    bd = indicator_breakdown(mixed_engine(), [2024, 2025])
    # A row counts in each of its themes; a missing value is `ukendt`, listed after the codes.
    tema = _cells(bd, "borgersager", 2024, "tema")
    assert len(tema) == 9 and (tema["arbejdsmarked"], tema["vold"], tema["andet"]) == (1, 2, 0)
    assert _cells(bd, "borgersager", 2024, "risikoniveau") == {"lav": 1, "middel": 0, "hoej": 1, "ukendt": 1}
    assert _cells(bd, "borgere_med_sag", 2024, "koen") == {"kvinde": 1, "mand": 1, "ukendt": 1}
    # Free text is trimmed and listed as seen in the year.
    assert _cells(bd, "elever_nsk", 2024, "udbyder") == {"BV": 20, "Mino": 26}
    assert _cells(bd, "omraade_borgere_naaet", 2024, "omraade") == {"Nord": 40}
    maalgruppe = _cells(bd, "aktive_aktoerer", 2024, "maalgruppe")
    assert list(maalgruppe) == ["foraeldre_voksne", "boern_unge", "fagpersoner", "blandet", "ukendt"]
    assert (maalgruppe["blandet"], maalgruppe["ukendt"]) == (2, 2)
    assert _cells(bd, "friskoler_naaet", 2025, "skoletype")["friskole"] == 1
    # A stock is broken down at the year's end (or as of), its categories from all rows.
    assert _cells(bd, "aktoerer_i_netvaerk", 2024, "sektor") == {"kommunal": 0, "civilsamfund": 0, "boligsocial": 0,
                                                                 "skole": 1, "andet": 0, "ukendt": 1}
    assert _cells(bd, "aktoerer_i_netvaerk", 2025, "sektor")["ukendt"] == 0
