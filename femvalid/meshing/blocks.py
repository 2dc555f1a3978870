"""Test blocks meshed to carry the implant's footprint: the foam (or bone) blocks of a subsidence test.

A block is a box in its own frame (ξ, η in its face, ζ into the block from the face
the implant rests on). Its face holds the implant's contact triangles themselves;
gmsh triangulates the rest of the face (with the footprint's outlines as fixed
boundaries, each edge one segment) and the other five sides, and the volume is filled
keeping that surface. Implant and block therefore share every interface node
position, edge and triangle: the interface is conforming, for P1 and P2, and
tied or frictionless pairs couple node to node with no interpolation error. The
block is then placed in space by its frame, mated with the implant's fitted plane.
The foam is graded down along the footprint's outlines, where a stiff implant's edge
makes the stress singular (:data:`BLOCK_EDGE_SHARE`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.spatial import cKDTree

from femvalid._gmsh import gmsh_session
from femvalid.errors import InputError, MeshingError
from femvalid.geometry.surface import Surface
from femvalid.meshing.mesher import MeshSettings, mesh_surface
from femvalid.meshing.volume_mesh import VolumeMesh

__all__ = ["footprint_loops", "fitted_block", "BLOCK_COARSENING", "BLOCK_FINE_SHARE", "BLOCK_EDGE_SHARE",
           "BLOCK_EDGE_GROWTH"]

#: The block's size away from the footprint, in multiples of the implant's mesh size (and at most a third
#: of its thickness): the old foam block's grading, kept.
BLOCK_COARSENING = 4.0
#: The block's size next to the footprint, as a share of the implant's: the foam carries the singular
#: edge. Measured (Ti cylinder D 10 mm on a 40 mm foam block, P2, implant at 1 mm): subsidence 1.3 %
#: below the extrapolated value with the block at the implant's size, 0.4 % at half of it (3× the dofs).
BLOCK_FINE_SHARE = 0.5
#: The block's size at the footprint's outline (the singular edge of a stiff implant on foam), as a share of
#: the implant's, growing by :data:`BLOCK_EDGE_GROWTH` mm per mm away from it. The implant's own triangles
#: keep the footprint's inside at its size; the foam outside the outline and beneath it is graded down.
#: Measured (the cylinder above, a 64-facet STL, tied, P2 at 1 mm): subsidence 0.28465 → 0.28736 mm, -1.6 % →
#: -0.7 % of the converged 0.28942 (tests/test_subsidence.py), for 84 k → 112 k dofs and 18 → 20 CG iterations.
#: The foam refined only there, not the implant, as the error lies in the foam: the implant at half its size
#: under the same block gains 0.14 %. An edge of 0.0625 gains 0.26 % more but takes 38 iterations, and flat
#: tetrahedra appear at a growth of 0.4; an edge of 0.25 gains a third as much.
BLOCK_EDGE_SHARE = 0.125
BLOCK_EDGE_GROWTH = 0.3


def footprint_loops(faces: np.ndarray) -> list[np.ndarray]:
    """The boundary loops of a set of consistently wound triangles (k, 3), as ordered node lists."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    keys = {tuple(e) for e in directed.tolist()}
    boundary = [(a, b) for a, b in directed.tolist() if (b, a) not in keys]
    following = {}
    for a, b in boundary:
        if a in following:
            raise ValueError("the footprint touches itself at a node")
        following[a] = b
    loops, seen = [], set()
    for start in following:
        if start in seen:
            continue
        loop, node = [], start
        while node not in seen:
            seen.add(node)
            loop.append(node)
            node = following[node]
        loops.append(np.array(loop))
    return loops


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _outline_points(footprint_xy: np.ndarray, loops, spacing: float) -> np.ndarray:
    """Points along the footprint's outlines, ``spacing`` apart at most, in the block frame (m, 3)."""
    points = []
    for loop in loops:
        a = footprint_xy[loop]
        b = np.roll(a, -1, axis=0)
        for p, q in zip(a, b):
            n = max(1, int(np.ceil(np.linalg.norm(q - p) / spacing)))
            points.append(p + np.linspace(0.0, 1.0, n, endpoint=False)[:, None] * (q - p))
    points = np.vstack(points)
    return np.column_stack([points, np.zeros(len(points))])


