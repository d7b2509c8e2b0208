"""Synthetic raw exports at any scale, in the demo's shape and messiness.

    python benchmarks/scale.py --scale 1000000 --out /tmp/raw_1m [--seed 7]

`--scale N` is the total number of counsellor-log (`vejlederlog`) rows over all files; the other
sources follow in the demo's proportions. Ten years, 2017-2026 (2026 year to date through Q3, as
in the demo). Unlike the demo, whose every export re-sends the year to date (about 2.5 copies of
each row), each source here exports once per quarter with that quarter's rows, plus one final
correction file per year (January/February of the next year) that re-sends ~3 % of the year's
rows with changed values (closed cases, corrected counts, cancellations) and a few rows a loader
must quarantine. So total counsellor-log rows ~ N.

The mess is the demo's (the styles, header spellings, code spellings and lists come from
`nsk_pipeline.demo.generate`): `;` and `,` separators, UTF-8, UTF-8 with BOM and Windows-1252,
CRLF, header case and padding, three date forms, Danish counts (`25,0`, `1.000`, `25.0`, blank
zeros), codes with æøå and in capitals, school names with stray spaces and case, CPR numbers
with and without the dash and with the leading zero dropped, extra columns, cancelled and voided
rows, corrections, and invalid rows (impossible dates, non-codes, invalid CPRs, negative counts,
unknown actor ids). CSV only (a 100 000-row XLSX is not a realistic export). Valid CPR numbers
are synthesised vectorised: the first six digits a real birth date, the 7th digit fitting the
century by the CPR office's rule. Milestones are the demo's three hand-typed files.

Columns are built with numpy and pyarrow (lookup tables + `take`, element-wise joins) and
written with pyarrow's CSV writer: a few seconds per million rows.

Two variants for `benchmarks/run.py`:
- `--one-file vejlederlog`: that source's exports as ONE file (the single-big-file case): every
  export's rows, the latest version of each key only (one export cannot hold two versions of a
  key without a same-date conflict), in one style (Danish Excel: Windows-1252, `;`, CRLF, the
  style that costs a reader most), named by the last export's date.
- `--hold-back DIR`: after writing, move each quarterly source's last export (2026 Q3) into
  DIR/<source>/: the quarter a quarterly refresh adds to the rest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nsk_pipeline.demo import generate as demo  # noqa: E402

YEARS = tuple(range(2017, 2027))
LAST_YEAR_QUARTERS = 3  # 2026: Q1-Q3 exported, as in the demo
CORRECTION_SHARE = 0.03
ONE_FILE_STYLE = "excel_dk"
TRAP_RATE = 1 / 25_000  # invalid rows per row (at least one per source and year)
# Unique rows of each source per unique counsellor-log row (the demo's proportions).
PROPORTION = {"skoleforloeb": 0.55, "rettighedskurser": 0.02, "omraade_aktiviteter": 0.03,
              "omraade_aktoerer": 0.01}
EPOCH = dt.date(1970, 1, 1)
DATE_FORMATS = {"dd-mm-yyyy": "%d-%m-%Y", "dd.mm.yyyy": "%d.%m.%Y", "iso": "%Y-%m-%d"}
FIRST_DAY, LAST_DAY = dt.date(1930, 1, 1), dt.date(2027, 12, 31)


def day_no(d: dt.date) -> int:
    return (d - EPOCH).days


D0 = day_no(FIRST_DAY)
ALL_DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(day_no(LAST_DAY) - D0 + 1)]
_DATE_TEXT: dict[str, pa.Array] = {}


def date_text(days: np.ndarray, how: str) -> pa.Array:
    """Day numbers (days since 1970) as text in one of the demo's date forms (lookup + take)."""
    if how not in _DATE_TEXT:
        _DATE_TEXT[how] = pa.array([d.strftime(DATE_FORMATS[how]) for d in ALL_DAYS])
    return _DATE_TEXT[how].take(pa.array(days - D0))


def lookup(values: list[str | None], idx: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.string()).take(pa.array(idx))


