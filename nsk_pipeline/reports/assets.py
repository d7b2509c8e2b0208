"""The yearly status reports, written from the published marts."""

from pathlib import Path

import dagster as dg

from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.marts.assets import mart_key


@dg.asset(key=dg.AssetKey(["reports", "status"]), group_name="reports", kinds={"html", "markdown", "docx"},
          deps=[mart_key("goal_attainment"), mart_key("indicator_yearly")],
          description="The status report per plan and year (HTML with charts, Markdown, and a Word document "
                      "from the Word template), for every plan year up to the as-of year. Three files per "
                      "plan and year.")
def status_reports(context: dg.AssetExecutionContext, nsk: NskResource) -> dg.MaterializeResult:
    from nsk_pipeline.marts.revisions import latest_revision
    from nsk_pipeline.reports.render import write_report

    out = Path(nsk.reports_dir)
    written = []
    latest = latest_revision(nsk.warehouse)  # once, not per report: its deliveries scan staging
    for plan in load_registry(nsk.goals_path).plans.values():
        for year in range(plan.first_year, min(plan.last_year, nsk.as_of_date.year) + 1):
            files = write_report(nsk.warehouse, plan.id, year, out, nsk.report_docx_template, latest)
            written += [str(files.html), str(files.docx)]
    context.log.info(f"wrote {len(written) // 2} reports (HTML, Markdown, Word) to {out}")
    return dg.MaterializeResult(metadata={"reports": "\n".join(written), "folder": dg.MetadataValue.path(str(out))})
