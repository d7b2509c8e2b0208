"""The indicator registry: every indicator of the contract, with its aggregation.

The aggregation says how an indicator combines over a period longer than a year
(DHIS2's "aggregation type"): `sum` (a flow), `distinct` (things counted once over the
whole period), `stock` (a state at a date) and `ratio` (pooled numerator over denominator).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    polarity: Literal["hoej_er_godt", "lav_er_godt"] = "hoej_er_godt"


_INDICATORS = [
    Indicator("elever_nsk", "Elever undervist om negativ social kontrol",
              "Elever i elevundervisning med tema nsk; en klasse (skole + klasse) tæller én gang pr. år "
              "med sit største antal elever.", "elever", "skoleforloeb", "sum"),
    Indicator("elever_rettigheder", "Elever i workshops om rettigheder",
              "Som elever_nsk, men for tema rettigheder (rapporteres ved siden af, lægges aldrig til elever_nsk).",
              "elever", "skoleforloeb", "sum"),
    Indicator("fagpersoner_opkvalificeret", "Fagpersoner opkvalificeret",
              "Sum af antal_fagpersoner over fagpersonsoplæg med tema nsk.", "fagpersoner", "skoleforloeb", "sum"),
    Indicator("foraeldre_naaet", "Forældre nået",
              "Sum af antal_foraeldre over forældredialog.", "forældre", "skoleforloeb", "sum"),
    Indicator("pilotskoler_sammenhaengende", "Pilotskoler med sammenhængende forløb",
              "Skoler, der i perioden har holdt alle tre aktiviteter (elevundervisning, fagpersonsoplæg, "
              "forældredialog) med pilot = ja.", "skoler", "skoleforloeb", "distinct"),
    Indicator("friskoler_naaet", "Friskoler nået",
              "Forskellige skoler med skoletype friskole, der har holdt mindst ét forløb.", "skoler",
              "skoleforloeb", "distinct"),
    Indicator("henvendelser", "Henvendelser til social kontrolvejlederne",
              "Registreringer med type henvendelse.", "henvendelser", "vejlederlog", "sum"),
    Indicator("borgersager", "Borgersager hos social kontrolvejlederne",
              "Registreringer med type borgersag.", "sager", "vejlederlog", "sum"),
    Indicator("borgersager_hoej_risiko", "Borgersager med højt risikoniveau",
              "Borgersager med risikoniveau høj.", "sager", "vejlederlog", "sum"),
    Indicator("andel_borgersager_arbejdsmarked", "Andel borgersager om begrænsninger ift. arbejdsmarkedet",
              "Procent (0-100) af borgersager, hvis temaer omfatter arbejdsmarked.", "pct", "vejlederlog", "ratio"),
    Indicator("andel_borgersager_vold", "Andel borgersager om vold",
              "Procent (0-100) af borgersager, hvis temaer omfatter vold.", "pct", "vejlederlog", "ratio"),
    Indicator("borgere_med_sag", "Borgere med mindst én borgersag",
              "Forskellige borgere (efter pseudonym) med mindst én borgersag.", "borgere", "vejlederlog", "distinct"),
    Indicator("rettighedskurser", "Rettighedskurser afholdt",
              "Kurser om rettigheder, der er gennemført.", "kurser", "rettighedskurser", "sum"),
    Indicator("rettighedskursus_deltagere", "Deltagere på rettighedskurser",
              "Sum af deltagere på rettighedskurser.", "deltagere", "rettighedskurser", "sum"),
    Indicator("omraade_borgere_naaet", "Borgere nået af den områdebaserede indsats",
              "Sum af deltagere over borgeraktiviteter.", "borgere", "omraade_aktiviteter", "sum"),
    Indicator("netvaerksmoeder", "Netværksmøder",
              "Aktiviteter af typen netværksmøde.", "møder", "omraade_aktiviteter", "sum"),
    Indicator("kompetenceudviklingsforloeb", "Kompetenceudviklingsforløb for lokale aktører",
              "Aktiviteter af typen kompetenceudvikling.", "forløb", "omraade_aktiviteter", "sum"),
    Indicator("aktive_aktoerer", "Aktive aktører",
              "Forskellige aktører, der har deltaget i mindst én aktivitet.", "aktører", "omraade_aktiviteter",
              "distinct"),
    Indicator("aktoerer_i_netvaerk", "Aktører i netværket",
              "Aktører med tilsluttet på eller før datoen og ingen udtrådt på eller før den.", "aktører",
              "omraade_aktoerer", "stock"),
]

INDICATORS: dict[str, Indicator] = {i.id: i for i in _INDICATORS}

SOURCES = ("skoleforloeb", "vejlederlog", "rettighedskurser", "omraade_aktiviteter", "omraade_aktoerer", "milepaele")
