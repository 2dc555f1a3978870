"""Structured tetrahedral meshes made in code: boxes, wedges and tubes for engine checks.

A grid of hexahedra in parameter space (each split into six tetrahedra about its
main diagonal, which makes neighbouring hexahedra conform) is mapped to space by a
function. Quadratic elements take their mid-side nodes from the mapped mid-points in
parameter space, so a mapped boundary (a tube's circles) is curved as the map is,
not faceted. No gmsh: the same mesh every time, in milliseconds.
"""

from __future__ import annotations

import math

import numpy as np

from femvalid.meshing.volume_mesh import VolumeMesh

__all__ = ["structured_mesh", "box_mesh", "wedge_mesh", "tube_mesh"]

# Six tetrahedra of the unit cube about the diagonal 0–7 (corner k has bits x = k&1, y = k&2, z = k&4).
_KUHN = np.array([[0, 1, 3, 7], [0, 3, 2, 7], [0, 2, 6, 7], [0, 6, 4, 7], [0, 4, 5, 7], [0, 5, 1, 7]])
_EDGES = [(0, 1), (1, 2), (0, 2), (0, 3), (1, 3), (2, 3)]  # VTK tetra10 mid-side order


def structured_mesh(counts, mapping, order: int = 1, periodic: tuple = (False, False, False),
                    size_mm: float = float("nan"), curved: bool = True) -> VolumeMesh:
    """Tetrahedra of a (nx, ny, nz) grid on the unit cube, mapped by ``mapping`` (params (k, 3) → points (k, 3)).

    ``periodic[a]`` joins the last layer along axis a to the first (a tube's seam).
    ``curved`` False puts quadratic mid-side nodes at the straight mid-points (flat-faced bodies).
    """
    nx, ny, nz = counts
    shape = [n + (0 if p else 1) for n, p in zip(counts, periodic)]

    def index(i, j, k):
        return ((i % shape[0]) * shape[1] + (j % shape[1])) * shape[2] + (k % shape[2])

    grid = np.stack(np.meshgrid(*[np.arange(s) / n for s, n in zip(shape, counts)], indexing="ij"), axis=-1)
    params = grid.reshape(-1, 3)
    i, j, k = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    i, j, k = i.ravel(), j.ravel(), k.ravel()
    corners = np.stack([index(i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1)) for c in range(8)], axis=1)
    corner_params = np.stack([np.column_stack([i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1)]) / counts
                              for c in range(8)], axis=1)  # unwrapped, for mid-points across a seam
    tets = corners[:, _KUHN].reshape(-1, 4)
    tet_params = corner_params[:, _KUHN].reshape(-1, 4, 3)
    nodes = mapping(params)
    # Orient every element positively in space.
    x = mapping(tet_params.reshape(-1, 3)).reshape(-1, 4, 3)
    det = np.einsum("ij,ij->i", x[:, 1] - x[:, 0], np.cross(x[:, 2] - x[:, 0], x[:, 3] - x[:, 0]))
    flip = det < 0
    tets[flip] = tets[flip][:, [0, 2, 1, 3]]
    tet_params[flip] = tet_params[flip][:, [0, 2, 1, 3]]
    if order == 1:
        return VolumeMesh(nodes, tets, size_mm=size_mm)
    keys = np.stack([np.sort(tets[:, [a, b]], axis=1) for a, b in _EDGES], axis=1).reshape(-1, 2)
    mids = np.stack([(tet_params[:, a] + tet_params[:, b]) / 2 for a, b in _EDGES], axis=1).reshape(-1, 3)
    unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    if curved:
        mid_nodes = mapping(mids[first])
    else:
        mid_nodes = 0.5 * (nodes[unique[:, 0]] + nodes[unique[:, 1]])
    elements = np.hstack([tets, len(nodes) + inverse.reshape(-1, 6)])
    return VolumeMesh(np.vstack([nodes, mid_nodes]), elements, size_mm=size_mm)


def box_mesh(size_mm, counts, order: int = 1, origin=(0.0, 0.0, 0.0)) -> VolumeMesh:
    """An axis-aligned box ``size_mm`` (lx, ly, lz) from ``origin``."""
    size, origin = np.asarray(size_mm, float), np.asarray(origin, float)
    return structured_mesh(counts, lambda p: origin + p * size, order, size_mm=float(min(size / counts)), curved=False)


def wedge_mesh(length_mm, width_mm, height_mm, angle_deg, counts, order: int = 1) -> VolumeMesh:
    """A lordotic wedge: footprint centred on the origin, base z = 0, top tilted by ``angle_deg`` about y.

    The top face is z = height + x·tan(angle) (taller towards +x, like the cages).
    """
    slope = math.tan(math.radians(angle_deg))

    def mapping(p):
        x = (p[:, 0] - 0.5) * length_mm
        y = (p[:, 1] - 0.5) * width_mm
        return np.column_stack([x, y, p[:, 2] * (height_mm + slope * x)])

    return structured_mesh(counts, mapping, order, size_mm=float(min(length_mm / counts[0], height_mm / counts[2])),
                           curved=False)


def tube_mesh(inner_mm, outer_mm, length_mm, counts, order: int = 2) -> VolumeMesh:
    """A circular tube along z from 0 to ``length_mm``; counts = (radial, around, along)."""

    def mapping(p):
        r = inner_mm + p[:, 0] * (outer_mm - inner_mm)
        t = 2.0 * math.pi * p[:, 1]
        return np.column_stack([r * np.cos(t), r * np.sin(t), p[:, 2] * length_mm])

    size = min((outer_mm - inner_mm) / counts[0], length_mm / counts[2])
    return structured_mesh(counts, mapping, order, periodic=(False, True, False), size_mm=float(size))
