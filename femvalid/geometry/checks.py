"""Read an STL, check it, apply safe repairs, and report what was found.

What is rejected (GeometryError, exit status 2) and what is repaired with a warning
follows one rule: femvalid repairs only what has a single right answer (winding,
collapsed faces); anything that needs a judgement (holes, duplicate faces) is
repaired only when the user asks with ``repair=True``.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from femvalid.errors import GeometryError
from femvalid.geometry import repair as _repair
from femvalid.geometry import topology
from femvalid.geometry.stl import UNIT_SCALE, read_stl
from femvalid.geometry.surface import Surface

__all__ = ["CheckReport", "load_surface", "check_surface", "unit_warning", "IMPLANT_SIZE_MM",
           "UNIT_WARN_BELOW_MM", "UNIT_WARN_ABOVE_MM"]

#: Largest dimension of spinal implants, mm: cervical cages from about 5 mm (their
#: height; footprints 12–18 mm), lumbar cages 22–60 mm, vertebral body replacements
#: up to about 120 mm. A part whose largest dimension is outside this range was
#: probably exported in other units (a 26 mm cage in inches is 1.02, in cm 2.6).
IMPLANT_SIZE_MM = (5.0, 120.0)
UNIT_WARN_BELOW_MM, UNIT_WARN_ABOVE_MM = IMPLANT_SIZE_MM
#: Factors to mm of the units an STL may have been exported in, in the order suggested.
_EXPORT_UNITS = {"in": ("inches", 25.4), "cm": ("centimetres", 10.0), "m": ("metres", 1000.0),
                 "mm": ("millimetres", 1.0)}
_SMALLER_UNITS = {"micrometres": 1e-3, "tenths of a millimetre": 0.1}


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
    hint = "" if repair else (f"; --repair can fix this: femvalid check --repair -o fixed.stl {shlex.quote(report.path)} "
                              "writes the repaired STL (in a study: repair = true in its [[design]])")
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
    message = unit_warning(max(report.extent_mm), report.units)
    if message:
        report.warnings.append(message)


def unit_warning(largest_mm: float, units: str = "mm") -> str | None:
    """A warning when a part's largest dimension (mm, read with ``units``) is not the size
    of a spinal implant (:data:`IMPLANT_SIZE_MM`), naming the units in which it would be.

    >>> unit_warning(26.0) is None
    True
    >>> print(unit_warning(1.02))  # doctest: +NORMALIZE_WHITESPACE
    largest dimension is 1.02 mm, smaller than spinal implants (about 5–120 mm): the file is probably
    not in millimetres: as inches it would be 25.9 mm (--units in), as centimetres it would be 10.2 mm
    (--units cm); in a study, set units = "in" or "cm" in the [[design]]
    """
    low, high = IMPLANT_SIZE_MM
    if not low <= largest_mm <= high:
        raw = largest_mm / UNIT_SCALE.get(units, 1.0)  # the number in the file
        fits = [(key, name, raw * factor) for key, (name, factor) in _EXPORT_UNITS.items()
                if key != units and low <= raw * factor <= high]
        name = _EXPORT_UNITS.get(units, (units, 1.0))[0]
        size = "smaller than" if largest_mm < low else "larger than"
        head = (f"largest dimension is {largest_mm:.3g} mm, {size} spinal implants (about {low:g}–{high:g} mm): "
                f"the file is probably not in {name}")
        if fits:
            options = ", ".join(f"as {unit_name} it would be {value:.3g} mm (--units {key})"
                                for key, unit_name, value in fits)
            keys = " or ".join(f'"{key}"' for key, _, _ in fits)
            return f"{head}: {options}; in a study, set units = {keys} in the [[design]]"
        scaled = [(what, largest_mm * factor) for what, factor in _SMALLER_UNITS.items()
                  if low <= largest_mm * factor <= high]
        if scaled:
            what, value = scaled[0]
            return f"{head}: as {what} it would be {value:.3g} mm; scale it by {_SMALLER_UNITS[what]:g} in CAD"
        return f"{head}, and no unit femvalid knows makes it that size: check the export's units and scale"
    return None
