"""Surface repairs: duplicate faces, holes (pymeshfix), winding."""

from __future__ import annotations

import numpy as np

from femvalid.geometry.surface import Surface
from femvalid.geometry.topology import unique_rows

__all__ = ["drop_collapsed_faces", "drop_duplicate_faces", "close_holes", "flip_faces"]


def drop_collapsed_faces(surface: Surface) -> tuple[Surface, int]:
    """Remove faces that use one vertex twice (zero area after merging)."""
    f = surface.faces
    collapsed = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 2] == f[:, 0])
    n = int(collapsed.sum())
    return (surface.with_faces(f[~collapsed]) if n and n < len(f) else surface), n


def drop_duplicate_faces(surface: Surface) -> tuple[Surface, int]:
    """Keep one face of each set of faces with the same three vertices."""
    _, inverse = unique_rows(np.sort(surface.faces, axis=1))
    n = len(inverse) - (int(inverse.max()) + 1 if len(inverse) else 0)
    if not n:
        return surface, 0
    _, first = np.unique(inverse, return_index=True)
    return surface.with_faces(surface.faces[np.sort(first)]), n


def close_holes(surface: Surface) -> Surface:
    """Fill holes and clean the surface with pymeshfix (every shell is kept)."""
    import pymeshfix

    fix = pymeshfix.MeshFix(np.array(surface.vertices), np.array(surface.faces, dtype=np.int32))
    fix.repair(remove_smallest_components=False)
    return Surface(fix.points, fix.faces)


def flip_faces(surface: Surface, mask: np.ndarray) -> Surface:
    """Reverse the winding of the faces selected by ``mask``."""
    faces = np.array(surface.faces)
    faces[mask] = faces[mask][:, ::-1]
    return Surface(surface.vertices, faces)
