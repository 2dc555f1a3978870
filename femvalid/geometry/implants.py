"""Parametric example implants, built with gmsh's OpenCASCADE kernel.

They let the tests and the demo run without downloaded data, and each has a
closed-form volume to check meshes against. Conventions: mm; the inferior face
lies on z = 0 and the superior face points to +z; x is the implant's length
(anterior to +x), y its width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from femvalid._gmsh import gmsh_session
from femvalid.geometry.checks import CheckReport, check_surface
from femvalid.geometry.surface import Surface

__all__ = ["InterbodyCage", "VertebralBodyReplacement", "box_surface", "prism_surface", "rounded_rectangle_area"]

# Outward-wound faces of a box's corners (corner index = 4·x + 2·y + z, each 0 or 1).
_BOX_FACES = np.array([
    [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5],  # x = lo, x = hi
    [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],  # y = lo, y = hi
    [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],  # z = lo, z = hi
])


def prism_surface(sides: int, radius_mm: float, length_mm: float) -> Surface:
    """A regular ``sides``-gon prism along z from 0 to ``length_mm``, circumradius ``radius_mm``."""
    angles = 2 * np.pi * np.arange(sides) / sides
    ring = np.column_stack([radius_mm * np.cos(angles), radius_mm * np.sin(angles)])
    bottom = np.column_stack([ring, np.zeros(sides)])
    top = np.column_stack([ring, np.full(sides, length_mm)])
    vertices = np.vstack([bottom, top, [[0, 0, 0], [0, 0, length_mm]]])
    k = np.arange(sides)
    n = (k + 1) % sides
    c0, c1 = 2 * sides, 2 * sides + 1
    faces = np.vstack([
        np.column_stack([k, n, sides + n]), np.column_stack([k, sides + n, sides + k]),  # walls
        np.column_stack([np.full(sides, c0), n, k]), np.column_stack([np.full(sides, c1), sides + k, sides + n]),  # caps
    ])
    return Surface(vertices, faces)


def box_surface(lo, hi) -> Surface:
    """The 12-triangle surface of an axis-aligned box from corner ``lo`` to ``hi`` (mm)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    return Surface(lo + corners * (hi - lo), _BOX_FACES)

# Points per full turn on curved edges: the faceting loses (2π/n)²/6 of a circle's
# area, 0.3 % at 48 (less for a whole implant, whose faces are mostly flat),
# inside the 0.5 % volume tolerance of the meshes.
_POINTS_PER_TURN = 48


def rounded_rectangle_area(length_mm: float, width_mm: float, radius_mm: float) -> float:
    """Area of a rectangle with rounded corners, mm²."""
    return length_mm * width_mm - (4.0 - math.pi) * radius_mm**2


@dataclass(frozen=True)
class InterbodyCage:
    """A lumbar interbody fusion cage: rounded-rectangle footprint, vertical window.

    Parameters (mm, degrees)
    ------------------------
    length_mm, width_mm : footprint along x and y.
    height_mm : height at the footprint's centre.
    corner_radius_mm : outer corner radius.
    window_length_mm, window_width_mm, window_radius_mm : the through window for
        bone graft, centred; a length of 0 means no window.
    lordosis_deg : angle between superior and inferior faces (taller anteriorly, +x).
    """

    length_mm: float = 26.0
    width_mm: float = 11.0
    height_mm: float = 10.0
    corner_radius_mm: float = 3.0
    window_length_mm: float = 12.0
    window_width_mm: float = 5.0
    window_radius_mm: float = 1.5
    lordosis_deg: float = 0.0

    def __post_init__(self):
        if min(self.length_mm, self.width_mm, self.height_mm) <= 0:
            raise ValueError("cage dimensions must be positive")
        if self.window_length_mm and (
            self.window_length_mm >= self.length_mm or self.window_width_mm >= self.width_mm
        ):
            raise ValueError("the window must be smaller than the footprint")
        rise = 0.5 * self.length_mm * math.tan(math.radians(abs(self.lordosis_deg)))
        if rise >= self.height_mm:
            raise ValueError("lordosis too large for the cage height")

    @property
    def footprint_area_mm2(self) -> float:
        """Net area of the footprint (outline minus window), mm²."""
        area = rounded_rectangle_area(self.length_mm, self.width_mm, self.corner_radius_mm)
        if self.window_length_mm:
            area -= rounded_rectangle_area(self.window_length_mm, self.window_width_mm, self.window_radius_mm)
        return area

    @property
    def analytic_volume_mm3(self) -> float:
        """Exact volume, mm³: net area × centre height (the net footprint's centroid is at x = 0)."""
        return self.footprint_area_mm2 * self.height_mm

    def surface(self, resolution_mm: float = 1.0) -> Surface:
        """Triangulated closed surface, outward wound, with edges at most ``resolution_mm``."""
        slope = math.tan(math.radians(self.lordosis_deg))
        top = self.height_mm + 0.5 * self.length_mm * abs(slope) + 1.0
        L, W = self.length_mm, self.width_mm
        with gmsh_session() as gmsh:
            occ = gmsh.model.occ
            outline = occ.addRectangle(-L / 2, -W / 2, 0, L, W, roundedRadius=self.corner_radius_mm)
            body = occ.extrude([(2, outline)], 0, 0, top)
            solid = [d for d in body if d[0] == 3]
            if self.window_length_mm:
                wl, ww = self.window_length_mm, self.window_width_mm
                hole = occ.addRectangle(-wl / 2, -ww / 2, -1, wl, ww, roundedRadius=self.window_radius_mm)
                cutter = [d for d in occ.extrude([(2, hole)], 0, 0, top + 2) if d[0] == 3]
                solid, _ = occ.cut(solid, cutter)
            # Everything above the superior plane z = height + slope·x goes.
            cap = occ.addBox(-2 * L, -2 * W, self.height_mm, 4 * L, 4 * W, 4 * top)
            if slope:
                occ.rotate([(3, cap)], 0, 0, self.height_mm, 0, 1, 0, -math.radians(self.lordosis_deg))
            solid, _ = occ.cut(solid, [(3, cap)])
            occ.synchronize()
            return surface_of_model(gmsh, resolution_mm)


