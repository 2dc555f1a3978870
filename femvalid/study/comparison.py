"""Design-revision comparison: every quantity across revisions, change from the baseline."""

from __future__ import annotations

import csv
import io

__all__ = ["compare_revisions", "comparison_csv", "WORSE_WHEN"]

#: Direction in which a change is a regression; quantities not listed are reported, not judged.
WORSE_WHEN = {
    "safety_factor_yield": "lower",
    "first_yield_force_N": "lower",
    "von_mises_max_MPa": "higher",
    "von_mises_p99_MPa": "higher",
    "von_mises_p95_MPa": "higher",
    "von_mises_mean_MPa": "higher",
    "displacement_mm": "higher",
    "displacement_max_mm": "higher",
    "subsidence_mm": "higher",
    "subsidence_stiffness_N_per_mm": "lower",
    "contact_pressure_mean_MPa": "higher",
    "contact_pressure_max_MPa": "higher",
    "block_von_mises_max_MPa": "higher",
    "block_overstressed_volume_mm3": "higher",
}
#: Changes smaller than this (relative) are not called regressions.
REGRESSION_THRESHOLD = 0.01


def compare_revisions(results, baselines: dict[str, str]) -> list[dict]:
    """One row per design, load case and quantity, with each revision's value and change.

    ``baselines`` maps a design name to its baseline revision.
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
        for quantity, base_value in base.items():
            if quantity == "force_N" or not isinstance(base_value, (int, float)):
                continue
            row = {"design": design, "loadcase": loadcase, "quantity": quantity, "baseline": base_rev,
                   "values": {}, "change_percent": {}, "regressions": []}
            for revision, qoi in revisions.items():
                value = qoi.get(quantity)
                row["values"][revision] = value
                if revision == base_rev or value is None or base_value == 0:
                    continue
                change = (value - base_value) / abs(base_value)
                row["change_percent"][revision] = 100.0 * change
                worse = WORSE_WHEN.get(quantity)
                if worse and abs(change) > REGRESSION_THRESHOLD and (change > 0) == (worse == "higher"):
                    row["regressions"].append(revision)
            rows.append(row)
    return rows


def comparison_csv(rows: list[dict]) -> str:
    """The comparison as CSV: one line per design, load case, quantity and revision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["design", "loadcase", "quantity", "revision", "baseline", "value", "baseline_value",
                     "change_percent", "regression"])
    for row in rows:
        base_value = row["values"][row["baseline"]]
        for revision, value in row["values"].items():
            change = row["change_percent"].get(revision)
            writer.writerow([row["design"], row["loadcase"], row["quantity"], revision, row["baseline"],
                             "" if value is None else repr(float(value)), repr(float(base_value)),
                             "" if change is None else repr(float(change)),
                             "yes" if revision in row["regressions"] else ""])
    return buffer.getvalue()