def join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def numbered(prefix: pa.Array | str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return join(prefix, text)


# ----------------------------------------------------------------------------------- mess


def spelled(rng: np.random.Generator, codes: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    """Codes written in the listed form ~65 % of the time, otherwise in one of the demo's spellings."""
    table: list[str] = []
    base: list[int] = []
    count: list[int] = []
    for c in codes:
        variants = [c, *demo.SPELLINGS.get(c, ())]
        base.append(len(table))
        count.append(len(variants))
        table += variants
    base_a, count_a = np.array(base), np.array(count)
    use_variant = (rng.random(len(idx)) >= 0.65) & (count_a[idx] > 1)
    pick = np.where(use_variant, 1 + (rng.random(len(idx)) * (count_a[idx] - 1)).astype(int), 0)
    return lookup(table, base_a[idx] + pick)


def school_name_variants(name: str) -> list[str]:
    """The demo's hand-typing slips: lower-case 'skole', a double space, stray padding."""
    out = [name] * 12
    if name.endswith(" Skole"):
        out.append(name[: -len("Skole")] + "skole")
    if " " in name:
        out.append(name.replace(" ", "  ", 1))
    out.append(f" {name} ")
    return out


def count_text(values: np.ndarray, style: demo.Style) -> pa.Array:
    """Counts in the style's number format; negative values are written as they are (traps)."""
    lo, hi = int(values.min(initial=0)), int(values.max(initial=0))
    table = [demo.csv_text("deltagere", v, style) if v >= 0 else str(v) for v in range(lo, hi + 1)]
    return pa.array([t if t != "" else None for t in table], type=pa.string()).take(pa.array(values - lo))


@dataclass
class Export:
    day: dt.date
    year: int
    quarter: int
    final: bool  # the year's last export (Q4's rows and the corrections), early in the next year


def schedule(source: str) -> list[Export]:
    """After Q1-Q3 on the demo's days, and the final export of the year (with Q4) in January/February."""
    out = []
    for year in YEARS:
        quarters = LAST_YEAR_QUARTERS if year == YEARS[-1] else 4
        for q in range(1, quarters + 1):
            m, d = demo.EXPORT_DAYS[source][q - 1]
            out.append(Export(dt.date(year + (q == 4), m, d), year, q, q == 4))
    return out


def correction_pick(rng: np.random.Generator, n: int, at_least: int = 0) -> np.ndarray:
    """Positions, in file order, of the earlier (Q1-Q3) rows a year's last export corrects:
    ~3 % of the year's rows, of which Q1-Q3 hold three quarters."""
    return np.sort(rng.choice(n, max(at_least, int(n * CORRECTION_SHARE * 4 / 3)), replace=False))


def concat_cols(a: dict[str, pa.Array], b: dict[str, pa.Array]) -> dict[str, pa.Array]:
    return {k: pa.concat_arrays([a[k].cast(pa.string()), b[k].cast(pa.string())]) for k in a}


def weekdays(first: dt.date, last: dt.date, school: bool = False) -> np.ndarray:
    d = np.arange(day_no(first), day_no(last) + 1)
    wd = (d + 3) % 7  # 1970-01-01 was a Thursday (3)
    keep = wd < 5
    if school:
        month = np.array([(EPOCH + dt.timedelta(days=int(x))).month for x in d])
        keep &= month != 7
    return d[keep]


def quarter_bounds(year: int, q: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, 3 * q - 2, 1)
    last = dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - dt.timedelta(days=1)
    return first, last


def rows_per_quarter(total: int) -> dict[tuple[int, int], int]:
    """Split `total` unique rows over the exported quarters, growing a little year on year."""
    quarters = [(y, q) for y in YEARS for q in range(1, (LAST_YEAR_QUARTERS if y == YEARS[-1] else 4) + 1)]
    w = np.array([1.0 + 0.05 * (y - YEARS[0]) for y, _ in quarters])
    n = np.floor(total * w / w.sum()).astype(int)
    n[-1] += total - n.sum()
    return dict(zip(quarters, n.tolist()))


# ----------------------------------------------------------------------------------- files


class Writer:
    def __init__(self, out: Path, source: str, one_file: bool = False):
        self.folder = out / source
        self.folder.mkdir(parents=True, exist_ok=True)
        self.source = source
        self.index = 0
        self.rows = 0
        self.one_file = one_file
        self.pending: list[dict[str, pa.Array]] = []
        self.last_day: dt.date | None = None

    def style(self) -> demo.Style:
        if self.one_file:
            return demo.STYLES[ONE_FILE_STYLE]
        name = demo.ROTATION[(self.index + demo.SOURCES.index(self.source)) % len(demo.ROTATION)]
        return demo.STYLES[name]

    def write(self, day: dt.date, columns: dict[str, pa.Array], style: demo.Style) -> None:
        if self.one_file:
            self.pending.append(columns)
            self.last_day = day
            return
        self._write(day, columns, style)

    def finish(self) -> None:
        """One-file mode: write the collected exports as one file, the latest version of each key
        (the first column) in its latest position."""
        if not self.pending:
            return
        names = list(self.pending[0])
        table = pa.table({k: pa.concat_arrays([c[k].cast(pa.string()) for c in self.pending]) for k in names})
        self.pending = []
        table = table.append_column("_row", pa.array(np.arange(table.num_rows)))
        last = table.group_by(names[0], use_threads=False).aggregate([("_row", "max")])["_row_max"]
        table = table.take(pc.sort_indices(last)).drop_columns(["_row"])
        self._write(self.last_day, {k: table[k].combine_chunks() for k in names}, self.style())

    def _write(self, day: dt.date, columns: dict[str, pa.Array], style: demo.Style) -> None:
        names = list(columns)
        if self.index % 7 == 3:  # now and then an extra column the loader must ignore
            n = len(columns[names[0]])
            columns = {**columns, "bemærkning": pa.nulls(n, pa.string())}
            names.append("bemærkning")
        arrays = [pc.if_else(pc.equal(a, ""), pa.scalar(None, pa.string()), a) if len(a) else a
                  for a in columns.values()]
        table = pa.table(arrays, names=[f"c{i}" for i in range(len(names))])
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, delimiter=style.sep, eol=style.newline,
                                                        quoting_style="needed"))
        head = style.sep.join(demo.header(names, style.headers)) + style.newline
        body = sink.getvalue().to_pybytes()
        path = self.folder / f"{self.source}_{day.isoformat()}.csv"
        if style.encoding == "cp1252":
            path.write_bytes((head + body.decode("utf-8")).encode("cp1252"))
        else:
            with open(path, "wb") as f:
                f.write(head.encode(style.encoding))  # utf-8-sig writes the BOM first
                f.write(body)
        self.index += 1
        self.rows += table.num_rows


