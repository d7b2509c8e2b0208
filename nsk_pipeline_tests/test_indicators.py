"""The indicator rules of goals-and-marts.md, on small staging tables, on DuckDB and PostgreSQL.

The indicators are SQL run by the warehouse (`indicators/engine.py`): every test builds the
staging tables it needs in a fresh warehouse of each backend and asks the engine.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from nsk_pipeline.core import tables
from nsk_pipeline.core.warehouse import Warehouse
from nsk_pipeline.indicators.engine import (
    DIALECTS,
    SourceFacts,
    compute_breakdown,
    compute_values,
    indicator_query,
    indicator_quarterly,
    indicator_yearly,
    key_name,
    mart_periods,
    report_years,
    source_facts,
)
from nsk_pipeline.indicators.registry import INDICATORS
from nsk_pipeline.sources.assets import staging_columns
from nsk_pipeline.sources.specs import SOURCES


def school(**kw) -> dict:
    row = dict(forloeb_id="F", dato="2024-03-01", skole="A Skole", skoletype="folkeskole", klasse="5.a",
               udbyder="BV", aktivitet="elevundervisning", tema="nsk", antal_elever=20, antal_fagpersoner=0,
               antal_foraeldre=0, pilot="nej", status="gennemfoert")
    row.update(kw)
    return row


def stage(wh: Warehouse, source: str, rows: list[dict]) -> None:
    """staging.<source> with `rows` (ISO dates as text), each current unless it says otherwise."""
    columns = staging_columns(SOURCES[source])
    dates = {c.name for c in columns if c.type is sa.Date}
    records = [{c.name: None for c in columns} | {"er_gaeldende": True} |
               {k: date.fromisoformat(v) if k in dates and isinstance(v, str) else v for k, v in row.items()}
               for row in rows]
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        table = wh.ensure_table(conn, "staging", source, columns)
        if records:
            conn.execute(table.insert(), records)


class Staged:
    """The engine over staged rows, with the years each source reports on given."""

    def __init__(self, wh: Warehouse, as_of: date, facts: dict[str, SourceFacts]):
        self.wh, self.as_of, self.facts = wh, as_of, facts

    def value(self, indicator_id: str, start: date, end: date):
        return compute_values(self.wh, self.as_of, self.facts, [(start, end)]).value(indicator_id, start, end)

    def values(self, years: list[int], extra: list[tuple[date, date]] = ()):
        return compute_values(self.wh, self.as_of, self.facts, mart_periods(years, self.as_of) + list(extra))

    def yearly(self, years: list[int]) -> pd.DataFrame:
        return indicator_yearly(self.values(years), years)

    def quarterly(self, years: list[int]) -> pd.DataFrame:
        return indicator_quarterly(self.values(years), years)

    def breakdown(self, years: list[int]) -> pd.DataFrame:
        return compute_breakdown(self.wh, self.as_of, self.facts, years)


@pytest.fixture
def wh(warehouse_url):
    warehouse = Warehouse(warehouse_url)
    yield warehouse
    warehouse.dispose()


@pytest.fixture
def engine(wh):
    """engine(as_of=…, years=…, latest=…, <source>=[rows]): every source staged (empty unless given)."""

    def make(as_of=date(2026, 3, 1), years=(2024, 2025), latest=date(2026, 1, 15), **sources) -> Staged:
        for source in ("skoleforloeb", "vejlederlog", "rettighedskurser", "omraade_aktiviteter", "omraade_aktoerer"):
            stage(wh, source, sources.get(source, []))
        facts = {s: SourceFacts(frozenset(years), latest) for s in SOURCES if s != "milepaele"}
        return Staged(wh, as_of, facts)

    return make


Y2024 = (date(2024, 1, 1), date(2024, 12, 31))


def test_class_counts_once_per_year_at_its_largest_size(engine):
    rows = [school(forloeb_id="1", antal_elever=20), school(forloeb_id="2", antal_elever=24, dato="2024-05-01"),
            school(forloeb_id="3", skole="a  skole", klasse="5.A", antal_elever=22),  # same class, other spelling
            school(forloeb_id="4", klasse="6.b", antal_elever=18)]
    assert engine(skoleforloeb=rows).value("elever_nsk", *Y2024).value == 24 + 18


def test_class_names_are_normalised_nfc_case_and_any_whitespace(engine):
    rows = [school(forloeb_id="1", skole="Ørestad\u00a0Skole", klasse="5.a", antal_elever=20),
            school(forloeb_id="2", skole=" ørestad \u2003 SKOLE", klasse="5.A ", antal_elever=23),
            school(forloeb_id="3", skole="Café Skole", klasse="1.x", antal_elever=10),
            school(forloeb_id="4", skole="Cafe\u0301 skole", klasse="1.X", antal_elever=11)]  # é decomposed
    assert engine(skoleforloeb=rows).value("elever_nsk", *Y2024).value == 23 + 11


def test_pupil_session_without_class_counts_as_its_own_class(engine):
    rows = [school(forloeb_id="1", klasse=None, antal_elever=10), school(forloeb_id="2", klasse=None, antal_elever=12)]
    assert engine(skoleforloeb=rows).value("elever_nsk", *Y2024).value == 22


def test_a_class_counts_once_in_each_year(engine):
    rows = [school(forloeb_id="1", antal_elever=20), school(forloeb_id="2", dato="2025-02-01", antal_elever=21)]
    e = engine(skoleforloeb=rows)
    assert e.value("elever_nsk", date(2024, 1, 1), date(2025, 12, 31)).value == 41  # sum: a flow over years


def test_rights_workshops_are_apart_from_nsk_teaching(engine):
    rows = [school(forloeb_id="1", tema="rettigheder", antal_elever=30), school(forloeb_id="2", antal_elever=20)]
    e = engine(skoleforloeb=rows)
    assert e.value("elever_nsk", *Y2024).value == 20
    assert e.value("elever_rettigheder", *Y2024).value == 30


def test_cancelled_rows_never_count(engine):
    rows = [school(forloeb_id="1", antal_elever=20, status="aflyst"), school(forloeb_id="2", klasse="7.c", antal_elever=5)]
    assert engine(skoleforloeb=rows).value("elever_nsk", *Y2024).value == 5


def test_only_the_current_version_counts(engine):
    rows = [school(forloeb_id="1", antal_elever=20, er_gaeldende=False), school(forloeb_id="1", antal_elever=5)]
    assert engine(skoleforloeb=rows).value("elever_nsk", *Y2024).value == 5


def test_pilot_school_is_recomputed_over_the_whole_period(engine):
    rows = [school(forloeb_id="1", pilot="ja", aktivitet="elevundervisning"),
            school(forloeb_id="2", pilot="ja", aktivitet="fagpersonsoplaeg", dato="2025-03-01"),
            school(forloeb_id="3", pilot="ja", aktivitet="foraeldredialog", dato="2025-04-01")]
    e = engine(skoleforloeb=rows)
    assert e.value("pilotskoler_sammenhaengende", *Y2024).value == 0
    assert e.value("pilotskoler_sammenhaengende", date(2025, 1, 1), date(2025, 12, 31)).value == 0
    assert e.value("pilotskoler_sammenhaengende", date(2024, 1, 1), date(2025, 12, 31)).value == 1


def test_distinct_counts_a_free_school_once_over_the_period(engine):
    rows = [school(forloeb_id="1", skoletype="friskole", skole="Fri"), school(forloeb_id="2", skoletype="friskole",
                                                                            skole="fri", dato="2025-01-05")]
    e = engine(skoleforloeb=rows)
    assert e.value("friskoler_naaet", date(2024, 1, 1), date(2025, 12, 31)).value == 1
    assert e.value("friskoler_naaet", *Y2024).value == 1


def test_no_data_is_not_zero(engine):
    rows = [school(forloeb_id="1", aktivitet="fagpersonsoplaeg", antal_fagpersoner=0)]
    e = engine(skoleforloeb=rows, years=(2024,))
    assert e.value("fagpersoner_opkvalificeret", *Y2024).value == 0  # reports, nothing matches
    assert e.value("fagpersoner_opkvalificeret", date(2023, 1, 1), date(2023, 12, 31)).value is None


def test_a_gap_between_deliveries_is_a_gap_not_zeros(engine):
    e = engine(skoleforloeb=[school()], years=(2022, 2024))
    yearly = e.yearly([2022, 2023, 2024])
    values = yearly[yearly["indicator_id"] == "elever_nsk"].set_index("year")["value"]
    assert values[2022] == 0 and pd.isna(values[2023]) and values[2024] == 20


ACTORS = [dict(aktoer_id="a", navn="A", tilsluttet="2024-02-01", udtraadt=None, sektor="skole"),
          dict(aktoer_id="b", navn="B", tilsluttet="2024-06-01", udtraadt="2025-03-01", sektor="andet"),
          dict(aktoer_id="c", navn="C", tilsluttet="2025-09-01", udtraadt=None, sektor="andet")]


def test_stock_is_taken_at_the_period_end_or_the_as_of_date(engine):
    e = engine(as_of=date(2025, 6, 30), omraade_aktoerer=ACTORS)
    assert e.value("aktoerer_i_netvaerk", *Y2024).value == 2
    # 2025 is open: the stock at the as-of date, when b has left and c has not yet joined.
    assert e.value("aktoerer_i_netvaerk", date(2025, 1, 1), date(2025, 12, 31)).value == 1
    assert e.value("aktoerer_i_netvaerk", date(2024, 1, 1), date(2024, 5, 31)).value == 1


def test_leaving_on_the_date_itself_is_out(engine):
    actors = [dict(aktoer_id="a", navn="A", tilsluttet="2024-02-01", udtraadt="2024-12-31", sektor="skole")]
    assert engine(omraade_aktoerer=actors).value("aktoerer_i_netvaerk", *Y2024).value == 0


def log_rows(n_cases: int, n_labour: int, year=2024) -> list[dict]:
    return [dict(registrering_id=f"{year}-{i}", type="borgersag", risikoniveau="lav",
                 temaer="arbejdsmarked|vold" if i < n_labour else "andet", borger_pseudonym=f"p{i % 3}",
                 oprettet=f"{year}-03-01", status="aktiv") for i in range(n_cases)]


def test_ratio_is_pooled_over_the_period_not_a_mean_of_years(engine):
    log = log_rows(10, 1, 2024) + log_rows(30, 27, 2025)
    v = engine(vejlederlog=log).value("andel_borgersager_arbejdsmarked", date(2024, 1, 1), date(2025, 12, 31))
    assert (v.numerator, v.denominator) == (28, 40) and v.value == pytest.approx(70.0)  # mean of years would be 50


def test_ratio_without_denominator_is_null_but_keeps_its_parts(engine):
    v = engine(vejlederlog=log_rows(0, 0)).value("andel_borgersager_vold", *Y2024)
    assert v.value is None and v.denominator == 0


def test_distinct_citizens_by_pseudonym(engine):
    assert engine(vejlederlog=log_rows(7, 0)).value("borgere_med_sag", *Y2024).value == 3


def test_a_missing_pseudonym_and_an_old_version_are_no_citizens(engine):
    log = log_rows(4, 0)
    log[3]["borger_pseudonym"] = None
    log.append({**log[0], "borger_pseudonym": "old", "er_gaeldende": False})
    assert engine(vejlederlog=log).value("borgere_med_sag", *Y2024).value == 3


def test_quarters_are_year_to_date_and_a_class_counts_once(engine):
    rows = [school(forloeb_id="1", dato="2024-02-01", antal_elever=20),
            school(forloeb_id="2", dato="2024-05-01", antal_elever=25),
            school(forloeb_id="3", dato="2024-11-01", klasse="9.x", antal_elever=10)]
    q = engine(skoleforloeb=rows).quarterly([2024])
    values = q[q["indicator_id"] == "elever_nsk"].set_index("quarter")["value"].to_dict()
    assert values == {1: 20, 2: 25, 3: 25, 4: 35}


def test_quarters_that_have_not_begun_are_left_out(engine):
    q = engine(skoleforloeb=[school()], as_of=date(2024, 5, 2), years=(2024,)).quarterly([2024])
    assert sorted(q["quarter"].unique()) == [1, 2]


def loads(wh: Warehouse, rows: list[dict]) -> None:
    with wh.transaction() as conn:
        wh.ensure_schemas(conn)
        table = wh.ensure_table(conn, "meta", "file_loads", tables.FILE_LOADS)
        conn.execute(table.insert(), rows)


def test_source_reports_on_export_years_and_current_row_years(wh):
    loads(wh, [dict(source="skoleforloeb", status="loaded", export_date=date(2025, 1, 10)),
               dict(source="skoleforloeb", status="rejected", export_date=date(2023, 4, 1))])
    # A cancelled row still says its year is reported on; an old version does not.
    stage(wh, "skoleforloeb", [school(dato="2024-11-01", status="aflyst"),
                               school(dato="2021-11-01", er_gaeldende=False)])
    facts = source_facts(wh, date(2026, 3, 1))["skoleforloeb"]
    assert facts.report_years == {2024, 2025} and facts.latest_export == date(2025, 1, 10)


def test_actor_register_reports_from_first_join_through_latest_export(wh):
    loads(wh, [dict(source="omraade_aktoerer", status="loaded", export_date=date(2026, 2, 1))])
    stage(wh, "omraade_aktoerer", [dict(aktoer_id="a", navn="A", tilsluttet="2023-05-01", udtraadt=None)])
    assert source_facts(wh, date(2026, 3, 1))["omraade_aktoerer"].report_years == {2023, 2024, 2025, 2026}


def test_a_source_never_staged_reports_on_nothing(wh):
    assert source_facts(wh, date(2026, 3, 1))["vejlederlog"] == SourceFacts(frozenset(), None)


def test_years_run_from_the_first_reported_year_through_the_as_of_year():
    facts = {"a": SourceFacts(frozenset({2021, 2024}), None), "b": SourceFacts(frozenset({2019}), None)}
    assert report_years(facts, date(2025, 3, 1)) == list(range(2019, 2026))


def test_data_through_is_capped_at_the_year_end(engine):
    e = engine(skoleforloeb=[school()], latest=date(2025, 1, 20))
    yearly = e.yearly([2024, 2025]).set_index(["indicator_id", "year"])
    assert yearly.loc[("elever_nsk", 2024), "data_through"] == date(2024, 12, 31)
    assert yearly.loc[("elever_nsk", 2025), "data_through"] == date(2025, 1, 20)


def test_breakdown_of_a_reported_year_without_rows_is_zeros(engine):
    bd = engine(vejlederlog=log_rows(6, 2, year=2024), years=(2024, 2025)).breakdown([2024, 2025])
    cases_2025 = bd[(bd["indicator_id"] == "borgere_med_sag") & (bd["year"] == 2025)]
    assert len(cases_2025) and (cases_2025["value"] == 0).all()
    koen = bd[(bd["indicator_id"] == "borgersager") & (bd["year"] == 2024) & (bd["dimension"] == "risikoniveau")]
    assert koen.set_index("category")["value"].to_dict() == {"lav": 6, "middel": 0, "hoej": 0}


# --- the marts group by period and category: they must agree with `value` over each period -----

def mixed_engine(engine, as_of=date(2025, 8, 15)) -> Staged:
    schools = [
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
    ]
    log = [dict(registrering_id=str(i), type=t, risikoniveau=r, temaer=th, borger_pseudonym=p, koen=k,
                aldersgruppe="18-29", oprettet=d, status="aktiv")
           for i, (t, r, th, p, k, d) in enumerate([
               ("borgersag", "hoej", "arbejdsmarked|vold", "p1", "kvinde", "2024-01-05"),
               ("borgersag", "lav", "vold", "p1", "mand", "2024-04-05"),
               ("borgersag", None, None, "p2", None, "2024-07-05"),
               ("borgersag", "middel", "voldelig|andet", None, "kvinde", "2025-02-05"),
               ("henvendelse", None, "bolig", None, None, "2025-05-05"),
               ("borgersag", "hoej", "arbejdsmarked", "p3", "mand", "2025-12-30")])]
    courses = [dict(kursus_id="k1", dato="2024-06-01", sted_type="jobcenter", deltagere=12, status="gennemfoert"),
               dict(kursus_id="k2", dato="2025-03-01", sted_type="civilsamfund", deltagere=None, status="gennemfoert")]
    activities = [dict(aktivitet_id="x1", dato="2024-02-01", omraade="Nord ", type="borgeraktivitet", deltagere=40,
                       aktoerer="A1|a2", maalgruppe="blandet", status="gennemfoert"),
                  dict(aktivitet_id="x2", dato="2024-09-01", omraade="Nord", type="netvaerksmoede", deltagere=None,
                       aktoerer="a1, A3", maalgruppe=None, status="gennemfoert"),
                  dict(aktivitet_id="x3", dato="2025-04-01", omraade="Syd", type="kompetenceudvikling", deltagere=5,
                       aktoerer=None, maalgruppe="fagpersoner", status="gennemfoert")]
    actors = [ACTORS[0], {**ACTORS[1], "sektor": None}, ACTORS[2]]
    return engine(as_of=as_of, years=(2024, 2025), skoleforloeb=schools, vejlederlog=log,
                  rettighedskurser=courses, omraade_aktiviteter=activities, omraade_aktoerer=actors)


def _parts(v) -> tuple:
    return tuple("null" if x is None or pd.isna(x) else float(x) for x in (v.value, v.numerator, v.denominator))


def test_yearly_and_quarterly_marts_equal_the_value_of_each_period(engine):
    e = mixed_engine(engine)
    years = [2023, 2024, 2025]
    yearly = e.yearly(years)
    quarterly = e.quarterly([2024, 2025])
    assert set(quarterly[quarterly["year"] == 2025]["quarter"]) == {1, 2, 3}
    # Each period on its own, against the marts computed for all periods at once.
    ends = {(r.year, r.quarter): (pd.Timestamp(date(r.year, 3 * r.quarter, 1)) + pd.offsets.MonthEnd(0)).date()
            for r in quarterly.itertuples()}
    for r in yearly.itertuples():
        assert _parts(r) == _parts(e.value(r.indicator_id, date(r.year, 1, 1), date(r.year, 12, 31))), r
    by_period = {end: compute_values(e.wh, e.as_of, e.facts, [(date(end.year, 1, 1), end)]) for end in set(ends.values())}
    for r in quarterly.itertuples():
        end = ends[(r.year, r.quarter)]
        assert _parts(r) == _parts(by_period[end].value(r.indicator_id, date(r.year, 1, 1), end)), r


def test_year_to_date_recomputes_distinct_counts_and_classes(engine):
    q = mixed_engine(engine).quarterly([2024]).set_index(["indicator_id", "quarter"])["value"]
    # The pilot school completes its three activities in Q4; a class counts at its largest so far.
    assert [q[("pilotskoler_sammenhaengende", i)] for i in (1, 2, 3, 4)] == [0, 0, 0, 1]
    assert [q[("elever_nsk", i)] for i in (1, 2, 3, 4)] == [20, 20, 26, 26]
    assert [q[("borgere_med_sag", i)] for i in (1, 2, 3, 4)] == [1, 1, 2, 2]
    assert [q[("aktive_aktoerer", i)] for i in (1, 2, 3, 4)] == [2, 2, 3, 3]


def test_theme_codes_match_whole_codes_only(engine):
    e = mixed_engine(engine)
    v = e.value("andel_borgersager_vold", date(2025, 1, 1), date(2025, 12, 31))
    assert (v.numerator, v.denominator) == (0, 2)  # "voldelig" is not "vold"
    v = e.value("andel_borgersager_arbejdsmarked", date(2024, 1, 1), date(2025, 12, 31))
    assert (v.numerator, v.denominator) == (2, 5)


def _cells(bd: pd.DataFrame, indicator: str, year: int, dimension: str) -> dict:
    rows = bd[(bd["indicator_id"] == indicator) & (bd["year"] == year) & (bd["dimension"] == dimension)]
    return dict(zip(rows["category"], rows["value"]))


def test_breakdown_cells(engine):
    bd = mixed_engine(engine).breakdown([2024, 2025])
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


def test_an_activity_without_actors_still_lists_its_category(engine):
    bd = mixed_engine(engine).breakdown([2025])
    assert _cells(bd, "aktive_aktoerer", 2025, "omraade") == {"Syd": 0}


# --- the queries themselves -----------------------------------------------------------------------

def test_the_stored_query_runs_as_an_analyst_would_run_it(wh, engine):
    """marts.indicators.query, with a `periods` table of one's own, gives the engine's value."""
    e = mixed_engine(engine)
    with wh.engine.connect() as conn:
        conn.execute(sa.text("CREATE TEMPORARY TABLE periods AS SELECT 7 AS period_id, year, DATE '2024-01-01' AS "
                             "first_day, DATE '2025-12-31' AS last_day, DATE '2025-08-15' AS as_of "
                             "FROM (VALUES (2024), (2025)) AS y(year)"))
        for indicator_id in ("elever_nsk", "aktive_aktoerer", "andel_borgersager_arbejdsmarked", "aktoerer_i_netvaerk"):
            row = conn.execute(sa.text(indicator_query(indicator_id, wh.dialect))).one()
            expected = e.value(indicator_id, date(2024, 1, 1), date(2025, 12, 31)).value
            assert (row.period_id, float(row.value)) == (7, expected), indicator_id


def test_only_the_name_shim_differs_between_dialects():
    for indicator in INDICATORS.values():
        duck, pg = (indicator_query(indicator.id, d) for d in DIALECTS)
        assert indicator.query in duck and indicator.query in pg
        for column in ("skole", "klasse"):
            duck = duck.replace(key_name(column, "duckdb"), key_name(column, "postgresql"))
        assert duck == pg, indicator.id
