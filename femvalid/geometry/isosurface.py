"""Closed triangle surfaces of implicit solids: contour on a voxel grid, then relax.

A solid is given by a field φ (mm) that is negative inside. Flying edges (VTK)
contours φ = 0 on a grid whose nodes sit half a voxel off the clipping box's faces,
so that the box faces come out exactly plane and the surface is closed. Its
triangles are then relaxed: a few Laplacian steps, each followed by Newton steps
that put the vertices back on φ = 0. Vertices on the box faces stay where they are.
This turns the contour's slivers into triangles gmsh can keep as the boundary of a
tetrahedral mesh (meshing 8 gyroid cells: 19 s before, 1.2 s after).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from femvalid.geometry import topology
from femvalid.geometry.surface import Surface

__all__ = ["box_field", "clip_to_box", "contour_surface", "relax_onto_field"]

#: points (n, 3) mm -> (φ (n,) mm, negative inside; its gradient (n, 3))
Field = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

RELAX_STEPS = 5
NEWTON_STEPS = 3
#: Farthest a vertex moves from where the contour put it, in voxels.
MAX_MOVE = 0.15


def box_field(points: np.ndarray, size_mm) -> np.ndarray:
    """Signed distance-like field of the box [0, size] (negative inside), mm."""
    size = np.asarray(size_mm, float)
    return np.maximum(-points, points - size).max(axis=-1)


def clip_to_box(field: Field, points: np.ndarray, box_mm) -> tuple[np.ndarray, np.ndarray]:
    """``field`` intersected with the box [0, box_mm]: the larger φ, with its gradient."""
    phi, grad = field(points)
    size = np.asarray(box_mm, float)
    sides = np.concatenate([-points, points - size], axis=1)  # (n, 6): x0 y0 z0 x1 y1 z1
    face = sides.argmax(axis=1)
    outside = sides[np.arange(len(points)), face] > phi
    normal = np.zeros((len(points), 3))
    normal[np.arange(len(points)), face % 3] = np.where(face < 3, -1.0, 1.0)
    return np.where(outside, sides.max(axis=1), phi), np.where(outside[:, None], normal, grad)


def contour_surface(values: np.ndarray, voxel_mm, field: Field, box_mm) -> Surface:
    """The outward-wound surface φ = 0 of grid values sampled at ``(i − ½)·voxel`` (i ≥ 0).

    ``voxel_mm`` is one edge length or one per axis.

    ``values`` holds φ already clipped to the box [0, box_mm] (its maximum with
    :func:`box_field`), on a grid padded by one node outside each face. ``field``
    evaluates the same clipped φ anywhere, for the relaxation.
    """
    import pyvista as pv

    spacing = np.broadcast_to(np.asarray(voxel_mm, float), (3,))
    grid = pv.ImageData(dimensions=values.shape, spacing=tuple(spacing), origin=tuple(-0.5 * spacing))
    grid.point_data["phi"] = np.asarray(values, np.float64).ravel(order="F")
    contour = grid.contour([0.0], scalars="phi", method="flying_edges").clean()
    if contour.n_cells == 0:
        return Surface(np.zeros((0, 3)), np.zeros((0, 3), np.int64))
    faces = _keep_largest_shell(_drop_pinched(contour.faces.reshape(-1, 4)[:, 1:]), contour.points)
    vertices = relax_onto_field(np.asarray(contour.points, np.float64), faces, field, box_mm, float(spacing.min()))
    surface = Surface(vertices, faces)
    return surface if surface.signed_volume > 0 else surface.with_faces(faces[:, ::-1])


def _drop_pinched(faces: np.ndarray) -> np.ndarray:
    """Without collapsed triangles and pairs on the same three vertices (a zero-volume
    fin where the field was exactly zero at a grid node)."""
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
    _, inverse, counts = np.unique(np.sort(faces, axis=1), axis=0, return_inverse=True, return_counts=True)
    return faces[counts[inverse.ravel()] == 1]


def _keep_largest_shell(faces: np.ndarray, points) -> np.ndarray:
    """Only the largest closed piece: clipping can cut off fragments that would float
    loose in the print (and leave the finite-element model without support)."""
    count, labels = topology.shells(faces)
    if count <= 1:
        return faces
    tri = np.asarray(points, np.float64)[faces]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2]))
    sizes = np.abs(np.bincount(labels, weights=volume, minlength=count))
    return faces[labels == sizes.argmax()]


def relax_onto_field(vertices: np.ndarray, faces: np.ndarray, field: Field, box_mm, voxel_mm: float,
                     steps: int = RELAX_STEPS) -> np.ndarray:
    """Laplacian relaxation of the free vertices, each step projected back onto φ = 0."""
    box = np.asarray(box_mm, float)
    on_face = ((np.abs(vertices) < 1e-6 * voxel_mm) | (np.abs(vertices - box) < 1e-6 * voxel_mm)).any(axis=1)
    free = np.flatnonzero(~on_face)
    edges = np.vstack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = len(vertices)
    adjacency = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    mean = sp.diags(1.0 / np.maximum(adjacency.sum(axis=1).A1, 1.0)) @ adjacency
    mean = mean[free]
    v = vertices.copy()
    for _ in range(steps):
        target = v[free] + 0.5 * (mean @ v - v[free])
        for _ in range(NEWTON_STEPS):
            phi, grad = field(target)
            norm2 = np.maximum((grad**2).sum(axis=1), 1e-12)
            step = (phi / norm2)[:, None] * grad
            # A step longer than a voxel means φ's gradient vanished there: stay put.
            target -= np.where((np.linalg.norm(step, axis=1) < voxel_mm)[:, None], step, 0.0)
        # The contour never intersects itself; vertices kept near where it put them
        # cannot pass through the far side of a feature two voxels thin.
        moved = target - vertices[free]
        length = np.linalg.norm(moved, axis=1, keepdims=True)
        v[free] = vertices[free] + moved * np.minimum(1.0, MAX_MOVE * voxel_mm / np.maximum(length, 1e-300))
    return v
