"""The indicator registry: every indicator of the contract, with its aggregation and its query.

The aggregation says how an indicator combines over a period longer than a year
(DHIS2's "aggregation type"): `sum` (a flow), `distinct` (things counted once over the
whole period), `stock` (a state at a date) and `ratio` (pooled numerator over denominator).

The query is the indicator, in SQL an analyst can read and run: one row per period and
breakdown cell, over `counted_<source>`, the rows of the source that count, one per period it
falls in (`nsk_pipeline/indicators/engine.py` defines those relations and runs the queries).
Whatever the aggregation, a query computes the value over the period's rows; `sum`
indicators are flows, so a period of several years is the sum of its years only because each
of their rows counts once (a class counts once per `year`, which is in its grouping).
"""

from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent
from typing import Literal

Aggregation = Literal["sum", "distinct", "stock", "ratio"]


@dataclass(frozen=True)
class Indicator:
    id: str
    name: str  # Danish, as the report prints it
    definition: str
    unit: str
    source: str
    aggregation: Aggregation
    query: str  # SQL over counted_<source>: period_id, dimension, category, value (ratios: numerator, denominator)
    polarity: Literal["hoej_er_godt", "lav_er_godt"] = "hoej_er_godt"


def _sql(text: str) -> str:
    return dedent(text).strip()


CELL = "period_id, dimension, category"  # what every query groups by: a period, and a breakdown cell


def _count(source: str, where: str = "") -> str:
    return _sql(f"""
        SELECT {CELL}, count(*) AS value
        FROM counted_{source}
        {f"WHERE {where}" if where else ""}
        GROUP BY {CELL}""").replace("\n\n", "\n")


def _sum(source: str, column: str, where: str = "") -> str:
    return _sql(f"""
        SELECT {CELL}, sum({column}) AS value
        FROM counted_{source}
        {f"WHERE {where}" if where else ""}
        GROUP BY {CELL}""").replace("\n\n", "\n")


def _pupils(tema: str) -> str:
    return _sql(f"""
        -- A class (school + klasse) counts once a year, at its largest antal_elever;
        -- a session without klasse is a class of its own (udbyder + forloeb_id).
        SELECT {CELL}, sum(largest) AS value
        FROM (SELECT {CELL}, max(antal_elever) AS largest
              FROM counted_skoleforloeb
              WHERE aktivitet = 'elevundervisning' AND tema = '{tema}'
              GROUP BY {CELL}, year, school_key, klasse_key,
                       CASE WHEN klasse_key IS NULL THEN udbyder_key END,
                       CASE WHEN klasse_key IS NULL THEN forloeb_id END) AS classes
        GROUP BY {CELL}""")


def _share(theme: str) -> str:
    # `temaer` is a '|'-joined code list: a theme is included when '|theme|' is in '|temaer|'.
    has = f"position('|{theme}|' IN '|' || temaer || '|') > 0"
    return _sql(f"""
        SELECT {CELL},
               100.0 * count(*) FILTER (WHERE {has}) / nullif(count(*), 0) AS value,
               count(*) FILTER (WHERE {has}) AS numerator,
               count(*) AS denominator
        FROM counted_vejlederlog
        WHERE type = 'borgersag'
        GROUP BY {CELL}""")


