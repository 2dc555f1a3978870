"""The patient's vertebra instead of a foam block: a block of CT-mapped bone that carries the footprint.

The block is meshed as the foam block is (:func:`femvalid.meshing.blocks.fitted_block`):
its face is the implant's inferior fitted plane and holds the implant's contact
triangles, so implant and bone meet node to node. It spans the vertebra (its extent
in the block's frame, and its depth below the endplate plane); every element takes
the modulus integrated from the CT over it (:func:`femvalid.imaging.map_bone`,
Bonemat's way), and elements outside the vertebra (by its surface or contoured mask)
are removed, but not those that carry the footprint. The vertebra's far part (the
deepest ``POTTING_SHARE`` of its depth) is held, as a specimen potted for a test.
The implant stays where its STL puts it, which for a plan from the same scan is the
planned position: the CT is sampled in those coordinates.
"""

from __future__ import annotations

import numpy as np

from femvalid.errors import InputError
from femvalid.meshing import VolumeMesh
from femvalid.meshing.blocks import fitted_block

__all__ = ["bone_block_mesh", "POTTING_SHARE"]

#: The deepest share of the vertebra's depth below the endplate plane that is held fixed.
POTTING_SHARE = 0.1


def _inside(surface, points: np.ndarray) -> np.ndarray:
    """Which points lie inside a closed surface (VTK's enclosed-points test, an OBB tree)."""
    import pyvista as pv

    faces = np.column_stack([np.full(len(surface.faces), 3), surface.faces]).ravel()
    closed = pv.PolyData(np.asarray(surface.vertices), faces)
    cloud = pv.PolyData(points)
    if hasattr(cloud, "select_interior_points"):  # pyvista ≥ 0.47; the same VTK filter by the cell locator
        selected = cloud.select_interior_points(closed, method="cell_locator", check_surface=False)
        return np.asarray(selected["selected_points"], bool)
    selected = cloud.select_enclosed_points(closed, check_surface=False)
    return np.asarray(selected["SelectedPoints"], bool)


def bone_block_mesh(mesh, case, frame: np.ndarray, origin: np.ndarray, faces: np.ndarray, size_mm: float,
                    source: str):
    """The bone block under the implant: (VolumeMesh, E per element MPa, ν per element, strength per element MPa,
    held node indices, record for results.json)."""
    from femvalid.imaging import map_bone, read_ct
    from femvalid.imaging.bone import _check_overlap, load_bone_surface

    inputs = case.bone
    volume = read_ct(inputs.ct).in_convention(inputs.coordinates)
    surface, _ = load_bone_surface(inputs)
    _check_overlap(volume, surface, inputs)
    local = (surface.vertices - origin) @ frame
    depth = float(local[:, 2].max())
    if depth <= 0:
        raise InputError(inputs.origin, "the vertebra lies above the implant's inferior face: is the implant on its "
                                        "superior endplate, in the coordinates of the same scan?")
    lo, hi = local[:, :2].min(axis=0), local[:, :2].max(axis=0)  # the vertebra's extent in the block's frame
    block = fitted_block(mesh.nodes, faces, frame, origin, (*(hi - lo), depth), (lo + hi) / 2, size_mm, mesh.order,
                         source)
    corners = block.elements[:, :4]
    centroids = block.nodes[corners].mean(axis=1)
    keep = _inside(surface, centroids)
    on_face = np.abs((block.nodes - origin) @ frame[:, 2]) < 1e-9 * max(depth, 1.0)
    keep |= on_face[corners].any(axis=1)  # the footprint's layer stays, to carry the interface
    elements = block.elements[keep]
    used = np.unique(elements)
    renumber = np.full(len(block.nodes), -1)
    renumber[used] = np.arange(len(used))
    bone = VolumeMesh(block.nodes[used], renumber[elements], size_mm=block.size_mm)
    material = map_bone(bone, inputs, volume)
    zeta = (bone.nodes - origin) @ frame[:, 2]
    held = np.flatnonzero(zeta >= (1.0 - POTTING_SHARE) * depth)
    if len(held) < 3:
        raise InputError(inputs.origin, "too little of the vertebra lies at its far end to hold it")
    record = {**inputs.to_dict(), "placement": "the implant where its STL puts it (the planning scan's coordinates); "
                                              "the bone block's face on the implant's inferior fitted plane",
              "held": f"the deepest {100 * POTTING_SHARE:g} % of the vertebra below the endplate plane ({len(held)} nodes)",
              "elements_removed_outside_vertebra": int((~keep).sum()),
              "mapping": material.to_dict()}
    return bone, material.youngs_modulus_MPa, material.poisson_ratio, material.yield_strength_MPa, held, record
