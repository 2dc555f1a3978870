"""The boundary mesh of the volume: the STL's own triangles, or gmsh's remesh of them.

Remeshing (classify the facets into surfaces, rebuild them as geometry, mesh them
again) is single-threaded and takes most of the meshing time; on the example VBR
it is 5–6× slower than filling the volume. When the STL's triangles are already
about the requested size and well shaped, keeping them as the boundary skips all
of it and the mesh bounds exactly the STL's volume. A coarse STL, a poor one
(slivers), or a fine STL meshed at a coarser size is remeshed.

An STL of more than :data:`femvalid.meshing.mesher.MAX_DIRECT_TRIANGLES` triangles
(lattices exported by design tools), or any STL with ``surface="contour"``, is first
resampled at the mesh size (its signed distance contoured and relaxed onto it,
:mod:`femvalid.geometry.resample`) and those triangles are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femvalid.geometry import topology
from femvalid.geometry.surface import Surface

__all__ = [
    "SURFACE_MODES",
    "KEEP_EDGE_MAX_RATIO",
    "KEEP_EDGE_MEDIAN_MIN_RATIO",
    "KEEP_ANGLE_MIN_DEG",
    "FacetStats",
    "BoundaryChoice",
    "facet_stats",
    "choose_boundary",
    "shell_volumes",
]

#: How the boundary is made: "auto" decides by the facets (and their number), "keep",
#: "remesh" or "contour" force it.
SURFACE_MODES = ("auto", "keep", "remesh", "contour")
#: Kept only if every facet edge is at most this times the target size...
KEEP_EDGE_MAX_RATIO = 1.5
#: ...and the median edge at least this times it (finer facets would make the mesh
#: finer than asked for, with more elements than the remesh would give).
KEEP_EDGE_MEDIAN_MIN_RATIO = 1.0 / 1.5
#: ...and no facet has an angle below this (slivers on the boundary make poor tets).
KEEP_ANGLE_MIN_DEG = 15.0


@dataclass(frozen=True)
class FacetStats:
    """Size and shape of a surface's triangles (lengths mm, angles degrees)."""

    triangles: int
    edge_min_mm: float
    edge_median_mm: float
    edge_max_mm: float
    angle_min_deg: float


@dataclass(frozen=True)
class BoundaryChoice:
    """``mode`` is "keep", "remesh" or "contour"; ``reason`` says why, for the mesh report."""

    mode: str
    reason: str


def facet_stats(surface: Surface) -> FacetStats:
    """Edge lengths and the smallest interior angle of a surface's triangles."""
    edges = np.empty((len(surface.faces), 3))
    angle_min = 180.0
    for rows, t in surface.triangle_chunks():
        side = t[:, [1, 2, 0]] - t  # side k runs from corner k to corner k+1
        length = np.linalg.norm(side, axis=2)
        edges[rows] = length
        # Angle at corner k, between the side leaving it and the side arriving at it.
        cos = -np.einsum("mkj,mkj->mk", side, side[:, [2, 0, 1]])
        with np.errstate(invalid="ignore", divide="ignore"):
            cos /= length * length[:, [2, 0, 1]]
        angles = np.degrees(np.arccos(np.clip(np.nan_to_num(cos, nan=1.0), -1.0, 1.0)))
        angle_min = min(angle_min, float(angles.min()))
    return FacetStats(
        triangles=len(surface.faces),
        edge_min_mm=float(edges.min()),
        edge_median_mm=float(np.median(edges)),
        edge_max_mm=float(edges.max()),
        angle_min_deg=angle_min,
    )


def choose_boundary(surface: Surface, size_mm: float, requested: str = "auto", refined: bool = False) -> BoundaryChoice:
    """Keep the STL's triangles as the boundary mesh, or remesh them at ``size_mm``.

    ``requested`` "keep" or "remesh" is obeyed; "auto" keeps the triangles when
    every edge is at most 1.5 × ``size_mm``, the median edge at least ``size_mm`` / 1.5
    and no angle is below 15°. A refinement box (``refined``) needs the remesh.
    """
    if requested not in SURFACE_MODES:
        raise ValueError(f"surface must be one of {', '.join(SURFACE_MODES)}, not {requested!r}")
    if requested != "auto":
        return BoundaryChoice(requested, f"{requested} asked for")
    if refined:
        return BoundaryChoice("remesh", "a refinement box needs the surface remeshed")
    s = facet_stats(surface)
    facets = f"facet edges {s.edge_min_mm:.3g}–{s.edge_max_mm:.3g} mm (median {s.edge_median_mm:.3g})"
    if s.edge_max_mm > KEEP_EDGE_MAX_RATIO * size_mm:
        return BoundaryChoice("remesh", f"{facets}: some longer than {KEEP_EDGE_MAX_RATIO:g} × the {size_mm:g} mm size")
    if s.edge_median_mm < KEEP_EDGE_MEDIAN_MIN_RATIO * size_mm:
        return BoundaryChoice("remesh", f"{facets}: finer than the {size_mm:g} mm size")
    if s.angle_min_deg < KEEP_ANGLE_MIN_DEG:
        return BoundaryChoice("remesh", f"a facet angle of {s.angle_min_deg:.1f}° (below {KEEP_ANGLE_MIN_DEG:g}°)")
    return BoundaryChoice(
        "keep", f"{facets}, smallest angle {s.angle_min_deg:.1f}°: about the {size_mm:g} mm size and well shaped"
    )


def shell_volumes(surface: Surface) -> tuple[np.ndarray, np.ndarray]:
    """Which volume each shell of a checked surface bounds.

    Returns (shell of each face, owner of each shell): an outer shell (wound
    outwards, positive volume) owns itself; a cavity (wound inwards) is owned by
    the smallest outer shell that contains it.
    """
    count, labels = topology.shells(surface.faces)
    volume = np.bincount(labels, weights=surface.signed_volume_per_face(), minlength=count)
    owner = np.arange(count)
    outer = np.flatnonzero(volume > 0)
    for cavity in np.flatnonzero(volume <= 0):
        point = surface.vertices[surface.faces[labels == cavity][0, 0]][None]
        around = [k for k in outer
                  if abs(topology.winding_numbers(point, surface.triangles[labels == k])[0]) > 0.5]
        if around:
            owner[cavity] = min(around, key=lambda k: volume[k])
    return labels, owner
