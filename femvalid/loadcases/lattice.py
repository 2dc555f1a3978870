"""Effective stiffness of a lattice block: compression between bonded platens.

The block is compressed as in :mod:`femvalid.loadcases.axial` and its apparent
(effective) Young's modulus follows from the platen stiffness K = F/δ and the block's
bounding box: E* = (F/A)/(δ/H) = K·H/A, with A the box's x–y area and H its height.
``relative_density`` is the meshed volume over the box volume and
``relative_modulus`` is E*/Es, the pair the Gibson–Ashby law E*/Es = C·(ρ*/ρs)^n
relates.
"""

from __future__ import annotations

import numpy as np

from femvalid.loadcases.axial import analyse_axial_compression
from femvalid.loadcases.loadcase import LoadCase
from femvalid.loadcases.registry import register_loadcase_type

__all__ = ["analyse_lattice_compression", "effective_properties"]


def effective_properties(nodes: np.ndarray, volume_mm3: float, stiffness_N_per_mm: float,
                         solid_modulus_MPa: float) -> dict:
    """E* (MPa), ρ*/ρs and E*/Es of a block from its platen stiffness and bounding box.

    >>> q = effective_properties(np.array([[0, 0, 0], [2, 5, 4.0]]), 20.0, 1000.0, 5000.0)
    >>> q["effective_modulus_MPa"], q["relative_density"], q["relative_modulus"]
    (400.0, 0.5, 0.08)
    """
    lx, ly, height = np.ptp(nodes, axis=0)
    area = float(lx * ly)
    modulus = stiffness_N_per_mm * float(height) / area
    return {
        "effective_modulus_MPa": modulus,
        "relative_density": volume_mm3 / (area * float(height)),
        "relative_modulus": modulus / solid_modulus_MPa,
        "solid_modulus_MPa": solid_modulus_MPa,
        "block_area_mm2": area,
        "block_height_mm": float(height),
    }


def analyse_lattice_compression(mesh, material, case: LoadCase, source: str = "job"):
    """Axial compression of the block, plus its effective properties."""
    analysis = analyse_axial_compression(mesh, material, case, source)
    analysis.qoi.update(effective_properties(mesh.nodes, mesh.volume, analysis.qoi["stiffness_N_per_mm"],
                                             material.youngs_modulus_MPa))
    return analysis


register_loadcase_type("lattice_compression", analyse_lattice_compression,
                       description="a lattice block between bonded platens: effective modulus")
