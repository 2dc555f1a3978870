"""A fine STL brought to a mesh size: its signed distance, contoured on a grid at that size.

Lattice implants come out of design tools as 2–20 M triangles, far finer than any
mesh for stresses, and gmsh's classification of that many facets takes minutes and
gigabytes. Here the surface is resampled at the mesh size before gmsh sees it:

1. **Inside or outside, exactly.** Rays along z through every grid column count the
   facets they cross, signed by the facet's facing (a winding number, so nested
   shells and cavities count right). The crossing test takes each edge in one
   canonical direction and breaks ties by symbolic perturbation, so a ray through a
   shared edge or vertex is counted once: the sign field has no leaks.
2. **Distance where it matters.** Only grid nodes next to a sign change need a
   distance (flying edges interpolates along edges whose ends differ in sign); it
   is the distance to the nearest of the facets whose sample points are nearest
   (:class:`SurfaceDistance`), never less than the true distance and at most
   ``sample_radius_mm`` more.
3. **Contour and relax.** Flying edges (VTK) contours φ = 0; a few Laplacian steps,
   each followed by a projection onto the closest point of the STL (moving no vertex
   more than 0.15 voxel from where the contour put it), turn the contour's slivers
   into triangles that gmsh keeps as the boundary of the tetrahedral mesh, as the
   lattice generator's surfaces are (:mod:`femvalid.geometry.isosurface`).

The error is measured, not assumed: the volume change and one-sided sampled
distances both ways (the resampled surface's vertices and facet centroids to the
STL; facet centroids of the STL to the resampled surface), whose maximum is the
reported Hausdorff distance.

Why not decimation: measured on a gyroid-sheet cage of 3.6 M triangles reduced to
254 k on this project's 2-core machine, fast-simplification (quadric, 9–16 s) was
6–7× faster than VTK's quadric decimation (66–106 s) and decimate_pro (52 s,
topology preserved), and all three kept the volume within 0.2 %; but all three left
17–21 non-manifold edges and slivers down to 0.004–0.17°. After a pymeshfix repair,
gmsh's remesh failed on them ("Wrong topology of boundary mesh for
parametrization", the high genus of a lattice) and keeping them as the boundary gave
near-zero-quality tetrahedra (min SICN 8e-7) after 500 s. The contour is well shaped
by construction and never non-manifold, so it is the path here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from femvalid.geometry import topology
from femvalid.geometry.surface import Surface

__all__ = [
    "SurfaceDistance",
    "Resampling",
    "winding_on_grid",
    "resample_surface",
    "estimate_resample_bytes",
    "surface_deviation",
    "RESAMPLE_BYTES_PER_TRIANGLE",
    "RESAMPLE_BYTES_PER_NODE",
]

#: Relaxation: Laplacian steps, each followed by a projection onto the STL.
RELAX_STEPS = 5
#: Farthest a vertex moves from where the contour put it, in voxels (as in isosurface).
MAX_MOVE = 0.15
#: Smallest |φ| at a grid node, in voxels (see resample_surface).
NODE_CLEARANCE = 0.1
#: Nearest samples whose facets are candidates for a closest point.
CANDIDATES = 8
#: Facets are sampled at most this many voxels apart (their centroids, and points on
#: larger facets): a closest point is at most this much too far.
SAMPLE_SPACING = 0.25
#: Shells of the contour smaller than this fraction of the largest are sampling
#: fragments (a feature thinner than a voxel broken off): dropped, and counted.
FRAGMENT_FRACTION = 1e-3
#: Most STL facet centroids the distance from the STL to the resampled surface is sampled at.
DEVIATION_SAMPLES = 1_000_000
#: Peak memory of resampling, beyond the surface itself (measured on lattice cages,
#: rounded up): per STL triangle (samples, their k-d tree, facet chunks) and per
#: grid node (winding numbers, φ, VTK's copy, the band).
RESAMPLE_BYTES_PER_TRIANGLE = 220.0
RESAMPLE_BYTES_PER_NODE = 60.0
#: The grid is shifted by this fraction of a voxel (the golden ratio's), so that rays
#: do not run along the round-numbered planes and edges a CAD export is full of.
_SHIFT = 0.6180339887498949
_CHUNK = 1 << 18


#: Grid shifts tried in turn by the mesher when gmsh fails on a contour (a rare
#: coincidence of grid and geometry, such as a flat tetrahedron forced at an edge).
SHIFTS = (_SHIFT, 1.0 - _SHIFT)


def _grid(surface: Surface, voxel_mm: float, shift: float = _SHIFT) -> tuple[np.ndarray, np.ndarray]:
    """Origin (3,) and node counts (3,) of a grid of ``voxel_mm`` that covers the surface
    with at least one node outside it on every side."""
    lo, hi = surface.bounds
    origin = lo - (1.0 + shift) * voxel_mm
    counts = np.floor((hi - origin) / voxel_mm).astype(np.int64) + 3
    return origin, counts


def estimate_resample_bytes(surface: Surface, voxel_mm: float) -> float:
    """Peak memory (bytes) of :func:`resample_surface` beyond the surface itself."""
    lo, hi = surface.bounds
    nodes = float(np.prod(np.floor((hi - lo) / voxel_mm) + 5.0))
    return RESAMPLE_BYTES_PER_TRIANGLE * len(surface.faces) + RESAMPLE_BYTES_PER_NODE * nodes


# --- inside or outside --------------------------------------------------------------


def winding_on_grid(vertices: np.ndarray, faces: np.ndarray, origin, voxel_mm: float, counts) -> np.ndarray:
    """Winding number (int32, shape ``counts``) of a closed, outward surface at the grid
    nodes ``origin + (i, j, k)·voxel_mm``, from rays along +z: 1 inside, 0 outside.

    Each facet is tested against the grid columns inside its bounding box in xy. The
    edge test takes the edge from its lower- to its higher-numbered vertex, so that
    two facets sharing it compute the same number, and breaks an exact zero by a
    symbolic perturbation of the column (x + ε, y + ε²): every column crosses a
    closed surface an even number of times, whatever it passes through.
    """
    origin = np.asarray(origin, float)
    nx, ny, nz = (int(c) for c in counts)
    where, delta = [], []
    for start in range(0, len(faces), _CHUNK):
        f = np.asarray(faces[start:start + _CHUNK])
        t = vertices[f]  # (m, 3, 3)
        u = (t[:, :, 0] - origin[0]) / voxel_mm
        w = (t[:, :, 1] - origin[1]) / voxel_mm
        i0 = np.maximum(np.ceil(u.min(axis=1)), 0).astype(np.int64)
        i1 = np.minimum(np.floor(u.max(axis=1)), nx - 1).astype(np.int64)
        j0 = np.maximum(np.ceil(w.min(axis=1)), 0).astype(np.int64)
        j1 = np.minimum(np.floor(w.max(axis=1)), ny - 1).astype(np.int64)
        ni, nj = np.maximum(i1 - i0 + 1, 0), np.maximum(j1 - j0 + 1, 0)
        cover = ni * nj
        if not cover.any():
            continue
        which = np.repeat(np.arange(len(f)), cover)
        offset = np.arange(len(which)) - np.repeat(np.cumsum(cover) - cover, cover)
        ii = i0[which] + offset % ni[which]
        jj = j0[which] + offset // ni[which]
        px, py = origin[0] + ii * voxel_mm, origin[1] + jj * voxel_mm
        fw, tw = f[which], t[which]
        sides, raw = [], []
        for a_, b_ in ((0, 1), (1, 2), (2, 0)):
            swap = fw[:, a_] > fw[:, b_]
            a = np.where(swap[:, None], tw[:, b_, :2], tw[:, a_, :2])
            b = np.where(swap[:, None], tw[:, a_, :2], tw[:, b_, :2])
            dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
            e = dx * (py - a[:, 1]) - dy * (px - a[:, 0])
            tie = np.where(dy != 0, -dy, dx)  # d e / d x, then d e / d y
            orient = np.where(swap, -1.0, 1.0)
            sides.append(np.sign(np.where(e != 0, e, tie)) * orient)
            raw.append(e * orient)
        hit = (sides[0] == sides[1]) & (sides[1] == sides[2]) & (sides[0] != 0)
        if not hit.any():
            continue
        # Barycentric weights: the edge opposite each corner.
        lam = np.stack([raw[1], raw[2], raw[0]], axis=1)[hit]
        total = lam.sum(axis=1)
        ok = total != 0
        z = np.einsum("mk,mk->m", lam[ok], tw[hit][ok][:, :, 2]) / total[ok]
        k = np.clip(np.floor((z - origin[2]) / voxel_mm).astype(np.int64) + 1, 0, nz)
        where.append((ii[hit][ok] * ny + jj[hit][ok]) * (nz + 1) + k)
        # Entering the solid through a facet facing -z (counter-clockwise seen from -z).
        delta.append(-sides[0][hit][ok])
    if not where:
        return np.zeros((nx, ny, nz), np.int32)
    steps = np.bincount(np.concatenate(where), weights=np.concatenate(delta), minlength=nx * ny * (nz + 1))
    winding = np.cumsum(steps.reshape(nx, ny, nz + 1)[:, :, :nz], axis=2)
    return np.rint(winding).astype(np.int32)


# --- distance --------------------------------------------------------------------


class SurfaceDistance:
    """Closest points on a triangle surface, for points near it.

    The facets are sampled (their centroids, and on facets larger than ``spacing_mm``
    the centroids of a regular subdivision); a point's closest point is sought on the
    facets of its :data:`CANDIDATES` nearest samples. That is never closer than the
    true closest point, and at most ``sample_radius_mm`` farther (the largest distance
    from a sample to the points of the facet piece it stands for).
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, spacing_mm: float):
        self.vertices = np.asarray(vertices, float)
        self.faces = np.asarray(faces)
        points, owner, radius = [], [], 0.0
        for start in range(0, len(self.faces), _CHUNK):
            t = self.vertices[self.faces[start:start + _CHUNK]]
            centroid = t.mean(axis=1)
            reach = np.linalg.norm(t - centroid[:, None], axis=2).max(axis=1)
            n = np.maximum(np.ceil(reach / spacing_mm), 1).astype(np.int64)
            small = n == 1
            points.append(centroid[small])
            owner.append(start + np.flatnonzero(small))
            radius = max(radius, float(reach[small].max(initial=0.0)))
            for m in np.unique(n[~small]):
                rows = np.flatnonzero(n == m)
                bary = _subdivision_centroids(int(m))  # (s, 3)
                points.append(np.einsum("sk,tkj->tsj", bary, t[rows]).reshape(-1, 3))
                owner.append(np.repeat(start + rows, len(bary)))
                radius = max(radius, float(reach[rows].max()) / m)
        self.sample_points = np.concatenate(points) if points else np.zeros((0, 3))
        self.sample_face = np.concatenate(owner) if owner else np.zeros(0, np.int64)
        self.sample_radius_mm = radius
        self.tree = cKDTree(self.sample_points, balanced_tree=False, compact_nodes=False)

    def closest(self, points: np.ndarray, chunk: int = 1 << 17,
                faces: bool = False) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(closest points (n, 3), distances (n,)[, the facet each is on (n,)]) for points (n, 3)."""
        from femvalid.meshing.high_order import _closest_on_triangle

        points = np.asarray(points, float)
        best = np.empty_like(points)
        best_d = np.full(len(points), np.inf)
        best_f = np.zeros(len(points), np.int64)
        k = min(CANDIDATES, len(self.sample_points))
        for start in range(0, len(points), chunk):
            p = points[start:start + chunk]
            _, near = self.tree.query(p, k=k, workers=-1)
            near = near.reshape(len(p), k)
            rows = slice(start, start + chunk)
            out, out_d, out_f = best[rows], best_d[rows], best_f[rows]
            for j in range(k):
                facet = self.sample_face[near[:, j]]
                q = _closest_on_triangle(p, self.vertices[self.faces[facet]])
                d = np.einsum("ij,ij->i", q - p, q - p)
                closer = d < out_d
                out[closer], out_d[closer], out_f[closer] = q[closer], d[closer], facet[closer]
        return (best, np.sqrt(best_d), best_f) if faces else (best, np.sqrt(best_d))

    def facet_normals(self, facets: np.ndarray) -> np.ndarray:
        """Unit normals (n, 3) of the given facets."""
        t = self.vertices[self.faces[facets]]
        n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)


def _subdivision_centroids(n: int) -> np.ndarray:
    """Barycentric coordinates (n², 3) of the centroids of a triangle's n × n subdivision."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    up = (i + j) <= n - 1
    down = (i + j) <= n - 2
    a = np.concatenate([(i[up] + 1 / 3) / n, (i[down] + 2 / 3) / n])
    b = np.concatenate([(j[up] + 1 / 3) / n, (j[down] + 2 / 3) / n])
    return np.column_stack([1.0 - a - b, a, b])


