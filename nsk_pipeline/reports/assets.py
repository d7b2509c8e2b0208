"""The yearly status reports, written from the published marts."""

from pathlib import Path

import dagster as dg

from nsk_pipeline.core.resources import NskResource
from nsk_pipeline.goals.registry import load_registry
from nsk_pipeline.marts.assets import mart_key


@dg.asset(key=dg.AssetKey(["reports", "status"]), group_name="reports", kinds={"html", "markdown"},
          deps=[mart_key("goal_attainment"), mart_key("indicator_yearly")], owners=["team:data-engineering"],
          description="The status report per plan and year (HTML with charts, and Markdown), for every plan "
                      "year up to the as-of year. One file pair per plan and year.")
def status_reports(context: dg.AssetExecutionContext, nsk: NskResource) -> dg.MaterializeResult:
    from nsk_pipeline.reports.render import write_report

    out = Path(nsk.reports_dir)
    written = []
    for plan in load_registry(nsk.goals_path).plans.values():
        for year in range(plan.first_year, min(plan.last_year, nsk.as_of_date.year) + 1):
            html_path, _ = write_report(nsk.warehouse, plan.id, year, out)
            written.append(str(html_path))
    context.log.info(f"wrote {len(written)} reports to {out}")
    return dg.MaterializeResult(metadata={"reports": "\n".join(written), "folder": dg.MetadataValue.path(str(out))})
