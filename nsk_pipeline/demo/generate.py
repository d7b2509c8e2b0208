"""Seeded, deterministic demo exports for the six sources of contracts/source-exports.md.

    python -m nsk_pipeline.demo.generate --out data/raw [--seed 20240101]

Everything is synthetic (CPR numbers too: generated from the seed, valid by the contract's rule).
The rows are built so that the valid, non-cancelled, latest-version rows reproduce the published
figures: Annex 2 for 2024 (as of 2025-03-01), the 2025 status slides (as of 2026-03-01) and
Annex 1 for the 2017-18 plan (as of 2018-09-01). Around them the files carry the mess the
contract allows: both separators, three encodings, xlsx with real date cells, header spellings,
extra columns, four date forms, Danish number formats, code spellings with æøå, corrections in
later exports, cancelled rows, and a handful of rows a loader must quarantine (never needed for a
figure). Same seed -> byte-identical files, xlsx included.

Each source re-exports the year to date after every quarter and once more, for the whole year,
in January/February; the actor register is a full snapshot in each export; the milestone files
are typed by hand.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.writer.excel import ExcelWriter

DEFAULT_SEED = 20240101
D = dt.date.fromisoformat

# ---------------------------------------------------------------------------------------------
# Tables: what the sources deliver, and when
# ---------------------------------------------------------------------------------------------

COLUMNS = {
    "skoleforloeb": ("forloeb_id", "dato", "skole", "skoletype", "klasse", "udbyder", "aktivitet", "tema",
                     "antal_elever", "antal_fagpersoner", "antal_foraeldre", "pilot", "status"),
    "vejlederlog": ("registrering_id", "oprettet", "type", "cpr", "risikoniveau", "temaer", "henvist_til",
                    "afsluttet", "status", "vejleder"),
    "rettighedskurser": ("kursus_id", "dato", "sted_type", "sted", "deltagere", "status"),
    "omraade_aktiviteter": ("aktivitet_id", "dato", "omraade", "type", "maalgruppe", "deltagere", "aktoerer",
                            "status"),
    "omraade_aktoerer": ("aktoer_id", "navn", "sektor", "tilsluttet", "udtraadt"),
    "milepaele": ("maal_id", "aar", "opfyldt", "bemaerkning"),
}
SOURCES = tuple(COLUMNS)
COUNT_COLUMNS = {"antal_elever", "antal_fagpersoner", "antal_foraeldre", "deltagere"}
# In an xlsx export the main date column holds real Excel dates; these secondary ones were typed as text.
XLSX_TEXT_DATES = {"afsluttet", "udtraadt"}

# Years each source has data for (the counsellor log begins in 2021, the area initiative in 2024).
SOURCE_YEARS = {
    "skoleforloeb": (2017, 2018, 2021, 2022, 2023, 2024, 2025, 2026),
    "vejlederlog": (2021, 2022, 2023, 2024, 2025, 2026),
    "rettighedskurser": (2024, 2025, 2026),
    "omraade_aktiviteter": (2024, 2025, 2026),
    "omraade_aktoerer": (2024, 2025, 2026),
}
QUARTER_ENDS = ((3, 31), (6, 30), (9, 30), (12, 31))
# (month, day) of the export after Q1, Q2, Q3, and of the final one early in the next year.
EXPORT_DAYS = {
    "skoleforloeb": ((4, 4), (7, 4), (10, 3), (1, 10)),
    "vejlederlog": ((4, 2), (7, 2), (10, 2), (2, 3)),
    "rettighedskurser": ((4, 3), (7, 3), (10, 1), (1, 15)),
    "omraade_aktiviteter": ((4, 5), (7, 5), (10, 6), (1, 17)),
    "omraade_aktoerer": ((4, 5), (7, 5), (10, 6), (1, 17)),
}
LAST_EXPORT = D("2026-10-06")  # nothing has been exported since (2026 is year to date through Q3)

# --- schools -----------------------------------------------------------------------------------
FOLKESKOLER = ("Tagensbo Skole", "Nørrebro Park Skole", "Utterslev Skole", "Rådmandsgade Skole", "Husum Skole",
               "Tingbjerg Skole", "Heibergskolen", "Bellahøj Skole", "Lundehusskolen", "Kirkebjerg Skole",
               "Grøndalsvængets Skole", "Blågård Skole", "Bispebjerg Skole", "Hillerødgades Skole",
               "Nørre Fælled Skole", "Holbergskolen", "Vigerslev Allés Skole", "Ellebjerg Skole")
FRISKOLER = ("Nordvest Friskole", "Amager Friskole", "Sundby Friskole", "Den Internationale Friskole",
             "Valby Friskole")
PRIVATSKOLER = ("Bellahøj Privatskole", "Københavns Privatskole")
SCHOOL_TYPE = {**{s: "folkeskole" for s in FOLKESKOLER}, **{s: "friskole" for s in FRISKOLER},
               **{s: "privatskole" for s in PRIVATSKOLER}}

# Providers by plan: the 2017-18 integration plan, and the action plan (2021 onwards).
PROVIDERS = {
    "ihp2017": {"nsk": ("SSP København", "C:NTACT", "Mino Danmark"), "rettigheder": (),
                "fagpersonsoplaeg": ("Etnisk Konsulentteam",), "foraeldredialog": ("Dansk Flygtningehjælp",)},
    "hp": {"nsk": ("Børns Vilkår", "C:NTACT"), "rettigheder": ("BUF Demokratiteam", "Børns Vilkår"),
           "fagpersonsoplaeg": ("Børns Vilkår", "MÆRK"), "foraeldredialog": ("Børns Vilkår",)},
}


@dataclass(frozen=True)
class SchoolBlock:
    """A stretch of a school year whose valid totals are fixed; specials are part of the totals."""
    name: str
    first: dt.date
    last: dt.date
    elever_nsk: int
    elever_rettigheder: int
    fagpersoner: int  # antal_fagpersoner over fagpersonsoplaeg, tema nsk
    foraeldre: int    # antal_foraeldre over foraeldredialog
    plan: str = "hp"

    @property
    def year(self) -> int:
        return self.first.year


SCHOOL_BLOCKS = (
    # Annex 1: by 2018-09-01 the 2017-18 plan had reached 980 pupils, 240 parents, ~450 professionals.
    SchoolBlock("2017", D("2017-01-16"), D("2017-12-15"), 560, 0, 260, 130, "ihp2017"),
    SchoolBlock("2018H1", D("2018-01-08"), D("2018-06-22"), 420, 0, 190, 110, "ihp2017"),
    # The autumn 2018 push lifts the plan to 1650 / 410 / 480: more, but still short of the targets.
    SchoolBlock("2018H2", D("2018-08-13"), D("2018-12-14"), 670, 0, 30, 170, "ihp2017"),
    SchoolBlock("2021", D("2021-02-01"), D("2021-12-17"), 1320, 0, 140, 90),
    SchoolBlock("2022", D("2022-01-10"), D("2022-12-16"), 1780, 2400, 175, 150),
    SchoolBlock("2023", D("2023-01-09"), D("2023-12-15"), 2060, 4100, 210, 180),
    SchoolBlock("2024", D("2024-01-08"), D("2024-12-13"), 2425, 7050, 272, 260),  # Annex 2
    SchoolBlock("2025", D("2025-01-06"), D("2025-12-12"), 1428, 4300, 200, 190),  # 2025 slides
    SchoolBlock("2026", D("2026-01-05"), D("2026-09-30"), 1150, 3200, 150, 140),  # year to date, Q3
)

# --- the counsellors' log ------------------------------------------------------------------------
# year: (first day, last day, henvendelser, borgersager, of which hoej, of which about arbejdsmarked)
COUNSELLOR_YEARS = {
    2021: (D("2021-02-01"), D("2021-12-22"), 90, 28, 4, 10),
    2022: (D("2022-01-03"), D("2022-12-22"), 170, 52, 8, 19),
    2023: (D("2023-01-02"), D("2023-12-21"), 260, 80, 12, 30),
    2024: (D("2024-01-02"), D("2024-12-20"), 413, 121, 20, 47),  # Annex 2: 413 and 121
    2025: (D("2025-01-02"), D("2025-12-19"), 357, 115, 18, 46),  # slides: ~18 high risk, 40 % = 46/115
    2026: (D("2026-01-02"), D("2026-09-30"), 265, 84, 13, 33),
}
OTHER_THEMES = ("uddannelse", "partnervalg", "vold", "isolation", "overvaagning", "oekonomi", "bolig", "andet")
REFERRALS = ("Røde Kors", "KVINFO", "Exitcirklen", "RED-Safehouse", "Sabaah", "Etnisk Konsulentteam")
COUNSELLORS = ("AH", "MK", "SB", "LN", "FJ")

# --- courses on rights ----------------------------------------------------------------------------
# year: (first day, last day, courses held per sted_type, specials included). 2024: none in Q1, none
# in housing areas (Annex 2: 8 of 17, all at the job centre); 2025: 15 (slides), some in housing areas.
COURSE_YEARS = {
    2024: (D("2024-04-08"), D("2024-12-13"), {"jobcenter": 8}),
    2025: (D("2025-01-13"), D("2025-12-12"), {"jobcenter": 9, "boligomraade": 5, "civilsamfund": 1}),
    2026: (D("2026-01-12"), D("2026-09-25"), {"jobcenter": 6, "boligomraade": 4, "civilsamfund": 1}),
}
COURSE_PLACES = {
    "jobcenter": ("Jobcenter København, Nørre Voldgade", "Jobcenter København, Bispebjerg",
                  "Jobcenter København, Amager"),
    "boligomraade": ("Beboerhuset Bispebjerg Bakke", "Fællesrummet Tagensbo", "Beboerhuset Lundehus"),
    "civilsamfund": ("KVINFO", "Røde Kors, Nordvest"),
}

# --- the area-based initiative -------------------------------------------------------------------
# The actor register: (id, name, sector, joined, left). 15 by the end of 2024 (Annex 2); in 2025 A07
# leaves and eleven join, 25 at the end of 2025 (slides). A16 and A27 join in January, so the final
# snapshot of the year before already lists them, but they do not count at its 31 December.
ACTORS = (
    ("A01", "Bispebjerg Bibliotek", "kommunal", D("2024-02-15"), None),
    ("A02", "Tagensbo Skole", "skole", D("2024-02-15"), None),
    ("A03", "Boligsocial helhedsplan Bispebjerg Bakke", "boligsocial", D("2024-02-20"), None),
    ("A04", "Bydelsmødrene i Bispebjerg", "civilsamfund", D("2024-03-05"), None),
    ("A05", "Klub Tagensbo", "kommunal", D("2024-03-12"), None),
    ("A06", "SSP Bispebjerg/Nordvest", "kommunal", D("2024-04-10"), None),
    ("A07", "Nordvest Beboerforening", "civilsamfund", D("2024-04-10"), D("2025-06-30")),
    ("A08", "Utterslev Skole", "skole", D("2024-05-02"), None),
    ("A09", "Sundhedsplejen Bispebjerg", "kommunal", D("2024-05-02"), None),
    ("A10", "Kvindenetværket Nordvest", "civilsamfund", D("2024-05-21"), None),
    ("A11", "Ungdommens Røde Kors, Nordvest", "civilsamfund", D("2024-06-04"), None),
    ("A12", "Lokaludvalget Bispebjerg", "kommunal", D("2024-06-04"), D("2026-05-31")),
    ("A13", "Grundtvigs Kirke", "andet", D("2024-09-10"), None),
    ("A14", "Bispebjerg Boldklub", "civilsamfund", D("2024-10-01"), None),
    ("A15", "Bispebjerg Skole", "skole", D("2024-11-19"), None),
    ("A16", "KVINFO", "civilsamfund", D("2025-01-08"), None),
    ("A17", "Dansk Flygtningehjælp Ungdom", "civilsamfund", D("2025-02-11"), None),
    ("A18", "Jobcenter København, Ungeindsatsen", "kommunal", D("2025-03-04"), None),
    ("A19", "Lundehusskolen", "skole", D("2025-03-18"), None),
    ("A20", "Fritidscentret Bispebjerg", "kommunal", D("2025-04-22"), None),
    ("A21", "Sabaah", "civilsamfund", D("2025-05-06"), None),
    ("A22", "Boligforeningen 3B, Bispebjerg", "boligsocial", D("2025-06-10"), None),
    ("A23", "Beboerrådgivningen Nordvest", "boligsocial", D("2025-08-19"), None),  # replaces A07
    ("A24", "Kulturhuset Tagensbo", "andet", D("2025-09-02"), None),
    ("A25", "Exitcirklen", "civilsamfund", D("2025-10-07"), None),
    ("A26", "Røde Kors Nordvest", "civilsamfund", D("2025-11-04"), None),
    ("A27", "Lundehus Menighedsråd", "andet", D("2026-01-12"), None),
    ("A28", "Ungdomsskolen Bispebjerg", "kommunal", D("2026-03-03"), None),
)
UNKNOWN_ACTOR = "A31"  # in no export of the register
# year: (first day, last day, (borgeraktiviteter, citizens reached), netvaerksmoeder, kompetenceudvikling,
#        arbejdsgruppemoeder). 2024: ca. 150-160 citizens, one network meeting, the course is held in 2025.
AREA_YEARS = {
    2024: (D("2024-03-01"), D("2024-12-13"), (6, 155), 1, 0, 3),
    2025: (D("2025-01-13"), D("2025-12-12"), (10, 310), 3, 1, 4),
    2026: (D("2026-01-12"), D("2026-09-25"), (7, 230), 2, 1, 3),
}
AREAS = ("Bispebjerg/Nordvest", "Bispebjerg/Nordvest", "Bispebjerg Bakke")

# --- milestones, typed by hand (Annex 1 and Annex 2 remarks) ---------------------------------------
MILESTONE_FILES = {
    D("2018-08-20"): [
        ("IHP2017-5", 2018, "Ja", "30 relevante fagpersoner har gennemgået en 2-dages efteruddannelse ved "
                                  "RED-Safehouse; målet om mindst 80 pct. er indfriet."),
        ("IHP2017-6", 2018, "delvist", "Der er afholdt 4 møder i koordineringsenheden; yderligere 4 møder "
                                       "forventes afholdt."),
    ],
    D("2025-01-20"): [
        ("HP2024-V4", 2024, "ja", "Workshop faciliteret af MÆRK, hvor de deltagende forvaltninger identificerede "
                                  "egne kontaktflader med relevante målgrupper af borgere – både børn og voksne."),
        ("HP2024-V5", 2024, "ja", "Målet er nået, og arbejdet fortsættes i 2025. Beredskabsplanen er publiceret på "
                                  "kommunens hjemmeside og indarbejdet i arbejdsgangen for sager om negativ social "
                                  "kontrol i Jobcenter København."),
        ("HP2024-C1", 2024, " JA ", "Der er etableret et aktørnetværk af 15 lokale kommunale og civile aktører. "
                                    "Der er afholdt ét møde i 2024, og der er planlagt tre møder i 2025."),
        ("HP2024-C3", 2024, "Ja", "Ny områdebaseret indsats i Bispebjerg: aktørkortlægning med 12 lokale aktører "
                                  "og et lokalt forankret aktørnetværk med 15 aktører. Aktiviteterne har nået "
                                  "ca. 150-160 borgere."),
    ],
    D("2026-01-26"): [
        ("HP2024-V5", 2025, "ja", "Arbejdet med beredskabsplanen er fortsat i 2025."),
        # Trap: B1 is a numeric goal, not a milestone; the loader must quarantine this row.
        ("HP2024-B1", 2025, "ja", "1.428 elever har modtaget undervisning."),
    ],
}
MILESTONE_TRAPS = {"HP2024-B1": "maal_id is a numeric goal, not a milestone"}

# --- file styles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    ext: str = "csv"
    sep: str = ";"
    encoding: str = "utf-8"
    newline: str = "\n"
    headers: str = "plain"   # plain | upper | spaced | mixed | capitalized
    dates: str = "iso"       # dd-mm-yyyy | dd.mm.yyyy | iso | excel
    counts: str = "int"      # int (25) | comma (25,0) | point (25.0) | thousands (1.000) | float (xlsx)
    zero: str = ""           # how a zero count is written: blank (= 0) or "0"


STYLES = {
    # Danish Excel's "CSV (semikolonsepareret)": Windows-1252, CRLF, day-month-year.
    "excel_dk": Style(sep=";", encoding="cp1252", newline="\r\n", headers="plain", dates="dd-mm-yyyy"),
    # The same, re-saved by someone whose counts were decimals: 25,0; headers " Dato ".
    "excel_dk_decimal": Style(sep=";", encoding="cp1252", newline="\r\n", headers="spaced", dates="dd.mm.yyyy",
                              counts="comma", zero="0"),
    # A case system's export: UTF-8 with BOM, headers in capitals, Danish thousands separator.
    "system_bom": Style(sep=";", encoding="utf-8-sig", newline="\r\n", headers="upper", dates="dd.mm.yyyy",
                        counts="thousands"),
    # A web tool: comma-separated UTF-8, ISO dates, counts as 25.0.
    "web_comma": Style(sep=",", encoding="utf-8", headers="plain", dates="iso", counts="point"),
    # A plain UTF-8 semicolon file with headers in mixed case and padding.
    "plain_utf8": Style(sep=";", encoding="utf-8", headers="mixed", dates="iso", zero="0"),
    "xlsx": Style(ext="xlsx", headers="capitalized", dates="excel", counts="float"),
}
ROTATION = ("excel_dk", "web_comma", "system_bom", "plain_utf8", "excel_dk_decimal")
FILE_STYLES = {  # files whose look matters for a trap; the rest rotate through ROTATION
    "skoleforloeb_2024-07-04": "excel_dk",        # + an unknown column "bemærkning"
    "skoleforloeb_2024-10-03": "system_bom",      # the rights day: 1.000 pupils
    "skoleforloeb_2025-01-10": "xlsx",            # the final 2024 export, left open in Excel (lock file)
    "skoleforloeb_2026-01-10": "system_bom",      # the winning 2025 version of the 1.200-pupil day
    "vejlederlog_2024-07-02": "xlsx",
    "rettighedskurser_2026-01-15": "xlsx",
    "omraade_aktiviteter_2025-07-05": "plain_utf8",  # + an unknown column "ansvarlig"
    "omraade_aktoerer_2025-04-05": "xlsx",
    "milepaele_2018-08-20": "excel_dk",
    "milepaele_2025-01-20": "xlsx",
    "milepaele_2026-01-26": "web_comma",
}
# Extra columns the contract says to ignore: file -> (column, inserted after, value maker).
EXTRA_COLUMNS = {
    "skoleforloeb_2024-07-04": ("bemærkning", "status",
                                lambda v: "Projektuge" if v["klasse"].lower().startswith("5.") else ""),
    "omraade_aktiviteter_2025-07-05": ("ansvarlig", "omraade", lambda v: "MEDskaberne"),
}

# Codes are written in the listed form most of the time; otherwise in one of these spellings.
SPELLINGS = {
    "elevundervisning": ("Elevundervisning", "ELEVUNDERVISNING"),
    "fagpersonsoplaeg": ("Fagpersonsoplæg", "fagpersonsoplæg"),
    "foraeldredialog": ("Forældredialog", "forældredialog"),
    "nsk": ("NSK",), "rettigheder": ("Rettigheder",),
    "gennemfoert": ("gennemført", "Gennemført"), "aflyst": ("Aflyst",),
    "folkeskole": ("Folkeskole",), "friskole": ("Friskole", "FRISKOLE"), "privatskole": ("Privatskole",),
    "ja": ("Ja", "JA"), "nej": ("Nej",),
    "henvendelse": ("Henvendelse",), "borgersag": ("Borgersag", "BORGERSAG"),
    "lav": ("Lav",), "middel": ("Middel",), "hoej": ("Høj", "høj", "HOEJ"),
    "aktiv": ("Aktiv",), "afsluttet": ("Afsluttet",), "annulleret": ("Annulleret",),
    "arbejdsmarked": ("Arbejdsmarked",), "oekonomi": ("økonomi",), "overvaagning": ("overvågning",),
    "jobcenter": ("Jobcenter",), "boligomraade": ("boligområde", "Boligområde"), "civilsamfund": ("Civilsamfund",),
    "borgeraktivitet": ("Borgeraktivitet",), "netvaerksmoede": ("netværksmøde", "Netværksmøde"),
    "kompetenceudvikling": ("Kompetenceudvikling",), "arbejdsgruppemoede": ("arbejdsgruppemøde",),
    "foraeldre_voksne": ("forældre_voksne",), "boern_unge": ("børn_unge",), "blandet": ("Blandet",),
    "kommunal": ("Kommunal",), "boligsocial": ("Boligsocial",), "skole": ("SKOLE",),
}

# ---------------------------------------------------------------------------------------------
# Rows and exports
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    source: str
    day: dt.date     # the export date, in the file name
    year: int        # the year it re-exports, year to date
    cutoff: dt.date  # the end of the quarter it covers

    @property
    def stem(self) -> str:
        return f"{self.source}_{self.day.isoformat()}"


def export_schedule(source: str) -> list[Export]:
    exports = []
    for year in SOURCE_YEARS[source]:
        for (qm, qd), (m, d) in zip(QUARTER_ENDS, EXPORT_DAYS[source]):
            day = dt.date(year + (m < qm), m, d)  # the final export falls in the next year
            if day <= LAST_EXPORT:
                exports.append(Export(source, day, year, dt.date(year, qm, qd)))
    return exports


def final_export(source: str, year: int) -> dt.date:
    return max(e.day for e in export_schedule(source) if e.year == year)


@dataclass
class Row:
    """One record of a source as it evolves over its exports."""
    when: dt.date                 # decides which year-to-date exports hold it (joined, for the register)
    values: dict[str, object]     # column -> str | int | date | None, spelled as the source writes it
    changes: list[tuple[dt.date, dict[str, object], str]] = field(default_factory=list)
    first_export: dt.date | None = None  # only in exports dated on/after this (e.g. only the final one)
    trap: str | None = None              # why a loader must quarantine it (reported with file and line)

    def version(self, export_day: dt.date) -> dict[str, object]:
        values = dict(self.values)
        for day, new, _ in self.changes:
            if export_day >= day:
                values.update(new)
        return values

    def in_export(self, export: Export, snapshot: bool) -> bool:
        if self.first_export and export.day < self.first_export:
            return False
        if snapshot:
            return self.when <= export.day
        return self.when.year == export.year and self.when <= export.cutoff


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def spell(rng: random.Random, code: str) -> str:
    variants = SPELLINGS.get(code, ())
    return rng.choice(variants) if variants and rng.random() < 0.35 else code


def norm(name: str) -> str:
    """The contract's key for skole/klasse: case-insensitive, runs of spaces collapsed."""
    return " ".join(name.split()).casefold()


