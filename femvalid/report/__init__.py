"""Evidence report: self-contained HTML with figures, comparison, criteria, provenance."""

from femvalid.report.html import SECTIONS, write_pdf, write_report

__all__ = ["SECTIONS", "write_pdf", "write_report"]
