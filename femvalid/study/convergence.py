"""Mesh convergence of a job's quantities of interest over three meshes."""

from __future__ import annotations

import math

from femvalid.post import qoi
from femvalid.verification.gci import gci, representative_size

__all__ = ["convergence", "convergence_warnings"]


def convergence(meshes, qois) -> dict:
    """GCI (Celik et al. 2008) of every computed quantity (not the applied load) over the three meshes."""
    sizes = [representative_size(m.volume, len(m.elements)) for m in meshes]
    out = {}
    for key, value in qois[0].items():
        values = [q.get(key) for q in qois]
        if qoi.spec(key).kind == "load" or not all(_finite(v) for v in values):
            continue
        try:
            out[key] = gci(values, sizes).to_dict()
        except ValueError as exc:  # two meshes of one representative size (a part too small for the sizes)
            nan = float("nan")
            out[key] = {"order": nan, "extrapolated": nan, "gci_fine_percent": nan, "approximate_error_percent": nan,
                        "extrapolated_error_percent": nan, "convergence": "not computed", "values": tuple(values),
                        "sizes": tuple(sizes), "flags": [f"no GCI: {exc} (representative sizes "
                                                         f"{', '.join(f'{h:.4g}' for h in sizes)} mm)"]}
    return out


def convergence_warnings(convergence: dict) -> list[str]:
    """The flags of the headline quantities (oscillating, diverging, ...), as warnings."""
    headline = qoi.headline()
    return [f"{key}: {flag}" for key, c in convergence.items() if key in headline for flag in c["flags"]]


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
