"""A job's output read for display: fields.vtu as linear tetrahedra, its bodies and surfaces,
the fixtures of results.json placed in space, and robust colour ranges.

Everything here is geometry and statistics for the pictures (:mod:`femvalid.report.pictures`)
and the 3D viewer (:mod:`femvalid.report.viewer`); nothing is drawn.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from femvalid.post.stress import weighted_percentile

__all__ = ["JobScene", "read_job", "robust_max", "Plate", "pyvista_offscreen", "surface_of", "ROBUST_PERCENT"]

#: Colour scales end at this volume- (or area-) weighted percentile, not at the peak:
#: peaks sit at singular corners and edges and would leave the rest of the body one colour.
ROBUST_PERCENT = 99.5

IMPLANT = 0
VTK_TETRA, VTK_QUADRATIC_TETRA = 10, 24


def pyvista_offscreen():
    """pyvista set to draw off-screen (OSMesa where no display is set)."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
    import pyvista

    pyvista.OFF_SCREEN = True
    return pyvista


def robust_max(values: np.ndarray, weights: np.ndarray | None = None, percent: float = ROBUST_PERCENT) -> float:
    """The weighted ``percent`` percentile of ``values`` (finite ones); 0 when there are none."""
    values = np.asarray(values, float)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, float)
    keep = np.isfinite(values) & (weights > 0)
    if not keep.any():
        return 0.0
    return weighted_percentile(values[keep], weights[keep], percent)


