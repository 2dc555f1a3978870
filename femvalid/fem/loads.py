"""Surface tractions and pressure as consistent nodal forces."""

from __future__ import annotations

import numpy as np

from femvalid.fem.elements import triangle_shape_functions

__all__ = ["traction_forces", "pressure_forces", "boundary_faces_of"]

# Triangle rule exact to degree 4 would be overkill: degree 2 (3 points) integrates
# N_a × constant traction × |J| exactly for straight P1 and P2 faces.
_TRI_POINTS = np.array([[1 / 6, 1 / 6], [2 / 3, 1 / 6], [1 / 6, 2 / 3]])
_TRI_WEIGHTS = np.full(3, 1 / 6)

# Face node order of a tet face (VTK): corners (a, b, c), then mid-sides (ab, bc, ca).
_TET_FACE_CORNERS = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])
_EDGE_NODE = {(0, 1): 4, (1, 2): 5, (0, 2): 6, (0, 3): 7, (1, 3): 8, (2, 3): 9}


def boundary_faces_of(elements: np.ndarray) -> np.ndarray:
    """Outward-wound boundary faces (k, 3) or (k, 6) of P1/P2 tets in VTK order."""
    corners = elements[:, _TET_FACE_CORNERS].reshape(-1, 3)
    keys = np.sort(corners, axis=1)
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    faces = first[counts == 1]
    if elements.shape[1] == 4:
        return corners[faces]
    element, local = np.divmod(faces, 4)
    out = []
    for e, f in zip(element, local):
        a, b, c = _TET_FACE_CORNERS[f]
        mids = [_EDGE_NODE[tuple(sorted(p))] for p in ((a, b), (b, c), (a, c))]
        out.append(elements[e, [a, b, c, *mids]])
    return np.array(out, dtype=np.int64)


def _surface_forces(nodes, faces, force_density) -> np.ndarray:
    """Σ over faces of ∫ N_a f dA, with f = force_density(face index, area vector) per point."""
    order = 1 if faces.shape[1] == 3 else 2
    forces = np.zeros((len(nodes), 3))
    x = nodes[faces]
    for (s, t), w in zip(_TRI_POINTS, _TRI_WEIGHTS):
        N, dN = (a[0] for a in triangle_shape_functions(order, np.array([s, t])))
        tangents = np.einsum("kni,nj->kij", x, dN)
        area_vector = np.cross(tangents[:, :, 0], tangents[:, :, 1])  # outward normal × area Jacobian
        contribution = w * N[None, :, None] * force_density(area_vector)[:, None, :]
        np.add.at(forces, faces, contribution)
    return forces


def traction_forces(nodes: np.ndarray, faces: np.ndarray, traction_MPa) -> np.ndarray:
    """Nodal forces (N, 3), N, of a traction (MPa) over faces (k, 3|6), constant or per face."""
    traction = np.broadcast_to(np.asarray(traction_MPa, float), (len(faces), 3))
    return _surface_forces(nodes, faces, lambda a: np.linalg.norm(a, axis=1)[:, None] * traction)


def pressure_forces(nodes: np.ndarray, faces: np.ndarray, pressure_MPa: float) -> np.ndarray:
    """Nodal forces (N, 3), N, of a pressure (MPa, positive pushes inwards) on outward faces."""
    return _surface_forces(nodes, faces, lambda a: -pressure_MPa * a)


def body_forces(nodes: np.ndarray, elements: np.ndarray, density, degree: int = 4) -> np.ndarray:
    """Nodal forces (N, 3), N, of a body force density f(x) (N/mm³) over P1/P2 tets.

    ``density`` maps points (k, 3) in mm to force densities (k, 3).
    """
    from femvalid.fem.elements import shape_functions, shape_gradients
    from femvalid.fem.quadrature import tet_rule

    order = 1 if elements.shape[1] == 4 else 2
    points, weights = tet_rule(degree)
    N = shape_functions(order, points)  # (q, n)
    dN = shape_gradients(order, points)
    x = nodes[elements]  # (m, n, 3)
    det = np.linalg.det(np.einsum("mnk,qnl->mqkl", x, dN))  # (m, q)
    at = np.einsum("qn,mnk->mqk", N, x)
    f = np.asarray(density(at.reshape(-1, 3)), float).reshape(at.shape)
    contribution = np.einsum("mq,q,qn,mqk->mnk", det, weights, N, f)
    forces = np.zeros((len(nodes), 3))
    np.add.at(forces, elements, contribution)
    return forces
