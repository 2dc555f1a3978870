"""ASTM F2077 static axial compression between two rigid blocks (:mod:`femvalid.loadcases.rigid`).

The superior block moves along the load axis; the force is along it. Also here:
the z-plane platen constraints of axis-aligned blocks (``find_platen_contacts``,
``platen_constraints``), which the benchmarks and the second-engine comparison
build their systems from directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from femvalid.errors import InputError
from femvalid.fem.constraints import Constraints
from femvalid.loadcases.loadcase import LoadCase
from femvalid.loadcases.registry import register_loadcase_type
from femvalid.loadcases.rigid import analyse_rigid, platen_setup, travel_columns

if TYPE_CHECKING:
    from femvalid.post.analysis import CaseAnalysis

__all__ = ["PlatenContacts", "find_platen_contacts", "platen_constraints", "analyse_axial_compression", "UNIT_TRAVEL_MM"]

UNIT_TRAVEL_MM = 1.0


@dataclass(frozen=True, eq=False)
class PlatenContacts:
    """Node indices touching the inferior (bottom) and superior (top) platens."""

    bottom: np.ndarray
    top: np.ndarray


def find_platen_contacts(nodes: np.ndarray, tolerance_mm: float, source: str = "load case") -> PlatenContacts:
    """Nodes within ``tolerance_mm`` of the lowest and highest z planes."""
    z = nodes[:, 2]
    bottom = np.flatnonzero(z <= z.min() + tolerance_mm)
    top = np.flatnonzero(z >= z.max() - tolerance_mm)
    if len(bottom) < 3 or len(top) < 3:
        raise InputError(source, f"fewer than 3 nodes within contact_tolerance {tolerance_mm:g} mm of a platen; "
                                 "is the superior face along +z?")
    if np.intersect1d(bottom, top).size:
        raise InputError(source, f"contact_tolerance {tolerance_mm:g} mm is so large that one node touches both platens")
    return PlatenContacts(bottom, top)


def platen_constraints(nodes: np.ndarray, contacts: PlatenContacts, platens: str,
                       travel_mm: float = UNIT_TRAVEL_MM) -> Constraints:
    """Prescribed displacements for the two platens (superior one moved by −travel along z)."""
    b, t = contacts.bottom, contacts.top
    if platens == "bonded":
        dofs = [3 * b, 3 * b + 1, 3 * b + 2, 3 * t, 3 * t + 1, 3 * t + 2]
        values = [0 * b, 0 * b, 0 * b, 0 * t, 0 * t, np.full(len(t), -travel_mm)]
    else:
        # In-plane rigid motion: pin one bottom node in x and y, and a far one across the line between them.
        xy = nodes[b, :2]
        pin = b[np.argmin(np.linalg.norm(xy - xy.mean(axis=0), axis=1))]
        far_index = np.argmax(np.linalg.norm(xy - nodes[pin, :2], axis=1))
        far = b[far_index]
        dx, dy = np.abs(nodes[far, :2] - nodes[pin, :2])
        across = 3 * far + (1 if dx >= dy else 0)
        dofs = [3 * b + 2, 3 * t + 2, [3 * pin, 3 * pin + 1, across]]
        values = [0.0 * b, np.full(len(t), -travel_mm), [0.0, 0.0, 0.0]]
    return Constraints(np.concatenate(dofs).astype(np.int64), np.concatenate(values).astype(float))


def analyse_axial_compression(mesh, material, case: LoadCase, source: str = "job") -> CaseAnalysis:
    """F2077 static axial compression: the superior block pushes along the load axis (−d)."""
    setup = platen_setup(mesh, case, source)
    line = -setup.axis
    motion = travel_columns(case, setup, line)
    forces = np.zeros(motion.shape[1])
    forces[0] = case.force_N
    analysis, _ = analyse_rigid(mesh, material, case, motion, forces, line, source, setup)
    return analysis


AXIAL = register_loadcase_type("axial_compression", analyse_axial_compression,
                               description="ASTM F2077 static axial compression between rigid blocks")