def random_day(rng: random.Random, first: dt.date, last: dt.date, school: bool = False) -> dt.date:
    """A weekday in [first, last]; school days also skip the July holiday."""
    span = (last - first).days
    while True:
        day = first + dt.timedelta(days=rng.randint(0, span))
        if day.weekday() < 5 and not (school and day.month == 7):
            return day


def split_total(rng: random.Random, total: int, lo: int, hi: int, n: int | None = None) -> list[int]:
    """n whole numbers in [lo, hi] that add up to exactly total (n picked from the mean if not given)."""
    if total <= 0:
        assert total == 0, "the specials exceed the block's total"
        return []
    n = n or max(1, round(total / ((lo + hi) / 2)))
    assert n * lo <= total <= n * hi, (total, lo, hi, n)
    parts = [rng.randint(lo, hi) for _ in range(n)]
    diff = total - sum(parts)
    while diff:
        i = rng.randrange(n)
        step = 1 if diff > 0 else -1
        if lo <= parts[i] + step <= hi:
            parts[i] += step
            diff -= step
    return parts


def school_spelling(rng: random.Random, name: str) -> str:
    """Providers type school names by hand: lower-case 'skole', a double space, stray padding."""
    r = rng.random()
    if r < 0.05 and name.endswith(" Skole"):
        return name[:-len("Skole")] + "skole"
    if r < 0.07 and " " in name:
        return name.replace(" ", "  ", 1)
    if r < 0.08:
        return f" {name} "
    return name


