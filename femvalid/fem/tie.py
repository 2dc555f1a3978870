"""Tied interfaces between non-matching meshes, as linear multi-point constraints.

Each slave node is located on a master face (flat, z = constant, as the faces of a
test block are) and its displacement is tied to the face's nodal displacements by
the face's shape functions: u_s = Σ N_a(ξ_s) u_a. A linear field on the master
side is reproduced exactly on the slave side, so uniform states pass unchanged
through the interface.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from femvalid.fem.elements import triangle_shape_functions
from femvalid.fem.loads import boundary_faces_of

__all__ = ["tie_to_faces", "faces_at_z"]


def tie_to_faces(nodes: np.ndarray, slaves: np.ndarray, faces: np.ndarray, tolerance_mm: float = 1e-6,
                 source: str = "tie") -> tuple[np.ndarray, sp.csr_matrix]:
    """Constraints tying ``slaves`` (node indices) to master ``faces`` (k, 3|6).

    The faces must lie in one plane z = constant. Returns the slave dofs
    (3·node + component) and T with u[slave dofs] = T @ u.

    Raises
    ------
    ValueError
        A slave node lies outside every master face (by more than ``tolerance_mm``).
    """
    order = 1 if faces.shape[1] == 3 else 2
    corners = nodes[faces[:, :3], :2]  # (k, 3, 2)
    p = nodes[slaves, :2]
    candidates = min(12, len(faces))
    _, near = cKDTree(corners.mean(axis=1)).query(p, k=candidates)
    near = near.reshape(len(p), candidates)
    best_face = np.full(len(p), -1)
    best_coords = np.zeros((len(p), 2))
    best_outside = np.full(len(p), np.inf)
    for j in range(candidates):
        f = near[:, j]
        a, b, c = corners[f, 0], corners[f, 1], corners[f, 2]
        m = np.stack([b - a, c - a], axis=2)  # (p, 2, 2)
        st = np.linalg.solve(m, (p - a)[..., None])[..., 0]
        bary = np.column_stack([1 - st.sum(axis=1), st])
        outside = np.maximum(-bary.min(axis=1), 0.0)
        better = outside < best_outside
        best_face[better], best_coords[better], best_outside[better] = f[better], st[better], outside[better]
    scale = np.linalg.norm(corners[best_face, 1] - corners[best_face, 0], axis=1)
    lost = best_outside * scale > tolerance_mm
    if lost.any():
        raise ValueError(f"{int(lost.sum())} interface nodes lie outside the block's face; enlarge block_size")
    N, _ = triangle_shape_functions(order, best_coords)
    n_face = faces.shape[1]
    rows, cols, vals = [], [], []
    for component in range(3):
        rows.append(np.repeat(3 * np.arange(len(slaves)) + component, n_face))
        cols.append((3 * faces[best_face] + component).ravel())
        vals.append(N.ravel())
    T = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(3 * len(slaves), 3 * len(nodes)))
    T.eliminate_zeros()
    slave_dofs = (3 * slaves[:, None] + np.arange(3)).ravel()
    return slave_dofs, T


def faces_at_z(nodes: np.ndarray, elements: np.ndarray, z: float, tolerance_mm: float) -> np.ndarray:
    """Boundary faces of ``elements`` whose corners lie within ``tolerance_mm`` of the plane z = ``z``."""
    faces = boundary_faces_of(elements)
    return faces[np.all(np.abs(nodes[faces[:, :3], 2] - z) <= tolerance_mm, axis=1)]
