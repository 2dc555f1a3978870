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
    "unique_rows",
    "EdgeTable",
    "edge_table",
    "shells",
    "orientation_flips",
    "winding_numbers",
    "shells_intersect",
]


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique rows of a 2-D array and the index of each row among them.

    The same as ``np.unique(a, axis=0, return_inverse=True)``, rows in the same
    lexicographic order, but a sort of one int64 key per row (non-negative
    integers) or a ``lexsort`` (anything else) instead of a sort of structured
    records: about 10× faster, and leaner, on the 9 M rows of a 3 M-triangle STL.
    """
    if len(a) == 0:
        return a.copy(), np.zeros(0, dtype=np.int64)
    key = _packed_key(a)
    if key is not None:
        first, inverse = _unique_keys(key)
        return a[first], inverse
    order = np.lexsort(a.T[::-1])
    new = np.zeros(len(a), dtype=bool)
    new[0] = True
    for column in a.T:  # a column at a time: no sorted copy of the whole array
        ordered = column[order]
        new[1:] |= ordered[1:] != ordered[:-1]
    del ordered
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return a[order[new]], inverse


def _packed_key(a: np.ndarray) -> np.ndarray | None:
    """One int64 per row that sorts like the row, or None if the values do not fit."""
    if a.dtype.kind not in "iu" or a.min() < 0:
        return None
    base = int(a.max()) + 1
    if base ** a.shape[1] >= 2**63:
        return None
    key = np.zeros(len(a), dtype=np.int64)
    for column in a.T:
        key *= base
        key += column
    return key


def _unique_keys(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a 1-D key: (position of one occurrence of each value, in sorted order;
    index of each key among the sorted unique values)."""
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    new = np.empty(len(key), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    del ordered
    inverse = np.empty(len(key), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return order[new], inverse


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
        two = self.counts[self.face_edge.ravel()[slots]] == 2
        slots = slots[two].reshape(-1, 2)
        del two
        fwd = self.forward.ravel()[slots]
        faces = (slots // 3).astype(_index_dtype(len(self.face_edge)))
        return faces[:, 0], faces[:, 1], fwd[:, 0] == fwd[:, 1]


def edge_table(faces: np.ndarray) -> EdgeTable:
    """Build the undirected edge table of a face array (m, 3)."""
    faces = np.asarray(faces, dtype=np.int64)
    following = np.roll(faces, -1, axis=1)
    forward = faces < following
    # One int64 key per directed edge, lower vertex first: sorting it sorts the edges.
    base = int(faces.max()) + 1 if faces.size else 1
    key = np.minimum(faces, following) * base
    key += np.maximum(faces, following)
    del following
    first, inverse = _unique_keys(key.ravel())
    edges = np.column_stack(np.divmod(key.ravel()[first], base))
    counts = np.bincount(inverse, minlength=len(edges))
    return EdgeTable(edges, counts, inverse.reshape(-1, 3), forward)


def shells(faces: np.ndarray, table: EdgeTable | None = None) -> tuple[int, np.ndarray]:
    """Connected components of faces joined by shared edges: (count, label per face)."""
    table = table or edge_table(faces)
    m = len(faces)
    # Faces listed by edge: neighbours in that list that share the edge are linked
    # (a chain, so an edge with more than two faces joins them all).
    slots = np.argsort(table.face_edge.ravel(), kind="stable")
    edge = table.face_edge.ravel()[slots]
    shared = edge[1:] == edge[:-1]
    del edge
    index = _index_dtype(m)
    a, b = (slots[:-1][shared] // 3).astype(index), (slots[1:][shared] // 3).astype(index)
    del slots, shared
    graph = sp.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(m, m))
    return connected_components(graph, directed=False)


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
    a, b = a.astype(_index_dtype(2 * m)), b.astype(_index_dtype(2 * m))
    # consistent neighbours: (a+, b+) and (a-, b-); inconsistent: (a+, b-) and (a-, b+)
    rows = np.concatenate([a, a + m])
    cols = np.concatenate([np.where(same, b + m, b), np.where(same, b, b + m)])
    del a, b, same
    graph = sp.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(2 * m, 2 * m))
    _, state = connected_components(graph, directed=False)
    if np.any(state[:m] == state[m:]):
        return None
    seed = np.full(labels.max() + 1, -1)
    seed[labels[::-1]] = np.arange(m)[::-1]  # first face of each shell
    seed_state = state[seed[labels]]
    return state[m:] == seed_state


def _index_dtype(n: int):
    """int32 for indices below 2³¹ (half the memory of int64 on large surfaces)."""
    return np.int32 if n < 2**31 else np.int64


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
