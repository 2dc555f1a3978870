"""Lattice blocks for porous implants: TPMS sheets and networks, strut lattices.

A block is ``cells`` unit cells of edge ``cell_size_mm``, clipped to its box [0, n·L]
(mm). Every type is an implicit solid φ < 0, contoured on a voxel grid
(:mod:`femvalid.geometry.isosurface`) into a closed, outward-wound surface.

TPMS (triply periodic minimal surfaces), with k = 2π/L:
  gyroid   G = sin kx cos ky + sin ky cos kz + sin kz cos kx
  diamond  D = sin kx sin ky sin kz + sin kx cos ky cos kz + cos kx sin ky cos kz + cos kx cos ky sin kz
  "-sheet":    solid where |G| < t (a wall on both sides of the minimal surface)
  "-skeletal": solid where G < t (one of the two labyrinths, filled); t = 0 gives ρ = ½.

Strut lattices (circular struts of radius r, or square struts of side 2r):
  simple-cubic  struts along x, y, z through the cell centre (nodes at cell centres)
  bcc           struts along the four body diagonals (nodes at corners and centre)
  octet         struts along the six face diagonals (nodes at corners and face
                centres: the FCC octet truss)
Collinear struts join into straight lines through the whole block, so each type is a
few families of parallel lines, and φ = (distance to the nearest line) − r.

The level t or radius r is solved for so that the block's relative density (mesh
volume / box volume) matches the request; the solve runs on one unit cell, which
tiles the block exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy.optimize import brentq

from femvalid.errors import InputError
from femvalid.geometry.isosurface import clip_to_box, contour_surface
from femvalid.geometry.surface import Surface

__all__ = ["LATTICE_TYPES", "Lattice", "LatticeSpec", "check_grid", "closed_form_density", "field", "generate_lattice",
           "initial_resolution"]

TPMS_TYPES = ("gyroid-sheet", "gyroid-skeletal", "diamond-sheet", "diamond-skeletal")
STRUT_TYPES = ("simple-cubic", "bcc", "octet")
LATTICE_TYPES = TPMS_TYPES + STRUT_TYPES
SECTIONS = ("circle", "square")
#: The relative density reached must be this close to the request (relative).
DENSITY_TOLERANCE = 0.02
#: Re-aim the block when its density is off the request by more than this (relative).
RE_AIM_ABOVE = 0.003
#: Voxels per cell edge: at least this many, and at most the cap.
RESOLUTION_MIN, RESOLUTION_MAX = 12, 48
#: Voxels across the thinnest feature (strut diameter, wall thickness) aimed for.
VOXELS_PER_FEATURE = 4.0
#: Minimal-surface area per cell volume, × L (Schoen's gyroid, Schwarz's diamond).
_AREA_PER_VOLUME = {"gyroid": 3.0915, "diamond": 3.8375}
#: Strut length per cell, × L (line families × lines per cell × length in the cell).
_STRUT_LENGTH = {"simple-cubic": 3.0, "bcc": 4.0 * math.sqrt(3.0), "octet": 12.0 * math.sqrt(2.0)}
_MAX_CELLS = 10**5
#: Peak bytes per voxel of a contouring grid (measured at 4.3 M voxels: 135 B for BCC,
#: 220 B for a gyroid sheet, whose surface is largest), and the memory before it.
BYTES_PER_VOXEL, BASE_BYTES = 250.0, 150e6
#: Most voxels femvalid contours: 30 M take about 2½ minutes and 7.5 GB on 2 cores
#: (a lattice block); a lattice cage of 56 M voxels gives about 10 M triangles, what
#: design tools export, and meshing resamples a surface that fine first.
MAX_VOXELS = 64_000_000


@dataclass(frozen=True)
class LatticeSpec:
    """What to generate (lengths mm; relative density = solid volume / box volume)."""

    type: str
    relative_density: float
    cell_size_mm: float
    cells: tuple[int, int, int]
    section: str = "circle"
    resolution: int | None = None  # voxels per cell edge; None: from the feature size

    def __post_init__(self):
        object.__setattr__(self, "cells", tuple(int(c) for c in self.cells))

    def validate(self, source: str = "lattice") -> None:
        """Raise InputError naming ``source`` for anything that cannot be generated."""
        if self.type not in LATTICE_TYPES:
            raise InputError(source, f"lattice type must be one of {', '.join(LATTICE_TYPES)}, got {self.type!r}")
        if not 0.02 <= self.relative_density <= 0.9:
            raise InputError(source, f"relative density must be between 0.02 and 0.9, got {self.relative_density:g}")
        if not (math.isfinite(self.cell_size_mm) and self.cell_size_mm > 0):
            raise InputError(source, f"cell size must be a positive length in mm, got {self.cell_size_mm:g}")
        if len(self.cells) != 3 or min(self.cells) < 1 or math.prod(self.cells) > _MAX_CELLS:
            raise InputError(source, f"cells must be three counts ≥ 1 with at most {_MAX_CELLS} in all, got {self.cells}")
        if self.section not in SECTIONS:
            raise InputError(source, f"section must be one of {', '.join(SECTIONS)}, got {self.section!r}")
        if self.section != "circle" and self.type not in STRUT_TYPES:
            raise InputError(source, f"section applies to strut lattices only, not {self.type}")
        if self.resolution is not None and not 8 <= self.resolution <= 128:
            raise InputError(source, f"resolution must be 8 to 128 voxels per cell, got {self.resolution}")

    @property
    def box_mm(self) -> np.ndarray:
        return self.cell_size_mm * np.array(self.cells, float)


@dataclass(frozen=True, eq=False)
class Lattice:
    """A generated block and how it was made.

    Attributes
    ----------
    surface : Surface
        Closed, outward-wound, in the box [0, cells·L], mm.
    relative_density : float
        Mesh volume / box volume.
    parameter : float
        The solved level t (TPMS, dimensionless) or strut radius r (mm; half the side
        of a square strut).
    feature_mm : float
        Strut diameter, or wall thickness estimated as ρ·L / (area per cell volume ·
        L) for sheets, mm.
    voxel_mm, resolution : float, int
        Contouring grid: voxel edge (mm) and voxels per cell edge. The triangles are
        about one voxel across, a natural tetrahedral mesh size.
    """

    spec: LatticeSpec
    surface: Surface
    relative_density: float
    parameter: float
    feature_mm: float
    voxel_mm: float
    resolution: int

    @property
    def closed_form_density(self) -> float | None:
        return closed_form_density(self.spec.type, self.parameter / self.spec.cell_size_mm, self.spec.section)

    @property
    def stl_header(self) -> str:
        """What the block is, for the STL header (80 characters at most)."""
        s = self.spec
        return (f"lattice {s.type} rho={self.relative_density:.4f} cell={s.cell_size_mm:g}mm "
                f"cells={'x'.join(map(str, s.cells))}")[:80]

    def to_dict(self) -> dict:
        s = self.spec
        return {
            "type": s.type, "section": s.section if s.type in STRUT_TYPES else None,
            "relative_density_requested": s.relative_density, "relative_density": self.relative_density,
            "cell_size_mm": s.cell_size_mm, "cells": list(s.cells), "box_mm": s.box_mm.tolist(),
            ("strut_radius_mm" if s.type in STRUT_TYPES else "level"): self.parameter,
            "feature_mm": self.feature_mm, "voxel_mm": self.voxel_mm, "resolution": self.resolution,
            "triangles": len(self.surface.faces), "volume_mm3": self.surface.signed_volume,
            "closed_form_density": self.closed_form_density,
        }


def closed_form_density(kind: str, radius_over_cell: float, section: str = "circle") -> float | None:
    """Exact relative density of a simple-cubic cell with strut radius r = a·L; else None.

    Circular struts: three cylinders through the centre, by inclusion–exclusion
    (pairwise Steinmetz solids 16r³/3, the tricylinder 8(2 − √2)r³):
    ρ = 3π a² − 8√2 a³. Square struts of side 2r: ρ = 3(2a)² − 2(2a)³. Valid for a ≤ ½.
    """
    a = radius_over_cell
    if kind != "simple-cubic" or not 0 < a <= 0.5:
        return None
    if section == "square":
        return 3 * (2 * a) ** 2 - 2 * (2 * a) ** 3
    return 3 * math.pi * a**2 - 8 * math.sqrt(2) * a**3


# -- implicit fields (points in mm → φ in mm, negative inside) ---------------------

def _tpms(points: np.ndarray, kind: str, level: float, cell_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """φ (about mm: the level-set function divided by k) and its gradient."""
    x, y, z = (2 * np.pi / cell_mm * points).T
    sx, sy, sz, cx, cy, cz = np.sin(x), np.sin(y), np.sin(z), np.cos(x), np.cos(y), np.cos(z)
    if kind.startswith("gyroid"):
        g = sx * cy + sy * cz + sz * cx
        grad = np.column_stack([cx * cy - sz * sx, cy * cz - sx * sy, cz * cx - sy * sz])
    else:
        g = sx * sy * sz + sx * cy * cz + cx * sy * cz + cx * cy * sz
        grad = np.column_stack([cx * sy * sz + cx * cy * cz - sx * sy * cz - sx * cy * sz,
                                sx * cy * sz - sx * sy * cz + cx * cy * cz - cx * sy * sz,
                                sx * sy * cz - sx * cy * sz - cx * sy * sz + cx * cy * cz])
    if kind.endswith("sheet"):
        return (np.abs(g) - level) * (cell_mm / (2 * np.pi)), grad * np.sign(g)[:, None]
    return (g - level) * (cell_mm / (2 * np.pi)), grad


def _directions(kind: str) -> np.ndarray:
    if kind == "simple-cubic":
        d = np.eye(3)
    elif kind == "bcc":
        d = np.array([[1, 1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, -1]], float)
    else:
        d = np.array([[1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [0, 1, 1], [0, 1, -1]], float)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _nodes(kind: str) -> np.ndarray:
    """Lattice nodes in one cell, in cell units."""
    if kind == "simple-cubic":
        return np.array([[0.5, 0.5, 0.5]])
    if kind == "bcc":
        return np.array([[0, 0, 0], [0.5, 0.5, 0.5]])
    return np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def _line_families(kind: str, radius: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per strut direction: (direction, two unit vectors across it, a point on each
    distinct line that can come within ``radius`` of the unit cell), in cell units."""
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)
    nodes = (_nodes(kind)[:, None, :] + shifts[None]).reshape(-1, 3)
    families = []
    for d in _directions(kind):
        helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        e1 = np.cross(d, helper)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(d, e1)
        across = np.column_stack([nodes @ e1, nodes @ e2])
        _, first = np.unique(np.round(across, 9), axis=0, return_index=True)
        lines = nodes[np.sort(first)]
        # A line within r of a point of the cell passes within √3/2 + r of its centre.
        offset = lines - 0.5
        near = np.linalg.norm(offset - np.outer(offset @ d, d), axis=1) < math.sqrt(3) / 2 + radius + 0.05
        families.append((d, np.vstack([e1, e2]), lines[near]))
    return families