def _box_surface_around(footprint_xy: np.ndarray, loops, extent, thickness, fine, coarse, edge):
    """gmsh triangles of the block's surface minus the footprint, in the block frame (points, faces)."""
    (x0, y0), (x1, y1) = extent
    with gmsh_session() as gmsh:
        geo = gmsh.model.geo
        corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        near = [geo.addPoint(x, y, 0.0, coarse) for x, y in corners]
        far = [geo.addPoint(x, y, thickness, coarse) for x, y in corners]
        near_lines = [geo.addLine(near[i], near[(i + 1) % 4]) for i in range(4)]
        far_lines = [geo.addLine(far[i], far[(i + 1) % 4]) for i in range(4)]
        rising = [geo.addLine(near[i], far[i]) for i in range(4)]
        outer_loops, inner_loops, fixed = [], [], []
        for loop in loops:
            points = [geo.addPoint(*footprint_xy[n], 0.0, fine) for n in loop]
            lines = [geo.addLine(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
            fixed += lines
            tag = geo.addCurveLoop(lines)
            (outer_loops if _signed_area(footprint_xy[loop]) > 0 else inner_loops).append(tag)
        face = geo.addCurveLoop(near_lines)
        geo.addPlaneSurface([face, *outer_loops])
        for tag in inner_loops:  # the footprint's windows: the block's face shows through
            geo.addPlaneSurface([tag])
        geo.addPlaneSurface([geo.addCurveLoop(far_lines)])
        for i in range(4):
            side = geo.addCurveLoop([near_lines[i], rising[(i + 1) % 4], -far_lines[i], -rising[i]])
            geo.addPlaneSurface([side])
        geo.synchronize()
        for line in fixed:
            gmsh.model.mesh.setTransfiniteCurve(line, 2)  # the footprint's edges, unsplit
        field = gmsh.model.mesh.field
        distance = field.add("Distance")
        field.setNumbers(distance, "CurvesList", fixed)
        field.setNumber(distance, "Sampling", 4)
        threshold = field.add("Threshold")
        for key, value in (("InField", distance), ("SizeMin", fine), ("SizeMax", coarse), ("DistMin", fine),
                           ("DistMax", 2.0 * coarse)):
            field.setNumber(threshold, key, value)
        if edge is not None:
            graded = field.add("Threshold")  # from the edge size on the outline, growing
            for key, value in (("InField", distance), ("SizeMin", edge), ("SizeMax", coarse), ("DistMin", 0.0),
                               ("DistMax", (coarse - edge) / BLOCK_EDGE_GROWTH)):
                field.setNumber(graded, key, value)
            both = field.add("Min")
            field.setNumbers(both, "FieldsList", [threshold, graded])
            threshold = both
        field.setAsBackgroundMesh(threshold)
        for key, value in (("Mesh.MeshSizeExtendFromBoundary", 0), ("Mesh.MeshSizeFromPoints", 0),
                           ("Mesh.MeshSizeFromCurvature", 0), ("Mesh.Algorithm", 6)):
            gmsh.option.setNumber(key, value)
        gmsh.model.mesh.generate(2)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        _, _, connectivity = gmsh.model.mesh.getElements(2)
    points = coords.reshape(-1, 3)
    index = np.full(int(tags.max()) + 1, -1)
    index[tags.astype(np.int64)] = np.arange(len(tags))
    faces = index[np.concatenate(connectivity).astype(np.int64)].reshape(-1, 3)
    return points, faces


def _outward(points: np.ndarray, faces: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Wind each triangle of a box's surface outwards (its face is found from where it lies)."""
    c = points[faces].mean(axis=1)
    n = np.cross(points[faces[:, 1]] - points[faces[:, 0]], points[faces[:, 2]] - points[faces[:, 0]])
    span = hi - lo
    outward = np.zeros_like(c)
    for axis in range(3):
        outward[np.abs(c[:, axis] - lo[axis]) < 1e-9 * span.max(), axis] = -1.0
        outward[np.abs(c[:, axis] - hi[axis]) < 1e-9 * span.max(), axis] = 1.0
    flip = np.einsum("ij,ij->i", n, outward) < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return faces


def fitted_block(implant_nodes: np.ndarray, contact_faces: np.ndarray, frame: np.ndarray, origin: np.ndarray,
                 block_size_mm, centre_mm, size_mm: float, order: int, source: str) -> VolumeMesh:
    """Mesh a block mated with the implant's contact faces.

    Parameters
    ----------
    implant_nodes : (n, 3) mm
    contact_faces : (k, 3) corner triangles of the implant's contact face, wound outwards from the implant.
    frame : (3, 3)
        Columns e1, e2 (in the block's face) and ζ (unit, from the face into the block), right-handed.
    origin : (3,)
        A point of the block's face (the fitted plane), mm.
    block_size_mm : (bx, by, thickness)
    centre_mm : (2,)
        Where the block's face is centred, in (e1, e2) coordinates about ``origin``.
    size_mm : float
        The implant's mesh size; the block is meshed at :data:`BLOCK_FINE_SHARE` of it next to
        the footprint, growing to :data:`BLOCK_COARSENING` times it away from it.
    """
    bx, by, thickness = block_size_mm
    local = (implant_nodes - origin) @ frame  # (ξ, η, ζ)
    used = np.unique(contact_faces)
    if np.abs(local[used, 2]).max() > 1e-6 * max(bx, by):
        raise InputError(source, "the implant's contact face is not flat enough to mate with a block "
                                 f"(it leaves the fitted plane by {np.abs(local[used, 2]).max():.3g} mm)")
    xy = local[:, :2]
    lo = np.array([centre_mm[0] - bx / 2, centre_mm[1] - by / 2, 0.0])
    hi = np.array([centre_mm[0] + bx / 2, centre_mm[1] + by / 2, thickness])
    margin = 0.5 * size_mm
    if (xy[used].min(axis=0) < lo[:2] + margin).any() or (xy[used].max(axis=0) > hi[:2] - margin).any():
        extent = np.ptp(xy[used], axis=0)
        raise InputError(source, f"block_size {bx:g} × {by:g} mm does not hold the implant's footprint "
                                 f"{extent[0]:.3g} × {extent[1]:.3g} mm where it sits")
    try:
        loops = footprint_loops(contact_faces)
    except ValueError as exc:
        raise InputError(source, str(exc)) from None
    coarse = max(size_mm, min(BLOCK_COARSENING * size_mm, thickness / 3.0))
    fine = BLOCK_FINE_SHARE * size_mm
    # Refined two implant sizes deep: as accurate as half the footprint's width deep (measured, the cylinder of
    # BLOCK_FINE_SHARE: 0.28499 against 0.28494 mm) at half the dofs.
    depth = min(thickness, 2.0 * size_mm)
    box = (*(xy[used].min(axis=0) - 2 * size_mm), 0.0, *(xy[used].max(axis=0) + 2 * size_mm), depth)
    # The outline's grading next to the footprint's unsplit edges (of the implant's size) can leave a flat
    # tetrahedron; the block is then meshed again with the grading twice as coarse, and at last without it.
    edges = (BLOCK_EDGE_SHARE * size_mm, 2.0 * BLOCK_EDGE_SHARE * size_mm, None)
    for attempt, edge in enumerate(edges):
        points, faces = _box_surface_around(xy, loops, (lo[:2], hi[:2]), thickness, fine, coarse, edge)
        # The footprint's own triangles, wound outwards from the block (towards the implant).
        footprint = np.column_stack([xy[used], np.zeros(len(used))])
        renumber = np.full(len(implant_nodes), -1)
        renumber[used] = np.arange(len(used))
        tree = cKDTree(footprint)
        distance, nearest = tree.query(points)
        shared = distance < 1e-9 * max(bx, by)
        vertex = np.where(shared, nearest, len(used) + np.cumsum(~shared) - 1)
        vertices = np.vstack([footprint, points[~shared]])
        block_faces = _outward(vertices, np.vstack([vertex[faces], renumber[contact_faces][:, [0, 2, 1]]]), lo, hi)
        surface = Surface(vertices, block_faces)
        graded = {} if edge is None else dict(
            refine_near_mm=tuple(map(tuple, _outline_points(xy, loops, 0.5 * edge).tolist())),
            refine_near_size_mm=edge, refine_near_growth=BLOCK_EDGE_GROWTH)
        settings = MeshSettings(coarse, order, surface="keep", refine_box_mm=box, refine_size_mm=fine,
                                refine_transition_mm=2.0 * coarse, **graded)
        try:
            block = mesh_surface(surface, settings, source=f"{source} block")
            break
        except MeshingError as exc:
            if attempt == len(edges) - 1 or "rejected" not in exc.reason:
                raise
    nodes = origin + block.nodes @ frame.T
    # The footprint's nodes exactly where the implant's are (the frame's round trip moves them by ~1e-15 mm).
    on_face = np.flatnonzero(np.abs(block.nodes[:, 2]) < 1e-9 * max(bx, by))
    d, j = cKDTree(local[used][:, :2]).query(block.nodes[on_face, :2])
    exact = d < 1e-9 * max(bx, by)
    nodes[on_face[exact]] = implant_nodes[used[j[exact]]]
    grading = (f"graded to {edge:.3g} mm along the footprint's outline" if edge is not None else
               "not graded along the footprint's outline (gmsh left a flat tetrahedron with the grading)")
    if edge is not None and attempt:
        grading += f" (twice the {edges[0]:.3g} mm aimed at: gmsh left a flat tetrahedron with it)"
    quality = replace(block.quality, surface_reason=f"{block.quality.surface_reason}; {grading}") \
        if block.quality is not None else None
    return VolumeMesh(nodes, block.elements, size_mm=size_mm, quality=quality)