def class_spelling(rng: random.Random, klasse: str) -> str:
    return klasse.lower() if rng.random() < 0.3 else klasse


def join_codes(rng: random.Random, codes: list[str]) -> str:
    return rng.choice(("|", "|", ",", ", ")).join(spell(rng, c) for c in codes)


# ---------------------------------------------------------------------------------------------
# skoleforloeb
# ---------------------------------------------------------------------------------------------


def session(dato, skole, udbyder, aktivitet, tema="nsk", *, klasse="", elever=0, fagpersoner=0, foraeldre=0,
            pilot="", status="gennemfoert", skoletype=None, correction=None, trap=None, first_export=None):
    """A session as the provider holds it (canonical codes; spelled when it becomes a Row).

    correction = (export day, {column: value}): exports before that day carry the older value;
    the arguments give the corrected one, which is what counts."""
    return dict(dato=dato, skole=skole, skoletype=skoletype or SCHOOL_TYPE[canonical(skole)],
                klasse=klasse, udbyder=udbyder, aktivitet=aktivitet, tema=tema, elever=elever,
                fagpersoner=fagpersoner, foraeldre=foraeldre, pilot=pilot, status=status,
                correction=correction, trap=trap, first_export=first_export)


def canonical(skole: str) -> str:
    key = norm(skole)
    return next(s for s in SCHOOL_TYPE if norm(s) == key)


