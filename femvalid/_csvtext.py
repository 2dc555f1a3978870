"""CSV that a spreadsheet reads as written.

Numbers are written as numbers (``repr`` of the float: every digit, read back
exactly). A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is one a spreadsheet would evaluate as a formula (a design named
``-1-1`` would show as -2; ``=HYPERLINK(...)`` would run): such a cell gets a
leading apostrophe, which spreadsheets read as "this is text" (OWASP, "CSV
Injection"). Other text is written unchanged, but for carriage returns, which become
line feeds (a quoted field may hold a line feed; a lone carriage return would end the row
for some readers).
"""

from __future__ import annotations

import csv
import io
import numbers

__all__ = ["csv_text", "cell", "FORMULA_START"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP's list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """One cell: "" for None, a number as its exact repr, text safe from formula evaluation.

    >>> [cell(v) for v in (None, 2, -0.5, "-1-1", "=1+1", "block", True)]
    ['', '2', '-0.5', "'-1-1", "'=1+1", 'block', 'True']
    """
    if value is None:
        return ""
    if isinstance(value, (bool, numbers.Integral)):
        return str(value)
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, (list, tuple)):
        return " ".join(cell(v) for v in value)
    text = str(value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    # csv quotes a field holding "\n" (the line end here) but not a lone "\r", which readers take as a line end.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def csv_text(header, rows) -> str:
    """A header and rows as CSV text, every cell through :func:`cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buffer.getvalue()