def _struts(points: np.ndarray, families, radius_mm: float, cell_mm: float,
            square: bool) -> tuple[np.ndarray, np.ndarray]:
    """φ = distance to the nearest strut axis − r (mm), and its gradient."""
    u = np.mod(points / cell_mm, 1.0)
    phi, grad = np.empty(len(u)), np.empty((len(u), 3))
    for start in range(0, len(u), 1 << 14):
        chunk = u[start:start + (1 << 14)]
        rows = np.arange(len(chunk))
        best, best_grad = np.full(len(chunk), np.inf), np.zeros((len(chunk), 3))
        for _, across, lines in families:
            w = chunk[:, None, :] - lines[None]  # (n, lines, 3)
            a, b = w @ across[0], w @ across[1]
            dist = np.maximum(np.abs(a), np.abs(b)) if square else np.hypot(a, b)
            k = dist.argmin(axis=1)
            a, b, dist = a[rows, k], b[rows, k], dist[rows, k]
            if square:
                g = np.where((np.abs(a) >= np.abs(b))[:, None], np.sign(a)[:, None] * across[0],
                             np.sign(b)[:, None] * across[1])
            else:
                g = (a[:, None] * across[0] + b[:, None] * across[1]) / np.maximum(dist, 1e-12)[:, None]
            closer = dist < best
            best = np.where(closer, dist, best)
            best_grad[closer] = g[closer]
        phi[start:start + len(chunk)], grad[start:start + len(chunk)] = best, best_grad
    return phi * cell_mm - radius_mm, grad


