"""Reports for the committee and analysts: the yearly status report, the report view and the
data dictionary, all generated from the marts and the code's registries."""

from nsk_pipeline.reports.render import (
    ReportData,
    ReportError,
    add_report_parser,
    load_report_data,
    render_html,
    render_markdown,
    report_cli,
    write_report,
)
from nsk_pipeline.reports.view import VIEW_SQL, create_report_view

__all__ = [
    "ReportData", "ReportError", "add_report_parser", "load_report_data", "render_html", "render_markdown",
    "report_cli", "write_report", "VIEW_SQL", "create_report_view",
]
