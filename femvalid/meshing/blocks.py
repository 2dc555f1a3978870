"""Test blocks meshed on their own: the foam (or bone) blocks of a subsidence test."""

from __future__ import annotations

import numpy as np

from femvalid.errors import InputError
from femvalid.geometry.implants import box_surface
from femvalid.meshing.mesher import MeshSettings, mesh_surface
from femvalid.meshing.volume_mesh import VolumeMesh

__all__ = ["foam_block"]


def foam_block(block_size_mm, footprint: np.ndarray, centre_xy, z_face: float, below: bool,
               size_mm: float, order: int, source: str) -> VolumeMesh:
    """Mesh one block (x, y, thickness mm), its face at ``z_face``, refined under the footprint (xmin, ymin, xmax, ymax)."""
    bx, by, thickness = block_size_mm
    (x0, y0, x1, y1), (cx, cy) = footprint, centre_xy
    if bx < x1 - x0 or by < y1 - y0:
        raise InputError(source, f"block_size {bx:g} × {by:g} mm is smaller than the implant's footprint "
                                 f"{x1 - x0:.3g} × {y1 - y0:.3g} mm")
    z0, z1 = (z_face - thickness, z_face) if below else (z_face, z_face + thickness)
    coarse = max(size_mm, min(4.0 * size_mm, thickness / 3.0))
    margin = 2.0 * size_mm
    # Under a punch the stress falls off over about its half-width: refine that deep.
    depth = min(thickness, max(0.5 * min(x1 - x0, y1 - y0), 2.0 * size_mm))
    fine_z = (z_face - depth, z_face) if below else (z_face, z_face + depth)
    settings = MeshSettings(
        coarse, order,
        refine_box_mm=(x0 - margin, y0 - margin, fine_z[0], x1 + margin, y1 + margin, fine_z[1]),
        refine_size_mm=size_mm, refine_transition_mm=2.0 * coarse,
    )
    return mesh_surface(box_surface((cx - bx / 2, cy - by / 2, z0), (cx + bx / 2, cy + by / 2, z1)), settings,
                        source=f"{source} foam block")
