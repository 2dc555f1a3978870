"""The indexed triangle surface every later stage works on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femvalid._arrays import readonly
from femvalid.geometry.topology import unique_rows

__all__ = ["Surface"]


@dataclass(frozen=True, eq=False)
class Surface:
    """An indexed triangle surface, immutable.

    Attributes
    ----------
    vertices : ndarray, shape (n, 3)
        Vertex coordinates, mm.
    faces : ndarray, shape (m, 3)
        Vertex indices per triangle, counter-clockwise seen from outside.
    """

    vertices: np.ndarray
    faces: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "vertices", readonly(self.vertices, np.float64).reshape(-1, 3))
        object.__setattr__(self, "faces", readonly(self.faces, np.int64).reshape(-1, 3))

    @classmethod
    def from_triangles(cls, triangles: np.ndarray) -> "Surface":
        """Merge identical vertices of a triangle soup (n, 3, 3) into a Surface."""
        points = np.asarray(triangles, dtype=np.float64).reshape(-1, 3)
        # -0.0 == 0.0, so both merge; +0.0 makes the merged vertex 0.0.
        vertices, inverse = unique_rows(points)
        return cls(vertices + 0.0, inverse.reshape(-1, 3))

    # -- derived geometry -------------------------------------------------
    @property
    def triangles(self) -> np.ndarray:
        """Vertex coordinates per face, shape (m, 3, 3), mm."""
        return self.vertices[self.faces]

    @property
    def face_normals(self) -> np.ndarray:
        """Unnormalised face normals (cross products), length = 2 × area, mm²."""
        if "normals" not in self._cache:
            normals = np.empty((len(self.faces), 3))
            for rows, t in self.triangle_chunks():
                normals[rows] = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
            self._cache["normals"] = normals
        return self._cache["normals"]

    @property
    def face_areas(self) -> np.ndarray:
        """Area of each face, mm²."""
        return 0.5 * np.linalg.norm(self.face_normals, axis=1)

    @property
    def area(self) -> float:
        """Total surface area, mm²."""
        return float(self.face_areas.sum())

    @property
    def signed_volume(self) -> float:
        """Enclosed volume by the divergence theorem, mm³; negative if inside out."""
        return float(self.signed_volume_per_face().sum())

    def signed_volume_per_face(self) -> np.ndarray:
        """Each face's contribution to the signed volume, mm³ (relative to the bbox centre)."""
        centre = self.centre
        volumes = np.empty(len(self.faces))
        for rows, t in self.triangle_chunks():
            t -= centre
            volumes[rows] = np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])) / 6.0
        return volumes

    def triangle_chunks(self, size: int = 1 << 18):
        """Yield (rows, triangles) over the faces, ``size`` at a time.

        ``rows`` is a slice of the faces, ``triangles`` a (k, 3, 3) copy of their
        vertex coordinates, mm: per-face arithmetic on millions of faces then needs
        temporaries of one chunk, not of the whole surface.
        """
        for start in range(0, len(self.faces), size):
            rows = slice(start, start + size)
            yield rows, self.vertices[self.faces[rows]]

    @property
    def bounds(self) -> np.ndarray:
        """Bounding box as [[xmin, ymin, zmin], [xmax, ymax, zmax]], mm."""
        if "bounds" not in self._cache:
            used = self.vertices
            if len(self.faces):
                mask = np.zeros(len(self.vertices), dtype=bool)
                mask[self.faces] = True
                used = used[mask]
            self._cache["bounds"] = readonly(np.array([used.min(axis=0), used.max(axis=0)]), np.float64)
        return self._cache["bounds"]

    @property
    def centre(self) -> np.ndarray:
        """Centre of the bounding box, mm."""
        return self.bounds.mean(axis=0)

    @property
    def extent(self) -> np.ndarray:
        """Bounding-box edge lengths [dx, dy, dz], mm."""
        b = self.bounds
        return b[1] - b[0]

    def with_faces(self, faces: np.ndarray) -> "Surface":
        """A new Surface with the same vertices and other faces (unused vertices dropped)."""
        used, inverse = np.unique(np.asarray(faces).reshape(-1), return_inverse=True)
        return Surface(self.vertices[used], inverse.reshape(-1, 3))

    def scaled(self, factor: float) -> "Surface":
        """A new Surface scaled about the origin."""
        return Surface(self.vertices * factor, self.faces)

    def translated(self, offset) -> "Surface":
        """A new Surface moved by ``offset`` (mm)."""
        return Surface(self.vertices + np.asarray(offset, dtype=float), self.faces)
