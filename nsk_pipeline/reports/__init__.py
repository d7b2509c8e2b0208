"""Reports for the committee and analysts: the yearly status report and the data dictionary, both
generated from the marts and the code's registries (the report view itself is a mart:
`marts/report_view.py`)."""

from nsk_pipeline.reports.render import (
    ReportData,
    ReportError,
    load_report_data,
    render_docx,
    render_html,
    render_markdown,
    write_report,
)

__all__ = ["ReportData", "ReportError", "load_report_data", "render_docx", "render_html", "render_markdown",
           "write_report"]