# ----------------------------------------------------------------------------------- sources


def traps_for(rng: np.random.Generator, n: int) -> np.ndarray:
    k = max(2, int(round(n * TRAP_RATE)))
    return rng.choice(n, size=min(k, n), replace=False) if n else np.empty(0, int)


def vejlederlog(out: Path, total: int, rng: np.random.Generator, one_file: bool = False) -> int:
    src = "vejlederlog"
    w = Writer(out, src, one_file)
    # Rows of 2017-2025 come once more (3 %) in their year's final file; 2026 has none yet.
    unique = int(round(total / (1 + CORRECTION_SHARE * 0.93)))
    plan = rows_per_quarter(unique)
    themes_all = ("arbejdsmarked",) + demo.OTHER_THEMES
    # A few hundred theme lists in the demo's spellings and separators: with / without arbejdsmarked.
    trng = np.random.default_rng(rng.integers(1 << 32))

    def theme_list(codes):
        seps = ("|", "|", ",", ", ")
        return seps[trng.integers(len(seps))].join(
            (lambda c: c if trng.random() < 0.65 or not demo.SPELLINGS.get(c) else demo.SPELLINGS[c][0])(c) for c in codes)

    with_labour = [theme_list(["arbejdsmarked", *trng.choice(demo.OTHER_THEMES, trng.integers(0, 3), replace=False)])
                   for _ in range(200)]
    without = [theme_list(list(trng.choice(demo.OTHER_THEMES, trng.integers(1, 3), replace=False))) for _ in range(200)]
    inquiry_themes = [""] * 200 + [theme_list(list(trng.choice(themes_all, trng.integers(1, 3), replace=False)))
                                   for _ in range(200)]
    # CPR pieces: ddmmyy of every day, the serial digits.
    ddmmyy = pa.array([d.strftime("%d%m%y") for d in ALL_DAYS])
    serial = pa.array([f"{i:03d}" for i in range(1000)])
    seen_cpr: list[pa.Array] = []
    numbers: dict[int, int] = {}
    year_rows: dict[int, dict] = {}
    for ex in schedule(src):
        style = w.style()
        # The quarter's new registrations.
        n = plan[(ex.year, ex.quarter)]
        first, last = quarter_bounds(ex.year, ex.quarter)
        days = rng.choice(weekdays(first, min(last, ex.day)), n)
        days.sort()
        start = numbers.get(ex.year, 0)
        numbers[ex.year] = start + n
        is_case = rng.random(n) < 0.23
        # CPR numbers: new citizens, ~8 % of cases a citizen seen before.
        age = np.where(rng.random(n) < 0.04, rng.integers(15, 18, n), rng.integers(18, 67, n))
        birth = days - (365 * age + rng.integers(1, 361, n))
        birth_year = np.array([ALL_DAYS[b - D0].year for b in np.clip(birth, D0, None)]) if n else np.empty(0, int)
        old = birth_year < 2000
        seventh = np.where(old, rng.integers(0, 4, n), rng.integers(4, 10, n))
        cpr10 = join(ddmmyy.take(pa.array(birth - D0)), pc.cast(pa.array(seventh), pa.string()),
                     serial.take(pa.array(rng.integers(0, 1000, n))))
        if seen_cpr and n:
            pool = pa.concat_arrays(seen_cpr[-8:])
            again = rng.random(n) < 0.08
            if again.any():
                cpr10 = pc.if_else(pa.array(again), pool.take(pa.array(rng.integers(0, len(pool), n))), cpr10)
        seen_cpr.append(cpr10.filter(pa.array(is_case)))
        dash = rng.random(n) < 0.6
        written = pc.if_else(pa.array(dash), join(pc.utf8_slice_codeunits(cpr10, 0, 6), "-",
                                                  pc.utf8_slice_codeunits(cpr10, 6, 10)), cpr10)
        drop0 = pc.and_(pc.starts_with(written, "0"), pa.array(rng.random(n) < 0.08))
        written = pc.if_else(drop0, pc.utf8_slice_codeunits(written, 1, 20), written)
        show = is_case | (rng.random(n) < 0.07)
        cpr = pc.if_else(pa.array(show), written, pa.scalar(None, pa.string()))
        risk_idx = np.where(rng.random(n) < 0.15, 2, rng.integers(0, 2, n))
        risk = pc.if_else(pa.array(is_case), spelled(rng, ("lav", "middel", "hoej"), risk_idx),
                          pa.scalar(None, pa.string()))
        labour = rng.random(n) < 0.38
        theme_idx = rng.integers(0, 200, n)
        temaer = pc.if_else(pa.array(is_case), pc.if_else(pa.array(labour), lookup(with_labour, theme_idx),
                                                          lookup(without, theme_idx)),
                            lookup(inquiry_themes, rng.integers(0, 400, n)))
        refer = rng.random(n) < np.where(is_case, 0.25, 0.05)
        henvist = lookup(["", *demo.REFERRALS], np.where(refer, rng.integers(1, len(demo.REFERRALS) + 1, n), 0))
        closed = days + np.where(is_case, rng.integers(20, 300, n), rng.integers(0, 22, n))
        is_closed = (closed <= day_no(ex.day)) & (rng.random(n) < 0.8)
        status_idx = np.where(is_closed, 1, 0)
        status_idx[rng.random(n) < 0.01] = 2  # voided registrations
        afsluttet = pc.if_else(pa.array(is_closed & (status_idx == 1)), date_text(closed, style.dates),
                               pa.scalar(None, pa.string()))
        kind = spelled(rng, ("henvendelse", "borgersag"), is_case.astype(int))
        ids = numbered(f"VL{ex.year}-", start + np.arange(1, n + 1), 7)
        cols = {
            "registrering_id": ids,
            "oprettet": date_text(days, style.dates),
            "type": kind, "cpr": cpr, "risikoniveau": risk, "temaer": temaer, "henvist_til": henvist,
            "afsluttet": afsluttet,
            "status": spelled(rng, ("aktiv", "afsluttet", "annulleret"), status_idx),
            "vejleder": lookup(list(demo.COUNSELLORS), rng.integers(0, len(demo.COUNSELLORS), n)),
        }
        # Traps: an invalid CPR on a case (30 February), a risk level that is no code.
        t = traps_for(rng, n)
        if len(t):
            cpr_np = np.array(cols["cpr"].to_pylist(), dtype=object)
            risk_np = np.array(cols["risikoniveau"].to_pylist(), dtype=object)
            kind_np = np.array(cols["type"].to_pylist(), dtype=object)
            for j, i in enumerate(t):
                kind_np[i] = "borgersag"
                if j % 2 == 0:
                    cpr_np[i], risk_np[i] = f"3002{(ex.year - 34) % 100:02d}-{rng.integers(10000):04d}", "lav"
                else:
                    cpr_np[i] = cpr_np[i] or f"0101{(ex.year - 40) % 100:02d}-1234"
                    risk_np[i] = "kritisk"
            cols["cpr"], cols["risikoniveau"], cols["type"] = (pa.array(cpr_np, pa.string()),
                                                                pa.array(risk_np, pa.string()),
                                                                pa.array(kind_np, pa.string()))
        year_rows.setdefault(ex.year, {"days": [], "cols": []})
        year_rows[ex.year]["days"].append(days)
        year_rows[ex.year]["cols"].append(cols)
        if ex.final:
            # ~3 % of the year's earlier rows (Q1-Q3) again, now closed.
            prev = year_rows.pop(ex.year)
            corr = {k: pa.concat_arrays([c[k] for c in prev["cols"][:-1]]) for k in cols}
            days = np.concatenate(prev["days"][:-1])
            n_year = len(days)
            pick = correction_pick(rng, n_year)
            corr = {k: v.take(pa.array(pick)) for k, v in corr.items()}
            days = days[pick]
            m = len(pick)
            closed = np.minimum(days + rng.integers(20, 200, m), day_no(ex.day))
            corr["status"] = spelled(rng, ("aktiv", "afsluttet", "annulleret"), np.full(m, 1))
            corr["afsluttet"] = date_text(closed, style.dates)
            corr["oprettet"] = date_text(days, style.dates)
            cols = concat_cols(cols, corr)
        w.write(ex.day, cols, style)
    w.finish()
    return w.rows


