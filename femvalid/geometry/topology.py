"""Topology of triangle surfaces: edges, shells, orientation, nesting, intersection.

All functions are vectorised over faces so that surfaces of millions of triangles
are checked in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = [
    "EdgeTable",
    "edge_table",
    "shells",
    "orientation_flips",
    "winding_numbers",
    "shells_intersect",
]


@dataclass(frozen=True, eq=False)
class EdgeTable:
    """Undirected edges of a surface and the faces around each.

    Attributes
    ----------
    edges : ndarray (e, 2)
        Sorted vertex pairs of the unique edges.
    counts : ndarray (e,)
        Number of faces using each edge (2 on a closed manifold).
    face_edge : ndarray (m, 3)
        Index into ``edges`` of each face's three edges (v0v1, v1v2, v2v0).
    forward : ndarray (m, 3) of bool
        True where the face traverses the edge from its lower to its higher vertex.
    """

    edges: np.ndarray
    counts: np.ndarray
    face_edge: np.ndarray
    forward: np.ndarray

    @property
    def boundary(self) -> np.ndarray:
        return self.counts == 1

    @property
    def nonmanifold(self) -> np.ndarray:
        return self.counts > 2

    def manifold_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For edges with exactly two faces: (face a, face b, same direction?)."""
        slots = np.argsort(self.face_edge.ravel(), kind="stable")
        sorted_edges = self.face_edge.ravel()[slots]
        two = self.counts[sorted_edges] == 2
        slots = slots[two].reshape(-1, 2)
        faces = slots // 3
        fwd = self.forward.ravel()[slots]
        return faces[:, 0], faces[:, 1], fwd[:, 0] == fwd[:, 1]


def edge_table(faces: np.ndarray) -> EdgeTable:
    """Build the undirected edge table of a face array (m, 3)."""
    directed = np.stack([faces, np.roll(faces, -1, axis=1)], axis=2).reshape(-1, 2)
    forward = directed[:, 0] < directed[:, 1]
    key = np.sort(directed, axis=1)
    edges, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return EdgeTable(edges, counts, inverse.reshape(-1, 3), forward.reshape(-1, 3))


def shells(faces: np.ndarray, table: EdgeTable | None = None) -> tuple[int, np.ndarray]:
    """Connected components of faces joined by shared edges: (count, label per face)."""
    table = table or edge_table(faces)
    m = len(faces)
    rows = np.repeat(np.arange(m), 3)
    cols = table.face_edge.ravel()
    incidence = sp.csr_matrix((np.ones(3 * m, dtype=np.int8), (rows, cols)), shape=(m, len(table.edges)))
    adjacency = incidence @ incidence.T
    return connected_components(adjacency, directed=False)


def orientation_flips(faces: np.ndarray, table: EdgeTable, labels: np.ndarray) -> np.ndarray | None:
    """Which faces to flip so that every shell is consistently wound.

    Each face is a node in two states (kept, flipped); neighbours across a
    two-face edge are linked so that their states agree on orientation. A shell is
    orientable when no face's two states fall into one component. Returns a bool
    mask of faces to flip (relative to the first face of each shell), or None for a
    non-orientable surface.
    """
    m = len(faces)
    a, b, same = table.manifold_pairs()
    # consistent neighbours: (a+, b+) and (a-, b-); inconsistent: (a+, b-) and (a-, b+)
    rows = np.concatenate([a, a + m])
    cols = np.concatenate([np.where(same, b + m, b), np.where(same, b, b + m)])
    graph = sp.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(2 * m, 2 * m))
    _, state = connected_components(graph, directed=False)
    if np.any(state[:m] == state[m:]):
        return None
    seed = np.full(labels.max() + 1, -1)
    seed[labels[::-1]] = np.arange(m)[::-1]  # first face of each shell
    seed_state = state[seed[labels]]
    return state[m:] == seed_state