# --- resampling ------------------------------------------------------------------


@dataclass(frozen=True)
class Resampling:
    """How a surface was resampled and how far the result is from it (lengths mm).

    ``distance_to_stl`` and ``distance_from_stl`` are one-sided sampled distances
    (max, 99th percentile, mean, sample count, what was sampled); each distance is
    an upper bound of the distance from that point (see :class:`SurfaceDistance`),
    but only sampled points are measured. ``hausdorff_mm`` is the larger maximum.
    """

    voxel_mm: float
    grid: tuple[int, int, int]
    stl_triangles: int
    triangles: int
    stl_volume_mm3: float
    volume_mm3: float
    distance_to_stl: dict
    distance_from_stl: dict
    fragments_dropped: int
    fragment_volume_mm3: float
    seconds: dict

    @property
    def volume_error(self) -> float:
        return (self.volume_mm3 - self.stl_volume_mm3) / self.stl_volume_mm3

    @property
    def hausdorff_mm(self) -> float:
        return max(self.distance_to_stl["max"], self.distance_from_stl["max"])

    def to_dict(self) -> dict:
        return {
            "method": "signed-distance contour (flying edges) at the mesh size, relaxed onto the STL",
            "voxel_mm": self.voxel_mm,
            "grid": list(self.grid),
            "stl_triangles": self.stl_triangles,
            "triangles": self.triangles,
            "stl_volume_mm3": self.stl_volume_mm3,
            "volume_mm3": self.volume_mm3,
            "volume_error_percent": 100.0 * self.volume_error,
            "hausdorff_mm": self.hausdorff_mm,
            "hausdorff_to_voxel": self.hausdorff_mm / self.voxel_mm,
            "distance_to_stl_mm": self.distance_to_stl,
            "distance_from_stl_mm": self.distance_from_stl,
            "fragments_dropped": self.fragments_dropped,
            "fragment_volume_mm3": self.fragment_volume_mm3,
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        return (f"STL of {self.stl_triangles} triangles contoured at {self.voxel_mm:g} mm into {self.triangles}; "
                f"volume {100 * self.volume_error:+.3f} %, Hausdorff distance {self.hausdorff_mm:.3g} mm "
                f"({self.hausdorff_mm / self.voxel_mm:.2f} × the size, sampled both ways)")


def resample_surface(surface: Surface, voxel_mm: float, measure: bool = True,
                     shift: float = _SHIFT) -> tuple[Surface, Resampling]:
    """The closed, outward surface of ``surface``'s solid contoured at ``voxel_mm``.

    ``surface`` must be a checked (closed, outward-wound) surface. With ``measure``
    the distances both ways are measured (otherwise left empty). ``shift`` (a fraction
    of a voxel) places the grid.
    """
    import pyvista as pv

    seconds = {}
    clock = time.perf_counter()
    voxel = float(voxel_mm)
    origin, counts = _grid(surface, voxel, shift)
    winding = winding_on_grid(surface.vertices, surface.faces, origin, voxel, counts)
    inside = winding > 0
    del winding
    seconds["sign"] = time.perf_counter() - clock

    clock = time.perf_counter()
    distance = SurfaceDistance(surface.vertices, surface.faces, SAMPLE_SPACING * voxel)
    band = np.zeros_like(inside)
    for axis in range(3):
        change = np.diff(inside, axis=axis)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        band[tuple(lo)] |= change
        band[tuple(hi)] |= change
    nodes = np.flatnonzero(band)
    del band
    ijk = np.column_stack(np.unravel_index(nodes, inside.shape))
    _, d = distance.closest(origin + ijk * voxel)
    phi = np.where(inside, -voxel, voxel).astype(np.float64)
    flat = phi.reshape(-1)
    # No node closer to the surface than NODE_CLEARANCE voxel: a node almost on it gives
    # the contour tiny triangles around it, which make flat tetrahedra (the relaxation
    # then puts the vertices, at most that far off, back on the STL).
    flat[nodes] = np.where(inside.reshape(-1)[nodes], -1.0, 1.0) * np.maximum(d, NODE_CLEARANCE * voxel)
    del inside, ijk, d, nodes
    seconds["distance"] = time.perf_counter() - clock

    clock = time.perf_counter()
    grid = pv.ImageData(dimensions=tuple(int(c) for c in counts), spacing=(voxel,) * 3, origin=tuple(origin))
    grid.point_data["phi"] = phi.ravel(order="F")
    del phi, flat
    contour = grid.contour([0.0], scalars="phi", method="flying_edges").clean()
    del grid
    if contour.n_cells == 0:
        raise ValueError(f"contouring at {voxel:g} mm left no surface: every feature is thinner than the size")
    faces = _drop_pinched(contour.faces.reshape(-1, 4)[:, 1:].astype(np.int64))
    points = np.asarray(contour.points, np.float64)
    del contour
    faces, dropped, dropped_volume = _drop_fragments(points, faces)
    used, faces = np.unique(faces, return_inverse=True)
    faces = faces.reshape(-1, 3)
    points = points[used]
    seconds["contour"] = time.perf_counter() - clock

    clock = time.perf_counter()
    points = _relax(points, faces, distance, voxel)
    resampled = Surface(points, faces)
    if resampled.signed_volume < 0:
        resampled = resampled.with_faces(faces[:, ::-1])
    seconds["relax"] = time.perf_counter() - clock

    clock = time.perf_counter()
    to_stl = from_stl = {}
    if measure:
        to_stl, from_stl = surface_deviation(resampled, surface, distance)
    seconds["measure"] = time.perf_counter() - clock
    info = Resampling(
        voxel_mm=voxel,
        grid=tuple(int(c) for c in counts),
        stl_triangles=len(surface.faces),
        triangles=len(resampled.faces),
        stl_volume_mm3=float(surface.signed_volume),
        volume_mm3=float(resampled.signed_volume),
        distance_to_stl=to_stl,
        distance_from_stl=from_stl,
        fragments_dropped=dropped,
        fragment_volume_mm3=dropped_volume,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    return resampled, info


def _drop_pinched(faces: np.ndarray) -> np.ndarray:
    """Without collapsed triangles and pairs on the same three vertices."""
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
    _, inverse = topology.unique_rows(np.sort(faces, axis=1))
    counts = np.bincount(inverse)
    return faces[counts[inverse] == 1]


def _drop_fragments(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, int, float]:
    """Without shells smaller than :data:`FRAGMENT_FRACTION` of the largest (by |volume|);
    returns (faces, shells dropped, their volume)."""
    count, labels = topology.shells(faces)
    if count <= 1:
        return faces, 0, 0.0
    t = points[faces]
    volume = np.bincount(labels, weights=np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])) / 6.0,
                         minlength=count)
    small = np.abs(volume) < FRAGMENT_FRACTION * np.abs(volume).max()
    if not small.any():
        return faces, 0, 0.0
    return faces[~small[labels]], int(small.sum()), float(np.abs(volume[small]).sum())


