"""Read an STL, check it, apply safe repairs, and report what was found.

What is rejected (GeometryError, exit status 2) and what is repaired with a warning
follows one rule: femvalid repairs only what has a single right answer (winding,
collapsed faces); anything that needs a judgement (holes, duplicate faces) is
repaired only when the user asks with ``repair=True``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from femvalid.errors import GeometryError
from femvalid.geometry import repair as _repair
from femvalid.geometry import topology
from femvalid.geometry.stl import read_stl
from femvalid.geometry.surface import Surface

__all__ = ["CheckReport", "load_surface", "check_surface", "UNIT_WARN_BELOW_MM", "UNIT_WARN_ABOVE_MM"]

#: A bounding box whose largest edge is outside this range is probably not in mm.
UNIT_WARN_BELOW_MM = 1.0
UNIT_WARN_ABOVE_MM = 500.0


@dataclass
class CheckReport:
    """What the checks found in one STL file (lengths mm, areas mm², volumes mm³)."""

    path: str
    format: str = ""
    units: str = "mm"
    triangles_in_file: int = 0
    triangles: int = 0
    vertices: int = 0
    bounds_mm: list = field(default_factory=list)
    extent_mm: list = field(default_factory=list)
    area_mm2: float = 0.0
    volume_mm3: float = 0.0
    watertight: bool = False
    boundary_edges: int = 0
    manifold: bool = False
    nonmanifold_edges: int = 0
    winding_consistent: bool = False
    outward: bool = False
    degenerate_faces: int = 0
    duplicate_faces: int = 0
    shells: int = 0
    shells_intersect: bool = False
    nonfinite_coordinates: int = 0
    normals_disagreeing: int = 0
    valid: bool = False
    error: str | None = None
    warnings: list = field(default_factory=list)
    repairs: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def fail(self, reason: str) -> GeometryError:
        self.error = reason
        self.valid = False
        return GeometryError(self.path, reason)


def load_surface(path: str | Path, units: str = "mm", repair: bool = False) -> tuple[Surface, CheckReport]:
    """Read, check and (safely) repair an STL file.

    Parameters
    ----------
    path : str or Path
        Binary or ASCII STL.
    units : {"mm", "cm", "m", "in"}
        Unit of the file's coordinates; scaled to mm.
    repair : bool
        Also close holes and drop duplicate faces (pymeshfix).

    Returns
    -------
    surface : Surface
        Closed, consistently and outward wound surface in mm.
    report : CheckReport
        What was found and changed.

    Raises
    ------
    GeometryError
        The file cannot be read or is not a valid solid. ``err.report`` holds the
        report gathered up to the failure.
    """
    report = CheckReport(path=str(path), units=units)
    try:
        data = read_stl(path, units)
        report.format = data.format
        report.triangles_in_file = len(data.triangles)
        finite = np.isfinite(data.triangles).all(axis=(1, 2))
        report.nonfinite_coordinates = int((~finite).sum())
        if report.nonfinite_coordinates:
            raise report.fail(f"{report.nonfinite_coordinates} of {len(finite)} triangles have NaN or infinite coordinates")
        surface = Surface.from_triangles(data.triangles)
        # The surface keeps the triangles' order and exact coordinates, so its normals serve.
        report.normals_disagreeing = _disagreeing_normals(data.normals, surface.face_normals)
        del data  # the triangle soup is 3× the surface's memory; free it before checking
        surface = check_surface(surface, report, repair=repair)
    except GeometryError as exc:
        report.error = report.error or exc.reason
        exc.report = report
        raise
    return surface, report


def _disagreeing_normals(stored: np.ndarray, computed: np.ndarray) -> int:
    """How many meaningful stored facet normals point against the vertex order's normal."""
    dots = np.einsum("ij,ij->i", stored, computed)
    meaningful = np.linalg.norm(stored, axis=1) > 0.5
    return int(((dots < 0) & meaningful).sum())


