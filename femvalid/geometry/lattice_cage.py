"""A lattice-filled interbody cage: a solid rim around a lattice core.

The footprint is a rounded rectangle (length along x, width along y), the core a
rounded-rectangle window through the full height, filled with a lattice that bone
can grow through from endplate to endplate. The solid is one implicit field,

    φ = max(φ_outline, min(φ_lattice, −φ_window)),

contoured like a lattice block (:mod:`femvalid.geometry.isosurface`). The lattice's
level or strut radius is the one that gives the requested relative density in a
block of the same cells, so the core has that density away from the rim. Same
conventions as :mod:`femvalid.geometry.implants`: inferior face on z = 0, the
footprint centred on the z axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from femvalid.errors import InputError
from femvalid.geometry.isosurface import contour_surface
from femvalid.geometry.lattice import Lattice, LatticeSpec, check_grid, field, generate_lattice, initial_resolution

__all__ = ["LatticeCage", "rounded_rectangle_field"]

#: Cells along each axis of the block the core's lattice is solved on.
_SOLVE_CELLS = (2, 2, 2)


def rounded_rectangle_field(xy: np.ndarray, centre, size, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance (mm, negative inside) to a rounded rectangle, and its gradient (n, 2)."""
    q = np.abs(xy - np.asarray(centre, float)) - (np.asarray(size, float) / 2 - radius)
    outside = np.maximum(q, 0.0)
    length = np.linalg.norm(outside, axis=1)
    inside = np.minimum(q.max(axis=1), 0.0)
    sign = np.sign(xy - np.asarray(centre, float))
    axis = q.argmax(axis=1)
    grad = np.where((length > 0)[:, None], outside / np.maximum(length, 1e-300)[:, None],
                    np.eye(2)[axis]) * np.where(sign == 0, 1.0, sign)
    return length + inside - radius, grad


@dataclass(frozen=True)
class LatticeCage:
    """Interbody cage with a solid rim and a lattice core (mm).

    Parameters
    ----------
    lattice : LatticeSpec
        Type, relative density, cell size (and section, resolution) of the core;
        its ``cells`` are ignored (the core is filled).
    length_mm, width_mm, height_mm : footprint along x and y, height.
    corner_radius_mm : outline corner radius.
    rim_mm : wall thickness of the solid rim around the core.
    """

    lattice: LatticeSpec
    length_mm: float = 26.0
    width_mm: float = 11.0
    height_mm: float = 10.0
    corner_radius_mm: float = 3.0
    rim_mm: float = 1.5

    def validate(self, source: str = "lattice cage") -> None:
        dims = (self.length_mm, self.width_mm, self.height_mm, self.corner_radius_mm, self.rim_mm)
        if not all(math.isfinite(v) and v > 0 for v in dims):
            raise InputError(source, f"cage length, width, height, corner radius and rim must be positive mm, got {dims}")
        if 2 * self.rim_mm >= min(self.length_mm, self.width_mm) - self.lattice.cell_size_mm:
            raise InputError(source, f"a {self.rim_mm:g} mm rim leaves less than one {self.lattice.cell_size_mm:g} mm "
                                     f"cell of core in a {self.length_mm:g} × {self.width_mm:g} mm footprint")
        if self.corner_radius_mm > min(self.length_mm, self.width_mm) / 2:
            raise InputError(source, "the corner radius is larger than half the footprint")
        replace(self.lattice, cells=(1, 1, 1)).validate(source)

    def generate(self, source: str = "lattice cage") -> Lattice:
        """The cage's surface, in a Lattice record whose density is the core block's."""
        self.validate(source)
        size = np.array([self.length_mm, self.width_mm, self.height_mm])
        first = self.lattice.cell_size_mm / initial_resolution(self.lattice)  # refused before the block is solved
        check_grid([math.ceil(v / first) for v in size], first, source, "the cage")
        block = generate_lattice(replace(self.lattice, cells=_SOLVE_CELLS), source)
        voxel = block.voxel_mm
        check_grid([math.ceil(v / voxel) for v in size], voxel, source, "the cage")
        counts = np.ceil(size / voxel).astype(int)
        voxels = size / counts  # exact fit of the box; within a few % of the block's voxel
        inner = field(self.lattice, block.parameter)
        centre = size[:2] / 2
        core = size[:2] - 2 * self.rim_mm
        core_radius = max(self.corner_radius_mm - self.rim_mm, 0.5 * voxel)
        # The core's cells start at the core's corner, so whole cells meet the rim.
        origin = np.array([*(centre - core / 2), 0.0])

        def cage(points):
            lattice_phi, lattice_grad = inner(points - origin)
            outline, outline_grad = rounded_rectangle_field(points[:, :2], centre, size[:2], self.corner_radius_mm)
            window, window_grad = rounded_rectangle_field(points[:, :2], centre, core, core_radius)
            pad = lambda g: np.column_stack([g, np.zeros(len(g))])  # noqa: E731
            filled = lattice_phi < -window
            phi = np.where(filled, lattice_phi, -window)
            grad = np.where(filled[:, None], lattice_grad, -pad(window_grad))
            ends = np.maximum(-points[:, 2], points[:, 2] - size[2])
            walls = np.maximum(outline, ends)
            walls_grad = np.where((outline >= ends)[:, None], pad(outline_grad),
                                  np.where((points[:, 2] < size[2] / 2)[:, None], [0, 0, -1.0], [0, 0, 1.0]))
            outer = walls > phi
            return np.where(outer, walls, phi), np.where(outer[:, None], walls_grad, grad)

        axes = [(np.arange(-1, n + 1) + 0.5) * h for n, h in zip(counts, voxels)]
        # Slab by slab along x: no array of all grid points (24 B a voxel) is made.
        values = np.empty([len(a) for a in axes])
        yz = np.stack(np.meshgrid(axes[1], axes[2], indexing="ij"), axis=-1).reshape(-1, 2)
        slab = max(1, (1 << 18) // len(yz))
        for i in range(0, len(axes[0]), slab):
            x = axes[0][i:i + slab]
            points = np.column_stack([np.repeat(x, len(yz)), np.tile(yz, (len(x), 1))])
            values[i:i + slab] = cage(points)[0].reshape(len(x), len(axes[1]), len(axes[2]))
        surface = contour_surface(values, voxels, cage, size)
        surface = surface.translated([-size[0] / 2, -size[1] / 2, 0.0])
        return replace(block, surface=surface)
