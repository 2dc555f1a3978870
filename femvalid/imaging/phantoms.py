"""Synthetic CT phantoms made in code (no patient data, no downloads).

Every phantom is a CTVolume in LPS on an axis-aligned grid whose voxel (0, 0, 0)
centre sits at ``origin`` (mm); HU are evaluated at the voxel centres. With the
calibration ``synthetic-phantom`` of ``laws.toml`` (1 mg/cm³ per HU) a phantom's HU
read as QCT equivalent density in mg/cm³.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from femvalid.imaging.volume import CTVolume, MaskVolume

__all__ = ["grid_affine", "voxel_centres", "phantom_from_function", "uniform_phantom", "linear_phantom",
           "asymmetric_phantom", "asymmetric_hu", "vertebra_phantom", "cylinder_mask", "box_mask",
           "SOFT_TISSUE_HU", "CORTICAL_HU"]

#: HU of the phantoms' surroundings (soft tissue) and of their cortical shell.
SOFT_TISSUE_HU = 40.0
CORTICAL_HU = 1000.0


def grid_affine(spacing_mm, origin_mm=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Axis-aligned voxel-to-mm affine: voxel (0, 0, 0) centre at ``origin_mm``."""
    affine = np.diag([*np.broadcast_to(np.asarray(spacing_mm, float), (3,)), 1.0])
    affine[:3, 3] = origin_mm
    return affine


def voxel_centres(shape, affine) -> np.ndarray:
    """Centres (ni, nj, nk, 3) of a grid's voxels, mm."""
    index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    return (index @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]).reshape(*shape, 3)


def phantom_from_function(hu: Callable[[np.ndarray], np.ndarray], shape, spacing_mm, origin_mm=(0.0, 0.0, 0.0),
                          source: str = "synthetic phantom") -> CTVolume:
    """A CT volume whose voxel at centre x (LPS, mm) has HU ``hu(x)`` (points (n, 3) → (n,))."""
    affine = grid_affine(spacing_mm, origin_mm)
    centres = voxel_centres(shape, affine).reshape(-1, 3)
    values = np.asarray(hu(centres), float).reshape(shape)
    return CTVolume(values, affine, "LPS", source)


def uniform_phantom(hu: float, shape=(16, 16, 16), spacing_mm=1.0, origin_mm=(0.0, 0.0, 0.0)) -> CTVolume:
    """Every voxel at ``hu``."""
    return phantom_from_function(lambda x: np.full(len(x), float(hu)), shape, spacing_mm, origin_mm,
                                 f"uniform phantom {hu:g} HU")


def linear_phantom(hu0: float, gradient_hu_per_mm, shape=(16, 16, 16), spacing_mm=1.0,
                   origin_mm=(0.0, 0.0, 0.0), at_mm=(0.0, 0.0, 0.0)) -> CTVolume:
    """HU = hu0 + g·(x − at): a linear field, which trilinear interpolation reproduces exactly."""
    g, at = np.asarray(gradient_hu_per_mm, float), np.asarray(at_mm, float)
    return phantom_from_function(lambda x: hu0 + (x - at) @ g, shape, spacing_mm, origin_mm,
                                 f"linear phantom {hu0:g} HU + {list(g)} HU/mm")


def asymmetric_hu(points: np.ndarray, spacing_mm=1.0, origin_mm=(0.0, 0.0, 0.0)) -> np.ndarray:
    """The asymmetric phantom's field at points (LPS, mm): i + 10 j + 100 k of the canonical grid, a
    different weight along each body axis, so that any flip or transpose changes it."""
    index = (np.asarray(points, float) - np.asarray(origin_mm, float)) / np.asarray(spacing_mm, float)
    return index @ np.array([1.0, 10.0, 100.0])


def asymmetric_phantom(shape=(8, 9, 10), spacing_mm=(1.0, 1.5, 2.0), origin_mm=(-3.0, 5.0, 10.0)) -> CTVolume:
    """A known asymmetric phantom: HU = i + 10 j + 100 k (i towards the patient's left, j posterior,
    k superior), integer-valued so that DICOM stores it exactly."""
    return phantom_from_function(lambda x: asymmetric_hu(x, spacing_mm, origin_mm), shape, spacing_mm, origin_mm,
                                 "asymmetric phantom (HU = i + 10 j + 100 k)")