def field(spec: LatticeSpec, parameter: float):
    """The lattice's implicit field (points mm → φ mm, gradient), periodic from the origin."""
    if spec.type in TPMS_TYPES:
        return partial(_tpms, kind=spec.type, level=parameter, cell_mm=spec.cell_size_mm)
    return partial(_struts, families=_line_families(spec.type, parameter / spec.cell_size_mm), radius_mm=parameter,
                   cell_mm=spec.cell_size_mm, square=spec.section == "square")


# -- generation ----------------------------------------------------------------------

def _block(spec: LatticeSpec, parameter: float, cells, resolution: int) -> Surface:
    """Contour ``cells`` unit cells: one cell's grid values, tiled, clipped to the box."""
    cell = spec.cell_size_mm
    voxel = cell / resolution
    axis = (np.arange(resolution) + 0.5) * voxel
    unit = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    inner = field(spec, parameter)
    values = inner(unit)[0].reshape((resolution,) * 3)
    index = [np.mod(np.arange(-1, n * resolution + 1), resolution) for n in cells]
    grid = values[np.ix_(*index)]
    box = cell * np.array(cells, float)
    coords = [(np.arange(-1, n * resolution + 1) + 0.5) * voxel for n in cells]
    for axis_index, c in enumerate(coords):
        shape = [1, 1, 1]
        shape[axis_index] = -1
        distance = np.maximum(-c, c - box[axis_index]).reshape(shape)
        grid = np.maximum(grid, distance)
    return contour_surface(grid, voxel, partial(clip_to_box, inner, box_mm=box), box)


