"""Write the shipped Word template, templates/status.docx, laid out like the committee's annex
("Bilag 2"): one table Målgruppe / Mål / Afrapportering, a row per goal with the status sentence,
the figures and the chart.

The template is a plain Word document with docxtpl's Jinja tags (`{{ … }}`, and `{%tr … %}` /
`{%p … %}` for a table row / paragraph that repeats or is conditional). A municipality edits a
copy in Word (styles, logo, header, wording) and sets NSK_REPORT_DOCX_TEMPLATE to it; what a
template may use is described in render.render_docx: `data` (render.ReportData), `charts`, the
formatting functions and `say`, the sentences of templates/sentences.j2.

    .venv/bin/python -m nsk_pipeline.reports.make_docx_template   # rewrites templates/status.docx
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.shared import Mm, Pt

OUT = Path(__file__).resolve().parent / "templates" / "status.docx"


def build(out: Path = OUT) -> Path:
    doc = Document()
    props = doc.core_properties
    props.author = props.last_modified_by = "nsk-pipeline"
    props.title = "Status på handleplanens mål"
    props.created = props.modified = datetime(2026, 1, 1)  # the same properties on every rebuild
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(18))
    doc.styles["Normal"].font.name = "Arial"
    doc.styles["Normal"].font.size = Pt(10)

    doc.add_heading("Status på handleplanens mål: afrapportering for {{ data.year }}", level=1)
    doc.add_paragraph("{{ data.plan_name }} ({{ data.plan_id }}, {{ data.first_year }}-{{ data.last_year }})")
    doc.add_paragraph("Opgjort pr. {{ fmt_date(data.as_of) }}: eksporter dateret efter denne dato er ikke "
                      "medregnet. Hvert mål angiver, hvor langt data rækker (data til og med).")
    doc.add_paragraph("{%p if data.year_running %}")
    doc.add_paragraph("{{ data.year }} er ikke afsluttet: tallene er foreløbige og gælder til og med "
                      "{{ fmt_date(data.as_of) }}. Mål, hvis periode stadig løber, er mærket (foreløbig).")
    doc.add_paragraph("{%p endif %}")
    doc.add_paragraph("{% for status, n in data.status_counts().items() if n %}{{ status_text[status] }}: {{ n }}"
                      "{{ '; ' if not loop.last }}{% endfor %}")

    table = doc.add_table(rows=4, cols=3)
    table.style = "Table Grid"
    table.autofit = False
    # Word reads the cells' widths, LibreOffice the table grid's: set both.
    for i, width in enumerate((Mm(40), Mm(80), Mm(141))):
        table.columns[i].width = width
        for cell in table.columns[i].cells:
            cell.width = width
    header = table.rows[0].cells
    for cell, text in zip(header, ("Målgruppe", "Mål", "Afrapportering for {{ data.year }}")):
        cell.paragraphs[0].add_run(text).bold = True
    table.rows[1].cells[0].text = "{%tr for g in data.goals %}"
    spor, goal, report = table.rows[2].cells
    spor.paragraphs[0].add_run("{{ g.spor_label if loop.first or loop.previtem.spor != g.spor }}").bold = True
    goal.paragraphs[0].text = "{{ g.goal_text }}"
    goal.add_paragraph().add_run("{{ g.goal_id }}{{ ' · milepæl' if g.kind == 'milestone' }}").italic = True
    status = report.paragraphs[0]
    status.add_run("{{ g.status_text }}.").bold = True
    status.add_run("{{ ' (foreløbig)' if g.provisional }}")
    report.add_paragraph("{%p for line in say.goal_lines(g, data).splitlines() %}")
    report.add_paragraph("{{ line }}")
    report.add_paragraph("{%p endfor %}")
    report.add_paragraph("{%p if g.goal_id in charts %}")
    report.add_paragraph("{{ charts[g.goal_id] }}")
    report.add_paragraph("{%p endif %}")
    table.rows[3].cells[0].text = "{%tr endfor %}"

    doc.add_paragraph("{%p if data.other_goals %}")
    doc.add_paragraph("Mål i planen uden opgørelse for dette år: {% for g in data.other_goals %}"
                      "{{ g.goal_id }} (gælder {{ say.period_name(g.period) }}){{ '; ' if not loop.last }}{% endfor %}.")
    doc.add_paragraph("{%p endif %}")

    doc.add_paragraph("{%p if data.changes is not none %}")
    doc.add_heading("Ændringer siden sidste opgørelse", level=2)
    doc.add_paragraph("{{ say.changes_intro(data.changes) }}")
    doc.add_paragraph("{%p for r in data.changes.changes %}")
    doc.add_paragraph("{{ say.change_what(r) }}, {{ r.year }}: {{ fmt_value(r.old_value, r.unit) }} → "
                      "{{ fmt_value(r.new_value, r.unit) }}{{ ' (' ~ say.change_status(r) ~ ')' if r.kind == 'goal' }}",
                      style="List Bullet")
    doc.add_paragraph("{%p endfor %}")
    doc.add_paragraph("{%p endif %}")

    doc.add_heading("Datakvalitet", level=2)
    doc.add_paragraph("Rækker i karantæne (antal pr. kilde og regel, aldrig indholdet af rækkerne):")
    doc.add_paragraph("{%p for q in data.quarantine %}")
    doc.add_paragraph("{{ say.source(q.source) }}, {{ q.column }}: {{ q.rule }} ({{ say.rows(q.rows) }})",
                      style="List Bullet")
    doc.add_paragraph("{%p endfor %}")
    doc.add_paragraph("Afviste filer: {% for f in data.rejected_files %}{{ f.file_name }} ({{ f.reason }})"
                      "{{ '; ' if not loop.last }}{% else %}ingen{% endfor %}.")
    doc.add_paragraph("{%p for s in data.sources %}")
    doc.add_paragraph("{{ say.source(s.source) }}: seneste eksport {{ fmt_date(s.latest_export) }}; "
                      "{{ say.freshness(s) }}", style="List Bullet")
    doc.add_paragraph("{%p endfor %}")
    doc.add_paragraph("Dannet af nsk-pipeline ud fra marts.goal_attainment. Tal med dansk talformat; – betyder "
                      "ikke målt.").runs[0].italic = True
    out.parent.mkdir(parents=True, exist_ok=True)
    doc.save(out)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