def _vertebra_fields(points, semi_axes_mm, height_mm, shell_mm, core_hu, gradient_hu_per_mm, endplate_hu_per_mm):
    x, y, z = np.asarray(points, float).T
    rx, ry = semi_axes_mm
    h = height_mm / 2.0
    r = np.sqrt((x / rx) ** 2 + (y / ry) ** 2)
    inside = (r <= 1.0) & (np.abs(z) <= h)
    # Depth below the outer surface: radial (scaled by the smaller semi-axis) or to the endplates.
    depth = np.minimum((1.0 - r) * min(rx, ry), h - np.abs(z))
    core = core_hu + np.asarray(points, float) @ np.asarray(gradient_hu_per_mm, float) + endplate_hu_per_mm * np.abs(z)
    hu = np.where(inside, np.where(depth < shell_mm, CORTICAL_HU, core), SOFT_TISSUE_HU)
    return hu, inside


def vertebra_phantom(shape=(32, 32, 32), spacing_mm=(1.5, 1.5, 1.0), semi_axes_mm=(20.0, 15.0), height_mm=24.0,
                     shell_mm=1.5, core_hu=150.0, gradient_hu_per_mm=(0.0, 2.0, 0.0),
                     endplate_hu_per_mm=1.5) -> tuple[CTVolume, MaskVolume]:
    """A synthetic vertebral body centred on the origin (LPS, mm), superior endplate towards +z.

    An elliptic cylinder (semi-axes lateral × anterior–posterior, ``height_mm`` tall)
    with a cortical shell and endplates ``shell_mm`` thick at :data:`CORTICAL_HU`,
    and a trabecular core of ``core_hu`` + g·x (denser posteriorly by default) +
    ``endplate_hu_per_mm``·|z| (denser towards the endplates), in soft tissue.
    Returns the CT volume and the vertebra's mask on the same grid.
    """
    shape = tuple(int(n) for n in shape)
    spacing = np.broadcast_to(np.asarray(spacing_mm, float), (3,))
    origin = -0.5 * (np.asarray(shape) - 1) * spacing
    affine = grid_affine(spacing, origin)
    centres = voxel_centres(shape, affine).reshape(-1, 3)
    hu, inside = _vertebra_fields(centres, semi_axes_mm, height_mm, shell_mm, core_hu, gradient_hu_per_mm,
                                  endplate_hu_per_mm)
    volume = CTVolume(hu.reshape(shape), affine, "LPS", "synthetic vertebra phantom")
    mask = MaskVolume(inside.reshape(shape), affine, "LPS", "synthetic vertebra phantom mask")
    return volume, mask


def cylinder_mask(volume, radius_mm: float, z_range_mm=None, centre_mm=(0.0, 0.0)) -> MaskVolume:
    """Voxels of ``volume``'s grid whose centres lie in the z-aligned cylinder (LPS, mm)."""
    centres = voxel_centres(volume.shape, volume.in_convention("LPS").affine).reshape(-1, 3)
    inside = np.hypot(centres[:, 0] - centre_mm[0], centres[:, 1] - centre_mm[1]) <= radius_mm
    if z_range_mm is not None:
        inside &= (centres[:, 2] >= z_range_mm[0]) & (centres[:, 2] <= z_range_mm[1])
    return MaskVolume(inside.reshape(volume.shape), volume.in_convention("LPS").affine, "LPS", "cylinder mask")


def box_mask(volume, lo_mm, hi_mm) -> MaskVolume:
    """Voxels of ``volume``'s grid whose centres lie in the box [lo, hi] (LPS, mm)."""
    centres = voxel_centres(volume.shape, volume.in_convention("LPS").affine).reshape(-1, 3)
    inside = np.all((centres >= np.asarray(lo_mm)) & (centres <= np.asarray(hi_mm)), axis=1)
    return MaskVolume(inside.reshape(volume.shape), volume.in_convention("LPS").affine, "LPS", "box mask")