def tally(sessions: list[dict]) -> Counter:
    """What the valid, held sessions add to each figure (a class once, at its largest count)."""
    out: Counter = Counter()
    classes: dict[tuple, int] = {}
    for i, s in enumerate(sessions):
        if s["status"] != "gennemfoert" or s["trap"]:
            continue
        if s["aktivitet"] == "elevundervisning":
            key = (s["tema"], norm(s["skole"]), norm(s["klasse"]) or f"#{i}")  # no klasse: its own class
            classes[key] = max(classes.get(key, 0), s["elever"])
        elif s["aktivitet"] == "fagpersonsoplaeg" and s["tema"] == "nsk":
            out["fagpersoner"] += s["fagpersoner"]
        elif s["aktivitet"] == "foraeldredialog":
            out["foraeldre"] += s["foraeldre"]
    for (tema, _, _), n in classes.items():
        out[f"elever_{tema}"] += n
    return out


def school_specials(name: str) -> list[dict]:
    """Sessions written out by hand because a figure, a goal or a trap depends on them."""
    final_2024 = final_export("skoleforloeb", 2024)
    final_2025 = final_export("skoleforloeb", 2025)
    specials = {
        "2017": [
            # Two free schools reached in 2017 (one of them again in 2018).
            session(D("2017-03-09"), "Nordvest Friskole", "C:NTACT", "elevundervisning", klasse="7.A", elever=24),
            session(D("2017-10-24"), "Amager Friskole", "C:NTACT", "elevundervisning", klasse="8.A", elever=26),
            session(D("2017-11-14"), "Husum Skole", "SSP København", "elevundervisning", klasse="8.C", elever=25,
                    status="aflyst"),
        ],
        "2018H1": [
            session(D("2018-02-27"), "Amager Friskole", "C:NTACT", "elevundervisning", klasse="8.B", elever=23),
            session(D("2018-04-17"), "Sundby Friskole", "Etnisk Konsulentteam", "fagpersonsoplaeg",
                    fagpersoner=14),
            # Cancelled: this free school is not reached before the autumn.
            session(D("2018-05-15"), "Den Internationale Friskole", "C:NTACT", "elevundervisning",
                    klasse="6.A", elever=22, status="aflyst"),
        ],
        "2018H2": [
            session(D("2018-10-09"), "Den Internationale Friskole", "C:NTACT", "elevundervisning",
                    klasse="6.A", elever=21),
        ],
        "2024": [
            # Pilot 1: Tagensbo Skole, all three activities with pilot=ja.
            session(D("2024-02-06"), "Tagensbo Skole", "Børns Vilkår", "elevundervisning", klasse="5.A", elever=23,
                    pilot="ja"),
            session(D("2024-02-08"), "Tagensbo Skole", "Børns Vilkår", "elevundervisning", klasse="5.B", elever=22,
                    pilot="ja"),
            session(D("2024-02-13"), "Tagensbo Skole", "Børns Vilkår", "elevundervisning", klasse="5.a", elever=21,
                    pilot="ja"),  # project week: the same class again, counted once at 23
            session(D("2024-03-05"), "Tagensbo  Skole", "Børns Vilkår", "fagpersonsoplaeg", fagpersoner=26,
                    pilot="ja"),
            session(D("2024-03-14"), "Tagensbo Skole", "Børns Vilkår", "foraeldredialog", foraeldre=38, elever=45,
                    pilot="ja"),  # pupils at the parents' dialogue are not taught pupils
            # Pilot 2: Nørrebro Park Skole, one session spelled "Nørrebro Park skole".
            session(D("2024-04-09"), "Nørrebro Park Skole", "Børns Vilkår", "elevundervisning", klasse="5.A",
                    elever=24, pilot="ja"),
            session(D("2024-04-10"), "Nørrebro Park Skole", "Børns Vilkår", "elevundervisning", klasse="5.B",
                    elever=25, pilot="ja"),
            session(D("2024-04-11"), "Nørrebro Park Skole", "Børns Vilkår", "elevundervisning", klasse="5.C",
                    elever=21, pilot="ja"),
            session(D("2024-05-28"), "Nørrebro Park skole", "Børns Vilkår", "fagpersonsoplaeg", fagpersoner=31,
                    pilot="ja"),
            session(D("2024-06-04"), "Nørrebro Park Skole", "Børns Vilkår", "foraeldredialog", foraeldre=44,
                    elever=60, pilot="ja"),
            # Decoy: Rådmandsgade Skole held two of the three; its staff briefing was cancelled.
            session(D("2024-09-10"), "Rådmandsgade Skole", "Børns Vilkår", "elevundervisning", klasse="6.A",
                    elever=22, pilot="ja"),
            session(D("2024-10-01"), "Rådmandsgade Skole", "Børns Vilkår", "foraeldredialog", foraeldre=29,
                    pilot="ja"),
            session(D("2024-11-05"), "Rådmandsgade Skole", "Børns Vilkår", "fagpersonsoplaeg", fagpersoner=20,
                    pilot="ja", status="aflyst"),
            # Correction: 22 pupils until the final export corrects it to 24.
            session(D("2024-05-14"), "Husum Skole", "C:NTACT", "elevundervisning", klasse="7.C", elever=24,
                    correction=(final_2024, {"antal_elever": 22})),
            # One class, two providers: counted once, at 25.
            session(D("2024-03-19"), "Heibergskolen", "Børns Vilkår", "elevundervisning", klasse="6.B", elever=24),
            session(D("2024-10-15"), "Heibergskolen", "C:NTACT", "elevundervisning", klasse="6.b", elever=25),
            # Theatre without a class: each performance counts as its own class (48 + 52).
            session(D("2024-11-26"), "Bispebjerg Skole", "C:NTACT", "elevundervisning", elever=48),
            session(D("2024-11-27"), "Bispebjerg Skole", "C:NTACT", "elevundervisning", elever=52),
            # The rights day: 1.000 pupils, and a rights briefing for staff (not tema nsk: not counted).
            session(D("2024-09-19"), "Tingbjerg Skole", "BUF Demokratiteam", "elevundervisning", "rettigheder",
                    elever=1000),
            session(D("2024-08-15"), "Tingbjerg Skole", "BUF Demokratiteam", "fagpersonsoplaeg", "rettigheder",
                    fagpersoner=40),
            session(D("2024-12-03"), "Husum Skole", "C:NTACT", "elevundervisning", klasse="8.A", elever=26,
                    status="aflyst"),
            # Trap, only in the final export: an impossible date (Excel kept it as text).
            session("31-02-2024", "Lundehusskolen", "Børns Vilkår", "elevundervisning", klasse="4.C", elever=25,
                    trap="impossible date 31-02-2024", first_export=final_2024),
        ],
        "2025": [
            # The 2025 pilot: Utterslev Skole ("Utterslev skole" in the slides).
            session(D("2025-03-04"), "Utterslev Skole", "Børns Vilkår", "elevundervisning", klasse="4.A", elever=22,
                    pilot="ja"),
            session(D("2025-03-05"), "Utterslev Skole", "Børns Vilkår", "elevundervisning", klasse="4.B", elever=23,
                    pilot="ja"),
            session(D("2025-03-11"), "Utterslev Skole", "Børns Vilkår", "elevundervisning", klasse="4.a", elever=20,
                    pilot="ja"),
            session(D("2025-04-08"), "Utterslev skole", "Børns Vilkår", "fagpersonsoplaeg", fagpersoner=28,
                    pilot="ja"),
            session(D("2025-05-13"), " Utterslev Skole ", "Børns Vilkår", "foraeldredialog", foraeldre=41,
                    pilot="ja"),
            # Tagensbo continues with pupils only: not a 2025 pilot school.
            session(D("2025-09-16"), "Tagensbo Skole", "Børns Vilkår", "elevundervisning", klasse="5.A", elever=24,
                    pilot="ja"),
            session(D("2025-05-22"), "Tingbjerg Skole", "BUF Demokratiteam", "elevundervisning", "rettigheder",
                    elever=1200),
            session(D("2025-11-20"), "Kirkebjerg Skole", "MÆRK", "fagpersonsoplaeg", fagpersoner=30,
                    status="aflyst"),
            # Trap, only in the final export: a school type that is not a code.
            session(D("2025-12-09"), "Valby Friskole", "C:NTACT", "elevundervisning", klasse="9.A", elever=27,
                    skoletype="efterskole", trap="unknown code skoletype=efterskole", first_export=final_2025),
        ],
        "2026": [
            session(D("2026-02-03"), "Husum Skole", "Børns Vilkår", "elevundervisning", klasse="5.B", elever=23,
                    pilot="ja"),
            session(D("2026-03-10"), "Husum Skole", "Børns Vilkår", "fagpersonsoplaeg", fagpersoner=24, pilot="ja"),
            session(D("2026-04-21"), "Husum Skole", "Børns Vilkår", "foraeldredialog", foraeldre=33, pilot="ja"),
        ],
    }
    return specials.get(name, [])


