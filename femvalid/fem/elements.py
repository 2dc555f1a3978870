"""Reference tetrahedra: linear (4 nodes) and quadratic (10 nodes), VTK node order.

Quadratic mid-side nodes follow VTK_QUADRATIC_TETRA: 4 (0,1), 5 (1,2), 6 (0,2),
7 (0,3), 8 (1,3), 9 (2,3). Reference coordinates (x, y, z) with barycentric
L0 = 1 − x − y − z, L1 = x, L2 = y, L3 = z.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TET10_EDGES", "shape_functions", "shape_gradients", "reference_nodes", "triangle_shape_functions"]

#: Vertex pairs of the mid-side nodes 4..9 of a quadratic tetrahedron (VTK order).
TET10_EDGES = np.array([[0, 1], [1, 2], [0, 2], [0, 3], [1, 3], [2, 3]])

# d L_i / d(x, y, z)
_DL = np.array([[-1.0, -1.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _barycentric(points: np.ndarray) -> np.ndarray:
    points = np.atleast_2d(points)
    return np.column_stack([1.0 - points.sum(axis=1), points])


def shape_functions(order: int, points: np.ndarray) -> np.ndarray:
    """Values N (q, n) of the shape functions at reference points (q, 3)."""
    L = _barycentric(points)
    if order == 1:
        return L
    i, j = TET10_EDGES.T
    return np.hstack([L * (2.0 * L - 1.0), 4.0 * L[:, i] * L[:, j]])


def shape_gradients(order: int, points: np.ndarray) -> np.ndarray:
    """Reference gradients dN/dξ (q, n, 3) at reference points (q, 3)."""
    L = _barycentric(points)
    q = len(L)
    if order == 1:
        return np.broadcast_to(_DL, (q, 4, 3)).copy()
    i, j = TET10_EDGES.T
    vertex = (4.0 * L - 1.0)[:, :, None] * _DL[None]
    edge = 4.0 * (L[:, i, None] * _DL[None, j] + L[:, j, None] * _DL[None, i])
    return np.concatenate([vertex, edge], axis=1)


def reference_nodes(order: int) -> np.ndarray:
    """Reference coordinates (n, 3) of the element's nodes."""
    vertices = np.vstack([np.zeros(3), np.eye(3)])
    if order == 1:
        return vertices
    return np.vstack([vertices, 0.5 * (vertices[TET10_EDGES[:, 0]] + vertices[TET10_EDGES[:, 1]])])


def triangle_shape_functions(order: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values (q, n) and reference gradients (q, n, 2) on a 3- or 6-node triangle.

    Node order: corners a, b, c, then mid-sides ab, bc, ca; reference point (s, t)
    with barycentric L = (1 − s − t, s, t).
    """
    points = np.atleast_2d(points)
    L = np.column_stack([1.0 - points.sum(axis=1), points])
    dL = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])
    if order == 1:
        return L, np.broadcast_to(dL, (len(L), 3, 2)).copy()
    i, j = np.array([0, 1, 2]), np.array([1, 2, 0])
    N = np.hstack([L * (2 * L - 1), 4 * L[:, i] * L[:, j]])
    vertex = (4 * L - 1)[:, :, None] * dL[None]
    edge = 4 * (L[:, i, None] * dL[None, j] + L[:, j, None] * dL[None, i])
    return N, np.concatenate([vertex, edge], axis=1)
