"""The indicator registry: every indicator of the contract, with its aggregation and its query.

The aggregation says how an indicator combines over a period longer than a year
(DHIS2's "aggregation type"): `sum` (a flow), `distinct` (things counted once over the
whole period), `stock` (a state at a date) and `ratio` (pooled numerator over denominator).

The indicator is its contributions, in SQL an analyst can read and run: over
`counted_<source>`, the rows of the source that count, one per period it falls in
(`nsk_pipeline/indicators/engine.py` defines those relations and runs the queries), each row
the indicator takes with `amount`, what it adds to the value (a course 1, a class's session
with its largest pupil count that count and the class's other sessions 0, the first record of
a school or citizen 1 and the rest 0), and `counted_unit`, what it is counted as (a class, a
school, an actor; never a pseudonym). The indicator's query is the sum of the amounts per
period and breakdown cell (a ratio: the pooled amounts over the pooled denominators), so the
records `nsk explain` lists add up to the marts' value by construction. Whatever the
aggregation, the value is computed over the period's rows; `sum` indicators are flows, so a
period of several years is the sum of its years only because each of their rows counts once
(a class counts once per `year`, which is in its partition).
"""

from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent, indent
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
    # SQL over counted_<source>: its rows (with period_id, dimension, category) that the indicator
    # takes, each with `amount` and `counted_unit` (ratios: `amount` of the numerator, `denominator`)
    contributions: str
    polarity: Literal["hoej_er_godt", "lav_er_godt"] = "hoej_er_godt"

    @property
    def query(self) -> str:
        """The indicator's SQL: period_id, dimension, category, value (ratios: numerator, denominator)."""
        ratio = self.aggregation == "ratio"
        values = ("100.0 * sum(amount) / nullif(sum(denominator), 0) AS value,\n"
                  "       sum(amount) AS numerator, sum(denominator) AS denominator") if ratio else "sum(amount) AS value"
        return f"SELECT {CELL}, {values}\nFROM (\n{indent(self.contributions, '  ')}\n) AS contributions\nGROUP BY {CELL}"


def _sql(text: str) -> str:
    return dedent(text).strip()


CELL = "period_id, dimension, category"  # what every query groups by: a period, and a breakdown cell


NO_UNIT = "CAST(NULL AS VARCHAR) AS counted_unit"
# A record's place among others of its unit (a school, a citizen, an actor): the earliest first,
# the key breaking ties; only the sum's record, never the sum, depends on it.
_FIRST = {"skoleforloeb": "dato, udbyder_key, forloeb_id", "vejlederlog": "oprettet, registrering_id",
          "omraade_aktiviteter": "dato, aktivitet_id"}


def _where(where: str) -> str:
    return f"\nWHERE {where}" if where else ""


def _count(source: str, where: str = "") -> str:
    return _sql(f"""
        SELECT c.*, {NO_UNIT}, 1 AS amount
        FROM counted_{source} AS c""") + _where(where)


def _sum(source: str, column: str, where: str = "") -> str:
    return _sql(f"""
        SELECT c.*, {NO_UNIT}, c.{column} AS amount
        FROM counted_{source} AS c""") + _where(where)


def _first_of(source: str, unit: str, where: str, unit_label: str | None = None) -> str:
    """Things counted once per period (a school, a citizen): the unit's first record adds 1."""
    label = f"{unit_label or unit} AS counted_unit" if unit_label != "" else NO_UNIT
    return _sql(f"""
        SELECT c.*, {label},
               CASE WHEN c.{unit} IS NOT NULL
                     AND row_number() OVER (PARTITION BY {CELL}, c.{unit} ORDER BY {_FIRST[source]}) = 1
                    THEN 1 ELSE 0 END AS amount
        FROM counted_{source} AS c
        WHERE {where}""")


