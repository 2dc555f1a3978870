"""Quadratic tetrahedra from linear ones, with boundary mid-side nodes on the STL.

gmsh's own curving on discrete (STL-derived) geometry was seen to tangle elements
at feature edges whatever high-order optimiser was chosen. Here each mid-side node
starts at its edge's midpoint; those on the boundary are moved to the closest point
of the STL surface, a move of at most the facets' sagitta, so elements stay valid.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from femvalid.fem.elements import TET10_EDGES, reference_nodes, shape_gradients
from femvalid.geometry.surface import Surface
from femvalid.geometry.topology import unique_rows
from femvalid.meshing.volume_mesh import jacobian_determinants

__all__ = ["elevate_to_quadratic", "closest_points_on_triangles", "jacobian_ratio"]


def elevate_to_quadratic(
    nodes: np.ndarray, tets: np.ndarray, surface: Surface, min_ratio: float = 0.05
) -> tuple[np.ndarray, np.ndarray, int]:
    """10-node tets (VTK order) from 4-node tets; boundary mid-side nodes on ``surface``.

    Where the linear mesh strays from the STL (it can next to a repaired hole), the
    projection could tangle an element; the mid-side nodes of any element whose
    Jacobian ratio would fall below ``min_ratio`` are put back on the straight edge.
    Returns (nodes, elements, number of mid-side nodes left straight).
    """
    edge_nodes = np.sort(tets[:, TET10_EDGES], axis=2).reshape(-1, 2)
    edges, inverse = unique_rows(edge_nodes)
    straight = 0.5 * (nodes[edges[:, 0]] + nodes[edges[:, 1]])
    faces = _boundary_faces(tets)
    face_edges = np.sort(np.stack([faces, np.roll(faces, -1, axis=1)], axis=2), axis=2).reshape(-1, 2)
    on_boundary = np.unique(_row_index(edges, face_edges))
    mids = straight.copy()
    mids[on_boundary] = closest_points_on_triangles(straight[on_boundary], surface.triangles)
    element_edges = inverse.reshape(-1, 6)
    elements = np.hstack([tets, len(nodes) + element_edges])
    reverted = np.zeros(len(edges), dtype=bool)
    for _ in range(5):
        bad = jacobian_ratio(np.vstack([nodes, mids]), elements) < min_ratio
        undo = np.unique(element_edges[bad])
        undo = undo[~reverted[undo]]
        if not len(undo):
            break
        mids[undo] = straight[undo]
        reverted[undo] = True
    moved = np.zeros(len(edges), dtype=bool)
    moved[on_boundary] = True
    return np.vstack([nodes, mids]), elements, int((reverted & moved).sum())


# Corner triples of the four faces of a tet.
_TET_FACES = np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]])


def _boundary_faces(tets: np.ndarray) -> np.ndarray:
    """Corner triples (k, 3) of the faces that belong to one tet only (any winding)."""
    faces = np.sort(tets[:, _TET_FACES].reshape(-1, 3), axis=1)
    _, inverse = unique_rows(faces)
    return faces[np.bincount(inverse)[inverse] == 1]


def _row_index(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index in ``table`` (sorted unique rows of 2 ints) of each of ``rows``."""
    base = table[:, 1].max() + 1
    keys = table[:, 0] * base + table[:, 1]
    return np.searchsorted(keys, rows[:, 0] * base + rows[:, 1])


def jacobian_ratio(nodes: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """Per quadratic element, min over its nodes of det J divided by the straight tet's det J.

    1 for a straight-sided element; ≤ 0 means the curved element is tangled.
    """
    det = jacobian_determinants(nodes, elements, shape_gradients(2, reference_nodes(2)))
    c = nodes[elements[:, :4]]
    straight = np.einsum("ej,ej->e", c[:, 1] - c[:, 0], np.cross(c[:, 2] - c[:, 0], c[:, 3] - c[:, 0]))
    return det.min(axis=1) / straight


def closest_points_on_triangles(points: np.ndarray, triangles: np.ndarray, candidates: int = 16) -> np.ndarray:
    """Closest point on a triangle soup (t, 3, 3) to each point (p, 3).

    Candidates are the triangles with the nearest centroids; fine for points that
    are already close to the surface, as mid-side nodes are.
    """
    if len(points) == 0:
        return points
    k = min(candidates, len(triangles))
    _, near = cKDTree(triangles.mean(axis=1)).query(points, k=k)
    near = near.reshape(len(points), k)
    best = np.empty_like(points)
    best_d = np.full(len(points), np.inf)
    for j in range(k):
        q = _closest_on_triangle(points, triangles[near[:, j]])
        d = np.einsum("ij,ij->i", q - points, q - points)
        closer = d < best_d
        best[closer], best_d[closer] = q[closer], d[closer]
    return best


def _closest_on_triangle(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Closest point on triangle tri[i] to p[i] (Ericson, Real-Time Collision Detection, 5.1.5)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    dot = lambda u, v: np.einsum("ij,ij->i", u, v)  # noqa: E731
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = dot(ab, ap), dot(ac, ap)
    bp = p - b
    d3, d4 = dot(ab, bp), dot(ac, bp)
    cp = p - c
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1.0 / (va + vb + vc)
        v = vb * denom
        w = vc * denom
        out = a + ab * v[:, None] + ac * w[:, None]  # interior
        # edges
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    on_bc = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)
    out[on_bc] = (b + (c - b) * t_bc[:, None])[on_bc]
    on_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    out[on_ac] = (a + ac * t_ac[:, None])[on_ac]
    on_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    out[on_ab] = (a + ab * t_ab[:, None])[on_ab]
    # vertices
    at_c = (d6 >= 0) & (d5 <= d6)
    out[at_c] = c[at_c]
    at_b = (d3 >= 0) & (d4 <= d3)
    out[at_b] = b[at_b]
    at_a = (d1 <= 0) & (d2 <= 0)
    out[at_a] = a[at_a]
    return out
