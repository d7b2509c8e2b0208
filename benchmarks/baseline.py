"""The plain baseline: the yearly indicators and the numeric goals' attainment, in DuckDB SQL alone.

    python benchmarks/baseline.py RAW_DIR --as-of YYYY-MM-DD [--out FILE.duckdb] [--timings FILE.json]

The simplest thing that computes the pipeline's numbers from the same raw exports, and a second,
independent implementation of the contracts (../shared/contracts/source-exports.md and
goals-and-marts.md). No validation report, no quarantine, no pandas: every value is cast in SQL,
a row whose cast fails (an impossible date, a negative count, a code that is not a code, an
invalid CPR, an unknown actor id, a blank required value) simply does not count, and the latest
export's *valid* version of each key wins (a same-date conflict falls back to an older version).

Python only lists the files, reads each header line (separator, encoding, header names) and
hands the files to DuckDB's `read_csv`; the few `.xlsx` exports are converted to CSV in a temp
dir with openpyxl first (DuckDB's excel extension cannot be downloaded here). Windows-1252 files
are read with DuckDB's `encoding='latin-1'`: the two agree on every letter a code or key uses
(æøå), and differ only in 0x80-0x9F (€, –, ’ …), which only occur in free text no figure reads.

Writes `indicator_yearly` (indicator_id, year, value, numerator, denominator) and
`goal_attainment` (goal_id, year, period_start, period_end, actual, status) for the numeric goals.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parents[1]
GOALS_YAML = ROOT / "nsk_pipeline" / "goals" / "goals.yaml"

# --- the contract's sources (written out again here, not imported: a second implementation) -----
# kind: text | key (text matched case-insensitively) | date | count | code | codes (a list) | cpr | ids
T, K, DATE, COUNT = "text", "key", "date", "count"
SOURCES: dict[str, dict] = {
    "skoleforloeb": {
        "columns": {
            "forloeb_id": (K, True), "dato": (DATE, True), "skole": (K, True),
            "skoletype": (("folkeskole", "friskole", "privatskole"), True), "klasse": (K, False),
            "udbyder": (K, True),
            "aktivitet": (("elevundervisning", "fagpersonsoplaeg", "foraeldredialog"), True),
            "tema": (("nsk", "rettigheder"), True), "antal_elever": (COUNT, False),
            "antal_fagpersoner": (COUNT, False), "antal_foraeldre": (COUNT, False),
            "pilot": (("ja", "nej"), False), "status": (("gennemfoert", "aflyst"), True)},
        "key": ("udbyder", "forloeb_id"), "date": "dato", "cancelled": ("aflyst",)},
    "vejlederlog": {
        "columns": {
            "registrering_id": (K, True), "oprettet": (DATE, True), "type": (("henvendelse", "borgersag"), True),
            "cpr": ("cpr", "always"), "risikoniveau": (("lav", "middel", "hoej"), "always"),
            "temaer": ("codes", False), "henvist_til": (T, False), "afsluttet": (DATE, False),
            "status": (("aktiv", "afsluttet", "annulleret"), True), "vejleder": (T, False)},
        "key": ("registrering_id",), "date": "oprettet", "cancelled": ("annulleret",)},
    "rettighedskurser": {
        "columns": {
            "kursus_id": (K, True), "dato": (DATE, True),
            "sted_type": (("jobcenter", "boligomraade", "civilsamfund"), True), "sted": (T, False),
            "deltagere": (COUNT, False), "status": (("gennemfoert", "aflyst"), True)},
        "key": ("kursus_id",), "date": "dato", "cancelled": ("aflyst",)},
    "omraade_aktoerer": {
        "columns": {
            "aktoer_id": (K, True), "navn": (T, True),
            "sektor": (("kommunal", "civilsamfund", "boligsocial", "skole", "andet"), True),
            "tilsluttet": (DATE, True), "udtraadt": (DATE, False)},
        "key": ("aktoer_id",), "date": "tilsluttet", "cancelled": ()},
    "omraade_aktiviteter": {  # after omraade_aktoerer: its actor ids are checked against the register
        "columns": {
            "aktivitet_id": (K, True), "dato": (DATE, True), "omraade": (T, True),
            "type": (("borgeraktivitet", "netvaerksmoede", "kompetenceudvikling", "arbejdsgruppemoede"), True),
            "maalgruppe": (("foraeldre_voksne", "boern_unge", "fagpersoner", "blandet"), False),
            "deltagere": (COUNT, False), "aktoerer": ("ids", False),
            "status": (("gennemfoert", "aflyst"), True)},
        "key": ("aktivitet_id",), "date": "dato", "cancelled": ("aflyst",)},
}
THEMES = ("arbejdsmarked", "uddannelse", "partnervalg", "vold", "isolation", "overvaagning", "oekonomi", "bolig",
          "andet")
# indicator -> (source, aggregation)
INDICATORS = {
    "elever_nsk": ("skoleforloeb", "sum"), "elever_rettigheder": ("skoleforloeb", "sum"),
    "fagpersoner_opkvalificeret": ("skoleforloeb", "sum"), "foraeldre_naaet": ("skoleforloeb", "sum"),
    "pilotskoler_sammenhaengende": ("skoleforloeb", "distinct"), "friskoler_naaet": ("skoleforloeb", "distinct"),
    "henvendelser": ("vejlederlog", "sum"), "borgersager": ("vejlederlog", "sum"),
    "borgersager_hoej_risiko": ("vejlederlog", "sum"),
    "andel_borgersager_arbejdsmarked": ("vejlederlog", "ratio"), "andel_borgersager_vold": ("vejlederlog", "ratio"),
    "borgere_med_sag": ("vejlederlog", "distinct"),
    "rettighedskurser": ("rettighedskurser", "sum"), "rettighedskursus_deltagere": ("rettighedskurser", "sum"),
    "omraade_borgere_naaet": ("omraade_aktiviteter", "sum"), "netvaerksmoeder": ("omraade_aktiviteter", "sum"),
    "kompetenceudviklingsforloeb": ("omraade_aktiviteter", "sum"),
    "aktive_aktoerer": ("omraade_aktiviteter", "distinct"), "aktoerer_i_netvaerk": ("omraade_aktoerer", "stock"),
}

# --- one SQL per indicator over `periods` (pid, d0, d1): pid, value[, numerator, denominator] -------
# c_<source> are the countable rows (the winning version, not cancelled); p joins the period.
_IN = "JOIN periods p ON r._date BETWEEN p.d0 AND p.d1"
INDICATOR_SQL = {
    # A class counts once per period (periods of `sum` indicators are calendar years), at its largest count.
    "elever_nsk": f"""SELECT pid, sum(m) FROM (SELECT p.pid, r._class, max(r.antal_elever) m FROM c_skoleforloeb r {_IN}
        WHERE r.aktivitet = 'elevundervisning' AND r.tema = 'nsk' GROUP BY ALL) GROUP BY pid""",
    "elever_rettigheder": f"""SELECT pid, sum(m) FROM (SELECT p.pid, r._class, max(r.antal_elever) m FROM c_skoleforloeb r
        {_IN} WHERE r.aktivitet = 'elevundervisning' AND r.tema = 'rettigheder' GROUP BY ALL) GROUP BY pid""",
    "fagpersoner_opkvalificeret": f"""SELECT p.pid, sum(r.antal_fagpersoner) FROM c_skoleforloeb r {_IN}
        WHERE r.aktivitet = 'fagpersonsoplaeg' AND r.tema = 'nsk' GROUP BY p.pid""",
    "foraeldre_naaet": f"""SELECT p.pid, sum(r.antal_foraeldre) FROM c_skoleforloeb r {_IN}
        WHERE r.aktivitet = 'foraeldredialog' GROUP BY p.pid""",
    "pilotskoler_sammenhaengende": f"""SELECT pid, count(*) FILTER (WHERE n = 3) FROM (SELECT p.pid, r._school,
        count(DISTINCT r.aktivitet) n FROM c_skoleforloeb r {_IN} WHERE r.pilot = 'ja' GROUP BY ALL) GROUP BY pid""",
    "friskoler_naaet": f"""SELECT p.pid, count(DISTINCT r._school) FROM c_skoleforloeb r {_IN}
        WHERE r.skoletype = 'friskole' GROUP BY p.pid""",
    "henvendelser": f"SELECT p.pid, count(*) FROM c_vejlederlog r {_IN} WHERE r.type = 'henvendelse' GROUP BY p.pid",
    "borgersager": f"SELECT p.pid, count(*) FROM c_vejlederlog r {_IN} WHERE r.type = 'borgersag' GROUP BY p.pid",
    "borgersager_hoej_risiko": f"""SELECT p.pid, count(*) FROM c_vejlederlog r {_IN}
        WHERE r.type = 'borgersag' AND r.risikoniveau = 'hoej' GROUP BY p.pid""",
    "andel_borgersager_arbejdsmarked": f"""SELECT p.pid, 100.0 * count(*) FILTER (WHERE list_contains(r.temaer,
        'arbejdsmarked')) / count(*), count(*) FILTER (WHERE list_contains(r.temaer, 'arbejdsmarked')), count(*)
        FROM c_vejlederlog r {_IN} WHERE r.type = 'borgersag' GROUP BY p.pid""",
    "andel_borgersager_vold": f"""SELECT p.pid, 100.0 * count(*) FILTER (WHERE list_contains(r.temaer, 'vold'))
        / count(*), count(*) FILTER (WHERE list_contains(r.temaer, 'vold')), count(*)
        FROM c_vejlederlog r {_IN} WHERE r.type = 'borgersag' GROUP BY p.pid""",
    "borgere_med_sag": f"""SELECT p.pid, count(DISTINCT r.cpr) FROM c_vejlederlog r {_IN}
        WHERE r.type = 'borgersag' GROUP BY p.pid""",
    "rettighedskurser": f"SELECT p.pid, count(*) FROM c_rettighedskurser r {_IN} GROUP BY p.pid",
    "rettighedskursus_deltagere": f"SELECT p.pid, sum(r.deltagere) FROM c_rettighedskurser r {_IN} GROUP BY p.pid",
    "omraade_borgere_naaet": f"""SELECT p.pid, sum(r.deltagere) FROM c_omraade_aktiviteter r {_IN}
        WHERE r.type = 'borgeraktivitet' GROUP BY p.pid""",
    "netvaerksmoeder": f"""SELECT p.pid, count(*) FROM c_omraade_aktiviteter r {_IN}
        WHERE r.type = 'netvaerksmoede' GROUP BY p.pid""",
    "kompetenceudviklingsforloeb": f"""SELECT p.pid, count(*) FROM c_omraade_aktiviteter r {_IN}
        WHERE r.type = 'kompetenceudvikling' GROUP BY p.pid""",
    "aktive_aktoerer": f"""SELECT p.pid, count(DISTINCT a) FROM (SELECT r._date, unnest(r.aktoerer) a
        FROM c_omraade_aktiviteter r) r {_IN} GROUP BY p.pid""",
    # A stock: actors in the network at the period's end, or at the as-of date while it is open.
    "aktoerer_i_netvaerk": """SELECT p.pid, count(*) FROM c_omraade_aktoerer r JOIN periods p
        ON r.tilsluttet <= least(p.d1, getvariable('as_of'))
        AND NOT coalesce(r.udtraadt <= least(p.d1, getvariable('as_of')), false) GROUP BY p.pid""",
}

MACROS = r"""
CREATE OR REPLACE MACRO blank(v) AS nullif(trim(v), '');
CREATE OR REPLACE MACRO norm_code(v) AS nullif(regexp_replace(replace(replace(replace(lower(trim(v)),
    'æ', 'ae'), 'ø', 'oe'), 'å', 'aa'), '\s+', ' ', 'g'), '');