def _relax(vertices: np.ndarray, faces: np.ndarray, distance: SurfaceDistance, voxel: float) -> np.ndarray:
    """Laplacian steps, each projected onto the closest point of the STL, moving no
    vertex more than :data:`MAX_MOVE` voxel from where the contour put it.

    The closest point jumps across the medial axis (inside a convex edge, across a
    thin wall), which can fold a small triangle over; a move that turns a triangle
    away from the STL's facing (more than 78°, and more than it was) is undone for
    its three vertices, so the surface never folds or intersects itself there.
    """
    edges = np.vstack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = len(vertices)
    adjacency = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    mean = sp.diags(1.0 / np.maximum(adjacency.sum(axis=1).A1, 1.0)) @ adjacency
    _, _, facet = distance.closest(vertices, faces=True)
    v = vertices.copy()
    orientation = 1.0 if Surface(vertices, faces).signed_volume > 0 else -1.0
    reference = orientation * distance.facet_normals(facet)[faces].sum(axis=1)  # the STL's facing near each triangle
    reference /= np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-300)
    facing, shape = _facing(v, faces, reference)
    for _ in range(RELAX_STEPS):
        target, _ = distance.closest(v + 0.5 * (mean @ v - v))
        moved = target - vertices
        length = np.linalg.norm(moved, axis=1, keepdims=True)
        proposal = vertices + moved * np.minimum(1.0, MAX_MOVE * voxel / np.maximum(length, 1e-300))
        for _ in range(50):
            now, now_shape = _facing(proposal, faces, reference)
            # Turned away from the STL, or squashed (many points project onto one point of
            # a convex edge or corner): such a move is undone.
            bad = ((now < 0.2) & (now < facing)) | ((now_shape < MIN_SHAPE) & (now_shape < shape))
            if not bad.any():
                break
            undo = np.unique(faces[bad])
            proposal[undo] = v[undo]
        v = proposal
        facing, shape = _facing(v, faces, reference)
    return _untangle(v, vertices, faces, adjacency)