@dataclass(frozen=True)
class VertebralBodyReplacement:
    """A vertebral body replacement: hollow cylinder with rectangular side windows.

    Parameters (mm)
    ---------------
    outer_diameter_mm, inner_diameter_mm, height_mm : the tube.
    windows : number of windows, evenly spaced around the axis, at mid-height.
    window_width_mm, window_height_mm : size of each window (tangential, axial).
    """

    outer_diameter_mm: float = 20.0
    inner_diameter_mm: float = 14.0
    height_mm: float = 25.0
    windows: int = 4
    window_width_mm: float = 5.0
    window_height_mm: float = 9.0

    def __post_init__(self):
        ro, ri = self.outer_diameter_mm / 2, self.inner_diameter_mm / 2
        if not 0 < ri < ro or self.height_mm <= 0:
            raise ValueError("need 0 < inner diameter < outer diameter and a positive height")
        if self.windows:
            if self.window_height_mm >= self.height_mm or self.window_width_mm >= self.inner_diameter_mm:
                raise ValueError("windows must fit in the wall")
            # Neighbouring windows must not meet inside the wall.
            half_gap = math.pi / self.windows
            if self.windows > 1 and self.window_width_mm / 2 >= ri * math.sin(half_gap):
                raise ValueError("windows too wide for their number")

    @property
    def analytic_volume_mm3(self) -> float:
        """Exact volume, mm³: tube minus the windows' cut through the curved wall."""
        ro, ri = self.outer_diameter_mm / 2, self.inner_diameter_mm / 2
        tube = math.pi * (ro**2 - ri**2) * self.height_mm
        half = self.window_width_mm / 2

        def strip(r):  # area of {x > 0, |y| ≤ half, x² + y² ≤ r²}
            return half * math.sqrt(r * r - half * half) + r * r * math.asin(half / r)

        return tube - self.windows * self.window_height_mm * (strip(ro) - strip(ri))

    def surface(self, resolution_mm: float = 1.0) -> Surface:
        """Triangulated closed surface, outward wound, with edges at most ``resolution_mm``."""
        ro, ri, h = self.outer_diameter_mm / 2, self.inner_diameter_mm / 2, self.height_mm
        with gmsh_session() as gmsh:
            occ = gmsh.model.occ
            tube = occ.addCylinder(0, 0, 0, 0, 0, h, ro)
            bore = occ.addCylinder(0, 0, -1, 0, 0, h + 2, ri)
            cutters = [(3, bore)]
            for k in range(self.windows):
                box = occ.addBox(0, -self.window_width_mm / 2, (h - self.window_height_mm) / 2,
                                 ro + 1, self.window_width_mm, self.window_height_mm)
                occ.rotate([(3, box)], 0, 0, 0, 0, 0, 1, 2 * math.pi * k / self.windows)
                cutters.append((3, box))
            occ.cut([(3, tube)], cutters)
            occ.synchronize()
            return surface_of_model(gmsh, resolution_mm)


def surface_of_model(gmsh, resolution_mm: float) -> Surface:
    """Mesh the OCC model's surfaces and return them as one outward-wound Surface."""
    gmsh.option.setNumber("Mesh.MeshSizeMax", resolution_mm)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", _POINTS_PER_TURN)
    gmsh.option.setNumber("Mesh.Algorithm", 6)  # Frontal-Delaunay: well-shaped triangles
    gmsh.model.mesh.generate(2)
    tags, coords, _ = gmsh.model.mesh.getNodes()
    _, elem_nodes = gmsh.model.mesh.getElementsByType(2)
    index = np.zeros(int(tags.max()) + 1, dtype=np.int64)
    index[tags.astype(np.int64)] = np.arange(len(tags))
    faces = index[elem_nodes.astype(np.int64)].reshape(-1, 3)
    raw = Surface(coords.reshape(-1, 3), faces).with_faces(faces)
    return check_surface(raw, CheckReport(path="<generated implant>"))
