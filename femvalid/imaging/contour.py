"""A mask → a closed triangle surface in patient coordinates, with femvalid's isosurface code.

The mask's signed distance (from the voxel centres, negative inside; zero halfway
between an inside and an outside voxel) is contoured by flying edges and relaxed
onto its zero level (:func:`femvalid.geometry.isosurface.contour_surface`) in the
grid's own scaled index frame, where the scanned box [0, n·spacing] clips it: a mask
that reaches the edge of the scan is closed by the scan's face. The vertices are then
mapped through the mask's affine into the requested convention, and wound outward.
"""

from __future__ import annotations

import numpy as np

from femvalid.errors import InputError
from femvalid.geometry.isosurface import box_field, clip_to_box, contour_surface
from femvalid.geometry.surface import Surface
from femvalid.imaging.volume import MaskVolume

__all__ = ["mask_surface"]


def mask_surface(mask: MaskVolume, convention: str = "LPS", source: str | None = None) -> Surface:
    """The outward-wound closed surface of ``mask``'s largest piece, mm, in ``convention``.

    Raises
    ------
    InputError
        The mask is empty or gives no surface.
    """
    from scipy.ndimage import distance_transform_edt, map_coordinates

    source = source or mask.source
    if not mask.mask.any():
        raise InputError(source, "the mask is empty")
    spacing = mask.spacing_mm
    # Edge padding continues the mask past the scan's faces, so that the box clipping closes a mask
    # that reaches a face exactly on that face (flat, like a cut), half a voxel beyond the last centre.
    padded = np.pad(mask.mask, 1, mode="edge")
    phi = distance_transform_edt(~padded, sampling=spacing) - distance_transform_edt(padded, sampling=spacing)
    box = np.asarray(mask.shape, float) * spacing
    # Grid node p (padded index) sits at (p − ½)·spacing in the local frame; voxel c's centre at (c + ½)·spacing.
    nodes = (np.stack(np.meshgrid(*[np.arange(n) for n in padded.shape], indexing="ij"), axis=-1) - 0.5) * spacing
    values = np.maximum(phi, box_field(nodes.reshape(-1, 3), box).reshape(phi.shape))
    grads = np.gradient(phi, *spacing)

    def field(points):
        index = (points / spacing + 0.5).T
        value = map_coordinates(phi, index, order=1, mode="nearest")
        grad = np.stack([map_coordinates(g, index, order=1, mode="nearest") for g in grads], axis=1)
        return value, grad

    surface = contour_surface(values, spacing, lambda p: clip_to_box(field, p, box), box)
    if len(surface.faces) == 0:
        raise InputError(source, "the mask gives no closed surface")
    world = mask.index_to_world(surface.vertices / spacing - 0.5, convention)
    out = Surface(world, surface.faces)
    return out if out.signed_volume > 0 else out.with_faces(surface.faces[:, ::-1])