def new_class(rng, year: int, tema: str, schools: tuple[str, ...], used: set) -> tuple[str, str]:
    """A school and a class label not yet used this year (for this tema)."""
    while True:
        skole, grade = rng.choice(schools), rng.randint(4, 9)
        label = f"{grade}. årgang" if tema == "rettigheder" else f"{grade}.{rng.choice('ABCD')}"
        key = (year, tema, norm(skole), norm(label))
        if key not in used:
            used.add(key)
            return school_spelling(rng, skole), label


def fill_block(rng: random.Random, block: SchoolBlock, used: set) -> list[dict]:
    """The block's specials plus ordinary sessions that bring each figure to its exact total."""
    specials = school_specials(block.name)
    for s in specials:
        if s["aktivitet"] == "elevundervisning" and s["klasse"]:
            used.add((block.year, s["tema"], norm(s["skole"]), norm(s["klasse"])))
    have = tally(specials)
    providers = PROVIDERS[block.plan]
    # The 2017-18 free schools are all specials, so ordinary sessions there go to folkeskoler only.
    schools = FOLKESKOLER if block.plan == "ihp2017" else FOLKESKOLER * 3 + FRISKOLER + PRIVATSKOLER

    def pick_school():
        return school_spelling(rng, rng.choice(schools))

    def day(after=None):
        return random_day(rng, after or block.first, block.last, school=True)

    def plain_pilot():
        return rng.choice(("", "", "nej"))

    sessions = list(specials)
    for tema, total, lo, hi in (("nsk", block.elever_nsk, 18, 28), ("rettigheder", block.elever_rettigheder, 40, 85)):
        for size in split_total(rng, total - have[f"elever_{tema}"], lo, hi):
            skole, klasse = new_class(rng, block.year, tema, schools, used)
            udbyder, first = rng.choice(providers[tema]), day()
            sessions.append(session(first, skole, udbyder, "elevundervisning", tema, klasse=klasse, elever=size,
                                    pilot=plain_pilot()))
            # Some classes have more sessions (a project week); later counts are never larger.
            for _ in range(rng.choice((0, 0, 0, 0, 0, 0, 1, 1, 2))):
                sessions.append(session(day(first), skole, udbyder, "elevundervisning", tema,
                                        klasse=class_spelling(rng, klasse), elever=size - rng.randint(0, 3),
                                        pilot=plain_pilot()))
    for aktivitet, column, total, lo, hi in (("fagpersonsoplaeg", "fagpersoner", block.fagpersoner, 12, 35),
                                             ("foraeldredialog", "foraeldre", block.foraeldre, 15, 45)):
        for n in split_total(rng, total - have[column], lo, hi):
            pupils = rng.choice((0, 0, 0, rng.randint(20, 50)))  # pupils at a parents' dialogue are not taught
            sessions.append(session(day(), pick_school(), rng.choice(providers[aktivitet]), aktivitet,
                                    **{column: n}, elever=pupils if aktivitet == "foraeldredialog" else 0,
                                    pilot=plain_pilot()))
    # A couple of cancelled sessions whose counts must never reach a figure.
    sessions.append(session(day(), pick_school(), rng.choice(providers["nsk"]), "elevundervisning",
                            klasse=f"{rng.randint(4, 9)}.{rng.choice('ABCD')}", elever=rng.randint(18, 28),
                            status="aflyst"))
    sessions.append(session(day(), pick_school(), rng.choice(providers["fagpersonsoplaeg"]), "fagpersonsoplaeg",
                            fagpersoner=rng.randint(12, 35), status="aflyst"))
    target = Counter(elever_nsk=block.elever_nsk, elever_rettigheder=block.elever_rettigheder,
                     fagpersoner=block.fagpersoner, foraeldre=block.foraeldre)
    assert +tally(sessions) == +target, (block.name, tally(sessions))
    return sessions


