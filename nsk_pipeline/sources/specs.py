"""What each source delivers: columns, their kinds, codes and keys (source-exports.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "name_key", "date", "count", "code", "code_list", "year", "cpr"]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind = "text"
    required: bool = True
    codes: tuple[str, ...] = ()
    default: str | None = None  # for optional codes: what a blank means


@dataclass(frozen=True)
class SourceSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    date_column: str | None  # the row's date: it places the row in a year
    description: str = ""
    label: str = ""  # the Danish name the status report shows
    sensitive: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns that must be in the header (`cpr` and `risikoniveau` always are)."""
        return [c.name for c in self.columns if c.required or c.name in ("cpr", "risikoniveau")]

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


# A source is expected to deliver every quarter: at most ~100 days between exports. The milestones
# are typed in by hand once a year (source-exports.md). The freshness check and the report's
# "Forældet" both read this.
DELIVERY_WINDOW_DAYS = 100
DELIVERY_WINDOW_OVERRIDES: dict[str, int] = {"milepaele": 400}


def delivery_window_days(source: str) -> int:
    """How old a source's latest loaded export may be before the source counts as stale."""
    return DELIVERY_WINDOW_OVERRIDES.get(source, DELIVERY_WINDOW_DAYS)


HELD = ("gennemfoert", "aflyst")
CANCELLED = frozenset({"aflyst", "annulleret"})

SKOLEFORLOEB = SourceSpec(
    "skoleforloeb",
    (
        ColumnSpec("forloeb_id"),
        ColumnSpec("dato", "date"),
        ColumnSpec("skole", "name_key"),
        ColumnSpec("skoletype", "code", codes=("folkeskole", "friskole", "privatskole")),
        ColumnSpec("klasse", "name_key", required=False),
        ColumnSpec("udbyder"),
        ColumnSpec("aktivitet", "code", codes=("elevundervisning", "fagpersonsoplaeg", "foraeldredialog")),
        ColumnSpec("tema", "code", codes=("nsk", "rettigheder")),
        ColumnSpec("antal_elever", "count", required=False),
        ColumnSpec("antal_fagpersoner", "count", required=False),
        ColumnSpec("antal_foraeldre", "count", required=False),
        ColumnSpec("pilot", "code", required=False, codes=("ja", "nej"), default="nej"),
        ColumnSpec("status", "code", codes=HELD),
    ),
    key=("udbyder", "forloeb_id"),
    date_column="dato",
    description="School programme deliveries: one row per session held.",
    label="Skoleforløb",
)

VEJLEDERLOG = SourceSpec(
    "vejlederlog",
    (
        ColumnSpec("registrering_id"),
        ColumnSpec("oprettet", "date"),
        ColumnSpec("type", "code", codes=("henvendelse", "borgersag")),
        ColumnSpec("cpr", "cpr", required=False),
        ColumnSpec("risikoniveau", "code", required=False, codes=("lav", "middel", "hoej")),
        ColumnSpec("temaer", "code_list", required=False,
                   codes=("arbejdsmarked", "uddannelse", "partnervalg", "vold", "isolation", "overvaagning",
                          "oekonomi", "bolig", "andet")),
        ColumnSpec("henvist_til", required=False),
        ColumnSpec("afsluttet", "date", required=False),
        ColumnSpec("status", "code", codes=("aktiv", "afsluttet", "annulleret")),
        ColumnSpec("vejleder", required=False),
    ),
    key=("registrering_id",),
    date_column="oprettet",
    description="The social-control counsellors' log: one row per registration. Special-category data.",
    label="Social kontrolvejledernes log",
    sensitive=("cpr",),
)

RETTIGHEDSKURSER = SourceSpec(
    "rettighedskurser",
    (
        ColumnSpec("kursus_id"),
        ColumnSpec("dato", "date"),
        ColumnSpec("sted_type", "code", codes=("jobcenter", "boligomraade", "civilsamfund")),
        ColumnSpec("sted", required=False),
        ColumnSpec("deltagere", "count", required=False),
        ColumnSpec("status", "code", codes=HELD),
    ),
    key=("kursus_id",),
    date_column="dato",
    description="Courses on rights: one row per course.",
    label="Rettighedskurser",
)

OMRAADE_AKTIVITETER = SourceSpec(
    "omraade_aktiviteter",
    (
        ColumnSpec("aktivitet_id"),
        ColumnSpec("dato", "date"),
        ColumnSpec("omraade"),
        ColumnSpec("type", "code",
                   codes=("borgeraktivitet", "netvaerksmoede", "kompetenceudvikling", "arbejdsgruppemoede")),
        ColumnSpec("maalgruppe", "code", required=False, codes=("foraeldre_voksne", "boern_unge", "fagpersoner", "blandet")),
        ColumnSpec("deltagere", "count", required=False),
        ColumnSpec("aktoerer", "text", required=False),
        ColumnSpec("status", "code", codes=HELD),
    ),
    key=("aktivitet_id",),
    date_column="dato",
    description="The area-based initiative's activities: one row per activity or meeting.",
    label="Områdebaseret indsats: aktiviteter",
)

OMRAADE_AKTOERER = SourceSpec(
    "omraade_aktoerer",
    (
        ColumnSpec("aktoer_id"),
        ColumnSpec("navn"),
        ColumnSpec("sektor", "code", codes=("kommunal", "civilsamfund", "boligsocial", "skole", "andet")),
        ColumnSpec("tilsluttet", "date"),
        ColumnSpec("udtraadt", "date", required=False),
    ),
    key=("aktoer_id",),
    date_column="tilsluttet",
    description="The local actor register: one row per actor (each export a full snapshot).",
    label="Områdebaseret indsats: aktørregister",
)

MILEPAELE = SourceSpec(
    "milepaele",
    (
        ColumnSpec("maal_id"),
        ColumnSpec("aar", "year"),
        ColumnSpec("opfyldt", "code", codes=("ja", "nej", "delvist")),
        ColumnSpec("bemaerkning", required=False),
    ),
    key=("maal_id", "aar"),
    date_column=None,
    description="Status of goals that no source measures, entered by the plan's coordinator.",
    label="Milepæle",
)

SOURCES: dict[str, SourceSpec] = {
    s.name: s for s in (SKOLEFORLOEB, VEJLEDERLOG, RETTIGHEDSKURSER, OMRAADE_AKTIVITETER, OMRAADE_AKTOERER, MILEPAELE)
}