def check_grid(counts, voxel_mm: float, source: str = "lattice", what: str = "the lattice") -> None:
    """Refuse, before any memory is taken, a contouring grid of ``counts`` voxels (per axis)
    that is larger than :data:`MAX_VOXELS` or than the memory available, with the estimate.

    Raises
    ------
    InputError
        Naming the grid, its memory and what to change (exit status 2).
    """
    from femvalid.meshing.mesher import available_memory_bytes

    try:
        sizes = [int(c) + 2 for c in counts]
    except (OverflowError, ValueError):  # an infinite count
        sizes = None
    voxels = math.prod(sizes) if sizes else math.inf
    voxels = float(voxels) if voxels < 10**300 else math.inf
    need = BASE_BYTES + BYTES_PER_VOXEL * voxels
    available = available_memory_bytes()
    if voxels <= MAX_VOXELS and (available is None or need <= available):
        return
    shown = " × ".join(str(n) for n in sizes) if sizes and voxels < 1e30 else "an unbounded number of"
    gigabytes = f"about {need / 1e9:.3g} GB" if need < 1e18 else "more memory than any machine has"
    count = f"{voxels:.3g} voxels" if math.isfinite(voxels) else "more than 1e300 voxels"
    limit = (f"more than the {available / 1e9:.3g} GB of memory available" if voxels <= MAX_VOXELS
             else f"more than femvalid contours (limit {MAX_VOXELS:.2g} voxels)")
    raise InputError(source, f"{what} needs a contouring grid of {shown} voxels of {voxel_mm:.3g} mm "
                             f"({count}, {gigabytes}), {limit}; use fewer or larger "
                             "cells, a smaller part or a lower resolution")