def skoleforloeb(out: Path, total: int, rng: np.random.Generator) -> int:
    src = "skoleforloeb"
    w = Writer(out, src)
    plan = rows_per_quarter(total)
    n_extra = max(0, total // 150 - len(demo.SCHOOL_TYPE))
    schools = list(demo.SCHOOL_TYPE) + [f"Københavns Skole nr. {k}" for k in range(1, n_extra + 1)]
    school_type = [demo.SCHOOL_TYPE.get(s, ("folkeskole", "folkeskole", "friskole", "privatskole")[k % 4])
                   for k, s in enumerate(schools)]
    type_codes = ("folkeskole", "friskole", "privatskole")
    type_idx = np.array([type_codes.index(t) for t in school_type])
    variants = [school_name_variants(s) for s in schools]
    flat = [v for vs in variants for v in vs]
    v_base = np.cumsum([0] + [len(vs) for vs in variants[:-1]])
    v_count = np.array([len(vs) for vs in variants])
    classes = [f"{g}.{c}" for g in range(0, 10) for c in "ABCDEF"]
    classes_all = classes + [c.lower() for c in classes] + [""]
    providers = sorted({p for plan_ in demo.PROVIDERS.values() for ps in plan_.values() for p in ps})
    activities = ("elevundervisning", "fagpersonsoplaeg", "foraeldredialog")
    numbers: dict[int, int] = {}
    year_rows: dict[int, list] = {}
    for ex in schedule(src):
        style = w.style()
        # The quarter's new sessions.
        n = plan[(ex.year, ex.quarter)]
        first, last = quarter_bounds(ex.year, ex.quarter)
        days = np.sort(rng.choice(weekdays(first, last, school=True), n))
        school = rng.integers(0, len(schools), n)
        skole = lookup(flat, v_base[school] + (rng.random(n) * v_count[school]).astype(int))
        akt = rng.choice(3, n, p=[0.7, 0.15, 0.15])
        pupils = akt == 0
        tema = np.where(pupils & (rng.random(n) < 0.4), 1, 0)
        klasse_idx = np.where(pupils, rng.integers(0, len(classes_all), n), len(classes_all) - 1)
        elever = np.where(pupils, rng.integers(18, 29, n),
                          np.where((akt == 2) & (rng.random(n) < 0.25), rng.integers(20, 51, n), 0))
        elever[pupils & (tema == 1) & (rng.random(n) < 0.001)] = 1000  # a rights day now and then
        fag = np.where(akt == 1, rng.integers(12, 36, n), 0)
        foraeldre = np.where(akt == 2, rng.integers(15, 46, n), 0)
        pilot = np.where(rng.random(n) < 0.05, 2, np.where(rng.random(n) < 0.3, 1, 0))
        status = (rng.random(n) < 0.03).astype(int)
        prov = rng.integers(0, len(providers), n)
        start = numbers.get(ex.year, 0)
        numbers[ex.year] = start + n
        cols = {
            "forloeb_id": numbered(f"{ex.year}-", start + np.arange(1, n + 1), 6),
            "dato": date_text(days, style.dates),
            "skole": skole,
            "skoletype": spelled(rng, type_codes, type_idx[school]),
            "klasse": lookup(classes_all, klasse_idx),
            "udbyder": lookup(providers, prov),
            "aktivitet": spelled(rng, activities, akt),
            "tema": spelled(rng, ("nsk", "rettigheder"), tema),
            "antal_elever": count_text(elever, style),
            "antal_fagpersoner": count_text(fag, style),
            "antal_foraeldre": count_text(foraeldre, style),
            "pilot": pc.if_else(pa.array(pilot == 0), pa.scalar("", pa.string()),
                                spelled(rng, ("nej", "ja"), np.maximum(pilot - 1, 0))),
            "status": spelled(rng, ("gennemfoert", "aflyst"), status),
        }
        t = traps_for(rng, n)
        if len(t):  # an impossible date and a school type that is no code
            dato = np.array(cols["dato"].to_pylist(), dtype=object)
            typ = np.array(cols["skoletype"].to_pylist(), dtype=object)
            for j, i in enumerate(t):
                if j % 2 == 0:
                    dato[i] = {"iso": f"{ex.year}-02-31", "dd.mm.yyyy": f"31.02.{ex.year}"}.get(
                        style.dates, f"31-02-{ex.year}")
                else:
                    typ[i] = "efterskole"
            cols["dato"], cols["skoletype"] = pa.array(dato, pa.string()), pa.array(typ, pa.string())
        year_rows.setdefault(ex.year, []).append((cols, days, elever, fag, foraeldre, status, akt, pilot,
                                                  tema, type_idx[school]))
        if ex.final:
            # Corrections of ~3 % of the year's earlier (Q1-Q3) sessions: counts re-typed, some cancelled.
            parts = year_rows.pop(ex.year)[:-1]
            corr = {k: pa.concat_arrays([p[0][k] for p in parts]) for k in cols}
            arr = [np.concatenate([p[i] for p in parts]) for i in range(1, 10)]
            pick = correction_pick(rng, len(arr[0]))
            corr = {k: v.take(pa.array(pick)) for k, v in corr.items()}
            days, elever, fag, foraeldre, status, akt, pilot, tema, tidx = (a[pick] for a in arr)
            elever = np.where(elever > 0, elever + rng.integers(-2, 3, len(pick)), 0)
            status = np.where(rng.random(len(pick)) < 0.1, 1, status)
            corr.update({
                "dato": date_text(days, style.dates),
                "skoletype": spelled(rng, ("folkeskole", "friskole", "privatskole"), tidx),
                "aktivitet": spelled(rng, activities, akt),
                "tema": spelled(rng, ("nsk", "rettigheder"), tema),
                "antal_elever": count_text(elever, style), "antal_fagpersoner": count_text(fag, style),
                "antal_foraeldre": count_text(foraeldre, style),
                "pilot": pc.if_else(pa.array(pilot == 0), pa.scalar("", pa.string()),
                                    spelled(rng, ("nej", "ja"), np.maximum(pilot - 1, 0))),
                "status": spelled(rng, ("gennemfoert", "aflyst"), status),
            })
            cols = concat_cols(cols, corr)
        w.write(ex.day, cols, style)
    return w.rows


def rettighedskurser(out: Path, total: int, rng: np.random.Generator) -> int:
    src = "rettighedskurser"
    w = Writer(out, src)
    plan = rows_per_quarter(total)
    types = ("jobcenter", "boligomraade", "civilsamfund")
    places = [p for t in types for p in demo.COURSE_PLACES[t]]
    p_base = np.cumsum([0] + [len(demo.COURSE_PLACES[t]) for t in types[:-1]])
    p_count = np.array([len(demo.COURSE_PLACES[t]) for t in types])
    year_rows: dict[int, list] = {}
    numbers: dict[int, int] = {}

    def rows(ids, days, st, deltagere, status, style):
        n = len(days)
        return {"kursus_id": ids, "dato": date_text(days, style.dates), "sted_type": spelled(rng, types, st),
                "sted": lookup(places, p_base[st] + (rng.random(n) * p_count[st]).astype(int)),
                "deltagere": count_text(deltagere, style),
                "status": spelled(rng, ("gennemfoert", "aflyst"), status)}

    for ex in schedule(src):
        style = w.style()
        n = plan[(ex.year, ex.quarter)]
        first, last = quarter_bounds(ex.year, ex.quarter)
        days = np.sort(rng.choice(weekdays(first, last), n))
        st = rng.choice(3, n, p=[0.6, 0.3, 0.1])
        deltagere = rng.integers(6, 19, n)
        status = (rng.random(n) < 0.05).astype(int)
        start = numbers.get(ex.year, 0)
        numbers[ex.year] = start + n
        ids = numbered(f"RK{ex.year % 100}-", start + np.arange(1, n + 1), 5)
        year_rows.setdefault(ex.year, []).append((ids, days, st, deltagere, status))
        cols = rows(ids, days, st, deltagere, status, style)
        if ex.final:
            # Corrections of Q1-Q3 courses: participants re-counted; one broken correction (negative).
            parts = year_rows.pop(ex.year)[:-1]
            ids = pa.concat_arrays([p[0] for p in parts])
            arr = [np.concatenate([p[i] for p in parts]) for i in range(1, 5)]
            pick = correction_pick(rng, len(ids), at_least=1)
            days, st, deltagere, status = (x[pick] for x in arr)
            deltagere = np.maximum(deltagere + rng.integers(-2, 3, len(pick)), 0)
            deltagere[0] = -deltagere[0] - 1  # the older version keeps counting
            cols = concat_cols(cols, rows(ids.take(pa.array(pick)), days, st, deltagere, status, style))
        w.write(ex.day, cols, style)
    return w.rows


def actors(out: Path, total: int, rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
    """The register: each quarter's export lists the actors who joined in it; the final export of a
    year also re-sends those who left during it (now with `udtraadt`). Returns (rows, join day, id no)."""
    src = "omraade_aktoerer"
    w = Writer(out, src)
    plan = rows_per_quarter(total)
    sectors = ("kommunal", "civilsamfund", "boligsocial", "skole", "andet")
    names = [a[1] for a in demo.ACTORS]
    exported: list[tuple] = []  # (ids, joined, leave, sector, name) of earlier exports
    next_id = 1

    def rows(ids, joined, leave, sector, name, style, with_leave):
        return {"aktoer_id": numbered("A", ids, 6), "navn": name, "sektor": spelled(rng, sectors, sector),
                "tilsluttet": date_text(joined, style.dates),
                "udtraadt": date_text(leave, style.dates) if with_leave else pa.nulls(len(ids), pa.string())}

    for ex in schedule(src):
        style = w.style()
        n = plan[(ex.year, ex.quarter)]
        first, last = quarter_bounds(ex.year, ex.quarter)
        joined = np.sort(rng.choice(weekdays(first, last), n))
        # ~10 % leave, at the earliest ~100 days later (so never in the year-end file that lists them as new).
        leave = np.where(rng.random(n) < 0.1, joined + rng.integers(100, 2000, n), np.iinfo(np.int32).max)
        ids = np.arange(next_id, next_id + n)
        next_id += n
        sector = rng.integers(0, len(sectors), n)
        name = join(lookup(names, rng.integers(0, len(names), n)), " ", pc.cast(pa.array(ids), pa.string()))
        cols = rows(ids, joined, leave, sector, name, style, False)
        if ex.final and exported:
            # Everyone exported before who left during the year.
            e_ids, e_join, e_leave, e_sector = (np.concatenate([p[i] for p in exported]) for i in range(4))
            e_name = pa.concat_arrays([p[4] for p in exported])
            lo, hi = day_no(dt.date(ex.year, 1, 1)), day_no(dt.date(ex.year, 12, 31))
            sel = np.nonzero((e_leave >= lo) & (e_leave <= hi))[0]
            cols = concat_cols(cols, rows(e_ids[sel], e_join[sel], e_leave[sel], e_sector[sel],
                                          e_name.take(pa.array(sel)), style, True))
        exported.append((ids, joined, leave, sector, name))
        w.write(ex.day, cols, style)
    return w.rows, np.concatenate([p[1] for p in exported]), np.concatenate([p[0] for p in exported])


def omraade_aktiviteter(out: Path, total: int, rng: np.random.Generator, actor_join: np.ndarray,
                        actor_ids: np.ndarray) -> int:
    src = "omraade_aktiviteter"
    w = Writer(out, src)
    plan = rows_per_quarter(total)
    types = ("borgeraktivitet", "netvaerksmoede", "kompetenceudvikling", "arbejdsgruppemoede")
    groups = ("foraeldre_voksne", "boern_unge", "fagpersoner", "blandet")
    order = np.argsort(actor_join, kind="stable")
    join_sorted, ids_sorted = actor_join[order], actor_ids[order]
    id_text = numbered("A", ids_sorted, 6)
    year_rows: dict[int, list] = {}
    numbers: dict[int, int] = {}

    def rows(ids, days, typ, deltagere, grp, status, aktoerer, style):
        n = len(days)
        return {"aktivitet_id": ids, "dato": date_text(days, style.dates),
                "omraade": lookup(list(demo.AREAS), rng.integers(0, len(demo.AREAS), n)),
                "type": spelled(rng, types, typ), "maalgruppe": spelled(rng, groups, grp),
                "deltagere": count_text(deltagere, style), "aktoerer": aktoerer,
                "status": spelled(rng, ("gennemfoert", "aflyst"), status)}

    for ex in schedule(src):
        style = w.style()
        n = plan[(ex.year, ex.quarter)]
        first, last = quarter_bounds(ex.year, ex.quarter)
        days = np.sort(rng.choice(weekdays(first, last), n))
        typ = rng.choice(4, n, p=[0.55, 0.15, 0.1, 0.2])
        deltagere = np.where(typ == 0, rng.integers(12, 41, n), rng.integers(5, 25, n))
        grp = rng.integers(0, 4, n)
        status = (rng.random(n) < 0.04).astype(int)
        # Actors that had joined by the day (leaving is not checked by the loader). The register's
        # export of the quarter a new actor joined in comes after the activity, but before the as-of.
        joined_by = np.searchsorted(join_sorted, days, side="right")
        k = np.minimum(np.where(typ == 1, rng.integers(4, 9, n), rng.integers(0, 4, n)), joined_by)
        sep = ("|", ",", ", ")[w.index % 3]
        aktoerer = pa.array([""] * n, pa.string())
        for j in range(int(k.max(initial=0))):
            pick = (rng.random(n) * np.maximum(joined_by, 1)).astype(int)
            part = id_text.take(pa.array(pick))
            aktoerer = pc.if_else(pa.array(k > j), part if j == 0 else join(aktoerer, sep, part), aktoerer)
        start = numbers.get(ex.year, 0)
        numbers[ex.year] = start + n
        ids = numbered(f"OA{ex.year % 100}-", start + np.arange(1, n + 1), 6)
        year_rows.setdefault(ex.year, []).append((ids, days, typ, deltagere, grp, status, aktoerer))
        cols = rows(ids, days, typ, deltagere, grp, status, aktoerer, style)
        if ex.final:
            parts = year_rows.pop(ex.year)[:-1]
            ids = pa.concat_arrays([p[0] for p in parts])
            ak = pa.concat_arrays([p[6] for p in parts])
            arr = [np.concatenate([p[i] for p in parts]) for i in range(1, 6)]
            pick = correction_pick(rng, len(ids), at_least=1)
            c_days, c_typ, c_delt, c_grp, c_status = (x[pick] for x in arr)
            c_ak = ak.take(pa.array(pick)).to_pylist()
            c_ak[0] = ((c_ak[0] + "|") if c_ak[0] else "") + "Z99999"  # trap: an actor the register never had
            cols = concat_cols(cols, rows(ids.take(pa.array(pick)), c_days, c_typ, c_delt + rng.integers(0, 3, len(pick)),
                                          c_grp, c_status, pa.array(c_ak, pa.string()), style))
        w.write(ex.day, cols, style)
    return w.rows


def milepaele(out: Path) -> int:
    folder = out / "milepaele"
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    for index, (day, records) in enumerate(demo.milestone_rows().items()):
        stem = f"milepaele_{day.isoformat()}"
        style = demo.STYLES["web_comma"] if index % 2 else demo.STYLES["excel_dk"]  # CSV only
        demo.write_file(folder, stem, style, demo.COLUMNS["milepaele"], records, day, lambda _m: None, set())
        rows += len(records)
    return rows


def generate(out: Path, scale: int, seed: int = 7, one_file: str | None = None) -> dict[str, int]:
    out = Path(out)
    for source in demo.SOURCES:  # a clean folder: stale exports would change the figures
        folder = out / source
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file() and p.name.startswith(source + "_"):
                    p.unlink()
    rng = np.random.default_rng(seed)
    unique = scale / (1 + CORRECTION_SHARE * 0.95)
    rows = {"vejlederlog": vejlederlog(out, scale, rng, one_file == "vejlederlog"),
            "skoleforloeb": skoleforloeb(out, max(40, int(unique * PROPORTION["skoleforloeb"])), rng),
            "rettighedskurser": rettighedskurser(out, max(40, int(unique * PROPORTION["rettighedskurser"])), rng)}
    n_actors, join_days, ids = actors(out, max(40, int(unique * PROPORTION["omraade_aktoerer"])), rng)
    rows["omraade_aktoerer"] = n_actors
    rows["omraade_aktiviteter"] = omraade_aktiviteter(
        out, max(40, int(unique * PROPORTION["omraade_aktiviteter"])), rng, join_days, ids)
    rows["milepaele"] = milepaele(out)
    # The demo's stray files the loader must ignore.
    (out / "skoleforloeb" / "README.txt").write_text(demo.README, encoding="utf-8")
    return rows


def hold_back(out: Path, to: Path) -> list[Path]:
    """Move each quarterly source's last export from `out` into `to` (same sub-folders)."""
    moved = []
    for source in demo.SOURCES:
        if source == "milepaele":  # hand-typed, not a quarterly export
            continue
        name = f"{source}_{schedule(source)[-1].day.isoformat()}.csv"
        (to / source).mkdir(parents=True, exist_ok=True)
        moved.append((out / source / name).rename(to / source / name))
    return moved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, required=True, help="total counsellor-log rows, e.g. 1000000")
    p.add_argument("--out", type=Path, required=True, help="the raw folder to write (one sub-folder per source)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--one-file", choices=["vejlederlog"], help="write this source's exports as one file")
    p.add_argument("--hold-back", type=Path, metavar="DIR",
                   help="move each quarterly source's last export into DIR (for a quarterly refresh)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = generate(args.out, args.scale, args.seed, args.one_file)
    print(f"scale {args.scale}: wrote {args.out} in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{k} {v}" for k, v in rows.items()))
    if args.hold_back:
        moved = hold_back(args.out, args.hold_back)
        print(f"held back in {args.hold_back}: " + ", ".join(p.name for p in moved))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
