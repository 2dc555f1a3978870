"""Design-revision comparison: every quantity across revisions, change from the baseline."""

from __future__ import annotations

from femvalid._csvtext import csv_text
from femvalid.post import qoi

__all__ = ["compare_revisions", "comparison_csv", "REGRESSION_THRESHOLD"]

#: Changes smaller than this (relative) are not called regressions.
REGRESSION_THRESHOLD = 0.01


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare_revisions(results, baselines: dict[str, str]) -> list[dict]:
    """One row per design, load case and quantity, with each revision's value and change.

    ``baselines`` maps a design name to its baseline revision. Quantities come in the
    QoI table's order; the applied load is left out. A change over
    :data:`REGRESSION_THRESHOLD` in the direction the table calls worse is a
    regression; checks and quantities without a direction are reported, not judged.
    """
    rows = []
    by_case: dict[tuple, dict] = {}
    for r in results:
        if r.status == "ok":
            by_case.setdefault((r.design, r.loadcase), {})[r.revision] = r.qoi
    for (design, loadcase), revisions in by_case.items():
        base_rev = baselines.get(design)
        base = revisions.get(base_rev)
        if base is None:
            continue
        for quantity in qoi.ordered(base):
            base_value, worse = base[quantity], qoi.spec(quantity).worse
            if qoi.spec(quantity).kind == "load" or not _number(base_value):
                continue
            row = {"design": design, "loadcase": loadcase, "quantity": quantity, "baseline": base_rev,
                   "values": {}, "change_percent": {}, "regressions": []}
            for revision, values in revisions.items():
                value = values.get(quantity)
                row["values"][revision] = value
                if revision == base_rev or not _number(value) or base_value == 0:
                    continue
                change = (value - base_value) / abs(base_value)
                row["change_percent"][revision] = 100.0 * change
                if worse and abs(change) > REGRESSION_THRESHOLD and (change > 0) == (worse == "higher"):
                    row["regressions"].append(revision)
            rows.append(row)
    return rows


def comparison_csv(rows: list[dict]) -> str:
    """The comparison as CSV: one line per design, load case, quantity and revision."""
    header = ["design", "loadcase", "quantity", "revision", "baseline", "value", "baseline_value",
              "change_percent", "regression"]
    lines = []
    for row in rows:
        base_value = row["values"][row["baseline"]]
        for revision, value in row["values"].items():
            change = row["change_percent"].get(revision)
            lines.append([row["design"], row["loadcase"], row["quantity"], revision, row["baseline"],
                          None if value is None else float(value), float(base_value),
                          None if change is None else float(change),
                          "yes" if revision in row["regressions"] else ""])
    return csv_text(header, lines)