_INDICATORS = [
    Indicator("elever_nsk", "Elever undervist om negativ social kontrol",
              "Elever i elevundervisning med tema nsk; en klasse (skole + klasse) tæller én gang pr. år "
              "med sit største antal elever.", "elever", "skoleforloeb", "sum", _pupils("nsk")),
    Indicator("elever_rettigheder", "Elever i workshops om rettigheder",
              "Som elever_nsk, men for tema rettigheder (rapporteres ved siden af, lægges aldrig til elever_nsk).",
              "elever", "skoleforloeb", "sum", _pupils("rettigheder")),
    Indicator("fagpersoner_opkvalificeret", "Fagpersoner opkvalificeret",
              "Sum af antal_fagpersoner over fagpersonsoplæg med tema nsk.", "fagpersoner", "skoleforloeb", "sum",
              _sum("skoleforloeb", "antal_fagpersoner", "aktivitet = 'fagpersonsoplaeg' AND tema = 'nsk'")),
    Indicator("foraeldre_naaet", "Forældre nået",
              "Sum af antal_foraeldre over forældredialog.", "forældre", "skoleforloeb", "sum",
              _sum("skoleforloeb", "antal_foraeldre", "aktivitet = 'foraeldredialog'")),
    Indicator("pilotskoler_sammenhaengende", "Pilotskoler med sammenhængende forløb",
              "Skoler, der i perioden har holdt alle tre aktiviteter (elevundervisning, fagpersonsoplæg, "
              "forældredialog) med pilot = ja.", "skoler", "skoleforloeb", "distinct", _sql(f"""
                SELECT {CELL}, count(school_key) FILTER (WHERE activities = 3) AS value
                FROM (SELECT {CELL}, school_key, count(DISTINCT aktivitet) AS activities
                      FROM counted_skoleforloeb
                      WHERE pilot = 'ja'
                      GROUP BY {CELL}, school_key) AS schools
                GROUP BY {CELL}""")),
    Indicator("friskoler_naaet", "Friskoler nået",
              "Forskellige skoler med skoletype friskole, der har holdt mindst ét forløb.", "skoler",
              "skoleforloeb", "distinct", _sql(f"""
                SELECT {CELL}, count(DISTINCT school_key) AS value
                FROM counted_skoleforloeb
                WHERE skoletype = 'friskole'
                GROUP BY {CELL}""")),
    Indicator("henvendelser", "Henvendelser til social kontrolvejlederne",
              "Registreringer med type henvendelse.", "henvendelser", "vejlederlog", "sum",
              _count("vejlederlog", "type = 'henvendelse'")),
    Indicator("borgersager", "Borgersager hos social kontrolvejlederne",
              "Registreringer med type borgersag.", "sager", "vejlederlog", "sum",
              _count("vejlederlog", "type = 'borgersag'")),
    Indicator("borgersager_hoej_risiko", "Borgersager med højt risikoniveau",
              "Borgersager med risikoniveau høj.", "sager", "vejlederlog", "sum",
              _count("vejlederlog", "type = 'borgersag' AND risikoniveau = 'hoej'")),
    Indicator("andel_borgersager_arbejdsmarked", "Andel borgersager om begrænsninger ift. arbejdsmarkedet",
              "Procent (0-100) af borgersager, hvis temaer omfatter arbejdsmarked.", "pct", "vejlederlog", "ratio",
              _share("arbejdsmarked")),
    Indicator("andel_borgersager_vold", "Andel borgersager om vold",
              "Procent (0-100) af borgersager, hvis temaer omfatter vold.", "pct", "vejlederlog", "ratio",
              _share("vold")),
    Indicator("borgere_med_sag", "Borgere med mindst én borgersag",
              "Forskellige borgere (efter pseudonym) med mindst én borgersag.", "borgere", "vejlederlog", "distinct",
              _sql(f"""
                SELECT {CELL}, count(DISTINCT borger_pseudonym) AS value
                FROM counted_vejlederlog
                WHERE type = 'borgersag'
                GROUP BY {CELL}""")),
    Indicator("rettighedskurser", "Rettighedskurser afholdt",
              "Kurser om rettigheder, der er gennemført.", "kurser", "rettighedskurser", "sum",
              _count("rettighedskurser")),
    Indicator("rettighedskursus_deltagere", "Deltagere på rettighedskurser",
              "Sum af deltagere på rettighedskurser.", "deltagere", "rettighedskurser", "sum",
              _sum("rettighedskurser", "deltagere")),
    Indicator("omraade_borgere_naaet", "Borgere nået af den områdebaserede indsats",
              "Sum af deltagere over borgeraktiviteter.", "borgere", "omraade_aktiviteter", "sum",
              _sum("omraade_aktiviteter", "deltagere", "type = 'borgeraktivitet'")),
    Indicator("netvaerksmoeder", "Netværksmøder",
              "Aktiviteter af typen netværksmøde.", "møder", "omraade_aktiviteter", "sum",
              _count("omraade_aktiviteter", "type = 'netvaerksmoede'")),
    Indicator("kompetenceudviklingsforloeb", "Kompetenceudviklingsforløb for lokale aktører",
              "Aktiviteter af typen kompetenceudvikling.", "forløb", "omraade_aktiviteter", "sum",
              _count("omraade_aktiviteter", "type = 'kompetenceudvikling'")),
    Indicator("aktive_aktoerer", "Aktive aktører",
              "Forskellige aktører, der har deltaget i mindst én aktivitet.", "aktører", "omraade_aktiviteter",
              "distinct", _sql("""
                -- `aktoerer` lists actor ids separated by '|' or ','; ids compare trimmed and lower-cased.
                SELECT a.period_id, a.dimension, a.category, count(DISTINCT nullif(lower(trim(id.actor)), '')) AS value
                FROM counted_omraade_aktiviteter AS a
                LEFT JOIN LATERAL unnest(regexp_split_to_array(a.aktoerer, '[|,]')) AS id(actor) ON true
                GROUP BY a.period_id, a.dimension, a.category""")),
    Indicator("aktoerer_i_netvaerk", "Aktører i netværket",
              "Aktører med tilsluttet på eller før datoen og ingen udtrådt på eller før den.", "aktører",
              "omraade_aktoerer", "stock", _count("omraade_aktoerer")),
]

INDICATORS: dict[str, Indicator] = {i.id: i for i in _INDICATORS}

SOURCES = ("skoleforloeb", "vejlederlog", "rettighedskurser", "omraade_aktiviteter", "omraade_aktoerer", "milepaele")