def initial_resolution(spec: LatticeSpec) -> int:
    """Voxels per cell edge the generator starts with (it may go finer, up to RESOLUTION_MAX)."""
    if spec.resolution:
        return spec.resolution
    return int(np.clip(math.ceil(VOXELS_PER_FEATURE * spec.cell_size_mm / _feature_estimate(spec)),
                       RESOLUTION_MIN, RESOLUTION_MAX))


def _feature_estimate(spec: LatticeSpec) -> float:
    """Strut diameter or wall thickness for the requested density (thin-feature estimate), mm."""
    rho, cell = spec.relative_density, spec.cell_size_mm
    if spec.type in STRUT_TYPES:
        area = 4.0 if spec.section == "square" else math.pi
        return 2 * cell * math.sqrt(rho / (area * _STRUT_LENGTH[spec.type]))
    per_volume = _AREA_PER_VOLUME[spec.type.split("-")[0]]
    if spec.type.endswith("sheet"):
        return rho * cell / per_volume
    return 2 * min(rho, 1 - rho) * cell / per_volume  # ligament or pore of a half-filled labyrinth


def _bracket(spec: LatticeSpec) -> tuple[float, float]:
    if spec.type in STRUT_TYPES:
        return 0.005 * spec.cell_size_mm, 0.5 * spec.cell_size_mm
    if spec.type.endswith("sheet"):
        return 1e-3, 1.4
    return -1.4, 1.4


def generate_lattice(spec: LatticeSpec, source: str = "lattice") -> Lattice:
    """Generate the block with its level or strut size solved for the requested density.

    The density must come within :data:`DENSITY_TOLERANCE` of the request; without
    an explicit resolution a finer one is tried before giving up.

    Raises
    ------
    InputError
        Invalid spec, or a density this type cannot reach at this resolution.
    """
    spec.validate(source)
    resolution = initial_resolution(spec)
    target = spec.relative_density
    while True:
        check_grid([n * resolution for n in spec.cells], spec.cell_size_mm / resolution, source)
        surface, parameter, achieved = _solve(spec, resolution, source)
        if abs(achieved - target) <= DENSITY_TOLERANCE * target:
            break
        if spec.resolution or resolution >= RESOLUTION_MAX:
            raise InputError(source, f"reached relative density {achieved:.4f} instead of {target:g} at {resolution} "
                                     "voxels per cell (the contour jumps where features are a few voxels thin); "
                                     "give a higher resolution")
        resolution = min(RESOLUTION_MAX, math.ceil(1.5 * resolution))
    feature = _feature_estimate(spec)  # skeletal TPMS: the thin-feature estimate
    if spec.type in STRUT_TYPES:
        feature = 2 * parameter
    elif spec.type.endswith("sheet"):
        feature = achieved * spec.cell_size_mm / _AREA_PER_VOLUME[spec.type.split("-")[0]]
    return Lattice(spec, surface, achieved, float(parameter), float(feature), spec.cell_size_mm / resolution,
                   resolution)


def _solve(spec: LatticeSpec, resolution: int, source: str) -> tuple[Surface, float, float]:
    """(block surface, level or radius, relative density) aimed at the requested density.

    The solve runs on one cell; the cell's own cut faces lose a little more volume at
    their edges than the block does, so the block is re-aimed by the difference it shows.
    """
    cell_volume = spec.cell_size_mm**3

    def density(parameter):
        cell = _block(spec, parameter, (1, 1, 1), resolution)
        return cell.signed_volume / cell_volume if len(cell.faces) else 0.0

    lo, hi = _bracket(spec)
    box_volume = float(np.prod(spec.box_mm))
    target = aim = spec.relative_density
    for _ in range(3):
        if not density(lo) < aim < density(hi):
            raise InputError(source, f"a {spec.type} lattice cannot reach relative density {target:g} "
                                     f"at {resolution} voxels per cell")
        parameter = brentq(lambda p: density(p) - aim, lo, hi, xtol=1e-6 * (hi - lo), rtol=1e-9)
        surface = _block(spec, parameter, spec.cells, resolution)
        achieved = surface.signed_volume / box_volume
        if abs(achieved - target) <= RE_AIM_ABOVE * target:
            break
        aim += target - achieved
    return surface, float(parameter), achieved
