"""The report's code-verification section, from the verification.json `femvalid verify` writes."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

__all__ = ["read_verification", "verification_body", "verification_section", "verification_places"]


def verification_places(outdir: Path) -> tuple[Path, ...]:
    """Where a study's report looks for verification.json, first found wins: in OUTDIR, in a
    ``verification`` folder beside it, and in reports/verification (`femvalid verify`'s default)."""
    outdir = Path(outdir)
    return (outdir / "verification.json", outdir.parent / "verification" / "verification.json",
            Path("reports") / "verification" / "verification.json")


def read_verification(outdir: Path) -> tuple[Path, dict] | None:
    """(path, record) of the first readable verification.json of :func:`verification_places`, or None."""
    for place in verification_places(outdir):
        try:
            record = json.loads(place.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("checks"), list):
            return place, record
    return None


def verification_body(report: dict) -> str:
    """The verdict and the table of checks, as HTML (all text escaped)."""
    rows = "\n".join(
        f"<tr class=\"{'pass' if c['passed'] else 'fail'}\"><td>{escape(c['benchmark'])}</td><td>{escape(c['quantity'])}</td>"
        f"<td>{c['expected']:.6g}</td><td>{c['computed']:.8g}</td><td>{c['error']:.2e}</td><td>{c['tolerance']:.2g}</td>"
        f"<td>{'pass' if c['passed'] else 'FAIL'}</td><td>{c['seconds']:.1f}</td><td>{escape(c['reference'])}</td></tr>"
        for c in report["checks"]
    )
    verdict = "all checks passed" if report["passed"] else "SOME CHECKS FAILED"
    return (
        f"<p>femvalid {escape(report['femvalid_version'])}, Python {escape(report['python'])}, "
        f"{escape(report['platform'])}: {verdict} ({'quick set' if report['quick'] else 'full set'}, "
        f"{report['seconds']:.0f} s).</p>\n<table>\n<tr><th>benchmark</th><th>quantity</th><th>expected</th>"
        "<th>computed</th><th>error</th><th>tolerance</th><th>result</th><th>s</th><th>reference</th></tr>\n"
        f"{rows}\n</table>\n"
    )


def verification_section(report: dict) -> str:
    """The verification results as a whole HTML section (verification.html)."""
    return f"<section id=\"code-verification\">\n<h2>Code verification</h2>\n{verification_body(report)}</section>\n"