def check_surface(surface: Surface, report: CheckReport, repair: bool = False) -> Surface:
    """Check a merged surface, fill ``report``, and return the repaired surface."""
    given = len(surface.faces)
    surface, collapsed = _repair.drop_collapsed_faces(surface)
    areas = surface.face_areas
    scale = float(np.linalg.norm(surface.extent)) or 1.0
    degenerate = areas <= 1e-12 * scale**2
    report.degenerate_faces = int(degenerate.sum()) + collapsed
    if collapsed == given or degenerate.all():
        raise report.fail(f"all {given} triangles are degenerate (zero area)")
    if collapsed:
        report.repairs.append(f"removed {collapsed} collapsed triangles (a vertex used twice)")

    _, report.duplicate_faces = _repair.drop_duplicate_faces(surface)
    if repair:
        surface = _repair_holes(surface, report)

    table = topology.edge_table(surface.faces)
    report.boundary_edges = int(table.boundary.sum())
    report.nonmanifold_edges = int(table.nonmanifold.sum())
    report.watertight = report.boundary_edges == 0 and report.nonmanifold_edges == 0
    report.manifold = report.nonmanifold_edges == 0
    hint = "" if repair else "; --repair can fix this"
    if report.duplicate_faces and not repair:
        raise report.fail(f"{report.duplicate_faces} duplicate triangles (the same three vertices twice){hint}")
    if report.boundary_edges:
        raise report.fail(f"open surface: {report.boundary_edges} boundary edges (holes){hint}")
    if report.nonmanifold_edges:
        raise report.fail(f"non-manifold: {report.nonmanifold_edges} edges shared by more than two triangles")

    count, labels = topology.shells(surface.faces, table)
    report.shells = int(count)
    surface = _orient(surface, table, labels, count, report)
    if count > 1:
        report.shells_intersect = topology.shells_intersect(surface.vertices, surface.faces, labels, count)
        if report.shells_intersect:
            raise report.fail(f"{count} shells intersect each other; merge them into one solid in CAD")

    _fill_geometry(surface, report)
    if report.volume_mm3 <= 1e-9 * scale**3:
        raise report.fail(f"zero volume ({report.volume_mm3:.3g} mm³): the surface encloses no solid")
    if report.degenerate_faces - collapsed:
        report.warnings.append(f"{report.degenerate_faces - collapsed} triangles have zero area")
    if report.normals_disagreeing and not any("flipped" in r for r in report.repairs):
        report.warnings.append(
            f"{report.normals_disagreeing} stored facet normals disagree with the vertex order; "
            "the vertex order was used"
        )
    _unit_warning(report)
    report.valid = True
    return surface


def _repair_holes(surface: Surface, report: CheckReport) -> Surface:
    table = topology.edge_table(surface.faces)
    holes = int(table.boundary.sum())
    surface, dups = _repair.drop_duplicate_faces(surface)
    if dups:
        report.repairs.append(f"removed {dups} duplicate triangles")
    if holes or table.nonmanifold.any():
        before = len(surface.faces)
        surface = _repair.close_holes(surface)
        report.repairs.append(
            f"closed holes with pymeshfix ({holes} boundary edges): "
            f"{before} → {len(surface.faces)} triangles"
        )
    return surface


def _orient(surface: Surface, table, labels, count, report: CheckReport) -> Surface:
    """Make every shell consistently wound, outer shells outward, cavities inward."""
    flips = topology.orientation_flips(surface.faces, table, labels)
    if flips is None:
        raise report.fail("the surface is not orientable (Möbius-like); it cannot bound a solid")
    # Re-wind the minority of each shell, so that a whole inside-out shell shows up
    # as inverted below rather than as inconsistent.
    majority = np.bincount(labels, weights=flips, minlength=count) > 0.5 * np.bincount(labels, minlength=count)
    flips = flips ^ majority[labels]
    inconsistent = int(flips.sum())
    report.winding_consistent = not flips.any()
    if flips.any():
        surface = _repair.flip_faces(surface, flips)
        report.repairs.append(f"winding was inconsistent: re-wound {inconsistent} triangles to match their neighbours")
    per_face = surface.signed_volume_per_face()
    shell_volume = np.bincount(labels, weights=per_face, minlength=count)
    depth = _nesting_depth(surface, labels, count)
    wrong = np.sign(shell_volume) != np.where(depth % 2 == 0, 1, -1)
    report.outward = not wrong.any()
    if wrong.any():
        surface = _repair.flip_faces(surface, wrong[labels])
        which = "the whole surface" if count == 1 else f"{int(wrong.sum())} of {count} shells"
        report.repairs.append(f"normals pointed inwards in {which}: flipped")
        report.warnings.append(f"inverted winding (inside-out) repaired in {which}")
    elif flips.any():
        report.warnings.append(f"inconsistent winding repaired ({inconsistent} triangles re-wound)")
    return surface


def _nesting_depth(surface: Surface, labels: np.ndarray, count: int) -> np.ndarray:
    """How many other shells contain each shell (odd depth = a cavity)."""
    depth = np.zeros(count, dtype=int)
    if count == 1:
        return depth
    first_vertex = np.array([surface.faces[labels == k][0, 0] for k in range(count)])
    points = surface.vertices[first_vertex]
    for k in range(count):
        tri = surface.triangles[labels == k]
        inside = np.abs(topology.winding_numbers(points, tri)) > 0.5
        inside[k] = False
        depth += inside
    return depth


def _fill_geometry(surface: Surface, report: CheckReport) -> None:
    report.triangles = len(surface.faces)
    report.vertices = len(surface.vertices)
    report.bounds_mm = surface.bounds.tolist()
    report.extent_mm = surface.extent.tolist()
    report.area_mm2 = surface.area
    report.volume_mm3 = surface.signed_volume


def _unit_warning(report: CheckReport) -> None:
    largest = max(report.extent_mm)
    if largest < UNIT_WARN_BELOW_MM:
        report.warnings.append(
            f"largest dimension is {largest:.3g} mm: the file is probably not in millimetres "
            "(metres? use --units m)"
        )
    elif largest > UNIT_WARN_ABOVE_MM:
        report.warnings.append(
            f"largest dimension is {largest:.4g} mm: the file is probably not in millimetres "
            "(micrometres? scale it in CAD)"
        )
