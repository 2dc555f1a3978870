"""Acceptance criteria from the study's [criteria] table, evaluated per job.

A criterion is ``min_<quantity>`` or ``max_<quantity>`` for any outcome in the QoI
table (``min_stiffness_N_per_mm``, ``max_von_mises_p99_MPa``, ...), plus
``min_safety_factor`` (for ``safety_factor_yield``) and ``max_gci_percent``: the
largest GCI_fine of the job's headline quantities (needs [mesh] refine).
"""

from __future__ import annotations

import math

from femvalid.errors import InputError
from femvalid.post import qoi

__all__ = ["criteria_keys", "read_criteria", "evaluate_criteria"]

#: Criteria whose key is not min_/max_ and a quantity's name.
_NAMED = {"min_safety_factor": ("safety_factor_yield", "min"), "max_gci_percent": ("gci", "max")}


def criteria_keys() -> dict[str, tuple[str, str]]:
    """criterion key → (quantity, "min" or "max"); ``gci`` is the largest headline GCI_fine."""
    keys = dict(_NAMED)
    for name, q in qoi.QOI.items():
        if q.kind == "outcome":
            keys[f"min_{name}"], keys[f"max_{name}"] = (name, "min"), (name, "max")
    return keys


def read_criteria(table, path) -> dict:
    """Validate the [criteria] table: known keys, non-negative finite numbers."""
    if not isinstance(table, dict):
        raise InputError(path, "[criteria] must be a table")
    unknown = sorted(set(table) - set(criteria_keys()))
    if unknown:
        raise InputError(path, f"[criteria]: unknown key(s) {', '.join(unknown)}; allowed: min_<quantity> or "
                               f"max_<quantity> for a quantity of interest ({', '.join(_outcomes())}), "
                               f"{', '.join(_NAMED)}")
    out = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise InputError(path, f"[criteria]: '{key}' must be a non-negative number, got {value!r}")
        out[key] = float(value)
    return out


def _outcomes() -> list[str]:
    return [name for name, q in qoi.QOI.items() if q.kind == "outcome"]


def evaluate_criteria(criteria: dict, qois: dict, convergence: dict) -> dict:
    """{criterion: {quantity, limit, value, passed}} for the criteria that apply to this job."""
    keys = criteria_keys()
    out = {}
    for key, limit in criteria.items():
        quantity, kind = keys[key]
        if quantity == "gci":
            values = [convergence[q]["gci_fine_percent"] for q in qoi.headline() if q in convergence]
            values = [v for v in values if v is not None and math.isfinite(v)]
            value = max(values) if values else None
        else:
            value = qois.get(quantity)
        if value is None:
            continue
        passed = value >= limit if kind == "min" else value <= limit
        out[key] = {"quantity": quantity, "limit": limit, "value": value, "passed": bool(passed)}
    return out
