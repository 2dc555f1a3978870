"""The bearing faces of a device, found by fitting planes rather than by z levels.

The superior and inferior bearing faces are the parts of the surface that face +z
and −z and that a fixture block can touch: faces of the body's convex hull. On each
side the hull facets are grouped by direction (within 1°) and the group with the
largest area is the bearing face; its area-weighted normal and the support plane
(the block resting on the body) make the fitted plane. That holds for a flat, a
wedge-shaped (lordotic) or a toothed face (the teeth tips span one hull plane), and
for a device exported turned about z or tilted by up to 20°. The load axis is the
bisector of the two planes' outward normals, d = normalise(n_sup − n_inf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull

from femvalid.errors import InputError
from femvalid.fem.loads import boundary_faces_of

__all__ = ["Plane", "BearingFaces", "fit_bearing_faces", "contact_nodes", "face_area", "faces_of_order", "projected_area",
           "load_axis_frame"]

#: Hull facets whose normal is within this angle of ±z may belong to a bearing face.
FACING_ANGLE_DEG = 60.0
#: Hull facets within this angle of one another belong to one plane.
COPLANAR_ANGLE_DEG = 1.0


@dataclass(frozen=True, eq=False)
class Plane:
    """n·x = offset, with n the outward unit normal of the device's face (mm)."""

    normal: np.ndarray
    offset: float

    def distance(self, points: np.ndarray) -> np.ndarray:
        """How far inside the device (against the normal) each point lies, mm."""
        return self.offset - points @ self.normal


@dataclass(frozen=True, eq=False)
class BearingFaces:
    """The fitted superior and inferior planes and the load axis."""

    superior: Plane
    inferior: Plane

    @property
    def load_axis(self) -> np.ndarray:
        d = self.superior.normal - self.inferior.normal
        return d / np.linalg.norm(d)

    @property
    def angle_deg(self) -> float:
        """Angle between the two fitted planes (a lordotic cage's lordosis), degrees."""
        c = float(np.clip(-self.superior.normal @ self.inferior.normal, -1.0, 1.0))
        return math.degrees(math.acos(c))


def _hull_plane(points: np.ndarray, up: np.ndarray, source: str) -> Plane:
    hull = ConvexHull(points)
    normals = hull.equations[:, :3]
    tri = points[hull.simplices]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    facing = normals @ up > math.cos(math.radians(FACING_ANGLE_DEG))
    if not facing.any():
        raise InputError(source, f"no face of the device faces {'+' if up[2] > 0 else '−'}z within "
                                 f"{FACING_ANGLE_DEG:g}°; is the superior face along +z?")
    n, a = normals[facing], areas[facing]
    near = (n @ n.T) > math.cos(math.radians(COPLANAR_ANGLE_DEG))
    group = near[np.argmax(near @ a)]
    normal = (n[group] * a[group, None]).sum(axis=0)
    normal /= np.linalg.norm(normal)
    return Plane(normal, float((points @ normal).max()))


def _boundary(mesh, full: bool = False) -> np.ndarray:
    """The mesh's outward boundary faces (corner triangles, or all nodes with ``full``), found once per mesh.

    Fitting the planes, the contact areas and the projected areas all need them; on a
    1.6 M-DOF lattice cage each search took 46 s and a load case made five.
    """
    key = "boundary faces, all nodes" if full else "boundary faces"
    if key not in mesh._cache:
        mesh._cache[key] = boundary_faces_of(mesh.elements if full else mesh.corners)
    return mesh._cache[key]


def fit_bearing_faces(mesh, source: str = "load case") -> BearingFaces:
    """Fit the superior (+z facing) and inferior (−z facing) bearing planes of a mesh."""
    faces = _boundary(mesh)
    points = mesh.nodes[np.unique(faces)]
    up = np.array([0.0, 0.0, 1.0])
    superior = _hull_plane(points, up, source)
    inferior = _hull_plane(points, -up, source)
    if superior.normal @ inferior.normal > -0.5:
        raise InputError(source, "the fitted bearing planes are more than 60° apart; is the superior face along +z?")
    return BearingFaces(superior, inferior)


def contact_nodes(nodes: np.ndarray, plane: Plane, tolerance_mm: float) -> np.ndarray:
    """Nodes within ``tolerance_mm`` of a plane (on the device's side of it)."""
    return np.flatnonzero(plane.distance(nodes) <= tolerance_mm)


def _faces_within(mesh, which: np.ndarray) -> np.ndarray:
    faces = _boundary(mesh)
    inside = np.zeros(len(mesh.nodes), bool)
    inside[which] = True
    return faces[inside[faces[:, :3]].all(axis=1)]


def _areas(nodes, faces) -> np.ndarray:
    c = nodes[faces[:, :3]]
    return np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0]) / 2.0  # area vectors


def face_area(mesh, which: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Area (mm²) and area centroid (mm) of the boundary faces whose corners all lie in ``which``, and the faces."""
    faces = _faces_within(mesh, which)
    if not len(faces):
        return 0.0, mesh.nodes[which].mean(axis=0), faces
    areas = np.linalg.norm(_areas(mesh.nodes, faces), axis=1)
    centroid = (mesh.nodes[faces[:, :3]].mean(axis=1) * areas[:, None]).sum(axis=0) / areas.sum()
    return float(areas.sum()), centroid, faces


def faces_of_order(mesh, corner_faces: np.ndarray) -> np.ndarray:
    """The boundary faces with all their nodes (P2: six) whose corners are those of ``corner_faces``."""
    if mesh.order == 1:
        return corner_faces
    on = np.zeros(len(mesh.nodes), bool)
    on[np.unique(corner_faces)] = True
    faces = _boundary(mesh, full=True)
    return faces[on[faces[:, :3]].all(axis=1)]


def projected_area(mesh, normal: np.ndarray) -> float:
    """Area of the device's boundary facing along ``normal``, projected onto the plane normal to it (mm²)."""
    faces = _boundary(mesh)
    projected = _areas(mesh.nodes, faces) @ normal
    return float(projected[projected > 0].sum())


def load_axis_frame(d: np.ndarray) -> np.ndarray:
    """Columns (e1, e2, d): e1 the projection of x normal to d (y where d is along x), e2 = d × e1."""
    d = d / np.linalg.norm(d)
    x = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = x - (x @ d) * d
    e1 /= np.linalg.norm(e1)
    return np.column_stack([e1, np.cross(d, e1), d])
