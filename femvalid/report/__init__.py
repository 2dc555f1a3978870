"""Evidence report: self-contained HTML with figures, comparison, criteria, provenance."""

from femvalid.report.html import SECTIONS, write_pdf, write_report
from femvalid.report.verification import read_verification, verification_section

__all__ = ["SECTIONS", "read_verification", "verification_section", "write_pdf", "write_report"]