CREATE OR REPLACE MACRO norm_key(v) AS nullif(regexp_replace(lower(trim(v)), '\s+', ' ', 'g'), '');
CREATE OR REPLACE MACRO as_date(v) AS CAST(coalesce(
    try_strptime(blank(v), '%d-%m-%Y'), try_strptime(blank(v), '%d.%m.%Y'), try_strptime(blank(v), '%Y-%m-%d'),
    try_strptime(blank(v), '%d-%m-%Y %H:%M:%S'), try_strptime(blank(v), '%d.%m.%Y %H:%M:%S'),
    try_strptime(blank(v), '%Y-%m-%d %H:%M:%S')) AS DATE);
-- Counts: 25 | 1.000 (thousands) | 25.0 | 25,0 | 1.000,0; blank = 0; negative, fractional, other: NULL.
-- '1,000' is NULL (ambiguous: Danish 1, English 1000), as the contract's loader rejects it.
CREATE OR REPLACE MACRO as_count(v) AS CASE
    WHEN blank(v) IS NULL THEN 0
    WHEN regexp_full_match(trim(v), '[0-9]+') THEN try_cast(trim(v) AS BIGINT)
    WHEN regexp_full_match(trim(v), '[0-9]{1,3}(\.[0-9]{3})+') THEN try_cast(replace(trim(v), '.', '') AS BIGINT)
    WHEN regexp_full_match(trim(v), '[0-9]+\.0+') THEN try_cast(split_part(trim(v), '.', 1) AS BIGINT)
    WHEN regexp_full_match(trim(v), '[0-9]+,000') AND split_part(trim(v), ',', 1) <> '0' THEN NULL
    WHEN regexp_full_match(trim(v), '([0-9]+|[0-9]{1,3}(\.[0-9]{3})+),0+')
        THEN try_cast(replace(split_part(trim(v), ',', 1), '.', '') AS BIGINT)
    WHEN regexp_full_match(trim(v), '-\s*0+([.,]0+)?') THEN 0
    ELSE NULL END;