@dataclass(frozen=True)
class Plate:
    """A rigid fixture (block or platen) as a box: ``centre`` of the face that touches the
    part, outward ``normal`` (away from the part), in-plane axes ``u``, ``v`` with half
    sizes ``half`` (mm) and ``thickness`` (mm, along ``normal``)."""

    name: str
    centre: np.ndarray
    normal: np.ndarray
    u: np.ndarray
    v: np.ndarray
    half: tuple[float, float]
    thickness: float
    label: str

    def corners(self) -> np.ndarray:
        """The box's 8 corners (8, 3)."""
        out = []
        for t in (0.0, self.thickness):
            for a in (-1, 1):
                for b in (-1, 1):
                    out.append(self.centre + t * self.normal + a * self.half[0] * self.u + b * self.half[1] * self.v)
        return np.array(out)

    def far_point(self) -> np.ndarray:
        """Centre of the face away from the part."""
        return self.centre + self.thickness * self.normal


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def _in_plane_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors normal to ``normal``, the first as close to x as possible."""
    ref = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = _unit(ref - (ref @ normal) * normal)
    return u, np.cross(normal, u)


def surface_of(body):
    """The boundary triangles of a tetrahedral body, with its point and cell fields."""
    try:
        surface = body.extract_surface(pass_pointid=False, pass_cellid=False, algorithm="dataset_surface")
    except TypeError:  # pyvista before 0.47 has no algorithm keyword
        surface = body.extract_surface(pass_pointid=False, pass_cellid=False)
    return surface.triangulate()


def _linear_tets(grid):
    """``grid`` with every (quadratic) tetrahedron replaced by its corner tetrahedron; the
    point and cell fields are kept (mid-side nodes stay as unused points)."""
    pv = pyvista_offscreen()
    cells = grid.cells_dict
    if set(cells) == {VTK_TETRA}:
        return grid
    if set(cells) != {VTK_QUADRATIC_TETRA}:
        kinds = ", ".join(str(k) for k in sorted(cells))
        raise ValueError(f"fields.vtu holds cells of VTK types {kinds}; expected tetrahedra")
    out = pv.UnstructuredGrid({VTK_TETRA: cells[VTK_QUADRATIC_TETRA][:, :4]}, grid.points)
    for name in grid.point_data:
        out.point_data[name] = grid.point_data[name]
    for name in grid.cell_data:
        out.cell_data[name] = grid.cell_data[name]
    return out


class JobScene:
    """One job's fields.vtu and results.json, ready to draw."""

    def __init__(self, folder: Path, results: dict, grid):
        self.folder = Path(folder)
        self.results = results
        self.grid = grid

    # -- what the job was ---------------------------------------------------------------

    @property
    def title(self) -> str:
        r = self.results
        return f"{r.get('design', '')} {r.get('revision', '')} / {r.get('loadcase', '')}"

    @property
    def loadcase(self) -> dict:
        return (self.results.get("inputs") or {}).get("loadcase") or {}

    @property
    def type(self) -> str:
        return self.loadcase.get("type", "")

    @property
    def qoi(self) -> dict:
        return self.results.get("qoi") or {}

    @property
    def solver(self) -> dict:
        return self.results.get("solver") or {}

    @property
    def fixtures(self) -> dict:
        return self.solver.get("fixtures") or {}

    @property
    def load_axis(self) -> np.ndarray:
        axis = self.solver.get("load_axis")
        return _unit(axis) if axis is not None else np.array([0.0, 0.0, 1.0])

    @property
    def block_strength_MPa(self) -> float | None:
        """The block (foam, bone) material's compressive strength, MPa, where it is known."""
        material = self.loadcase.get("block_material") or {}
        value = material.get("compressive_strength_MPa") or material.get("yield_MPa")
        return float(value) if value else None

    @property
    def block_material_name(self) -> str:
        material = self.loadcase.get("block_material") or {}
        return material.get("name") or material.get("key") or "block"

    # -- bodies -------------------------------------------------------------------------

    def _region(self, keep):
        if "region" not in self.grid.cell_data:
            return self.grid if keep(IMPLANT) else None
        region = np.asarray(self.grid.cell_data["region"])
        ids = np.flatnonzero(keep(region))
        return self.grid.extract_cells(ids) if len(ids) else None

    @cached_property
    def implant(self):
        """The implant's tetrahedra (region 0)."""
        return self._region(lambda r: r == IMPLANT)

    @cached_property
    def blocks(self):
        """The blocks' tetrahedra (regions 1, 2: foam or bone), or None."""
        return self._region(lambda r: r != IMPLANT)

    @cached_property
    def implant_volumes(self) -> np.ndarray:
        return np.abs(self.implant.compute_cell_sizes(length=False, area=False, vertex_count=False)["Volume"])

    @cached_property
    def block_volumes(self) -> np.ndarray:
        return np.abs(self.blocks.compute_cell_sizes(length=False, area=False, vertex_count=False)["Volume"])

    @cached_property
    def implant_surface(self):
        """The implant's boundary triangles, with its point and cell fields."""
        return surface_of(self.implant)

    @cached_property
    def blocks_surface(self):
        return None if self.blocks is None else surface_of(self.blocks)

    @property
    def size_mm(self) -> float:
        """The implant's bounding-box diagonal."""
        b = np.asarray(self.implant.bounds).reshape(3, 2)
        return float(np.linalg.norm(b[:, 1] - b[:, 0])) or 1.0

    @property
    def centre(self) -> np.ndarray:
        return np.asarray(self.implant.center, float)

    def has_cell_field(self, name: str) -> bool:
        return name in self.implant.cell_data

    def robust_implant_max(self, field: str) -> float:
        return robust_max(self.implant.cell_data[field], self.implant_volumes)

    # -- the contact faces --------------------------------------------------------------

    @property
    def contact_field(self) -> str | None:
        """The point field marking the contact faces (1 inferior, 2 superior), if any."""
        for name in ("platen_contact", "interface"):
            if name in self.grid.point_data:
                return name
        return None

    def face_marks(self, surface=None) -> np.ndarray:
        """Per triangle of ``surface`` (default the implant's): 0, or 1 / 2 where all three
        corners are on the inferior / superior contact."""
        surface = self.implant_surface if surface is None else surface
        marks = np.zeros(surface.n_cells, np.int8)
        name = self.contact_field
        if name is None or name not in surface.point_data:
            return marks
        flag = np.asarray(surface.point_data[name])
        tri = surface.regular_faces
        for k in (1, 2):
            marks[(flag[tri] == k).all(axis=1)] = k
        return marks

    # -- the fixtures ---------------------------------------------------------------------

    @cached_property
    def plates(self) -> list[Plate]:
        """The rigid fixtures as boxes: blocks at the contact faces (rigid-fixture cases),
        base and platen (subsidence)."""
        d = self.load_axis
        if self.type == "subsidence":
            return self._subsidence_plates(d)
        plates = []
        surface = self.implant_surface
        name = self.contact_field
        points = np.asarray(surface.points)
        centre = self.centre
        height = float(np.ptp(points @ d)) or 1.0
        for k, fixture in ((1, "inferior"), (2, "superior")):
            if name is None or name not in surface.point_data:
                sel = np.zeros(len(points), bool)
            else:
                sel = np.asarray(surface.point_data[name]) == k
            contact = points[sel]
            if len(contact) >= 3:
                c = contact.mean(axis=0)
                _, s, vt = np.linalg.svd(contact - c, full_matrices=False)
                normal = _unit(vt[-1]) if s[-1] < 0.05 * s[0] else d
            else:
                z = points @ d
                c = points[np.argmin(z) if k == 1 else np.argmax(z)]
                normal = d
            if (c - centre) @ normal < 0:
                normal = -normal
            if len(contact) >= 3:  # the plane through the contact's outermost point
                c = c + normal * max(0.0, float(((contact - c) @ normal).max()))
            u, v = _in_plane_axes(normal)
            rel = points - c
            half = (0.6 * float(np.ptp(rel @ u)) + 0.1 * height, 0.6 * float(np.ptp(rel @ v)) + 0.1 * height)
            mid = c + u * 0.5 * ((rel @ u).max() + (rel @ u).min()) + v * 0.5 * ((rel @ v).max() + (rel @ v).min())
            mid = mid - normal * ((mid - c) @ normal)
            kind = (self.fixtures.get(fixture) or {}).get("kind") or self.loadcase.get("platens", "")
            label = f"{fixture} block, {kind}" + (", fixed" if k == 1 else "")
            plates.append(Plate(fixture, mid, normal, u, v, half, max(0.25 * height, 1.0), label))
        return plates

    def _subsidence_plates(self, d) -> list[Plate]:
        bodies = [b for b in (self.blocks, self.implant) if b is not None]
        points = np.vstack([np.asarray(b.points)[np.unique(b.cells_dict[VTK_TETRA])] for b in bodies])
        z = points @ d
        u, v = _in_plane_axes(d)
        c = points.mean(axis=0)
        rel = points - c
        half = (0.55 * float(np.ptp(rel @ u)), 0.55 * float(np.ptp(rel @ v)))
        mid = c + u * 0.5 * ((rel @ u).max() + (rel @ u).min()) + v * 0.5 * ((rel @ v).max() + (rel @ v).min())
        mid = mid - d * (mid @ d)
        thickness = 0.06 * float(np.ptp(z)) or 1.0
        blocks = self.loadcase.get("blocks", "both")
        top_label = "rigid platen on the superior block" if blocks == "both" else "rigid platen on the implant"
        if blocks != "both":  # the platen rests on the implant only
            ip = np.asarray(self.implant.points)[np.unique(self.implant.cells_dict[VTK_TETRA])]
            irel = ip - ip.mean(axis=0)
            top_half = (0.6 * float(np.ptp(irel @ u)), 0.6 * float(np.ptp(irel @ v)))
            top_mid = ip.mean(axis=0) - d * (ip.mean(axis=0) @ d)
            top = Plate("platen", top_mid + d * float((ip @ d).max()), d, u, v, top_half, thickness, top_label)
        else:
            top = Plate("platen", mid + d * float(z.max()), d, u, v, half, thickness, top_label)
        base = Plate("base", mid + d * float(z.min()), -d, u, v, half, thickness, "fixed base")
        return [base, top]

    @property
    def moving_fixture(self) -> tuple[str, dict] | tuple[None, None]:
        """(name, record) of the fixture that carries the load: the one that moves."""
        best = (None, None)
        for name, f in self.fixtures.items():
            motion = np.abs(np.r_[f.get("translation_mm") or [0] * 3, f.get("rotation_rad") or [0] * 3]).sum()
            if motion > 0:
                return name, f
            if name in ("superior", "platen"):
                best = (name, f)
        return best

    def load_vectors(self) -> dict:
        """The load on the moving fixture: ``force`` (3,) N applied to the part, ``point``
        on the load line, ``torque`` N·mm about the load axis (signed), or {}."""
        name, f = self.moving_fixture
        if f is None:
            return {}
        force = np.asarray(f.get("force_N") or [0, 0, 0], float)
        moment = np.asarray(f.get("moment_Nmm") or [0, 0, 0], float)
        point = np.asarray(f.get("reference_point_mm") or self.centre, float)
        torque = float(moment @ self.load_axis) if self.type == "torsion" else 0.0
        if self.type == "torsion" and not torque:
            torque = -float(self.loadcase.get("torque_Nmm") or 0.0)
        return {"fixture": name, "force": force, "point": point, "torque": torque}

    # -- deformation ----------------------------------------------------------------------

    def deformation(self, body=None) -> np.ndarray:
        """The displacement of ``body``'s points less its best-fit rigid motion (mm), so that
        an exaggerated picture shows the strain, not the travel."""
        body = self.implant if body is None else body
        if "displacement_mm" not in body.point_data:
            return np.zeros((body.n_points, 3))
        u = np.asarray(body.point_data["displacement_mm"], float)
        x = np.asarray(body.points, float)
        if hasattr(body, "cells_dict"):  # a grid may hold unused (mid-side) points
            used = np.zeros(len(x), bool)
            used[np.unique(body.cells_dict[VTK_TETRA])] = True
        else:
            used = np.ones(len(x), bool)
        c = x[used].mean(axis=0)
        r = x[used] - c
        # u ≈ t + ω × r: least squares in (t, ω).
        skew = np.zeros((len(r), 3, 3))
        skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = r[:, 2], -r[:, 1], r[:, 0]
        skew[:, 1, 0], skew[:, 2, 0], skew[:, 2, 1] = -r[:, 2], r[:, 1], -r[:, 0]
        a = np.concatenate([np.broadcast_to(np.eye(3), (len(r), 3, 3)), skew], axis=2).reshape(-1, 6)
        sol, *_ = np.linalg.lstsq(a, u[used].ravel(), rcond=None)
        t, w = sol[:3], sol[3:]
        return u - t - np.cross(w, x - c)

    def warp_factor(self, body=None, share: float = 0.04) -> float:
        """The factor that makes the largest deformation ``share`` of the implant's size."""
        d = np.linalg.norm(self.deformation(body), axis=1).max(initial=0.0)
        return share * self.size_mm / d if d > 0 else 0.0


def read_job(folder: Path) -> JobScene:
    """The job in ``folder`` (results.json and fields.vtu), fields as linear tetrahedra."""
    folder = Path(folder)
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    pv = pyvista_offscreen()
    grid = _linear_tets(pv.read(str(folder / "fields.vtu")))
    return JobScene(folder, results, grid)