def _untangle(relaxed: np.ndarray, contour: np.ndarray, faces: np.ndarray, adjacency) -> np.ndarray:
    """Where two parts of the surface come closer than the relaxation moves (a cusp of the
    STL, a gap thinner than a voxel), relaxed triangles can pass through each other: their
    vertices, and a growing ring around them, go back to where the contour put them (the
    contour never intersects itself) until no two triangles intersect."""
    v = relaxed.copy()
    back = np.zeros(len(v), bool)
    for _ in range(20):
        hit = self_intersecting(v, faces)
        if not hit.any():
            return v
        ring = np.zeros(len(v), bool)
        ring[faces[hit].ravel()] = True
        ring |= back
        back = ring | (adjacency @ ring.astype(np.float64) > 0) if back.any() else ring
        v[back] = contour[back]
    return contour


def self_intersecting(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangles (bool per face) that intersect another with which they share no vertex."""
    t = vertices[faces]
    centroid = t.mean(axis=1)
    reach = float(np.linalg.norm(t - centroid[:, None], axis=2).max()) if len(t) else 0.0
    out = np.zeros(len(faces), bool)
    if not len(t):
        return out
    pairs = cKDTree(centroid).query_pairs(2.0 * reach, output_type="ndarray")
    for start in range(0, len(pairs), 1 << 20):
        i, j = pairs[start:start + (1 << 20)].T
        apart = ~(faces[i][:, :, None] == faces[j][:, None, :]).any(axis=(1, 2))
        lo_i, hi_i, lo_j, hi_j = t[i].min(axis=1), t[i].max(axis=1), t[j].min(axis=1), t[j].max(axis=1)
        apart &= ((lo_i <= hi_j) & (lo_j <= hi_i)).all(axis=1)
        i, j = i[apart], j[apart]
        crossed = np.zeros(len(i), bool)
        for a, b in ((i, j), (j, i)):
            for k in range(3):
                crossed |= _segment_crosses(t[a][:, k], t[a][:, (k + 1) % 3], t[b])
        out[i[crossed]] = True
        out[j[crossed]] = True
    return out


def _segment_crosses(p0: np.ndarray, p1: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Whether segment p0→p1 passes through the interior of triangle tri (Möller–Trumbore)."""
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    d = p1 - p0
    h = np.cross(d, e2)
    a = np.einsum("ij,ij->i", e1, h)
    ok = np.abs(a) > 1e-14 * np.maximum(np.einsum("ij,ij->i", d, d), 1e-300) * np.linalg.norm(e1, axis=1)
    inv = np.where(ok, 1.0 / np.where(ok, a, 1.0), 0.0)
    s = p0 - tri[:, 0]
    u = np.einsum("ij,ij->i", s, h) * inv
    q = np.cross(s, e1)
    w = np.einsum("ij,ij->i", d, q) * inv
    along = np.einsum("ij,ij->i", e2, q) * inv
    return ok & (u > 0) & (w > 0) & (u + w < 1) & (along > 0) & (along < 1)


#: A relaxation move may not leave a triangle of a worse shape than this (1 equilateral,
#: 0 collapsed: 4√3·area / Σ edge²) unless it already was.
MIN_SHAPE = 0.05


def _facing(vertices: np.ndarray, faces: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cosine between each triangle's normal and its reference direction, −1 for a
    collapsed one; its shape, 4√3·area / Σ edge²)."""
    t = vertices[faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    length = np.linalg.norm(n, axis=1)
    edges = ((t[:, [1, 2, 0]] - t) ** 2).sum(axis=(1, 2))
    shape = 2.0 * np.sqrt(3.0) * length / np.maximum(edges, 1e-300)
    return np.where(length > 0, np.einsum("ij,ij->i", n, reference) / np.maximum(length, 1e-300), -1.0), shape


def _stats(d: np.ndarray, sampled: str) -> dict:
    return {"max": float(d.max()), "p99": float(np.percentile(d, 99)), "mean": float(d.mean()),
            "points": int(len(d)), "sampled": sampled}


def surface_deviation(resampled: Surface, stl: Surface, stl_distance: SurfaceDistance | None = None,
                      max_samples: int = DEVIATION_SAMPLES) -> tuple[dict, dict]:
    """One-sided sampled distances, mm: (resampled → STL, STL → resampled).

    Resampled → STL: from every vertex and facet centroid of ``resampled``.
    STL → resampled: from the facet centroids of ``stl`` (every n-th facet when there
    are more than ``max_samples``). Each distance is an upper bound (closest point
    sought on candidate facets only, see :class:`SurfaceDistance`); the maximum over
    the samples can miss a worse point between them.
    """
    if stl_distance is None:
        stl_distance = SurfaceDistance(stl.vertices, stl.faces, SAMPLE_SPACING * _typical_edge(resampled))
    here = np.vstack([resampled.vertices, resampled.vertices[resampled.faces].mean(axis=1)])
    _, d_to = stl_distance.closest(here)
    stride = max(1, math.ceil(len(stl.faces) / max_samples))
    rows = np.arange(0, len(stl.faces), stride)
    there = stl.vertices[stl.faces[rows]].mean(axis=1)
    back = SurfaceDistance(resampled.vertices, resampled.faces, SAMPLE_SPACING * _typical_edge(resampled))
    _, d_from = back.closest(there)
    return (
        {**_stats(d_to, "vertices and facet centroids of the resampled surface"),
         "overestimate_at_most_mm": stl_distance.sample_radius_mm},
        {**_stats(d_from, "facet centroids of the STL" + (f", every {stride}th" if stride > 1 else "")),
         "overestimate_at_most_mm": back.sample_radius_mm},
    )


def _typical_edge(surface: Surface) -> float:
    t = surface.vertices[surface.faces[: min(len(surface.faces), 100_000)]]
    return float(np.median(np.linalg.norm(t[:, 1] - t[:, 0], axis=1)))