-- CPR: DDMMYY-SSSS or DDMMYYSSSS, a dropped leading zero put back, Excel's '101901234.0' too.
CREATE OR REPLACE MACRO cpr_digits(v) AS CASE
    WHEN regexp_full_match(regexp_replace(trim(v), '^([0-9]{9,10})\.0+$', '\1'), '[0-9]{5,6}-?[0-9]{4}')
    THEN lpad(replace(regexp_replace(trim(v), '^([0-9]{9,10})\.0+$', '\1'), '-', ''), 10, '0') END;
-- The birth date, the century from the 7th digit (0-3: 1900s; 4, 9: 2000s if YY <= 36; 5-8: 2000s if YY <= 57).
CREATE OR REPLACE MACRO cpr_birth(d) AS CAST(try_strptime(
    CAST(CASE WHEN substr(d, 7, 1) IN ('0', '1', '2', '3') THEN 1900
              WHEN substr(d, 7, 1) IN ('4', '9') THEN CASE WHEN CAST(substr(d, 5, 2) AS INT) <= 36 THEN 2000 ELSE 1900 END
              ELSE CASE WHEN CAST(substr(d, 5, 2) AS INT) <= 57 THEN 2000 ELSE 1800 END END
         + CAST(substr(d, 5, 2) AS INT) AS VARCHAR) || substr(d, 3, 2) || substr(d, 1, 2), '%Y%m%d') AS DATE);