def session_day(s: dict) -> dt.date:
    """The day a session belongs to; the impossible-date trap counts as the end of its year."""
    return s["dato"] if isinstance(s["dato"], dt.date) else D(f"{s['dato'][-4:]}-12-31")


def school_rows(seed: int) -> list[Row]:
    rng = random.Random(f"{seed}/skoleforloeb")
    used: set = set()
    sessions = [s for block in SCHOOL_BLOCKS for s in fill_block(rng, block, used)]
    sessions.sort(key=lambda s: (session_day(s), s["trap"] is not None))  # a trap comes last on its day
    numbers: Counter = Counter()
    rows = []
    for s in sessions:
        when = session_day(s)
        # Each provider numbers its own sessions, so two providers share ids (the key is udbyder + id).
        numbers[(when.year, s["udbyder"])] += 1
        values = {
            "forloeb_id": f"{when.year}-{numbers[(when.year, s['udbyder'])]:03d}",
            "dato": s["dato"], "skole": s["skole"], "skoletype": spell(rng, s["skoletype"]),
            "klasse": s["klasse"], "udbyder": s["udbyder"], "aktivitet": spell(rng, s["aktivitet"]),
            "tema": spell(rng, s["tema"]), "antal_elever": s["elever"], "antal_fagpersoner": s["fagpersoner"],
            "antal_foraeldre": s["foraeldre"], "pilot": spell(rng, s["pilot"]) if s["pilot"] else "",
            "status": spell(rng, s["status"]),
        }
        row = Row(when, values, first_export=s["first_export"], trap=s["trap"])
        if s["correction"]:
            day, old = s["correction"]
            new = {k: values[k] for k in old}
            row.changes.append((day, new, "correction " + " -> ".join(
                ", ".join(f"{k}={v}" for k, v in d.items()) for d in (old, new))))
            row.values.update(old)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# vejlederlog
# ---------------------------------------------------------------------------------------------


