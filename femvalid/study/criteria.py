"""Acceptance criteria from the study's [criteria] table, evaluated per job."""

from __future__ import annotations

import math

from femvalid.errors import InputError

__all__ = ["CRITERIA", "read_criteria", "evaluate_criteria"]

#: criterion key → (quantity of interest, "min" or "max"). ``gci`` means the largest
#: GCI_fine of the headline quantities (needs [mesh] refine).
CRITERIA = {
    "min_safety_factor": ("safety_factor_yield", "min"),
    "min_stiffness_N_per_mm": ("stiffness_N_per_mm", "min"),
    "max_displacement_mm": ("displacement_mm", "max"),
    "max_von_mises_p99_MPa": ("von_mises_p99_MPa", "max"),
    "max_subsidence_mm": ("subsidence_mm", "max"),
    "min_subsidence_stiffness_N_per_mm": ("subsidence_stiffness_N_per_mm", "min"),
    "max_block_overstressed_volume_mm3": ("block_overstressed_volume_mm3", "max"),
    "max_gci_percent": ("gci", "max"),
}
_GCI_QUANTITIES = ("stiffness_N_per_mm", "von_mises_p99_MPa", "subsidence_mm")


def read_criteria(table, path) -> dict:
    """Validate the [criteria] table: known keys, non-negative finite numbers."""
    if not isinstance(table, dict):
        raise InputError(path, "[criteria] must be a table")
    unknown = sorted(set(table) - set(CRITERIA))
    if unknown:
        raise InputError(path, f"[criteria]: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(CRITERIA)}")
    out = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InputError(path, f"[criteria]: '{key}' must be a non-negative number, got {value!r}")
        out[key] = float(value)
    return out


def evaluate_criteria(criteria: dict, qoi: dict, convergence: dict) -> dict:
    """{criterion: {quantity, limit, value, passed}} for the criteria that apply to this job."""
    out = {}
    for key, limit in criteria.items():
        quantity, kind = CRITERIA[key]
        if quantity == "gci":
            values = [convergence[q]["gci_fine_percent"] for q in _GCI_QUANTITIES if q in convergence]
            values = [v for v in values if v is not None and math.isfinite(v)]
            value = max(values) if values else None
        else:
            value = qoi.get(quantity)
        if value is None:
            continue
        passed = value >= limit if kind == "min" else value <= limit
        out[key] = {"quantity": quantity, "limit": limit, "value": value, "passed": bool(passed)}
    return out