CREATE OR REPLACE MACRO split_list(v) AS list_filter(list_transform(string_split_regex(coalesce(v, ''), '[|,]'),
    lambda x: norm_code(x)), lambda x: x IS NOT NULL);
"""

_EXPORT_DATE = re.compile(r"_([0-9]{4})-([0-9]{2})-([0-9]{2})\.[^./\\]+\Z")


def normalise_header(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip()).lower()


def xlsx_to_csv(path: Path, tmp: Path) -> Path:
    """The first sheet as a UTF-8 `;` CSV: date cells as ISO dates, numbers as Excel gives them."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    out = tmp / (path.stem + ".csv")
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";")
        for row in wb.worksheets[0].iter_rows(values_only=True):
            w.writerow(["" if v is None else v.date().isoformat() if isinstance(v, dt.datetime)
                        else v.isoformat() if isinstance(v, dt.date) else str(v) for v in row])
    wb.close()
    return out


def file_dialect(path: Path) -> tuple[str, str, list[str]]:
    """(DuckDB encoding, separator, normalised header names) from the file's bytes."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        encoding, text = "utf-8", data[:65536].decode("utf-8", errors="ignore").lstrip("\ufeff")
    except UnicodeDecodeError:
        encoding, text = "latin-1", data[:65536].decode("cp1252", errors="replace")
    first = text.splitlines()[0] if text.strip() else ""
    sep = ";" if first.count(";") >= first.count(",") else ","
    names = [normalise_header(h) for h in next(csv.reader([first], delimiter=sep))] if first else []
    return encoding, sep, names


def register_files(con: duckdb.DuckDBPyConnection, raw: Path, as_of: dt.date, tmp: Path) -> dict[str, list]:
    """Every export each source delivered up to the as-of date, as a `read_csv` of its own."""
    files: dict[str, list] = {}
    loads = []
    for source, spec in SOURCES.items():
        folder = raw / source
        paths = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        for path in paths:
            if path.name.startswith(("~$", ".")) or path.suffix.lower() not in (".csv", ".xlsx"):
                continue
            m = _EXPORT_DATE.search(path.name)
            if not m:
                continue
            try:
                export = dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                continue
            if export > as_of or path.stat().st_size == 0:
                continue
            csv_path = xlsx_to_csv(path, tmp) if path.suffix.lower() == ".xlsx" else path
            encoding, sep, names = file_dialect(csv_path)
            required = [c for c, (_, req) in spec["columns"].items() if req]
            if not names or any(c not in names for c in required):
                continue  # a rejected file: delivers nothing and does not count as a report
            files.setdefault(source, []).append((path.name, export, csv_path, encoding, sep, names))
            loads.append((source, path.name, export))
    con.execute("CREATE OR REPLACE TABLE file_loads (source VARCHAR, file_name VARCHAR, export_date DATE)")
    if loads:
        con.executemany("INSERT INTO file_loads VALUES (?, ?, ?)", loads)
    return files


def load_raw(con: duckdb.DuckDBPyConnection, source: str, files: list) -> None:
    cols = list(SOURCES[source]["columns"])
    selects = []
    for i, (name, export, path, encoding, sep, names) in enumerate(files):
        # Positional column names (c0, c1, ...) so a header's spelling never matters to DuckDB.
        columns = "{" + ", ".join(f"'c{j}': 'VARCHAR'" for j in range(len(names))) + "}"
        reader = (f"read_csv('{path}', header=true, sep='{sep}', quote='\"', escape='\"', encoding='{encoding}', "
                  f"auto_detect=false, null_padding=true, columns={columns})")
        picked = ", ".join((f"c{names.index(c)}" if c in names else "NULL::VARCHAR") + f" AS {c}" for c in cols)
        selects.append(f"SELECT {picked}, '{name}' AS _file, DATE '{export}' AS _export FROM {reader}")
    body = "\nUNION ALL\n".join(selects) if selects else (
        "SELECT " + ", ".join(f"NULL::VARCHAR AS {c}" for c in cols) + ", NULL::VARCHAR AS _file, "
        "NULL::DATE AS _export WHERE false")
    con.execute(f"CREATE OR REPLACE TABLE raw_{source} AS {body}")


def typed_sql(source: str) -> str:
    """Cast every column; `_ok` is false when any cast fails or a rule of the contract is broken."""
    spec = SOURCES[source]
    exprs, checks = [], []
    for name, (kind, req) in spec["columns"].items():
        c = f'"{name}"'
        if kind in (T, K):
            exprs.append(f"blank({c}) AS {c}")
            ok = f"blank({c}) IS NOT NULL" if req is True else None
        elif kind == DATE:
            exprs.append(f"as_date({c}) AS {c}")
            ok = (f"(as_date({c}) IS NOT NULL OR (blank({c}) IS NULL AND {req is not True}))"
                  f" AND coalesce(as_date({c}) <= _export, true)")
        elif kind == COUNT:
            exprs.append(f"as_count({c}) AS {c}")
            ok = f"as_count({c}) IS NOT NULL"
        elif kind == "cpr":
            exprs.append(f"cpr_digits({c}) AS {c}")
            ok = (f"(blank({c}) IS NULL OR (cpr_birth(cpr_digits({c})) IS NOT NULL AND "
                  f"cpr_birth(cpr_digits({c})) <= as_date(oprettet)))")
        elif kind == "codes":
            exprs.append(f"split_list({c}) AS {c}")
            ok = f"list_bool_and(list_transform(split_list({c}), lambda x: x IN {THEMES!r})) IS NOT false"
        elif kind == "ids":  # checked against the register in resolve()
            exprs.append(f"list_filter(list_transform(string_split_regex(coalesce({c}, ''), '[|,]'), "
                         f"lambda x: nullif(lower(trim(x)), '')), lambda x: x IS NOT NULL) AS {c}")
            ok = None
        else:  # a code list
            default = "'nej'" if name == "pilot" else "NULL"
            exprs.append(f"coalesce(CASE WHEN norm_code({c}) IN {kind!r} THEN norm_code({c}) END, {default}) AS {c}")
            ok = f"(norm_code({c}) IN {kind!r}" + (")" if req is True else f" OR blank({c}) IS NULL)")
        if ok:
            checks.append(ok)
    if source == "vejlederlog":  # a borgersag needs a valid CPR and a risk level; closing is not before opening
        checks += ["(norm_code(\"type\") <> 'borgersag' OR (cpr_digits(cpr) IS NOT NULL AND blank(risikoniveau) IS NOT NULL))",
                   "coalesce(as_date(afsluttet) >= as_date(oprettet), true)"]
    if source == "omraade_aktoerer":
        checks.append("coalesce(as_date(udtraadt) >= as_date(tilsluttet), true)")
    key = " || ' | ' || ".join(f"norm_key({k})" for k in spec["key"])
    return (f"SELECT {', '.join(exprs)}, {key} AS _key, _file, _export, ({' AND '.join(checks)}) AS _ok "
            f"FROM raw_{source}")


def resolve(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """The winning version of each key: the latest export whose valid versions agree."""
    spec = SOURCES[source]
    cols = list(spec["columns"])
    # Compare versions after typing and normalising (case/space of the key-like texts).
    sig_cols = ", ".join(f"norm_key({c})" if spec["columns"][c][0] == K else c for c in cols)
    con.execute(f"CREATE OR REPLACE TEMP TABLE t_{source} AS SELECT * FROM ({typed_sql(source)}) WHERE _ok")
    if source == "omraade_aktiviteter":  # every actor id must be in the register (any valid version)
        con.execute("""DELETE FROM t_omraade_aktiviteter WHERE rowid IN (
            SELECT t.rowid FROM (SELECT rowid, unnest(aktoerer) AS a FROM t_omraade_aktiviteter) t
            ANTI JOIN known_actors k ON k.id = t.a)""")
    con.execute(f"""CREATE OR REPLACE TABLE cur_{source} AS
        WITH sig AS (SELECT *, hash({sig_cols}) AS _sig FROM t_{source}),
        clean AS (SELECT _key, _export FROM sig GROUP BY _key, _export HAVING count(DISTINCT _sig) = 1),
        latest AS (SELECT _key, max(_export) AS _export FROM clean GROUP BY _key)
        SELECT sig.* EXCLUDE (_sig, _ok) FROM sig JOIN latest USING (_key, _export)
        QUALIFY row_number() OVER (PARTITION BY _key ORDER BY _file) = 1""")
    con.execute(f"DROP TABLE t_{source}")


def countable(con: duckdb.DuckDBPyConnection, source: str) -> None:
    spec = SOURCES[source]
    where = f"WHERE status NOT IN {tuple(spec['cancelled']) + ('',)!r}" if spec["cancelled"] else ""
    extra = ""
    if source == "skoleforloeb":
        extra = (", norm_key(skole) AS _school, CASE WHEN norm_key(klasse) IS NOT NULL "
                 "THEN norm_key(skole) || '|' || norm_key(klasse) ELSE 'session:' || _key END AS _class")
    con.execute(f"CREATE OR REPLACE VIEW c_{source} AS SELECT *, {spec['date']} AS _date{extra} FROM cur_{source} {where}")


def load_goals() -> tuple[dict, list]:
    data = yaml.safe_load(GOALS_YAML.read_text(encoding="utf-8"))
    plans = {p["id"]: p for p in data["plans"]}
    return plans, [g for g in data["goals"] if g["kind"] == "numeric"]


def marts(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    con.execute(f"SET VARIABLE as_of = DATE '{as_of}'")
    # Years each source reports on: loaded exports' dates and current rows' dates (any status);
    # the actor register from its earliest `tilsluttet` through its latest export.
    parts = ["SELECT source, year(export_date) AS year FROM file_loads"]
    parts += [f"SELECT '{s}', year({SOURCES[s]['date']}) FROM cur_{s}" for s in SOURCES]
    parts.append("""SELECT 'omraade_aktoerer', unnest(range(
        (SELECT year(min(tilsluttet)) FROM cur_omraade_aktoerer),
        (SELECT year(max(export_date)) FROM file_loads WHERE source = 'omraade_aktoerer') + 1))""")
    con.execute("CREATE OR REPLACE TABLE report_years AS SELECT DISTINCT * FROM (" + " UNION ALL ".join(parts)
                + ") t(source, year) WHERE year IS NOT NULL")
    con.execute(f"""CREATE OR REPLACE TABLE years AS SELECT unnest(range(
        (SELECT min(year) FROM report_years WHERE year <= {as_of.year}), {as_of.year + 1})) AS year""")
    con.execute("CREATE OR REPLACE TABLE indicators (indicator_id VARCHAR, source VARCHAR, aggregation VARCHAR)")
    con.executemany("INSERT INTO indicators VALUES (?, ?, ?)", [(k, *v) for k, v in INDICATORS.items()])

    plans, goals = load_goals()
    con.execute("""CREATE OR REPLACE TABLE goal_rows (goal_id VARCHAR, indicator_id VARCHAR, comparison VARCHAR,
        target DOUBLE, year INT, d0 DATE, d1 DATE, period_start DATE, period_end DATE)""")
    rows = []
    for g in goals:
        plan = plans[g["plan"]]
        years = (range(plan["first_year"], plan["last_year"] + 1) if g["period"] in ("annual", "plan")
                 else [int(g["period"])])
        for y in (y for y in years if y <= as_of.year):
            if g["period"] == "plan":
                p0, p1 = dt.date(plan["first_year"], 1, 1), dt.date(plan["last_year"], 12, 31)
            else:
                p0, p1 = dt.date(y, 1, 1), dt.date(y, 12, 31)
            d0 = p0 if g["period"] == "plan" else dt.date(y, 1, 1)
            rows.append((g["id"], g["indicator"], g["comparison"], float(g["target"]), y, d0, dt.date(y, 12, 31), p0, p1))
    if rows:
        con.executemany("INSERT INTO goal_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    # Periods: every calendar year, and each goal row's span for indicators that are not summed by year.
    con.execute("""CREATE OR REPLACE TABLE periods AS
        SELECT 'y' || year AS pid, make_date(year, 1, 1) AS d0, make_date(year, 12, 31) AS d1 FROM years
        UNION SELECT DISTINCT 'g' || d0 || '/' || d1, d0, d1 FROM goal_rows JOIN indicators USING (indicator_id)
        WHERE aggregation <> 'sum'""")
    values = []
    for ind, sql in INDICATOR_SQL.items():
        ratio = INDICATORS[ind][1] == "ratio"
        cols = "pid, value, numerator, denominator" if ratio else "pid, value"
        values.append(f"SELECT '{ind}' AS indicator_id, * FROM (SELECT * FROM ({sql}) t({cols}))"
                      + ("" if ratio else " CROSS JOIN (SELECT NULL::DOUBLE, NULL::DOUBLE) n(numerator, denominator)"))
    con.execute("CREATE OR REPLACE TABLE period_values AS " + " UNION ALL BY NAME ".join(values))

    # No data is not zero: NULL where the source reports on no year of the period, else 0 if nothing matched.
    con.execute("""CREATE OR REPLACE TABLE indicator_yearly AS
        SELECT i.indicator_id, y.year,
            CASE WHEN r.year IS NULL THEN NULL WHEN i.aggregation = 'ratio' THEN v.value
                 ELSE coalesce(v.value, 0) END::DOUBLE AS value,
            CASE WHEN r.year IS NOT NULL AND i.aggregation = 'ratio' THEN coalesce(v.numerator, 0) END::DOUBLE AS numerator,
            CASE WHEN r.year IS NOT NULL AND i.aggregation = 'ratio' THEN coalesce(v.denominator, 0) END::DOUBLE
                AS denominator
        FROM indicators i CROSS JOIN years y
        LEFT JOIN report_years r ON r.source = i.source AND r.year = y.year
        LEFT JOIN period_values v ON v.indicator_id = i.indicator_id AND v.pid = 'y' || y.year
        ORDER BY i.indicator_id, y.year""")
    con.execute("""CREATE OR REPLACE TABLE goal_attainment AS
        WITH judged AS (
            SELECT g.*, i.aggregation,
                least(make_date(g.year, 12, 31), getvariable('as_of')) AS evaluation,
                EXISTS (SELECT 1 FROM report_years r WHERE r.source = i.source
                        AND r.year BETWEEN year(g.d0) AND year(g.d1)) AS measured,
                CASE WHEN i.aggregation = 'sum' THEN  -- a flow: the sum of the reported years' values
                    (SELECT sum(y.value) FROM indicator_yearly y WHERE y.indicator_id = g.indicator_id
                     AND y.year BETWEEN year(g.d0) AND year(g.d1))
                ELSE (SELECT CASE WHEN i.aggregation = 'ratio' THEN v.value ELSE coalesce(v.value, 0) END
                      FROM (SELECT 1) LEFT JOIN period_values v ON v.indicator_id = g.indicator_id
                      AND v.pid = 'g' || g.d0 || '/' || g.d1)
                END AS value
            FROM goal_rows g JOIN indicators i USING (indicator_id))
        SELECT goal_id, year, period_start, period_end, target, comparison,
            CASE WHEN measured THEN value END AS actual,
            CASE WHEN NOT measured OR value IS NULL THEN 'ikke_opgjort'
                 WHEN period_end <= evaluation THEN
                     CASE WHEN (comparison = '>=' AND value >= target) OR (comparison = '<=' AND value <= target)
                          THEN 'naaet' ELSE 'ikke_naaet' END
                 WHEN comparison = '>=' AND value >= target AND aggregation IN ('sum', 'distinct') THEN 'naaet'
                 ELSE 'i_gang' END AS status
        FROM judged ORDER BY goal_id, year""")


def run(raw: Path, as_of: dt.date, out: str | None = None, threads: int | None = None) -> dict[str, float]:
    """Compute the marts into `out` (a DuckDB file; in memory if None). Returns seconds per phase."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if out and Path(out).exists():
        Path(out).unlink()
    con = duckdb.connect(out or ":memory:")
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute(MACROS)
    with tempfile.TemporaryDirectory(prefix="nsk-baseline-") as tmp:
        files = register_files(con, Path(raw), as_of, Path(tmp))
        timings["files"] = time.perf_counter() - t0
        for source in SOURCES:
            t = time.perf_counter()
            load_raw(con, source, files.get(source, []))
            timings[f"read:{source}"] = time.perf_counter() - t
            t = time.perf_counter()
            if source == "omraade_aktiviteter":  # every valid register row up to the as-of date
                con.execute("""CREATE OR REPLACE TABLE known_actors AS SELECT DISTINCT lower(aktoer_id) AS id
                    FROM (""" + typed_sql("omraade_aktoerer") + ") WHERE _ok")
            resolve(con, source)
            countable(con, source)
            timings[f"resolve:{source}"] = time.perf_counter() - t
    t = time.perf_counter()
    marts(con, as_of)
    timings["marts"] = time.perf_counter() - t
    con.close()
    timings["total"] = time.perf_counter() - t0
    return timings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("raw_dir", type=Path)
    p.add_argument("--as-of", required=True, type=dt.date.fromisoformat)
    p.add_argument("--out", help="a DuckDB file for indicator_yearly and goal_attainment (default: in memory)")
    p.add_argument("--timings", type=Path, help="write the seconds per phase as JSON here")
    p.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    args = p.parse_args(argv)
    timings = run(args.raw_dir, args.as_of, args.out, args.threads)
    if args.timings:
        args.timings.write_text(json.dumps(timings, indent=1))
    print(f"baseline: {args.raw_dir} as of {args.as_of}: {timings['total']:.2f} s"
          + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
