"""HTML tables for the report pages: numbers to five significant digits, everything else escaped."""

from __future__ import annotations

from html import escape

__all__ = ["Markup", "cell", "table"]


class Markup(str):
    """Markup that a table cell takes as it is (a link, a list)."""


def cell(value) -> str:
    """A table cell's text: a float to five significant digits, Markup as it is, anything else escaped."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, float):
        return f"{value:.5g}"
    return escape("" if value is None else str(value))


def table(header, rows, classes=None) -> str:
    """An HTML table; ``classes[i]``, where given and not empty, is row i's class."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