def _pupils(tema: str) -> str:
    return _sql(f"""
        -- A class (school + klasse) counts once a year, at its largest antal_elever: the session with
        -- the largest count adds it, the class's other sessions 0; a session without klasse is a
        -- class of its own (udbyder + forloeb_id).
        SELECT r.*, CASE WHEN r.nth = 1 THEN r.antal_elever ELSE 0 END AS amount
        FROM (SELECT c.*, c.school_key || ' | ' || coalesce(c.klasse_key, c.udbyder_key || ' ' || c.forloeb_id)
                            AS counted_unit,
                     row_number() OVER (PARTITION BY {CELL}, year, school_key, klasse_key,
                                                     CASE WHEN klasse_key IS NULL THEN udbyder_key END,
                                                     CASE WHEN klasse_key IS NULL THEN forloeb_id END
                                        ORDER BY antal_elever DESC NULLS LAST, {_FIRST["skoleforloeb"]}) AS nth
              FROM counted_skoleforloeb AS c
              WHERE aktivitet = 'elevundervisning' AND tema = '{tema}') AS r""")


def _share(theme: str) -> str:
    # `temaer` is a '|'-joined code list: a theme is included when '|theme|' is in '|temaer|'.
    has = f"position('|{theme}|' IN '|' || temaer || '|') > 0"
    return _sql(f"""
        SELECT c.*, {NO_UNIT}, CASE WHEN {has} THEN 1 ELSE 0 END AS amount, 1 AS denominator
        FROM counted_vejlederlog AS c
        WHERE type = 'borgersag'""")


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
                -- A school counts when its pilot sessions cover the three activities: its first adds 1.
                SELECT r.*, CASE WHEN r.school_key IS NOT NULL AND r.nth = 1
                                  AND max(r.activity) OVER (PARTITION BY {CELL}, r.school_key) = 3
                                 THEN 1 ELSE 0 END AS amount
                FROM (SELECT c.*, c.school_key AS counted_unit,
                             dense_rank() OVER (PARTITION BY {CELL}, c.school_key ORDER BY c.aktivitet) AS activity,
                             row_number() OVER (PARTITION BY {CELL}, c.school_key
                                                ORDER BY {_FIRST["skoleforloeb"]}) AS nth
                      FROM counted_skoleforloeb AS c
                      WHERE pilot = 'ja' AND aktivitet IS NOT NULL) AS r""")),
    Indicator("friskoler_naaet", "Friskoler nået",
              "Forskellige skoler med skoletype friskole, der har holdt mindst ét forløb.", "skoler",
              "skoleforloeb", "distinct", _first_of("skoleforloeb", "school_key", "skoletype = 'friskole'")),
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
              # Each citizen's first borgersag adds 1; what it counts is never shown (a pseudonym).
              _first_of("vejlederlog", "borger_pseudonym", "type = 'borgersag'", unit_label="")),
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
              "distinct", _sql(f"""
                -- `aktoerer` lists actor ids separated by '|' or ','; ids compare trimmed and lower-cased.
                -- A record per activity and actor it lists: an actor's first activity adds 1.
                SELECT r.*, CASE WHEN r.counted_unit IS NOT NULL
                                  AND row_number() OVER (PARTITION BY {CELL}, r.counted_unit
                                                         ORDER BY {_FIRST["omraade_aktiviteter"]}) = 1
                                 THEN 1 ELSE 0 END AS amount
                FROM (SELECT a.*, nullif(lower(trim(id.actor)), '') AS counted_unit
                      FROM counted_omraade_aktiviteter AS a
                      LEFT JOIN LATERAL unnest(regexp_split_to_array(a.aktoerer, '[|,]')) AS id(actor) ON true) AS r""")),
    Indicator("aktoerer_i_netvaerk", "Aktører i netværket",
              "Aktører med tilsluttet på eller før datoen og ingen udtrådt på eller før den.", "aktører",
              "omraade_aktoerer", "stock", _count("omraade_aktoerer")),
]

INDICATORS: dict[str, Indicator] = {i.id: i for i in _INDICATORS}

SOURCES = ("skoleforloeb", "vejlederlog", "rettighedskurser", "omraade_aktiviteter", "omraade_aktoerer", "milepaele")
