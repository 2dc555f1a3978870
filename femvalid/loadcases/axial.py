"""ASTM F2077-style axial compression between two rigid platens.

The inferior face rests on a fixed platen, the superior platen moves rigidly
along −z. ``bonded``: the inferior contact nodes are clamped and the superior
ones move only along z. ``frictionless``: both faces are held along z only, plus
the three constraints that remove in-plane rigid motion. The platen travel is
prescribed (1 mm) and the results are scaled to the requested force by linearity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from femvalid.errors import InputError
from femvalid.fem.constraints import Constraints
from femvalid.loadcases.loadcase import LoadCase

if TYPE_CHECKING:
    from femvalid.post.analysis import CaseAnalysis

__all__ = ["PlatenContacts", "find_platen_contacts", "platen_constraints", "UNIT_TRAVEL_MM"]

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
    """Solve the axial compression case and compute its quantities of interest."""
    from femvalid.fem.system import solve_elasticity
    from femvalid.post.analysis import CaseAnalysis, field_output, solver_info, stress_qoi
    from femvalid.post.stress import stress_field

    contacts = find_platen_contacts(mesh.nodes, case.contact_tolerance_mm, source)
    constraints = platen_constraints(mesh.nodes, contacts, case.platens)
    E, nu = material.youngs_modulus_MPa, material.poisson_ratio
    solution = solve_elasticity(mesh.nodes, mesh.elements, E, nu, constraints, source=source)
    unit_force = -solution.reactions[contacts.top, 2].sum()  # N for 1 mm of travel
    if not unit_force > 0:
        raise InputError(source, "the implant offers no resistance between the platens (is it one connected body?)")
    scale = case.force_N / unit_force
    displacement, reactions = solution.displacement * scale, solution.reactions * scale
    stiffness = unit_force / UNIT_TRAVEL_MM
    stresses = stress_field(mesh.nodes, mesh.elements, displacement, E, nu)
    stress_values, warnings = stress_qoi(stresses.von_mises, stresses.weights, case.force_N, material.yield_MPa)
    qoi = {
        "force_N": case.force_N,
        "stiffness_N_per_mm": stiffness,
        "displacement_mm": case.force_N / stiffness,
        "displacement_max_mm": float(np.linalg.norm(displacement, axis=1).max()),
        "reaction_force_N": float(reactions[contacts.bottom, 2].sum()),
        "volume_mm3": mesh.volume,
        **stress_values,
    }
    contact = np.zeros(len(mesh.nodes), np.int8)
    contact[contacts.bottom], contact[contacts.top] = 1, 2
    point_data, cell_data = field_output(displacement, reactions, stresses, platen_contact=contact)
    return CaseAnalysis(qoi, solver_info(solution), point_data, cell_data, warnings, mesh)