def winding_numbers(points: np.ndarray, triangles: np.ndarray, chunk: int = 2_000_000) -> np.ndarray:
    """Generalised winding number of points w.r.t. a closed triangle surface.

    About 1 inside, 0 outside (−1 inside an inside-out surface). Uses the solid
    angle of each triangle (Van Oosterom & Strackee, 1983).
    """
    points = np.atleast_2d(points)
    out = np.zeros(len(points))
    step = max(1, chunk // max(1, len(triangles)))
    for start in range(0, len(points), step):
        p = points[start : start + step, None, None, :]
        r = triangles[None, :, :, :] - p
        n = np.linalg.norm(r, axis=3)
        a, b, c = r[..., 0, :], r[..., 1, :], r[..., 2, :]
        la, lb, lc = n[..., 0], n[..., 1], n[..., 2]
        det = np.einsum("...i,...i->...", a, np.cross(b, c))
        den = (
            la * lb * lc
            + np.einsum("...i,...i->...", a, b) * lc
            + np.einsum("...i,...i->...", a, c) * lb
            + np.einsum("...i,...i->...", b, c) * la
        )
        out[start : start + step] = (2.0 * np.arctan2(det, den)).sum(axis=1) / (4.0 * np.pi)
    return out


def _segments_cross_triangles(p0, p1, tri, eps=1e-12) -> np.ndarray:
    """Möller–Trumbore: does segment p0→p1 cross triangle tri (pairwise rows)?"""
    d = p1 - p0
    e1 = tri[:, 1] - tri[:, 0]
    e2 = tri[:, 2] - tri[:, 0]
    h = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, h)
    ok = np.abs(det) > eps * np.linalg.norm(d, axis=1) * np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1)
    inv = np.divide(1.0, det, out=np.zeros_like(det), where=ok)
    s = p0 - tri[:, 0]
    u = np.einsum("ij,ij->i", s, h) * inv
    q = np.cross(s, e1)
    v = np.einsum("ij,ij->i", d, q) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    return ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= 0) & (t <= 1)


def _edges_hit(vertices, faces_a, faces_b) -> bool:
    """Does any edge of faces_a pass through a triangle of faces_b?"""
    edges = np.unique(np.sort(np.concatenate([faces_a[:, [0, 1]], faces_a[:, [1, 2]], faces_a[:, [2, 0]]]), axis=1), axis=0)
    p0, p1 = vertices[edges[:, 0]], vertices[edges[:, 1]]
    tri = vertices[faces_b]
    centroid = tri.mean(axis=1)
    tri_radius = np.linalg.norm(tri - centroid[:, None], axis=2).max()
    mid = 0.5 * (p0 + p1)
    seg_radius = 0.5 * np.linalg.norm(p1 - p0, axis=1).max()
    tree = cKDTree(centroid)
    chunk = 50_000
    for start in range(0, len(mid), chunk):
        near = tree.query_ball_point(mid[start : start + chunk], tri_radius + seg_radius)
        lengths = np.fromiter((len(n) for n in near), dtype=np.int64, count=len(near))
        if not lengths.sum():
            continue
        seg = np.repeat(np.arange(start, start + len(near)), lengths)
        tris = np.fromiter((t for n in near for t in n), dtype=np.int64, count=int(lengths.sum()))
        if np.any(_segments_cross_triangles(p0[seg], p1[seg], tri[tris])):
            return True
    return False


def shells_intersect(vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray, count: int) -> bool:
    """True if the surfaces of two different shells cross each other."""
    boxes = []
    for k in range(count):
        pts = vertices[np.unique(faces[labels == k])]
        boxes.append((pts.min(axis=0), pts.max(axis=0)))
    for i in range(count):
        for j in range(i + 1, count):
            (lo_i, hi_i), (lo_j, hi_j) = boxes[i], boxes[j]
            if np.any(hi_i < lo_j) or np.any(hi_j < lo_i):
                continue
            fi, fj = faces[labels == i], faces[labels == j]
            if _edges_hit(vertices, fi, fj) or _edges_hit(vertices, fj, fi):
                return True
    return False