class Citizens:
    """Synthetic CPR numbers: the first six digits a real birth date, the 7th digit fitting its century."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.issued: set[str] = set()
        self.with_case: list[list] = []  # [digits, last written with dash]

    def new(self, registered: dt.date) -> str:
        rng = self.rng
        r = rng.random()
        age = rng.randint(15, 17) if r < 0.04 else rng.randint(18, 60) if r < 0.93 else rng.randint(61, 66)
        birth = registered - dt.timedelta(days=365 * age + rng.randint(1, 360))
        yy = birth.year % 100
        if birth.year < 2000:
            sevenths = [0, 1, 2, 3] + ([4, 9] if yy >= 37 else [])
        else:
            sevenths = ([4, 9] if yy <= 36 else []) + [5, 6, 7, 8]
        while True:
            digits = f"{birth:%d%m}{yy:02d}{rng.choice(sevenths)}{rng.randrange(1000):03d}"
            if digits not in self.issued:
                self.issued.add(digits)
                return digits

    def written(self, digits: str, dash: bool) -> str:
        text = f"{digits[:6]}-{digits[6:]}" if dash else digits
        # Danish Excel drops a leading zero now and then; the loader must put it back.
        return text[1:] if text.startswith("0") and self.rng.random() < 0.08 else text

    def for_case(self, registered: dt.date) -> str:
        """A citizen for a borgersag: mostly new, sometimes one with an earlier case (other CPR form)."""
        if self.with_case and self.rng.random() < 0.08:
            known = self.rng.choice(self.with_case)
            known[1] = not known[1]
            return self.written(known[0], known[1])
        digits, dash = self.new(registered), self.rng.random() < 0.6
        self.with_case.append([digits, dash])
        return self.written(digits, dash)

    def invalid(self, registered: dt.date) -> str:
        """A CPR whose first six digits are no date (30 February)."""
        yy = (registered.year - 34) % 100
        return f"{30:02d}{2:02d}{yy:02d}-{self.rng.randrange(10000):04d}"


def registration(rng, citizens: Citizens, reg_id: str, day: dt.date, kind: str, *, hoej=False,
                 arbejdsmarked=False, status="aktiv") -> Row:
    if kind == "borgersag":
        cpr = citizens.for_case(day)
        risk = "hoej" if hoej else rng.choice(("lav", "middel", "middel"))
        others = rng.sample(OTHER_THEMES, rng.randint(0 if arbejdsmarked else 1, 2))
        themes = (["arbejdsmarked"] if arbejdsmarked else []) + others
        referral = rng.choice(REFERRALS) if rng.random() < 0.25 else ""
        closed = day + dt.timedelta(days=rng.randint(20, 300)) if rng.random() < 0.75 else None
    else:
        cpr = citizens.written(citizens.new(day), rng.random() < 0.5) if rng.random() < 0.07 else ""
        risk = ""
        themes = rng.sample(OTHER_THEMES + ("arbejdsmarked",), rng.choice((0, 0, 1, 1, 2)))
        referral = rng.choice(REFERRALS) if rng.random() < 0.05 else ""
        closed = day + dt.timedelta(days=rng.randint(0, 21)) if rng.random() < 0.85 else None
    row = Row(day, {"registrering_id": reg_id, "oprettet": day, "type": spell(rng, kind), "cpr": cpr,
                    "risikoniveau": spell(rng, risk) if risk else "", "temaer": join_codes(rng, themes),
                    "henvist_til": referral, "afsluttet": None, "status": spell(rng, status),
                    "vejleder": rng.choice(COUNSELLORS)})
    if closed and status == "aktiv":
        # The case system shows the closing from the first export after it.
        row.changes.append((closed, {"status": spell(rng, "afsluttet"), "afsluttet": closed}, ""))
    return row


def counsellor_rows(seed: int) -> list[Row]:
    rng = random.Random(f"{seed}/vejlederlog")
    citizens = Citizens(rng)
    rows = []
    for year, (first, last, inquiries, cases, high, labour) in COUNSELLOR_YEARS.items():
        kinds = ["henvendelse"] * inquiries + ["borgersag"] * cases
        rng.shuffle(kinds)
        case_at = [i for i, k in enumerate(kinds) if k == "borgersag"]
        high_at, labour_at = set(rng.sample(case_at, high)), set(rng.sample(case_at, labour))
        days = sorted(random_day(rng, first, last) for _ in kinds)
        year_rows = [registration(rng, citizens, f"VL{year}-{i + 1:04d}", day, kind, hoej=i in high_at,
                                  arbejdsmarked=i in labour_at) for i, (day, kind) in enumerate(zip(days, kinds))]
        rows += year_rows + counsellor_specials(rng, citizens, year, year_rows)
    return rows


def counsellor_specials(rng, citizens: Citizens, year: int, year_rows: list[Row]) -> list[Row]:
    n = len(year_rows)

    def next_id(k: int) -> str:
        return f"VL{year}-{n + k:04d}"

    final = final_export("vejlederlog", year) if year < 2026 else None
    out = []
    if year == 2024:
        # A case registered twice; the duplicate is voided (annulleret) from the Q3 export on.
        original = next(r for r in year_rows if r.values["type"].lower() == "borgersag" and r.when.month == 5)
        dup = Row(original.when, dict(original.values, registrering_id=next_id(1)))
        cpr = str(original.values["cpr"])
        dup.values["cpr"] = cpr.replace("-", "") if "-" in cpr else f"{cpr[:-4]}-{cpr[-4:]}"
        dup.changes.append((D("2024-09-16"), {"status": "annulleret"}, "correction status aktiv -> annulleret "
                                                                        "(duplicate registration voided)"))
        out.append(dup)
        # Trap, only in the final export: a citizen case whose CPR is not a date.
        bad = registration(rng, citizens, next_id(2), D("2024-12-12"), "borgersag")
        bad.values["cpr"], bad.trap, bad.first_export = citizens.invalid(bad.when), "borgersag with invalid CPR", final
        out.append(bad)
    if year == 2025:
        # Voided from the start: its high risk and labour-market theme never count.
        out.append(registration(rng, citizens, next_id(1), D("2025-03-11"), "borgersag", hoej=True,
                                arbejdsmarked=True, status="annulleret"))
        # Trap, only in the final export: a risk level that is not a code.
        bad = registration(rng, citizens, next_id(2), D("2025-12-15"), "borgersag")
        bad.values["risikoniveau"], bad.trap, bad.first_export = "kritisk", "unknown code risikoniveau=kritisk", final
        out.append(bad)
    return out


# ---------------------------------------------------------------------------------------------
# rettighedskurser
# ---------------------------------------------------------------------------------------------


def course_rows(seed: int) -> list[Row]:
    rng = random.Random(f"{seed}/rettighedskurser")
    rows: list[Row] = []
    for year, (first, last, held) in COURSE_YEARS.items():
        final = final_export("rettighedskurser", year) if year < 2026 else None
        specials = course_specials(year, final)
        courses = [dict(c) for c in specials]
        for sted_type, n in held.items():
            n -= sum(1 for c in specials if c["sted_type"] == sted_type and c["status"] == "gennemfoert")
            courses += [dict(dato=random_day(rng, first, last), sted_type=sted_type, deltagere=rng.randint(6, 18),
                             status="gennemfoert") for _ in range(n)]
        courses.sort(key=lambda c: c["dato"])
        for i, c in enumerate(courses, 1):
            sted = rng.choice(COURSE_PLACES[c["sted_type"]])
            row = Row(c["dato"], {"kursus_id": f"RK{year % 100}-{i:02d}", "dato": c["dato"],
                                  "sted_type": spell(rng, c["sted_type"]), "sted": sted, "deltagere": c["deltagere"],
                                  "status": spell(rng, c["status"])})
            if "change" in c:
                row.changes.append(c["change"])
            rows.append(row)
    return rows


def course_specials(year: int, final: dt.date | None) -> list[dict]:
    if year == 2024:
        return [
            # 14 participants until the final export corrects it to 16.
            dict(dato=D("2024-09-12"), sted_type="jobcenter", deltagere=14, status="gennemfoert",
                 change=(final, {"deltagere": 16}, "correction deltagere=14 -> deltagere=16")),
            # Planned in a housing area and cancelled: 2024 still has no course in a housing area.
            dict(dato=D("2024-11-20"), sted_type="boligomraade", deltagere=12, status="aflyst"),
        ]
    if year == 2025:
        return [
            # A broken correction: the final export types -12; the Q2/Q3 version (12) keeps counting.
            dict(dato=D("2025-06-05"), sted_type="jobcenter", deltagere=12, status="gennemfoert",
                 change=(final, {"deltagere": -12}, "TRAP negative count deltagere=-12 (broken correction; "
                                                    "the earlier version with 12 keeps counting)")),
            dict(dato=D("2025-02-19"), sted_type="jobcenter", deltagere=10, status="aflyst"),
        ]
    return []


# ---------------------------------------------------------------------------------------------
# omraade_aktoerer and omraade_aktiviteter
# ---------------------------------------------------------------------------------------------


def actor_rows(seed: int) -> list[Row]:
    rng = random.Random(f"{seed}/omraade_aktoerer")
    rows = []
    for aktoer_id, navn, sektor, joined, left in ACTORS:
        row = Row(joined, {"aktoer_id": aktoer_id, "navn": navn, "sektor": spell(rng, sektor),
                           "tilsluttet": joined, "udtraadt": None})
        if left:
            # A snapshot shows the leaving from the first export after it.
            row.changes.append((left, {"udtraadt": left}, f"correction udtraadt blank -> {left.isoformat()}"))
        rows.append(row)
    return rows


def actors_on(day: dt.date) -> list[str]:
    return [a for a, _, _, joined, left in ACTORS if joined <= day and (left is None or left > day)]


def area_rows(seed: int) -> list[Row]:
    rng = random.Random(f"{seed}/omraade_aktiviteter")
    rows: list[Row] = []
    for year, (first, last, (n_citizen, reached), networks, courses, working) in AREA_YEARS.items():
        final = final_export("omraade_aktiviteter", year) if year < 2026 else None
        acts = area_specials(year, final)
        held = Counter(a["type"] for a in acts if a.get("status", "gennemfoert") == "gennemfoert" and not a.get("trap"))
        sizes = split_total(rng, reached, 12, 40, n_citizen)
        acts += [dict(type="borgeraktivitet", deltagere=n, maalgruppe=rng.choice(("foraeldre_voksne", "boern_unge",
                                                                                  "blandet"))) for n in sizes]
        acts += [dict(type="netvaerksmoede", deltagere=rng.randint(12, 25)) for _ in range(networks
                                                                                            - held["netvaerksmoede"])]
        acts += [dict(type="kompetenceudvikling", deltagere=rng.randint(16, 24), maalgruppe="fagpersoner")
                 for _ in range(courses - held["kompetenceudvikling"])]
        acts += [dict(type="arbejdsgruppemoede", deltagere=rng.randint(5, 9), maalgruppe="fagpersoner")
                 for _ in range(working)]
        for a in acts:
            a.setdefault("dato", random_day(rng, first, last))
            a.setdefault("status", "gennemfoert")
            a.setdefault("maalgruppe", rng.choice(("fagpersoner", "")))
            if "aktoerer" not in a:
                present = actors_on(a["dato"])
                k = min(len(present), rng.randint(10, 14) if a["type"] == "netvaerksmoede" else rng.randint(1, 4))
                a["aktoerer"] = sorted(rng.sample(present, k))
        acts.sort(key=lambda a: a["dato"])
        for i, a in enumerate(acts, 1):
            rows.append(Row(a["dato"], {
                "aktivitet_id": f"OA{year % 100}-{i:03d}", "dato": a["dato"], "omraade": rng.choice(AREAS),
                "type": spell(rng, a["type"]), "maalgruppe": spell(rng, a["maalgruppe"]) if a["maalgruppe"] else "",
                "deltagere": a["deltagere"], "aktoerer": rng.choice(("|", ",", ", ")).join(a["aktoerer"]),
                "status": spell(rng, a["status"])}, first_export=a.get("first_export"), trap=a.get("trap")))
    return rows


def area_specials(year: int, final: dt.date | None) -> list[dict]:
    if year == 2024:
        return [
            dict(type="netvaerksmoede", dato=D("2024-11-13"), deltagere=21),  # the one network meeting of 2024
            dict(type="borgeraktivitet", dato=D("2024-08-22"), deltagere=40, maalgruppe="foraeldre_voksne",
                 status="aflyst"),
            # Trap, only in the final export: an actor id the register has never had.
            dict(type="borgeraktivitet", dato=D("2024-12-10"), deltagere=35, maalgruppe="blandet",
                 aktoerer=["A03", UNKNOWN_ACTOR], trap=f"unknown actor id {UNKNOWN_ACTOR}", first_export=final),
        ]
    if year == 2025:
        return [
            dict(type="netvaerksmoede", dato=D("2025-02-26"), deltagere=18, status="aflyst"),
            # The key-person course with MÆRK ("the course is held in 2025").
            dict(type="kompetenceudvikling", dato=D("2025-10-14"), deltagere=22, maalgruppe="fagpersoner"),
        ]
    return []


# ---------------------------------------------------------------------------------------------
# milepaele
# ---------------------------------------------------------------------------------------------


def milestone_rows() -> dict[dt.date, list[Row]]:
    return {day: [Row(day, {"maal_id": m, "aar": str(aar), "opfyldt": opfyldt, "bemaerkning": note},
                      trap=MILESTONE_TRAPS.get(m)) for m, aar, opfyldt, note in rows]
            for day, rows in MILESTONE_FILES.items()}


# ---------------------------------------------------------------------------------------------
# Writing files
# ---------------------------------------------------------------------------------------------

DATE_FORMATS = {"dd-mm-yyyy": "%d-%m-%Y", "dd.mm.yyyy": "%d.%m.%Y", "iso": "%Y-%m-%d"}


def header(columns: list[str], how: str) -> list[str]:
    if how == "upper":
        return [c.upper() for c in columns]
    if how == "spaced":
        return [f" {c.capitalize()} " for c in columns]
    if how == "capitalized":
        return [c.capitalize() for c in columns]
    if how == "mixed":
        return [(c.upper(), f" {c.capitalize()} ", c)[i % 3] for i, c in enumerate(columns)]
    return list(columns)


def csv_text(column: str, value: object, style: Style) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime(DATE_FORMATS[style.dates])
    if isinstance(value, int) and column in COUNT_COLUMNS:
        if value == 0:
            return style.zero
        if style.counts == "comma":
            return f"{value},0"
        if style.counts == "point":
            return f"{value}.0"
        if style.counts == "thousands":
            return f"{value:,}".replace(",", ".")
    return str(value)


def xlsx_cell(column: str, value: object) -> object:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value if column not in XLSX_TEXT_DATES else value.strftime("%d.%m.%Y")
    if isinstance(value, int) and column in COUNT_COLUMNS:
        return float(value) if value else None  # Excel's counts come back as 25.0
    if column == "aar":
        return int(value)
    return value


def write_csv(path: Path, columns: list[str], records: list[dict], style: Style) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=style.sep, lineterminator=style.newline)
    writer.writerow(header(columns, style.headers))
    for record in records:
        writer.writerow([csv_text(c, record.get(c), style) for c in columns])
    path.write_bytes(buffer.getvalue().encode(style.encoding))


class _FixedTimeZip(zipfile.ZipFile):
    """openpyxl stamps zip members with the current time (or a temp file's mtime, for the sheets);
    a fixed stamp keeps the bytes stable."""

    def writestr(self, zinfo_or_arcname, data, *args, **kwargs):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = zipfile.ZipInfo(zinfo_or_arcname, date_time=(1980, 1, 1, 0, 0, 0))
            zinfo_or_arcname.compress_type = self.compression
            zinfo_or_arcname.external_attr = 0o100644 << 16
        super().writestr(zinfo_or_arcname, data, *args, **kwargs)

    def write(self, filename, arcname=None, *args, **kwargs):
        self.writestr(arcname or Path(filename).name, Path(filename).read_bytes())


def write_xlsx(path: Path, columns: list[str], records: list[dict], style: Style, day: dt.date) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Eksport"
    ws.append(header(columns, style.headers))
    for record in records:
        ws.append([xlsx_cell(c, record.get(c)) for c in columns])
    stamp = dt.datetime.combine(day, dt.time(8, 0))
    wb.properties.creator = "Københavns Kommune"
    wb.properties.created = wb.properties.modified = stamp  # save_workbook would set modified = now
    buffer = io.BytesIO()
    with _FixedTimeZip(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    path.write_bytes(buffer.getvalue())


def style_for(source: str, index: int, stem: str) -> Style:
    name = FILE_STYLES.get(stem) or ROTATION[(index + SOURCES.index(source)) % len(ROTATION)]
    return STYLES[name]


def write_file(folder: Path, stem: str, style: Style, columns: list[str], rows: list[Row], day: dt.date,
               log: Callable[[str], None], logged: set) -> None:
    columns = list(columns)
    records = [r.version(day) for r in rows]
    if stem in EXTRA_COLUMNS:
        extra, after, make = EXTRA_COLUMNS[stem]
        columns.insert(columns.index(after) + 1, extra)
        for record in records:
            record[extra] = make(record)
    name = f"{stem}.{style.ext}"
    if style.ext == "xlsx":
        write_xlsx(folder / name, columns, records, style, day)
    else:
        write_csv(folder / name, columns, records, style)
    for line, row in enumerate(rows, start=2):  # line 1 is the header, in CSV and in Excel alike
        if row.trap:
            log(f"{name} line {line}: TRAP {row.trap}")
        for change_day, _, what in row.changes:
            if what and change_day <= day and (id(row), what) not in logged:
                logged.add((id(row), what))
                log(f"{name} line {line}: {what}")


def clear_previous(folder: Path, source: str) -> None:
    """Remove exports (and lock files) this generator wrote before; leave anything else alone."""
    pattern = re.compile(rf"^(~\$)?{source}_\d{{4}}-\d{{2}}-\d{{2}}\.(csv|xlsx)$")
    for path in sorted(folder.iterdir()):
        if path.is_file() and pattern.match(path.name):
            path.unlink()


README = """Eksporter fra udbyderne af skoleforløb (Børns Vilkår, C:NTACT m.fl.).
Hver eksport indeholder året til dato; den sidste i januar indeholder hele året.
Filer med et andet navn end skoleforloeb_ÅÅÅÅ-MM-DD.csv/.xlsx indlæses ikke.
"""
# What Excel leaves beside a workbook that is open: the owner's name in a fixed-size record.
LOCK_FILE_BYTES = bytes([7]) + b"nsk-bif" + b" " * 46 + bytes([7, 0]) + "nsk-bif".encode("utf-16-le") + bytes(6)


def generate(out_dir: Path, seed: int = DEFAULT_SEED, log: Callable[[str], None] | None = None) -> None:
    """(Re)write the demo exports of all six sources into out_dir/<source>/."""
    log = log or (lambda _msg: None)
    out_dir = Path(out_dir)
    logged: set = set()
    builders = {"skoleforloeb": school_rows, "vejlederlog": counsellor_rows, "rettighedskurser": course_rows,
                "omraade_aktiviteter": area_rows, "omraade_aktoerer": actor_rows}
    for source in SOURCES:
        folder = out_dir / source
        folder.mkdir(parents=True, exist_ok=True)
        clear_previous(folder, source)
        if source == "milepaele":
            for index, (day, rows) in enumerate(milestone_rows().items()):
                stem = f"{source}_{day.isoformat()}"
                write_file(folder, stem, style_for(source, index, stem), COLUMNS[source], rows, day, log, logged)
            continue
        rows = builders[source](seed)
        snapshot = source == "omraade_aktoerer"
        for index, export in enumerate(export_schedule(source)):
            selected = sorted((r for r in rows if r.in_export(export, snapshot)), key=lambda r: r.when)
            write_file(folder, export.stem, style_for(source, index, export.stem), COLUMNS[source], selected,
                       export.day, log, logged)
    (out_dir / "skoleforloeb" / "README.txt").write_text(README, encoding="utf-8")
    (out_dir / "skoleforloeb" / "~$skoleforloeb_2025-01-10.xlsx").write_bytes(LOCK_FILE_BYTES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/raw"), help="the raw directory (default data/raw)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--quiet", action="store_true", help="do not list where the traps are")
    args = parser.parse_args(argv)
    generate(args.out, args.seed, log=None if args.quiet else print)
    print(f"demo exports written to {args.out} (seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
