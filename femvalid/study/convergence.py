"""Mesh convergence of a job's quantities of interest over three meshes."""

from __future__ import annotations

import math

from femvalid.verification.gci import gci, representative_size

__all__ = ["convergence", "HEADLINE_QOI"]

#: Quantities whose convergence flags are repeated among a job's warnings.
HEADLINE_QOI = ("stiffness_N_per_mm", "von_mises_p99_MPa", "subsidence_mm", "safety_factor_yield")


def convergence(meshes, qois) -> dict:
    """GCI (Celik et al. 2008) of every quantity that changes between the three meshes."""
    sizes = [representative_size(m.volume, len(m.elements)) for m in meshes]
    out = {}
    for key, value in qois[0].items():
        values = [q.get(key) for q in qois]
        if key == "force_N" or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            continue
        out[key] = gci(values, sizes).to_dict()
    return out
