"""Contact pressure on an interface from its nodal forces."""

from __future__ import annotations

import numpy as np

from femvalid.fem.elements import triangle_shape_functions

__all__ = ["contact_pressure"]

# Dunavant's 7-point rule on the reference triangle (degree 5), weights summing to 1/2.
_A1, _B1, _A2, _B2 = 0.059715871789770, 0.470142064105115, 0.797426985353087, 0.101286507323456
_TRI7_POINTS = np.array([[1 / 3, 1 / 3], [_B1, _B1], [_A1, _B1], [_B1, _A1], [_B2, _B2], [_A2, _B2], [_B2, _A2]])
_TRI7_WEIGHTS = 0.5 * np.array([0.225, *[0.132394152788506] * 3, *[0.125939180544827] * 3])


def contact_pressure(nodes: np.ndarray, faces: np.ndarray, nodal_force_z: np.ndarray) -> np.ndarray:
    """Pressure (MPa, per node) from the interface's nodal forces ``nodal_force_z`` (N).

    p = f / m with m the HRZ-lumped interface mass (the diagonal of M_ab = ∫ N_a N_b dA,
    scaled to sum to the area): positive for P1 and P2 faces, and free of the
    oscillations that inverting the consistent M gives next to the singular edge of
    a stiff punch.
    """
    order = 1 if faces.shape[1] == 3 else 2
    N, dN = triangle_shape_functions(order, _TRI7_POINTS)
    x = nodes[faces]
    tangents = np.einsum("kni,qnj->kqij", x, dN)
    jac = np.linalg.norm(np.cross(tangents[..., 0], tangents[..., 1]), axis=2)  # (k, q)
    local = np.einsum("kq,q,qa,qb->kab", jac, _TRI7_WEIGHTS, N, N)
    diagonal = np.einsum("kaa->ka", local)
    lumped = diagonal * (local.sum(axis=(1, 2)) / diagonal.sum(axis=1))[:, None]
    mass = np.bincount(faces.ravel(), weights=lumped.ravel(), minlength=len(nodes))
    pressure = np.zeros(len(nodes))
    used = mass > 0
    pressure[used] = nodal_force_z[used] / mass[used]
    return pressure
